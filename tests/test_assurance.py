"""Assurance (issue 14): power averaged over parameter draws, beside power."""

from __future__ import annotations

import numpy as np
import pytest

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config import ConfigError
from sim.trial import assurance
from sim.trial.design import superpopulation
from sim.trial.sizing import analytic_power

SMALL = ["+experiment=trial_sizing", "trial.assurance.draws=4", "trial.assurance.source=ensemble",
         "trial.assurance.pool_per_arm=300", "trial.sizing.trials=20", "trial.pool_per_arm=1500",
         "trial.sizing.n=[100,200]", "executor=inprocess", "output.progress=false"]  # fmt: skip


@pytest.fixture(scope="module")
def sized():
    cfg = load_config(SMALL)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def test_assurance_is_the_mean_of_per_draw_power(sized):
    cfg, spec, trials, oc = sized
    sets = assurance.load_sets(cfg.model.name, "ensemble", 4, "k")
    sps = [assurance.one_draw(cfg, {k: float(v) for k, v in r.items()}, d)
           for d, r in sets.iterrows()]  # fmt: skip
    for r in oc.to_dict("records"):
        g = trials[(trials["design"] == r["design"]) & (trials["n"] == r["n"])]
        alt = g[g["scenario"] == "alternative"]
        ep = cfg.trial.designs[r["design"]].endpoint
        x = [analytic_power(spec, r["design"], alt, sp[ep]) for sp in sps]
        assert r["assurance"] == pytest.approx(np.mean(x), rel=1e-12)
        assert r["assurance_se"] == pytest.approx(np.std(x, ddof=1) / 2, rel=1e-9)


def test_power_at_the_pools_own_values_is_the_analytic_power(sized):
    """The assurance path with the point estimate's values gives the analytic power."""
    cfg, spec, trials, oc = sized
    for r in oc.to_dict("records"):
        g = trials[(trials["design"] == r["design"]) & (trials["n"] == r["n"])]
        alt = g[g["scenario"] == "alternative"]
        own = superpopulation(spec, cfg.trial.designs[r["design"]].endpoint)
        assert analytic_power(spec, r["design"], alt, own) == pytest.approx(r["analytic_power"])


def test_draws_differ_and_off_means_nan(sized):
    cfg, _, _, oc = sized
    assert oc["assurance"].notna().all()
    sets = assurance.load_sets(cfg.model.name, "ensemble", 4, "k")
    a = assurance.one_draw(cfg, {k: float(v) for k, v in sets.iloc[0].items()}, 0)
    b = assurance.one_draw(cfg, {k: float(v) for k, v in sets.iloc[1].items()}, 1)
    assert a["survival_1y"]["p_c"] != b["survival_1y"]["p_c"]
    off = load_config([*SMALL, "trial.assurance.draws=0"])
    assert assurance.draws(off) == []


def test_bad_assurance_input():
    with pytest.raises(ConfigError, match="trial.assurance.draws"):
        load_config([*SMALL, "trial.assurance.draws=1"])
    with pytest.raises(ConfigError, match="trial.assurance.source"):
        load_config([*SMALL, "trial.assurance.source=posterior", "model=default"])


def test_trial_loops_tell_auto_their_size(outer_sizes):
    """executor=auto decides by the size of an outer loop (sim.engine.executors.resolve):
    the sizing grid counts its trial patients (trials x the grid's n), the assurance draws
    their pools (draws x pool_per_arm x 2 arms). Without them both would stay in this
    process however large (the default sizing: 53 s in process, 30 s on 2 workers)."""
    import sim.trial.assurance as assurance_mod
    import sim.trial.sizing as sizing_mod

    seen = outer_sizes(sizing_mod, assurance_mod)
    cfg = load_config([*SMALL, "executor=auto"])
    spec, _, _ = run_sizing(cfg)
    grid = sizing_mod.grid_n(spec)
    assert 20 * sum(grid) in seen  # trials x the grid's n (one accrual scale)
    assert 4 * 300 * 2 in seen  # assurance draws x pool_per_arm x 2 arms
