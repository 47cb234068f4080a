"""The death-or-disability composite endpoint (death, or mRS >= trial.disability_mrs, at
12 months) for two-arm binary designs.

References: the endpoint recomputed from the pool's death days and mRS; the exact
rejection probability of the pooled two-proportion test at the trials' arm sizes by
enumerating every pair of binomial counts, each table's statistic from scipy's
Pearson chi-square (chi2_contingency, no continuity correction).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom, chi2_contingency, norm

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.trial.design import Enrolled, endpoint_data
from sim.trial.sizing import superpopulation

K_SE = 4.0
TRIALS = 1000
N = 160  # power ~0.17 at the pool's death-or-disability rates (~0.37 vs ~0.30)
RUN = [
    "+experiment=trial_sizing",
    "trial=composite_pd1",
    "trial.pool_per_arm=6000",
    "trial.followup.dropout_per_year=0.0",
    "trial.randomisation.stratify=false",  # blocks of 4: exactly N / 2 per arm
    "trial.designs.fixed_death_or_disability.stratified=false",
    "~trial.designs.asOF2_death_or_disability",
    "~trial.designs.fixed_survival_1y_cmh",
    f"trial.sizing.trials={TRIALS}",
    f"trial.sizing.n=[{N}]",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def run():
    cfg = load_config(RUN)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def _exact_rejection(p_e, p_c, n_e, n_c, alpha):
    """Every table (x_e of n_e, x_c of n_c): z = sign(difference) x sqrt(Pearson X^2)."""
    crit = norm.isf(alpha)
    total = 0.0
    for xe in range(n_e + 1):
        for xc in range(n_c + 1):
            table = np.array([[xe, n_e - xe], [xc, n_c - xc]])
            if table.sum(axis=0).min() == 0:
                continue  # no variation: z = 0
            chi2 = chi2_contingency(table, correction=False)[0]
            z = math.copysign(math.sqrt(chi2), xe / n_e - xc / n_c)
            if z >= crit:
                total += binom.pmf(xe, n_e, p_e) * binom.pmf(xc, n_c, p_c)
    return total


def test_the_endpoint_is_alive_without_disability_at_12_months(run):
    cfg, spec, _, _ = run
    t = cfg.trial
    for arm in ("experimental", "control"):
        o = spec.pool.outcomes[arm]
        m = len(o.death_day)
        e = Enrolled(np.zeros(m), np.arange(m), np.ones(m, bool), spec.pool.condition,
                     np.full(m, np.inf), m, spec.pool.horizon_days)  # fmt: skip
        comp = endpoint_data("death_or_disability", t, e, o).success
        surv = endpoint_data("survival_1y", t, e, o).success
        expected = (o.death_day > 365.0) & (o.mrs <= 3)
        assert np.array_equal(comp, expected)
        assert not (comp & ~surv).any()  # a success is a survivor
        assert comp.mean() < surv.mean()  # and some survivors are disabled
    sp = superpopulation(spec, "death_or_disability")
    o = spec.pool.outcomes["experimental"]
    assert sp["p_e"] == pytest.approx(float(((o.death_day > 365) & (o.mrs < 4)).mean()))


def test_simulated_power_and_size_match_exact_enumeration(run):
    cfg, spec, trials, oc = run
    sp = superpopulation(spec, "death_or_disability")
    g = trials[trials["design"] == "fixed_death_or_disability"]
    assert (g["n_analysed_e"] == N // 2).all() and (g["n_analysed_c"] == N // 2).all()
    row = oc.set_index("design").loc["fixed_death_or_disability"]
    alpha = cfg.trial.alpha
    power = _exact_rejection(sp["p_e"], sp["p_c"], N // 2, N // 2, alpha)
    size = _exact_rejection(sp["p_c"], sp["p_c"], N // 2, N // 2, alpha)
    assert 0.1 < power < 0.95
    assert abs(row["power"] - power) < K_SE * math.sqrt(power * (1 - power) / TRIALS)
    assert abs(row["type1_error"] - size) < K_SE * math.sqrt(max(size * (1 - size), 0.01) / TRIALS)


def test_composite_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="single-arm design needs"):
        load_config(RUN + ["trial.comparator=historical"])
    with pytest.raises(ConfigError, match="trial.disability_mrs"):
        load_config(RUN + ["trial.disability_mrs=7"])
    with pytest.raises(ConfigError, match="horizon_days"):
        load_config(RUN + ["horizon_days=400"])
    with pytest.raises(ConfigError, match="trial.effect.kind"):
        load_config(RUN + ["trial.effect.kind=assumed"])
    with pytest.raises(ConfigError, match="test"):
        load_config(RUN + ["trial.designs.fixed_death_or_disability.test=km"])
