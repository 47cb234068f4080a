"""model.viral_growth_coupling: replication matched to the patient or to the condition.

With coupling w, a diagnosed patient's gross replication is its net-rate draw plus its
killing rate times w E0 + (1 - w) E_typ, E0 its own effector response at diagnosis and
E_typ that of the condition's typical patient (median CD4, median T-cell function). The
tests recompute both from the patients' own arrays (sim.model.immunity's formula), so
they check the code against the docstring, not against itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.api import load_config
from sim.config.errors import ConfigError
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model.cohort import build
from sim.model.immunity import effector_target, saturation_target


def _cohort(w: float, n: int = 4000):
    cfg = load_config(["cohort=mixed_seed000", f"model.viral_growth_coupling={w}"])
    key = rng.run_key(cfg.seed)
    return cfg, build(key, cfg.cohort, cfg.model, np.arange(n))


def _effectors(cfg, p):
    m = cfg.model
    reach = 1.0 - saturation_target(p.natalizumab.astype(float), m)
    e0 = effector_target(p.t_cell_function, p.cd4_0, reach, m)
    f_typ = np.array([m.conditions[c].t_cell_function for c in CONDITIONS])[p.condition]
    cd4_typ = np.array([m.conditions[c].cd4.mean for c in CONDITIONS])[p.condition]
    return e0, effector_target(f_typ, cd4_typ, reach, m)


@pytest.mark.parametrize("w", [1.0, 0.5, 0.0])
def test_net_rate_at_diagnosis_follows_the_coupling(w):
    cfg, p = _cohort(w)
    _, p1 = _cohort(1.0)
    e0, e_typ = _effectors(cfg, p)
    net_draw = p1.growth - p1.kill * e0  # w = 1: growth - own killing = the net draw
    expected = net_draw + p.kill * (w * e0 + (1.0 - w) * e_typ)
    np.testing.assert_allclose(p.growth, expected, rtol=1e-12)


def test_below_full_coupling_more_cd4_means_slower_progression_at_diagnosis():
    """w = 0: in HIV the net rate at diagnosis (growth - own killing) falls with the
    CD4 count (rank correlation clearly negative); w = 1: it does not depend on it."""
    from scipy.stats import spearmanr

    hiv = CONDITIONS.index("hiv")
    for w, sign in [(0.0, -1), (1.0, 0)]:
        cfg, p = _cohort(w)
        e0, _ = _effectors(cfg, p)
        m = p.condition == hiv
        net = (p.growth - p.kill * e0)[m]
        rho = spearmanr(p.cd4_0[m], net).statistic
        if sign < 0:
            assert rho < -0.3
        else:
            assert abs(rho) < 4.0 / np.sqrt(m.sum())  # independent draws: |rho| ~ 1/sqrt(n)


@pytest.mark.parametrize("key", ["viral_growth_coupling", "death_activity_weight"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_shares_outside_zero_one_are_refused_by_name(key, value):
    with pytest.raises(ConfigError, match=f"model.{key}"):
        load_config([f"model.{key}={value}"])
