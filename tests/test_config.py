"""Configs compose as written, every default number states where it comes from, and the
schema's fallback values equal the YAML defaults."""

import fnmatch
import re
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from sim.api import load_config
from sim.config import schema
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model import cohort

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def _subset(raw, composed, where: str) -> list[str]:
    """Keys of the raw YAML whose composed value differs (the YAML must arrive intact)."""
    if isinstance(raw, dict):
        return [d for k, v in raw.items() for d in _subset(v, composed[k], f"{where}.{k}")]
    if isinstance(raw, list):
        if len(raw) != len(composed):
            return [f"{where}: {len(raw)} items, composed {len(composed)}"]
        return [d for i, v in enumerate(raw) for d in _subset(v, composed[i], f"{where}[{i}]")]
    return [] if raw == composed else [f"{where}: {raw!r} -> {composed!r}"]


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "strategy").glob("*.yaml")))
def test_every_strategy_composes_as_written(name):
    cfg = load_config([f"strategy={name}"])
    assert list(cfg.strategy) == [name]
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "strategy" / f"{name}.yaml"))
    composed = asdict(cfg.strategy[name])
    assert _subset(raw, composed, f"strategy.{name}") == []
    # what the YAML leaves out takes the schema's value (no rules, standard of care on)
    assert composed["standard_of_care"] == raw.get("standard_of_care", True)
    assert len(composed["rules"]) == len(raw.get("rules", []))


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "cohort").glob("*.yaml")))
def test_every_cohort_preset_draws_its_mix(name):
    overrides = [f"cohort={name}", "cohort.n=640"]
    if name == "custom":
        overrides.append("+cohort.mix={hiv: 1}")
    cfg = load_config(overrides)
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "cohort" / f"{name}.yaml"))
    expected = raw["mix"] or {"hiv": 1}
    assert cfg.cohort.mix == expected and cfg.cohort.name == raw["name"]
    p = cohort.build(rng.run_key(cfg.seed), cfg.cohort, cfg.model, np.arange(640))
    total = sum(expected.values())
    for c, w in expected.items():
        # stratified assignment: counts equal n x share up to rounding
        assert abs((p.condition == CONDITIONS.index(c)).sum() - 640 * w / total) <= 1.0, c
    assert set(np.asarray(CONDITIONS)[p.condition]) == set(expected)


# ------------------------------------------------------------------ sources of numbers
#
# Every numeric default in conf/ says where it comes from, in a comment on its line (a
# list item `- {...}` may also take the comment block above its list). A comment passes
# if it cites something or marks the number as the modeller's:
#   * a section of docs/sources.md that exists ("s.6"; "brief s.3" cites the domain brief,
#     which is not a source);
#   * an author-year or journal-year citation ("Khatri 2009", "Tan IL 2011", "Blood 2013",
#     "Neurol Neuroimmunol Neuroinflamm 2019;6:e618"), a seed paper ("seed 000"), a table
#     or page, a NICE appraisal number, a PMID or doi;
#   * ASSUMPTION or CALIBRATED (upper case: a deliberate mark), or "derived" with the
#     derivation in words.
# Bare descriptions ("5000 patients", "label me", "lifelong") fail.

SECTIONS = {
    int(n) for n in re.findall(r"^## (\d+)\.", (ROOT / "docs/sources.md").read_text(), re.M)
}
NUMBER = re.compile(
    r"^\s*-?\s*\w+:\s*(\{[^#]*\d[^#]*\}|\[[-\d.,\se]+\]|-?[\d.]+(e-?\d+)?)\s*(#.*)?$"
)
LIST_ITEM = re.compile(r"^(\s*)- \{(?P<body>[^#]*)\}\s*(#.*)?$")
YEAR = r"(?:19[5-9]\d|20[0-2]\d)"
AUTHOR_YEAR = re.compile(r"\b[A-Z][\w'-]*(?:[ ,]+\(?[\w'.&;-]+\)?){0,3}?[ ,]+\(?" + YEAR + r"\b")
SECTION_REF = re.compile(r"(?<![\w.])(brief\s+)?s\.(\d+)(?![.\d]*\d)")
OTHER_CITATION = re.compile(
    r"\bseed 00\d\b|\b(?:Table|Fig\.?|p\.|pp\.)\s*\d|\bNICE TA\d+|\bPMID\b|\bdoi\b", re.I
)
MARK = re.compile(r"\b(ASSUMPTION|CALIBRATED)\b")
DERIVED = re.compile(r"\bderived\b", re.I)
# (file pattern, key) -> why the number needs no source
EXEMPT = {
    ("config.yaml", "seed"): "a run identifier: any non-negative integer",
    ("config.yaml", "chunk_size"): "results do not depend on it (tests/test_engine.py)",
    ("executor/*.yaml", "workers"): "results do not depend on it (tests/test_executors.py)",
    ("model/*.yaml", "dt_days"): "numerical step, held to a 10x finer grid (test_timestep.py)",
    ("model/*.yaml", "dt_first_days"): "numerical step: as dt_days",
    ("economics/*.yaml", "draws"): "0 switches the PSA off; experiment/psa.yaml sets the draws",
    ("gsa/*.yaml", "batch"): "results do not depend on it (tests/test_gsa.py)",
    ("posterior/*.yaml", "batch"): "results do not depend on it (tests/test_posterior.py)",
}
SKIP_FILES = {
    # each target's number is its published value; its `source` field is checked below
    "targets/default.yaml",
}
SKIP_DIRS = {
    # start days, visit days and thresholds define the strategy being compared
    "strategy",
}


