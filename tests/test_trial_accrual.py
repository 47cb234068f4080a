"""Accrual (vectorised vs SimPy reference) and permuted-block randomisation."""

import numpy as np
import pytest
from scipy import integrate

from sim.config.trial import AccrualConfig
from sim.trial.accrual import (
    DAYS_PER_MONTH,
    intensity,
    randomised_times,
    simpy_accrual,
    site_openings,
    site_rate,
)
from sim.trial.randomise import permuted_blocks

ACC = AccrualConfig(
    sites=5,
    ramp_up_months=8.0,
    rate_per_site_month=[0.5, 1.5, 1.0],
    rate_change_months=[3.0, 10.0],
    max_accrual_months=200.0,
)


def test_intensity_is_the_integral_of_the_site_rates():
    m = intensity(ACC, 1.3, 0.6)
    opens = site_openings(ACC)
    for t_days in (50.0, 200.0, 500.0, 900.0):
        rate = lambda s: 0.6 * site_rate(ACC, 1.3, s - opens).sum()  # noqa: E731
        knots = sorted({*opens, *(opens + 3 * DAYS_PER_MONTH), *(opens + 10 * DAYS_PER_MONTH)})
        pts = [k for k in knots if k < t_days]
        expected = integrate.quad(rate, 0.0, t_days, points=pts, limit=200)[0]
        assert float(m.at(np.array([t_days]))[0]) == pytest.approx(expected, rel=1e-9)
        assert float(m.inverse(m.at(np.array([t_days])))[0]) == pytest.approx(t_days)


def test_mean_arrivals_match_the_integrated_rate():
    """The number randomised by day T is Poisson(M(T)): mean within 4 MC SEs."""
    m = intensity(ACC, 1.0, 0.7)
    t_end = 14 * DAYS_PER_MONTH
    mu = float(m.at(np.array([t_end]))[0])
    gen = np.random.default_rng(5)
    reps = 3000
    counts = [(randomised_times(gen, m, int(mu * 4), np.inf) <= t_end).sum() for _ in range(reps)]
    assert abs(np.mean(counts) - mu) < 4 * np.sqrt(mu / reps)
    assert np.var(counts) == pytest.approx(mu, rel=0.1)  # Poisson: variance = mean


def test_simpy_reference_agrees_in_distribution():
    """Time to randomise n patients and patients screened: SimPy vs vectorised."""
    gen = np.random.default_rng(9)
    eligible = gen.random(1000) < 0.7
    screen_fail, n, reps = 0.25, 25, 400
    p = eligible.mean() * (1 - screen_fail)
    m = intensity(ACC, 1.0, p)
    vec = np.array([randomised_times(gen, m, n, np.inf)[-1] for _ in range(reps)])
    des = [simpy_accrual(ACC, 1.0, eligible, screen_fail, n, gen) for _ in range(reps)]
    ref = np.array([d.times[-1] for d in des])
    assert all(len(d.times) == n for d in des)
    se = np.sqrt(vec.var() / reps + ref.var() / reps)
    assert abs(vec.mean() - ref.mean()) < 4 * se
    # screened = n + NegBin(n, p) failures: mean n / p
    screened = np.array([d.screened for d in des])
    assert abs(screened.mean() - n / p) < 4 * screened.std() / np.sqrt(reps)
    # and the spread: both standard deviations agree within 20% (SE of an SD ~ 5% here)
    assert vec.std() == pytest.approx(ref.std(), rel=0.2)


def test_simpy_accrual_stops_at_the_cap():
    acc = AccrualConfig(sites=1, rate_per_site_month=[1.0], max_accrual_months=6.0)
    out = simpy_accrual(acc, 1.0, np.ones(10, bool), 0.0, 1000, np.random.default_rng(1))
    assert len(out.times) < 1000 and out.times.max() <= 6 * DAYS_PER_MONTH


@pytest.mark.parametrize("allocation, block", [((1, 1), 4), ((2, 1), 6), ((1, 1), 2)])
def test_permuted_blocks_balance_within_strata(allocation, block):
    gen = np.random.default_rng(3)
    strata = gen.integers(0, 4, size=500)
    arm = permuted_blocks(strata, allocation, block, gen)
    a, c = allocation
    for s in range(4):
        g = arm[strata == s]
        n_e, n_c = np.cumsum(g), np.cumsum(~g)
        # imbalance against the a:c target never exceeds half a block's worth
        assert np.abs(c * n_e - a * n_c).max() <= a * c * block // 2
        full = (len(g) // block) * block  # after every complete block: exactly a:c
        assert n_e[full - 1] * c == n_c[full - 1] * a
    assert arm.mean() == pytest.approx(a / (a + c), abs=0.02)
