"""The two JCV replication structures (sim/model/cohort.py, _gross_growth): `net` sets
every patient's net progression at diagnosis, `gross` sets replication and lets each
patient's own effector response decide the net rate."""

from __future__ import annotations

import numpy as np

from sim.api import load_config, simulate
from sim.core import rng
from sim.model import cohort
from sim.model.immunity import effector_target, saturation_target


def _build(*overrides: str):
    cfg = load_config(["cohort=mixed_seed000", "cohort.n=2000", *overrides])
    key = rng.run_key(cfg.seed)
    idx = np.arange(cfg.cohort.n)
    pts = cohort.build(key, cfg.cohort, cfg.model, idx)
    m = cfg.model
    access = 1.0 - saturation_target(pts.natalizumab.astype(float), m)
    e0 = effector_target(pts.t_cell_function, pts.cd4_0, access, m)
    return cfg, key, idx, pts, e0


def _effect(key, idx, gsd, name):
    return np.exp(np.log(gsd) * rng.normal(key, f"random_effect/{name}", idx))


def test_net_structure_fixes_the_net_rate_at_diagnosis():
    cfg, key, idx, pts, e0 = _build()
    m = cfg.model
    assert m.viral_growth_parametrisation == "net"
    net = m.viral_net_growth_log10_per_day * _effect(
        key, idx, m.viral_growth_gsd, "viral_net_growth"
    )
    np.testing.assert_allclose(pts.growth - pts.kill * e0, net, rtol=1e-9, atol=1e-15)
    assert (pts.growth - pts.kill * e0 > 0).all()  # everyone is progressing


def test_gross_structure_draws_replication_and_lets_the_response_set_the_net_rate():
    cfg, key, idx, pts, e0 = _build("model=gross")
    m = cfg.model
    gross = m.viral_gross_growth_log10_per_day
    np.testing.assert_allclose(
        pts.growth, gross * _effect(key, idx, m.viral_growth_gsd, "viral_gross_growth"), rtol=1e-12
    )
    # replication no longer depends on the response at diagnosis ...
    assert abs(np.corrcoef(np.log(pts.growth), e0)[0, 1]) < 4 / np.sqrt(len(e0))
    # ... so the net rate falls with it, and a strong response is already controlling
    net = pts.growth - pts.kill * e0
    assert np.corrcoef(net, e0)[0, 1] < -0.3
    assert (net < 0).any() and (net > 0).any()


def test_under_gross_replication_low_cd4_predicts_death_in_hiv():
    # the done-when check of issue 12 (OR >= 1.5) as a direction test: under `gross` the
    # odds of death within a year are higher with CD4 < 100; log OR > 3 SE (Woolf SE)
    cfg = load_config(["cohort=hiv", "cohort.n=4000", "strategy=soc", "model=gross"])
    pts, _, _ = simulate(cfg)
    died = ((pts["time_days"] < 365) & pts["died"]).to_numpy()
    low = (pts["cd4_0"] < 100).to_numpy()
    cells = np.array(
        [(died & low).sum(), (~died & low).sum(), (died & ~low).sum(), (~died & ~low).sum()],
        dtype=float,
    )
    log_or = np.log(cells[0] * cells[3] / (cells[1] * cells[2]))
    assert log_or > 3 * np.sqrt((1 / cells).sum())