def judge(comment: str) -> str:
    """'' if the comment cites a source or marks the number, else what is wrong."""
    problems, cited = [], False
    for m in SECTION_REF.finditer(comment):
        if m.group(1):  # the domain brief: context, not a source
            continue
        if int(m.group(2)) in SECTIONS:
            cited = True
        else:
            problems.append(f"s.{m.group(2)} is not a section of docs/sources.md")
    if AUTHOR_YEAR.search(comment) or OTHER_CITATION.search(comment) or MARK.search(comment):
        cited = True
    reason = re.findall(r"[A-Za-z]{3,}", DERIVED.sub("", comment))
    if DERIVED.search(comment) and len(reason) >= 3:
        cited = True
    if not cited:
        problems.append("no source, ASSUMPTION, CALIBRATED or derivation")
    return "; ".join(problems)


@pytest.mark.parametrize(
    "comment, ok",
    [
        ("5000 patients", False),
        ("label me", False),
        ("lifelong", False),
        ("5 sessions every other day", False),
        ("see s.14", False),  # no such section
        ("ceiling = own baseline (brief s.3)", False),
        ("derived", False),  # a derivation needs its reasoning
        ("assumption", False),  # the mark is upper case on purpose
        ("11 +/- 4 d, Tysabri label (s.6)", True),
        ("-92% after 3 sessions (Khatri 2009)", True),
        ("IRIS ~all in NTZ-PML (Tan IL 2011)", True),
        ("91 patients (Neurol Neuroimmunol Neuroinflamm 2019;6:e618)", True),
        ("8/64 (seed 000)", True),
        ("ASSUMPTION", True),
        ("CALIBRATED (pml-sim +experiment=calibrate)", True),
        ("derived from the published CI widths of the odds ratios", True),
    ],
)
def test_the_source_lint_tells_citations_from_descriptions(comment, ok):
    assert (judge(comment) == "") == ok, judge(comment)


def _exempt(rel: str, key: str, line: str) -> bool:
    if key == "mix" and rel.startswith("cohort/") and line.count(":") == 2:
        return True  # a single-condition preset: the mix is its definition
    return any(fnmatch.fnmatch(rel, pat) and key == k for pat, k in EXEMPT)


def _block_above(lines: list[str], i: int) -> str:
    """The comments heading the list that holds item i: comment lines directly above
    its first item, and the list key's own (inline and preceding) comments."""
    indent = LIST_ITEM.match(lines[i]).group(1)
    k = i
    while k > 0 and lines[k - 1].startswith(indent + "- "):
        k -= 1
    text = []
    while k > 0 and lines[k - 1].strip().startswith("#"):
        text.append(lines[k - 1].strip().lstrip("#"))
        k -= 1
    if k > 0 and re.match(r"^\s*\w+:\s*(#.*)?$", lines[k - 1]):  # the list's key
        if "#" in lines[k - 1]:
            text.append(lines[k - 1].split("#", 1)[1])
        k -= 1
        while k > 0 and lines[k - 1].strip().startswith("#"):
            text.append(lines[k - 1].strip().lstrip("#"))
            k -= 1
    return " ".join(text)


def _unsourced(path: Path, rel: str | None = None) -> list[str]:
    rel = rel or path.relative_to(CONF).as_posix()
    lines = path.read_text().splitlines()
    bad = []
    for i, line in enumerate(lines):
        if line.strip().startswith("#"):
            continue
        inline = re.search(r'source:\s*"([^"]*)"', line)
        comment = line.split("#", 1)[1] if "#" in line and not inline else ""
        if inline and "#" in line.split(inline.group(0), 1)[1]:
            comment = line.split(inline.group(0), 1)[1].split("#", 1)[1]
        item = LIST_ITEM.match(line)
        if item and re.search(r":\s*-?\d", item.group("body")):
            text = " ".join([comment, inline.group(1) if inline else "", _block_above(lines, i)])
        elif NUMBER.match(line):
            key = line.split(":")[0].strip(" -")
            if _exempt(rel, key, line):
                continue
            text = comment + " " + (inline.group(1) if inline else "")
        elif inline:  # a source field on a line without numbers: it must still cite
            text = inline.group(1)
        else:
            continue
        why = judge(text)
        if why:
            bad.append(f"{rel}:{i + 1}: {why}: {line.strip()}")
    return bad


