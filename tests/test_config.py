"""Every strategy composes; every default parameter states where it comes from."""

import re
from pathlib import Path

import pytest

from sim.api import load_config

CONF = Path(__file__).resolve().parent.parent / "conf"
NUMBER = re.compile(r"^\s*-?\s*[\w]+:\s*(\{.*\}|\[[\d.,\s]+\]|-?[\d.]+(e-?\d+)?)\s*(#.*)?$")
MARK = re.compile(r"(ASSUMPTION|CALIBRATED|s\.\d+|seed 00\d|\d{4}|label|brief)", re.I)


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "strategy").glob("*.yaml")))
def test_every_strategy_composes_and_validates(name):
    cfg = load_config([f"strategy={name}"])
    assert list(cfg.strategy) == [name]


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "cohort").glob("*.yaml")))
def test_every_cohort_preset_composes(name):
    overrides = [f"cohort={name}"]
    if name == "custom":
        overrides.append("+cohort.mix={hiv: 1}")
    assert load_config(overrides).cohort.n > 0


def _unsourced(path: Path) -> list[str]:
    bad = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = NUMBER.match(line)
        if not m or line.strip().startswith("#"):
            continue
        key = line.split(":")[0].strip(" -")
        if key in ("n_doses", "seed", "chunk_size", "survival_day", "month1_day"):
            continue
        comment = line.split("#", 1)[1] if "#" in line else ""
        inline = re.search(r'source:\s*"([^"]*)"', line)  # {per_dose: 886.0, source: "..."}
        if not MARK.search(comment) and not (inline and MARK.search(inline.group(1))):
            bad.append(f"{path.name}:{i}: {line.strip()}")
    return bad


@pytest.mark.parametrize(
    "rel",
    [
        "model/default.yaml",
        "model/calibrated.yaml",
        "therapies/default.yaml",
        "config.yaml",
        "calibration/default.yaml",
        "experiment/seed000.yaml",
        "economics/uk_nhs.yaml",
        "economics/us_payer.yaml",
        "experiment/cea.yaml",
        "experiment/psa.yaml",
        "trial/pd1_vs_soc.yaml",
        "trial/single_arm_il7.yaml",
    ],
)
def test_numeric_defaults_carry_a_source_or_mark(rel):
    assert _unsourced(CONF / rel) == []


def test_every_side_effect_has_a_source():
    cfg = load_config([])
    for name, t in cfg.therapies.items():
        for se in t.side_effects:
            assert se.source, f"therapies.{name}.side_effects.{se.name} has no source"
        assert t.evidence, f"therapies.{name} has no evidence note"
