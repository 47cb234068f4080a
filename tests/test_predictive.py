"""Validation under parameter uncertainty (issue 14, sim.evidence.predictive): the
verdict rule on hand-made intervals, the predictive interval on synthetic draws, the
per-population n against the planning rule written out again, common random numbers
across draws, and a small end-to-end run of experiments/validation_verdicts.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.evidence import predictive as P
from sim.evidence.targets import (
    MC_FRACTION,
    N_GRID,
    Evaluator,
    planned_mc_se,
    published_ci,
    scenario_of,
    standard_error,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "pub, pi, verdict",
    [
        ((0.4, 0.6), (0.5, 0.7), "reproduced"),  # partial overlap
        ((0.4, 0.6), (0.45, 0.55), "reproduced"),  # predictive inside published
        ((0.45, 0.55), (0.1, 0.9), "reproduced"),  # published inside predictive
        ((0.1, 0.2), (0.3, 0.4), "miss"),  # disjoint, predictive above
        ((0.3, 0.4), (0.1, 0.2), "miss"),  # disjoint, predictive below
        ((0.1, 0.3), (0.3, 0.5), "reproduced"),  # touching at one end point
        ((0.3, 0.5), (0.1, 0.3), "reproduced"),  # touching, the other side
        ((0.1, 0.3), (0.3 + 1e-12, 0.5), "miss"),  # just apart
        ((2.0, 2.0), (2.0, 2.0), "reproduced"),  # two points, the same
        ((0.1, 0.3), (math.nan, math.nan), "not estimable"),
    ],
)
def test_predictive_verdict_on_hand_made_intervals(pub, pi, verdict):
    assert P.predictive_verdict(*pub, *pi) == verdict


def test_predictive_verdict_refuses_a_reversed_interval():
    with pytest.raises(ValueError, match="low > high"):
        P.predictive_verdict(0.5, 0.4, 0.1, 0.2)


@pytest.fixture(scope="module")
def cfg():
    return load_config(["+experiment=calibrate", "executor=inprocess"])


def _target(cfg, tid):
    return next(t for t in cfg.targets.items if t.id == tid)


def test_interval_and_verdict_on_synthetic_draws(cfg):
    """A proportion and an odds ratio with made-up draw values: the interval is the
    central 95% of the draws (log scale for the ratio), and moving the draws just past
    the published CI turns the verdict from reproduced to miss."""
    surv = _target(cfg, "seed000_survival_1y")  # 54.7% (42.5-66.9)
    ratio = _target(cfg, "seed000_or_csf_jcv_fall")  # 7.6 (1.6-56.1)
    lo_s, hi_s = published_ci(surv)
    lo_r, _ = published_ci(ratio)
    grid = np.linspace(0.0, 1.0, 201)
    draws = pd.DataFrame(
        {
            "draw": np.arange(201),
            surv.id: hi_s + 0.1 * grid,  # from the published upper bound upwards
            ratio.id: lo_r * np.exp(-2.0 * grid[::-1]),  # up to the published lower bound
        }
    )
    sizes = {surv.id: 100, ratio.id: 100}
    t = P.predictive_table([surv, ratio], draws, sizes, 0.95, seed=1).set_index("target_id")
    # central 95% of 201 evenly spaced values: exactly the 2.5% and 97.5% grid points
    assert t.loc[surv.id, "pp_low"] == pytest.approx(hi_s + 0.1 * 0.025)
    assert t.loc[surv.id, "pp_high"] == pytest.approx(hi_s + 0.1 * 0.975)
    assert t.loc[ratio.id, "pp_high"] == pytest.approx(lo_r * math.exp(-2.0 * 0.025))
    assert t.loc[ratio.id, "pp_median"] == pytest.approx(lo_r * math.exp(-1.0))
    assert (t["pp_verdict"] == "miss").all()  # 2.5% of the draws past the bound: not enough
    assert (t["draws"] == 201).all() and (t["n"] == 100).all()
    # the replicate study adds the published figure's sampling noise: a wider interval
    assert t.loc[surv.id, "replicate_low"] < t.loc[surv.id, "pp_low"]
    wider = draws.copy()
    wider[surv.id] = hi_s - 0.02 + 0.1 * grid  # now the lower 20% are inside the CI
    t2 = P.predictive_table([surv], wider, sizes, 0.95).set_index("target_id")
    assert t2.loc[surv.id, "pp_verdict"] == "reproduced"
    none = draws.copy()
    none[ratio.id] = np.nan  # e.g. an odds ratio with an empty cell in every draw
    t3 = P.predictive_table([ratio], none, sizes, 0.95).set_index("target_id")
    assert t3.loc[ratio.id, "pp_verdict"] == "not estimable" and t3.loc[ratio.id, "draws"] == 0


def test_population_sizes_follow_the_planning_rule(cfg):
    """n per population = the smallest N_GRID size whose planned MC se is at most 1/4 of
    the published se for every one of its targets (written out again here)."""
    targets = [t for t in cfg.targets.items if t.role == "validation"]
    groups = P.population_sizes(targets)
    assert sorted(i for ids, _ in groups for i in ids) == sorted(t.id for t in targets)
    by_id = {t.id: t for t in targets}
    for ids, n in groups:
        assert len({scenario_of(by_id[i]) for i in ids}) == 1
        want = min(
            n_
            for n_ in N_GRID
            if all(
                planned_mc_se(by_id[i], n_) <= MC_FRACTION * standard_error(by_id[i]) for i in ids
            )
            or n_ == N_GRID[-1]
        )
        assert n == want, ids
    assert all(n <= 1000 for _, n in P.population_sizes(targets, n_max=1000))


def test_draws_share_their_patients_and_match_a_direct_evaluation(cfg):
    """Common random numbers: two draws with the same parameters give the same
    statistics, a different draw different ones; each draw equals an Evaluator run
    built directly (without the batching and grouping of sim.evidence.predictive)."""
    targets = [_target(cfg, "vst_hematologic_alive"), _target(cfg, "seed002_csf_jcv_change_12w")]
    post = pd.read_csv(ROOT / "conf" / "model" / "calibrated_posterior.csv").drop(columns="draw")
    sets = post.iloc[[0, 1, 0]].reset_index(drop=True)
    pp, draws = P.validate_under_uncertainty(cfg, targets, sets, n_max=250, batch=2)
    assert list(draws["draw"]) == [0, 1, 2]
    # the CSF median change at 12 weeks is the same at these two draws (-2.04, a median
    # of few distinct values): only the survival share is asserted to move
    assert draws.loc[0, targets[0].id] != draws.loc[1, targets[0].id]
    for t in targets:
        assert draws.loc[0, t.id] == draws.loc[2, t.id]
        direct = Evaluator(cfg, [t], 250).evaluate({k: float(v) for k, v in sets.iloc[1].items()})
        assert draws.loc[1, t.id] == pytest.approx(direct[t.id], abs=1e-12)
    assert set(pp["pp_verdict"]) <= set(P.VERDICTS) and (pp["n"] == 250).all()


def test_the_script_writes_its_table_and_plot(tmp_path):
    out = tmp_path / "vv"
    cmd = [sys.executable, str(ROOT / "experiments" / "validation_verdicts.py"), "--posterior",
           "--draws", "2", "--n-max", "250", "--pp-n-max", "250", "--out", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    t = pd.read_csv(out / "validation_predictive.csv")
    targets = load_config(["+experiment=calibrate"]).targets.items
    n_validation = sum(x.role == "validation" for x in targets)
    assert len(t) == n_validation and set(t["role"]) == {"validation"}
    assert set(t["pp_verdict"]) <= set(P.VERDICTS) and set(t["verdict"]) <= {"hit", "miss"}
    assert (t["draws"] <= 2).all() and (t["n"] <= 250).all()
    for r_ in t.itertuples():  # the verdict is the rule applied to the written bounds
        got = P.predictive_verdict(r_.published_low, r_.published_high, r_.pp_low, r_.pp_high)
        assert got == r_.pp_verdict
    assert (out / "validation_predictive.png").stat().st_size > 0
    md = (out / "validation_predictive.md").read_text()
    assert md.count("\n| ") == n_validation + 1  # header row + a row per target
    assert len(pd.read_csv(out / "validation_predictive_draws.csv")) == 2


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--draws", "501"], "--draws 501: the posterior file holds 500 draws"),
        (["--draws", "1"], "--draws: must be an integer >= 2, got 1"),
        (["model=default"], "default_posterior.csv not found"),
    ],
)
def test_the_script_refuses_before_simulating(args, fragment, tmp_path):
    cmd = [sys.executable, str(ROOT / "experiments" / "validation_verdicts.py"), "--posterior",
           "--out", str(tmp_path / "vv"), *args]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and fragment in r.stderr, r.stderr
    assert "| target |" not in r.stdout and not (tmp_path / "vv").exists()