YAML_FILES = sorted(
    p.relative_to(CONF).as_posix()
    for p in CONF.rglob("*.yaml")
    if p.relative_to(CONF).as_posix() not in SKIP_FILES
    and p.relative_to(CONF).parts[0] not in SKIP_DIRS
)


def test_the_lint_covers_every_config_file():
    # the parametrised list below is every YAML file but the declared exceptions
    every = {p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml")}
    skipped = {r for r in every if r in SKIP_FILES or r.split("/")[0] in SKIP_DIRS}
    assert set(YAML_FILES) == every - skipped
    assert {"model/default.yaml", "therapies/default.yaml", "config.yaml"} <= set(YAML_FILES)


def test_the_lint_reads_lines_lists_and_source_fields(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text(
        "a: 5000          # 5000 patients\n"
        "b: 0.2           # ASSUMPTION\n"
        "c: {mean: 1.0, sd: 2.0}\n"
        "d: [0.1, 0.2]    # Anand 2019\n"
        'e: {per_dose: 3.0, source: "label me"}\n'
        'f: {per_dose: 3.0, source: "8/64 (seed 000)"}\n'
        "name: plain text, no number\n"
        "params:\n"
        "  - {key: x, low: 1.0, high: 2.0}\n"
        "# ranges: ASSUMPTION\n"
        "others:\n"
        "  - {key: y, low: 1.0, high: 2.0}\n"
        "seed: 7\n"
    )
    bad = [line.split(":")[1] for line in _unsourced(f, rel="x.yaml")]
    assert bad == ["1", "3", "5", "9", "13"]
    assert _unsourced(f, rel="config.yaml")[-1].startswith("config.yaml:9:")  # seed exempt


@pytest.mark.parametrize("rel", YAML_FILES)
def test_numeric_defaults_carry_a_source_or_mark(rel):
    assert _unsourced(CONF / rel) == []


def test_every_target_and_side_effect_cites_its_source():
    cfg = load_config(["+experiment=calibrate"])
    for t in cfg.targets.items:
        assert judge(t.source) == "", f"targets {t.id}: {t.source!r}"
    for name, t in cfg.therapies.items():
        for se in t.side_effects:
            assert judge(se.source) == "", f"therapies.{name}.side_effects.{se.name}"
        assert t.evidence, f"therapies.{name} has no evidence note"


# ------------------------------------------------------------- schema defaults vs YAML

# schema section -> the YAML file (and key in it) holding its one default; fields listed
# last are lists of entries (targets shown, parameters fitted), not default values
SCHEMA_DEFAULTS = [
    (schema.ModelConfig, "model/default.yaml", None, {"conditions"}),
    (schema.MonitoringConfig, "config.yaml", "monitoring", set()),
    (schema.EngineConfig, "config.yaml", "engine", set()),
    (schema.OutputConfig, "config.yaml", "output", set()),
    (schema.ExecutorConfig, "executor/auto.yaml", None, set()),
    (schema.CohortConfig, "cohort/custom.yaml", None, set()),
    (schema.CalibrationConfig, "calibration/default.yaml", None, {"params", "fit"}),
    (schema.StudyConfig, "experiment/seed000.yaml", "study", {"targets"}),
    (schema.PosteriorConfig, "posterior/default.yaml", None, {"assumptions"}),
]


def _default(f):
    value = f.default_factory() if f.default_factory is not MISSING_FIELD else f.default
    # a nested dataclass (a Dist) compares with the YAML's mapping field by field
    return asdict(value) if is_dataclass(value) else value


@pytest.mark.parametrize(
    "cls, rel, key, entries", SCHEMA_DEFAULTS, ids=[c[0].__name__ for c in SCHEMA_DEFAULTS]
)
def test_schema_defaults_equal_the_yaml_defaults(cls, rel, key, entries):
    """A value the YAML leaves out falls back to the schema's: the two must agree
    (death_damage_hill was 6.0 in the schema and 10.0 in the YAML), and the YAML must
    set every field so that its comment gives the number's source."""
    raw = OmegaConf.to_container(OmegaConf.load(CONF / rel))
    raw = raw[key] if key else raw
    diffs = []
    for f in fields(cls):
        if f.name in entries:
            continue
        if f.name not in raw:
            diffs.append(f"{f.name}: not in {rel}")
        elif _default(f) != raw[f.name]:
            diffs.append(f"{f.name}: schema {_default(f)!r}, {rel} {raw[f.name]!r}")
    assert diffs == []


def test_run_level_defaults_equal_config_yaml():
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "config.yaml"))
    run = schema.RunConfig()
    assert (run.seed, run.horizon_days) == (raw["seed"], raw["horizon_days"])
