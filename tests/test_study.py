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
    VERDICTS,
    add_study_columns,
    condition_counts,
    predictive_p,
    study_config,
    study_verdict,
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
    assert set(table["verdict"].dropna()) <= set(VERDICTS)
    # the rule, recomputed from the table's own columns
    for r in table[table["target_id"].notna()].itertuples():
        ci_out = not r.published_low <= r.large_n <= r.published_high
        range_out = not r.n64_low <= r.published <= r.n64_high
        assert r.verdict == ("miss" if ci_out or range_out else "hit"), r.quantity
    md = (outs[0] / "study_table.md").read_text()
    assert "Verdict: **miss** when the published estimate" in md
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


def test_verdict_misses_when_the_published_ci_excludes_the_model_or_small_studies_miss():
    # issue 12: an OR of 1.26 against 4.1 (1.2-14.9) inside the CI, but no simulated
    # 64-patient study as large as 4.1: a miss
    assert study_verdict(1.26, 1.2, 14.9, 4.1, 0.25, 3.9) == (
        "miss",
        "published estimate outside the central 95% of simulated studies",
    )
    assert study_verdict(1.41, 1.7, 23.3, 5.9, 0.29, 7.8)[0] == "miss"  # CI excludes 1.41
    assert study_verdict(1.26, 1.2, 14.9, 4.1, 0.25, 6.2) == ("hit", "")
    verdict, reason = study_verdict(1.41, 1.7, 23.3, 5.9, 0.29, 5.0)
    assert verdict == "miss" and reason.count(";") == 1  # both reasons
    assert study_verdict(float("nan"), 1.2, 14.9, 4.1, 0.25, 6.2)[0] == "not estimable"


def test_predictive_p_counts_studies_at_least_as_extreme_on_the_published_side():
    x = np.r_[np.arange(1.0, 101.0), np.nan]  # 1..100, one not estimable
    p, se = predictive_p(x, 96.0)
    assert p == pytest.approx(5 / 100) and se == pytest.approx(np.sqrt(0.05 * 0.95 / 100))
    assert predictive_p(x, 3.0)[0] == pytest.approx(3 / 100)  # below the median: lower tail
    # a published proportion rounded as printed ties with the exact k/n: 35/64 = 0.546875
    assert predictive_p(np.array([35 / 64, 0.5, 0.4]), 0.547)[0] == pytest.approx(1 / 3)
    assert np.isnan(predictive_p(np.array([np.nan]), 1.0)[0])
