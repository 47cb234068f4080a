"""The virtual retrospective study (seed 000): replicate design, analysis, outputs."""

import json

import numpy as np
import pandas as pd
import pytest
from cli_helper import pml_sim

from sim.api import load_config
from sim.engine.run import simulate
from sim.evidence.study import (
    TABLE_COLUMNS,
    add_study_columns,
    condition_counts,
    study_config,
)


@pytest.fixture(scope="module")
def pooled():
    cfg = load_config(["+experiment=seed000", "study.replicates=30", "output.progress=false"])
    pts, _, _ = simulate(study_config(cfg))
    return cfg, add_study_columns(pts, cfg)


def test_each_replicate_has_the_published_mix(pooled):
    cfg, pts = pooled
    assert condition_counts(cfg) == {
        "hiv": 27,
        "hematologic_malignancy": 16,
        "primary_immunodeficiency": 13,
        "solid_organ_transplant": 4,
        "chronic_inflammatory": 4,
    }
    assert len(pts) == 30 * 64 and (pts["replicate"] >= 0).all()
    per = pts.groupby(["replicate", "condition"], observed=True).size().unstack()
    assert (per["hiv"] == 27).all() and (per["solid_organ_transplant"] == 4).all()
    assert per.sum(axis=1).eq(64).all()  # disjoint: each patient in exactly one study


def test_csf_sampling_share_within_monte_carlo_error(pooled):
    cfg, pts = pooled
    p, n = cfg.study.csf_month1_available, len(pts)
    assert abs(pts["csf_month1_measured"].mean() - p) < 4 * np.sqrt(p * (1 - p) / n)


def test_largest_remainder_rounding_keeps_the_total():
    cfg = load_config(["+experiment=seed000", "study.study_n=10"])
    counts = condition_counts(cfg)
    assert sum(counts.values()) == 10
    assert counts["hiv"] == 4  # 27/64 x 10 = 4.2


def test_cli_writes_table_and_plot_and_is_deterministic(tmp_path):
    args = ["+experiment=seed000", "study.replicates=25", "output.progress=false"]
    outs = []
    for name in ("a", "b"):
        r = pml_sim(*args, f"hydra.run.dir={tmp_path / name}")
        assert r.returncode == 0, r.stderr
        outs.append(tmp_path / name)
    for f in (
        "study_table.csv",
        "study_table.md",
        "study_forest.png",
        "study_replicates.csv",
        "patients.parquet",
        "config.yaml",
        "run.json",
    ):
        assert (outs[0] / f).is_file(), f
    table = pd.read_csv(outs[0] / "study_table.csv")
    assert list(table.columns) == TABLE_COLUMNS
    assert set(table["verdict"].dropna()) <= {"hit", "direction", "miss", "not estimable"}
    pub = table.set_index("target_id").loc["seed000_survival_1y"]
    assert pub["published"] == pytest.approx(0.547)
    assert pub["n64_low"] <= pub["n64_median"] <= pub["n64_high"]
    reps = pd.read_csv(outs[0] / "study_replicates.csv")
    assert len(reps) == 25 and (reps["n"] == 64).all()
    # the pooled (large n) survival is the mean of the replicate survivals (equal sizes)
    assert pub["large_n"] == pytest.approx(reps["survival_1y"].mean())
    pd.testing.assert_frame_equal(table, pd.read_csv(outs[1] / "study_table.csv"))
    meta = json.loads((outs[0] / "run.json").read_text())
    assert meta["task"] == "study" and meta["status"] == "complete"


def test_bad_study_input_is_one_line(tmp_path):
    r = pml_sim("+experiment=seed000", "study.replicates=0", f"hydra.run.dir={tmp_path / 'x'}")
    assert r.returncode == 2
    assert "study.replicates" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x").exists()
