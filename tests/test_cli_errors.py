"""Bad input: exit status 2, one line naming the key, the bad value or what is allowed,
and no run folder left behind (each case from the foundation issue's list)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helper import pml_sim

ROOT = Path(__file__).resolve().parent.parent
BASE = ["cohort.n=40", "strategy=[soc]", "output.progress=false", "output.plots=false",
        "uncertainty=none"]  # fmt: skip


def _options(group: str) -> str:
    return ", ".join(sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml")))


CASES = [
    # (override, fragments the one line must contain)
    ("strategy=bogus", ["strategy: unknown option 'bogus'", f"available: {_options('strategy')}"]),
    ("strategy=[soc,bogus]", ["strategy: unknown option 'bogus'", "il7_maraviroc"]),
    ("cohort=bogus", ["cohort: unknown option 'bogus'", "natalizumab_ms"]),
    ("model=bogus", ["model: unknown option 'bogus'", f"available: {_options('model')}"]),
    ("executor=bogus", ["executor: unknown option", "auto, dask, inprocess, processes"]),
    ("economics=bogus", ["economics: unknown option", "uk_nhs, us_payer"]),
    ("+experiment=bogus", ["experiment: unknown option", "seed000"]),
    ("cohort.nn=5", ["cohort.nn: unknown key", "allowed: mix, n, name"]),
    ("+cohort.nn=5", ["cohort.nn: unknown key", "allowed: mix, n, name"]),
    ("+horizon=730", ["horizon: unknown key", "did you mean 'horizon_days'"]),
    ("strategy=il7,pd1", ["strategy=[il7,pd1]", "-m"]),
    ("engine=reference", ["engine.kind=reference", "not a config group"]),
    ("model.death_damage_hill=-5", ["model.death_damage_hill", "got -5"]),
    ("model.iris_rate_exponent=-100", ["model.iris_rate_exponent", "got -100"]),
    ("model.mrs_cutpoints=[0.5,0.2,0.3,0.6,0.8]", ["model.mrs_cutpoints", "strictly increasing"]),
    ("horizon_days=inf", ["horizon_days", "got inf"]),
    ("horizon_days=100", ["output.survival_day", "horizon_days (100.0)"]),
    ("seed=-1", ["seed", "got -1"]),
    ("engine.chunk_size=0", ["engine.chunk_size", "got 0"]),
    ("executor.min_parallel_patients=-1", ["executor.min_parallel_patients", ">= 0, got -1"]),
    ("monitoring.csf_days=[0.0,30.0]", ["monitoring.csf_days", "30.0 is not in"]),
]


@pytest.mark.parametrize("override,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_clear_line(tmp_path, override, fragments):
    out = tmp_path / "run"
    r = pml_sim(*BASE, override, f"hydra.run.dir={out}")
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pml-sim: config error: ")
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing that looks like a result


def test_unwritable_run_dir_is_one_line(tmp_path):
    r = pml_sim(*BASE, "hydra.run.dir=/proc/x")
    assert r.returncode == 2
    assert (
        r.stderr.strip().splitlines() == [r.stderr.strip()] and "cannot write /proc/x" in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_malformed_yaml_names_file_and_line(tmp_path):
    (tmp_path / "strategy").mkdir()
    (tmp_path / "strategy" / "broken.yaml").write_text("name: x\n  y: [1,\nz: : :\n")
    r = pml_sim("--config-dir", str(tmp_path), *BASE, "strategy=broken", "hydra.run.dir=x")
    assert r.returncode == 2
    assert "malformed YAML" in r.stderr and "broken.yaml" in r.stderr and "line 2" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_strategy_without_name(tmp_path):
    (tmp_path / "strategy").mkdir()
    (tmp_path / "strategy" / "anon.yaml").write_text(
        "# @package strategy.anon\ndescription: no name\n"
    )
    out = tmp_path / "run"
    r = pml_sim("--config-dir", str(tmp_path), *BASE, "strategy=anon", f"hydra.run.dir={out}")
    assert r.returncode == 2, r.stderr
    assert "strategy.anon.name" in r.stderr and "missing" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_cfg_job_validates(tmp_path):
    r = pml_sim("--cfg", "job", "cohort.n=-5")
    assert r.returncode == 2 and "cohort.n: must be an integer >= 1, got -5" in r.stderr
    ok = pml_sim("--cfg", "job", "cohort.n=7")
    assert ok.returncode == 0 and "'n': 7" in ok.stdout


def test_help_is_a_short_usage_page():
    r = pml_sim("--help")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert 15 <= len(lines) <= 60
    assert "+experiment=" in r.stdout and "--config-dir" in r.stdout
    strategy_lines = " ".join(ln for ln in lines if "strategy:" in ln or ln.startswith(" " * 15))
    for name in ("soc*", "il7*", "no_treatment"):
        assert name in strategy_lines  # options listed, defaults starred


def test_help_lists_user_options():
    r = pml_sim("--config-dir", str(ROOT / "examples" / "userconf"), "--help")
    assert "il7_delayed" in r.stdout and "ms_and_heme" in r.stdout


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        (  # a rule read at a day that has no visit would never fire
            ["strategy=[il7_maraviroc]", "strategy.il7_maraviroc.rules.0.at_day=85.0"],
            ["strategy.il7_maraviroc.rules[0].at_day", "85.0 is not a visit day", "84.0"],
        ),
        (  # ... when the visit calendar moves away from the rule's day
            ["strategy=[il2_mefloquine]", "monitoring.visit_days=[0.0,28.0,182.0,365.0]"],
            ["strategy.il2_mefloquine.rules[0].at_day", "84.0 is not a visit day"],
        ),
        (  # ... and from a lumbar-puncture day
            ["strategy=[soc]", "monitoring.visit_days=[0.0,28.0,182.0,365.0]"],
            ["monitoring.csf_days", "84.0 is not in monitoring.visit_days"],
        ),
        (["strategy=[soc]", "seed=-20220401"], ["seed: must be an integer >= 0, got -20220401"]),
        (["strategy=[soc]", "engine.chunk_size=-3"], ["engine.chunk_size", "got -3"]),
        (["cohort=custom", "+cohort.mix={hiv: 0}"], ["cohort.mix: needs a positive weight"]),
    ],
    ids=["rule_day", "rule_day_off_calendar", "csf_day_off_calendar", "seed", "chunk", "zero_mix"],
)
def test_bad_combinations_one_clear_line(tmp_path, overrides, fragments):
    out = tmp_path / "run"
    base = [b for b in BASE if not b.startswith("strategy=")]
    r = pml_sim(*base, *overrides, f"hydra.run.dir={out}")
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pml-sim: config error: "), r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert not out.exists()
