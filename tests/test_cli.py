"""The command line: outputs, determinism, provenance and bad input."""

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helper import pml_sim
from lifelines import KaplanMeierFitter

# uncertainty=none: these tests check one parameter set's numbers (the default adds the
# nested posterior simulation; tests/test_uncertainty.py runs that)
SMALL = ["cohort.n=300", "strategy=[soc,il7]", "output.progress=false", "uncertainty=none"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    outs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        out = base / name
        r = pml_sim(*SMALL, f"seed={seed}", f"hydra.run.dir={out}")
        assert r.returncode == 0, r.stderr
        outs.append(out)
    return outs


def test_run_directory_contract(two_runs):
    out = two_runs[0]
    for f in (
        "summary.csv",
        "patients.parquet",
        "events.parquet",
        "labs.parquet",
        "km.png",
        "iris_cuminc.png",
        "config.yaml",
        "run.json",
    ):
        assert (out / f).is_file(), f
    assert not list(out.glob(".*.tmp"))
    summary = pd.read_csv(out / "summary.csv")
    required = [
        "strategy",
        "condition",
        "n",
        "survival_1y",
        "survival_1y_lo",
        "survival_1y_hi",
        "median_survival_days",
        "iris_rate",
        "side_effect_rate",
    ]
    assert set(required) <= set(summary.columns)
    assert set(summary.strategy) == {"soc", "il7"}
    all_rows = summary[summary.condition == "all"]
    assert list(all_rows.n) == [300, 300]
    meta = json.loads((out / "run.json").read_text())
    assert meta["seed"] == 5 and meta["status"] == "complete"
    assert len(meta["git_commit"]) in (40, 7) or meta["git_commit"] == "unknown"
    assert meta["version"]


def test_summary_survival_matches_lifelines(two_runs):
    out = two_runs[0]
    pts = pd.read_parquet(out / "patients.parquet")
    summary = pd.read_csv(out / "summary.csv")
    for (strategy, condition), g in pts.groupby(["strategy", "condition"], observed=True):
        kmf = KaplanMeierFitter().fit(g.time_days, g.died)
        row = summary[(summary.strategy == strategy) & (summary.condition == condition)].iloc[0]
        assert row.survival_1y == pytest.approx(float(kmf.predict(365.0)), abs=1e-6)


def test_same_seed_same_summary(two_runs):
    a, b, c = (Path(x) / "summary.csv" for x in two_runs)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_cfg_job_shows_composed_config():
    r = pml_sim("--cfg", "job", "strategy=il7", "cohort=natalizumab_ms")
    assert r.returncode == 0, r.stderr
    assert "natalizumab_ms" in r.stdout and "rhil7" in r.stdout and "soc:" not in r.stdout


@pytest.mark.parametrize(
    "override, key",
    [
        ("cohort.n=-5", "cohort.n"),
        ("cohort.n=abc", "cohort.n"),
        ("therapies.rhil7.side_effects.0.probability=1.5", "probability"),
        ("strategy=nonexistent", "strategy"),
        ("cohort.nonsense=1", "nonsense"),
        ("model.damage_rate_per_day=-0.1", "model.damage_rate_per_day"),
        ("strategy.il7.therapies.0.therapy=unobtainium", "strategy.il7.therapies[0].therapy"),
        ("+cohort.mix.martian=1", "cohort.mix.martian"),
        ("engine.kind=quantum", "engine.kind"),
    ],
)
def test_bad_input_one_clear_line(tmp_path, override, key):
    out = tmp_path / "run"
    r = pml_sim("cohort.n=50", "strategy=il7", override, f"hydra.run.dir={out}")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert key in lines[0] and "Traceback" not in r.stderr
    assert not (out / "run.json").exists() and not (out / "summary.csv").exists()


def test_partitioned_output_holds_the_same_tables(tmp_path):
    """output.partitioned=true: patients/events/labs.parquet are directories of one part
    per chunk (3 chunks x 2 strategies) that read back as the very tables a single-file
    run writes; the summary is byte-identical."""
    common = [
        "cohort.n=120",
        "strategy=[soc,il7]",
        "engine.chunk_size=50",
        "seed=3",
        "uncertainty=none",
    ]
    common += ["output.progress=false", "output.plots=false"]
    one, parts = tmp_path / "one", tmp_path / "parts"
    assert pml_sim(*common, f"hydra.run.dir={one}").returncode == 0
    r = pml_sim(*common, "output.partitioned=true", f"hydra.run.dir={parts}")
    assert r.returncode == 0, r.stderr
    for name in ("patients", "events", "labs"):
        d = parts / f"{name}.parquet"
        assert d.is_dir() and (one / f"{name}.parquet").is_file()
        assert sorted(p.name for p in d.iterdir()) == [f"part-{i:05d}.parquet" for i in range(6)]
        a = pd.read_parquet(one / f"{name}.parquet")
        b = pd.read_parquet(d)
        pd.testing.assert_frame_equal(a, b)
    pts = pd.read_parquet(parts / "patients.parquet")
    assert list(pts.groupby("strategy", sort=False).size()) == [120, 120]
    assert (one / "summary.csv").read_bytes() == (parts / "summary.csv").read_bytes()
    assert json.loads((parts / "run.json").read_text())["status"] == "complete"
    assert not list(parts.glob(".*.tmp"))  # no temporary directory left behind
