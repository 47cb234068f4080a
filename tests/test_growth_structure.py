"""The two JCV replication structures (sim/model/cohort.py, _replication): `net` sets
every patient's net progression at diagnosis, `gross` sets replication and lets each
patient's own effector response decide the net rate. Replication is matched to the
killing of E_mix = w E0 + (1 - w) E_typ (`model.viral_growth_coupling` w; E_typ the
condition's typical patient), recomputed here from the patients' arrays."""

from __future__ import annotations

import numpy as np
from scipy import stats

from sim.api import load_config
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model import cohort
from sim.model.immunity import effector_target, saturation_target


def _build(*overrides: str):
    # uncertainty=none: model=gross has no posterior sample (and none is read here)
    cfg = load_config(["cohort=mixed_seed000", "cohort.n=2000", "uncertainty=none", *overrides])
    key = rng.run_key(cfg.seed)
    idx = np.arange(cfg.cohort.n)
    pts = cohort.build(key, cfg.cohort, cfg.model, idx)
    m = cfg.model
    access = 1.0 - saturation_target(pts.natalizumab.astype(float), m)
    e0 = effector_target(pts.t_cell_function, pts.cd4_0, access, m)
    f_typ = np.array([m.conditions[c].t_cell_function for c in CONDITIONS])[pts.condition]
    cd4_typ = np.array([m.conditions[c].cd4.mean for c in CONDITIONS])[pts.condition]
    w = m.viral_growth_coupling
    e_mix = w * e0 + (1.0 - w) * effector_target(f_typ, cd4_typ, access, m)
    return cfg, key, idx, pts, e0, e_mix


def _effect(key, idx, gsd, name):
    return np.exp(np.log(gsd) * rng.normal(key, f"random_effect/{name}", idx))


def test_net_structure_fixes_the_net_rate_at_diagnosis():
    cfg, key, idx, pts, _, e_mix = _build()
    m = cfg.model
    assert m.viral_growth_parametrisation == "net"
    net = m.viral_net_growth_log10_per_day * _effect(
        key, idx, m.viral_growth_gsd, "viral_net_growth"
    )
    np.testing.assert_allclose(pts.growth - pts.kill * e_mix, net, rtol=1e-9, atol=1e-15)
    assert (pts.growth - pts.kill * e_mix > 0).all()  # progressing against the matched killing


def test_gross_structure_draws_replication_given_progression_at_diagnosis():
    cfg, key, idx, pts, e0, e_mix = _build("model=gross")
    m = cfg.model
    # reference: scipy's truncated normal on the log scale, truncated where replication
    # equals the matched killing at diagnosis, at the patient's own quantile
    sigma, log_r = np.log(m.viral_growth_gsd), np.log(m.viral_gross_growth_log10_per_day)
    z = rng.normal(key, "random_effect/viral_gross_growth", idx)
    a = (np.log(pts.kill * e_mix) - log_r) / sigma
    expected = np.exp(log_r + sigma * stats.truncnorm.ppf(stats.norm.cdf(z), a, np.inf))
    np.testing.assert_allclose(pts.growth, expected, rtol=1e-9)
    assert (pts.growth - pts.kill * e_mix >= 0).all()  # progressing against the matched killing
    net = pts.growth - pts.kill * e0
    # ... at a rate their own response sets: the stronger the response, the slower
    # (rank correlation below zero by more than 4 SE, SE ~ 1 / sqrt(n - 1))
    assert stats.spearmanr(net, e0).statistic < -4 / np.sqrt(len(net) - 1)
    # conditioning on progression only ever raises replication above the free draw
    assert (pts.growth >= np.exp(log_r + sigma * z) * (1 - 1e-12)).all()
