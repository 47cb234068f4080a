"""Group-sequential boundaries: published values, and alpha checked by simulation."""

import numpy as np
import pytest
from scipy.stats import norm

from sim.trial.boundaries import (
    crossing_probabilities,
    efficacy_bounds,
    futility_bounds,
    spending,
)

ALPHA = 0.025  # one-sided


@pytest.mark.parametrize(
    "kind, fractions, expected",
    [
        # classical designs, equally spaced looks, two-sided 0.05 (Jennison & Turnbull
        # 2000, Tables 2.1 and 2.3: C_P(2) = 2.178, C_P(3) = 2.289, C_B(2) = 1.977,
        # C_B(3) = 2.004; OBF boundaries are C_B sqrt(K / k))
        ("P", [0.5, 1.0], [2.178, 2.178]),
        ("P", [1 / 3, 2 / 3, 1.0], [2.289, 2.289, 2.289]),
        ("OF", [0.5, 1.0], [2.797, 1.977]),
        ("OF", [1 / 3, 2 / 3, 1.0], [3.471, 2.454, 2.004]),
        # Lan-DeMets spending, as rpact getDesignGroupSequential(typeOfDesign = "asOF"/"asP")
        ("asOF", [0.5, 1.0], [2.963, 1.969]),
        ("asOF", [1 / 3, 2 / 3, 1.0], [3.710, 2.511, 1.993]),
        ("asP", [0.5, 1.0], [2.157, 2.201]),
        ("asP", [1 / 3, 2 / 3, 1.0], [2.279, 2.295, 2.296]),
    ],
)
def test_boundaries_match_published_values(kind, fractions, expected):
    c = efficacy_bounds(fractions, ALPHA, kind)
    assert c == pytest.approx(expected, abs=1.5e-3)  # tables give 3 decimals
    assert crossing_probabilities(fractions, c)[0].sum() == pytest.approx(ALPHA, abs=1e-6)


def test_spending_functions_reach_alpha_and_first_look_is_exact():
    for kind in ("asOF", "asP"):
        assert float(spending(kind, 1.0, ALPHA)) == pytest.approx(ALPHA, rel=1e-12)
        # the first boundary spends alpha(t1) exactly: P(Z_1 >= c_1) = alpha(t1)
        c = efficacy_bounds([0.4, 0.7, 1.0], ALPHA, kind)
        assert norm.sf(c[0]) == pytest.approx(float(spending(kind, 0.4, ALPHA)), rel=1e-6)


def test_boundaries_control_alpha_in_simulated_brownian_paths():
    """Score paths S(t) with independent N(0, dt) increments: the share that ever crosses
    the asOF boundaries at fractions (0.3, 0.6, 1) is alpha within 4 binomial SEs."""
    fr = np.array([0.3, 0.6, 1.0])
    c = efficacy_bounds(fr, ALPHA, "asOF")
    gen = np.random.default_rng(20240601)
    n = 400_000
    s = np.cumsum(gen.normal(size=(n, 3)) * np.sqrt(np.diff(np.r_[0.0, fr])), axis=1)
    crossed = (s / np.sqrt(fr) >= c).any(axis=1).mean()
    se = np.sqrt(ALPHA * (1 - ALPHA) / n)
    assert abs(crossed - ALPHA) < 4 * se


def test_power_with_drift_matches_simulation_and_futility_lowers_it():
    fr = np.array([0.5, 1.0])
    c = efficacy_bounds(fr, ALPHA, "asP")
    theta = 2.8  # expected z at full information
    gen = np.random.default_rng(7)
    n = 200_000
    inc = gen.normal(size=(n, 2)) * np.sqrt([0.5, 0.5]) + theta * np.array([0.5, 0.5])
    z = np.cumsum(inc, axis=1) / np.sqrt(fr)
    sim_power = ((z[:, 0] >= c[0]) | (z[:, 1] >= c[1])).mean()
    power = crossing_probabilities(fr, c, theta)[0].sum()
    assert abs(sim_power - power) < 4 * np.sqrt(power * (1 - power) / n)
    with_futility = crossing_probabilities(fr, c, theta, futility=[0.5, -np.inf])
    stop_fut = (z[:, 0] < 0.5).mean()
    assert with_futility[1][0] == pytest.approx(stop_fut, abs=4 * np.sqrt(stop_fut / n))
    assert with_futility[0].sum() < power


@pytest.mark.parametrize("kind, shape", [("bsOF", "asOF"), ("bsP", "asP")])
def test_beta_spending_futility_spends_beta_in_simulated_paths(kind, shape):
    """Under the planned drift, the share of Brownian paths stopped for futility by
    look k (before crossing an efficacy bound) is beta(t_k), within 4 binomial SEs."""
    fr = np.array([0.3, 0.6, 1.0])
    c = efficacy_bounds(fr, ALPHA, "asOF")
    theta, beta = 2.8, 0.2
    f = futility_bounds(fr, c, theta, beta, kind)
    assert np.isneginf(f[-1]) and (f[:-1] < c[:-1]).all()
    gen = np.random.default_rng(11)
    n = 300_000
    inc = gen.normal(size=(n, 3)) * np.sqrt(np.diff(np.r_[0.0, fr])) + theta * np.diff(np.r_[0, fr])
    z = np.cumsum(inc, axis=1) / np.sqrt(fr)
    running = np.ones(n, dtype=bool)
    stopped_futility = 0
    for k in range(2):
        stop_f = running & (z[:, k] < f[k])
        stopped_futility += stop_f.sum()
        running &= (z[:, k] >= f[k]) & (z[:, k] < c[k])
        target = float(spending(shape, fr[k], beta))
        share = stopped_futility / n
        assert abs(share - target) < 4 * np.sqrt(target * (1 - target) / n), k
