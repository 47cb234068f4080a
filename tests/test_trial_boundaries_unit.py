"""Group-sequential boundaries (sim.trial.boundaries): edge cases and the futility
recursion, against closed forms and scipy's multivariate normal (Genz) integration.

Z_k = S(t_k) / sqrt(t_k), S Brownian with drift theta: corr(Z_j, Z_k) = sqrt(t_j / t_k),
E Z_k = theta sqrt(t_k) (Jennison & Turnbull 2000, ch. 3). Written for issue 17's
mutation survivors (docs/mutation/sim.trial.boundaries.txt).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from sim.trial.boundaries import (
    NO_BOUND,
    _simpson,
    crossing_probabilities,
    efficacy_bounds,
    futility_bounds,
    nominal_alpha,
    spending,
)


def _mvn(fr, theta):
    fr = np.asarray(fr, dtype=float)
    cov = np.sqrt(np.minimum.outer(fr, fr) / np.maximum.outer(fr, fr))
    return theta * np.sqrt(fr), cov


def _box(fr, theta, lower, upper):
    """P(lower_j <= Z_j < upper_j for every look j), by Genz integration."""
    mean, cov = _mvn(fr, theta)
    mvn = multivariate_normal(mean, cov, abseps=1e-8, releps=1e-8)
    if len(fr) == 1:
        return float(norm.cdf(upper[0] - mean[0]) - norm.cdf(lower[0] - mean[0]))
    return float(mvn.cdf(np.asarray(upper), lower_limit=np.asarray(lower)))


# ----------------------------------------------------------------- spending functions


@pytest.mark.parametrize("kind", ["asOF", "asP"])
def test_spending_is_zero_before_the_start_and_alpha_after_the_end(kind):
    alpha = 0.025
    got = spending(kind, [-0.5, 0.0, 1.0, 1.5, 3.0], alpha)
    assert got.tolist() == pytest.approx([0.0, 0.0, alpha, alpha, alpha], abs=1e-15)
    # t = 0 spends nothing, without a division warning (asOF divides by sqrt(t))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(spending(kind, 0.0, alpha)) == 0.0
    # closed forms in between
    t = 0.3
    want = (
        2.0 * norm.sf(norm.isf(alpha / 2) / math.sqrt(t))
        if kind == "asOF"
        else alpha * math.log(1.0 + (math.e - 1.0) * t)
    )
    assert float(spending(kind, t, alpha)) == pytest.approx(want, rel=1e-12)


def test_unknown_names_are_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="asOF, asP"):
        spending("bsOF", 0.5, 0.025)
    with pytest.raises(ValueError, match="asOF, asP, OF, P"):
        efficacy_bounds([0.5, 1.0], 0.025, "obf")
    with pytest.raises(ValueError, match="one look"):
        efficacy_bounds([0.5, 1.0], 0.025, "none")


def test_nominal_alpha_is_the_normal_tail():
    assert nominal_alpha(np.array([1.959963984540054, 0.0])).tolist() == pytest.approx(
        [0.025, 0.5], rel=1e-12
    )


def test_one_look_is_the_fixed_design():
    for kind in ("none", "asOF", "asP", "OF", "P"):
        assert efficacy_bounds([1.0], 0.025, kind).tolist() == pytest.approx(
            [1.959963984540054], rel=1e-12
        )


# ------------------------------------------------------------------ efficacy bounds


def test_spending_bounds_spend_exactly_the_increments_by_genz():
    # three unequal looks: the probability of first crossing at look k is
    # alpha(t_k) - alpha(t_(k-1)); P(no crossing by look k) from the multivariate normal
    fr = [0.2, 0.45, 1.0]
    for kind in ("asOF", "asP"):
        c = efficacy_bounds(fr, 0.025, kind)
        cum = spending(kind, fr, 0.025)
        for k in range(1, 4):
            none_by_k = _box(fr[:k], 0.0, [-np.inf] * k, c[:k])
            assert 1.0 - none_by_k == pytest.approx(cum[k - 1], abs=2e-6), (kind, k)


def test_nothing_to_spend_at_a_tiny_first_look_gives_no_bound():
    # asOF spends 2 Phi(-z / sqrt(t)) = 0 (to double precision) at t = 0.001
    assert float(spending("asOF", 0.001, 0.025)) == 0.0
    c = efficacy_bounds([0.001, 1.0], 0.025, "asOF")
    assert c[0] == NO_BOUND
    # and the final look then spends all of alpha: (practically) the fixed design
    assert c[1] == pytest.approx(norm.isf(0.025), abs=1e-6)


@pytest.mark.parametrize("alpha", [0.01, 0.025, 0.25])
def test_classical_constants_by_genz(alpha):
    # Pocock: one constant C with P(max_k Z_k >= C) = alpha; OBF: C / sqrt(t_k)
    fr = [0.5, 1.0]
    for kind, shape in (("P", np.ones(2)), ("OF", 1.0 / np.sqrt(fr))):
        c = efficacy_bounds(fr, alpha, kind)
        np.testing.assert_allclose(c / shape, c[0] / shape[0], rtol=1e-12)
        assert 1.0 - _box(fr, 0.0, [-np.inf] * 2, c) == pytest.approx(alpha, abs=2e-6)


def test_rounded_fractions_share_one_computation():
    a = efficacy_bounds([0.3349, 1.0], 0.025, "asOF", digits=2)
    b = efficacy_bounds([0.33, 1.0], 0.025, "asOF")
    c = efficacy_bounds([0.3349, 1.0], 0.025, "asOF")
    assert a.tolist() == b.tolist()
    assert abs(a[0] - c[0]) > 1e-3  # unrounded: another boundary
    assert efficacy_bounds([0.3349, 1.0], 0.025, "asOF", digits=3).tolist() == (
        efficacy_bounds([0.335, 1.0], 0.025, "asOF").tolist()
    )


# ------------------------------------------------------------- crossing probabilities


def test_lengths_must_agree():
    with pytest.raises(ValueError):
        crossing_probabilities([0.5, 1.0], [2.0, 2.0, 2.0])
    with pytest.raises(ValueError):
        futility_bounds([0.5, 0.75, 1.0], np.array([2.9, 2.3]), 2.0, 0.2, "bsOF")


def test_futility_at_the_last_look_is_ignored():
    fr = [0.5, 1.0]
    c = efficacy_bounds(fr, 0.025, "asOF")
    up, down = crossing_probabilities(fr, c, 2.0, futility=[0.0, 1.0])
    assert down[1] == 0.0
    # look 2 rejects when 0 <= Z_1 < c_1 and Z_2 >= c_2 (the futility 1.0 there is not used)
    assert up[1] == pytest.approx(
        _box(fr[:1], 2.0, [0.0], c[:1]) - _box(fr, 2.0, [0.0, -np.inf], c), abs=2e-6
    )
    assert down[0] == pytest.approx(norm.cdf(0.0 - 2.0 * math.sqrt(0.5)), abs=1e-9)


def test_early_looks_are_integrated_to_the_stated_accuracy():
    # a very early first look (t = 0.02) and one at t = 0.04: the grid must follow
    # the small spread of S(t) there; errors stay below 1e-6 (GRID_POINTS)
    # (also with no bound at the first look, where the grid's own range is the limit)
    fr = [0.02, 0.04, 1.0]
    for c in (np.array([2.5, 2.2, 1.96]), np.array([NO_BOUND, 2.2, 1.96])):
        for theta in (0.0, 2.0):
            up, _ = crossing_probabilities(fr, c, theta)
            for k in (2, 3):
                want = 1.0 - _box(fr[:k], theta, [-np.inf] * k, np.minimum(c[:k], 12.0))
                assert up[:k].sum() == pytest.approx(want, abs=1e-6), (theta, k)


# ------------------------------------------------------------------ futility bounds


def test_futility_bounds_spend_beta_by_genz_over_four_looks():
    # the probability of first stopping for futility at look k, under the planned drift,
    # is beta(t_k) - beta(t_(k-1)): P(f_j <= Z_j < c_j, j < k; Z_k < f_k)
    fr = [0.3, 0.6, 0.8, 1.0]
    theta, beta = 2.0, 0.2
    c = efficacy_bounds(fr, 0.025, "asOF")
    f = futility_bounds(fr, c, theta, beta, "bsOF")
    assert f[-1] == -np.inf and all(f[:-1] < c[:-1])
    cum = spending("asOF", fr, beta)  # bsOF: the asOF shape applied to beta
    for k in range(1, 4):
        lower = [*f[: k - 1], -np.inf]
        upper = [*c[: k - 1], f[k - 1]]
        p = _box(fr[:k], theta, lower, upper)
        assert p == pytest.approx(cum[k - 1] - (cum[k - 2] if k > 1 else 0.0), abs=2e-6), k


def test_futility_bounds_meet_the_efficacy_bounds_and_stay_there():
    # late looks with a large beta: where beta spending would put f above c, f = c
    # (stop either way); after that nothing continues, so later looks also meet
    fr = [0.6, 0.8, 0.95, 1.0]
    c = efficacy_bounds(fr, 0.025, "asOF")
    f = futility_bounds(fr, c, 3.0, 0.5, "bsOF")
    assert f[1] == c[1] and f[2] == c[2] and f[-1] == -np.inf
    assert f[0] < c[0]
    # the first look spends exactly beta(0.6); at look 2 all that continues stops, for
    # futility with P(f_1 <= Z_1 < c_1, Z_2 < c_2) <= beta(0.8) - beta(0.6)
    cum = spending("asOF", fr, 0.5)
    assert norm.cdf(f[0] - 3.0 * math.sqrt(0.6)) == pytest.approx(cum[0], abs=1e-9)
    fut_2 = _box(fr[:2], 3.0, [f[0], -np.inf], [c[0], c[1]])
    assert fut_2 < cum[1] - cum[0]
    up, down = crossing_probabilities(fr, c, 3.0, futility=f)
    assert down[1] == pytest.approx(fut_2, abs=2e-6)
    assert up[:2].sum() + down[:2].sum() == pytest.approx(1.0, abs=1e-9)
    assert up[2:].sum() == 0.0 and down[2:].sum() == 0.0


def test_no_futility_bound_where_there_is_no_beta_to_spend():
    # bsOF spends 2 Phi(-z / sqrt(t)) = 0 at t = 0.001: no futility stop at that look
    fr = [0.001, 0.5, 1.0]
    c = efficacy_bounds(fr, 0.025, "asOF")
    f = futility_bounds(fr, c, 2.0, 0.2, "bsOF")
    assert f[0] == -NO_BOUND
    assert norm.cdf(f[1] - 2.0 * math.sqrt(0.5)) == pytest.approx(
        float(spending("asOF", 0.5, 0.2)), abs=1e-6
    )


# ------------------------------------------------------------------------- quadrature


def test_simpson_weights_integrate_cubics_exactly():
    for lo, hi in ((0.0, 1.0), (-2.0, 3.5)):
        x, w = _simpson(lo, hi)
        assert x[0] == lo and x[-1] == hi and len(x) % 2 == 1
        for p in ([1.0], [0.0, 1.0], [0.0, 0.0, 1.0], [1.0, -2.0, 0.5, 3.0]):
            poly = np.polynomial.Polynomial(p)
            exact = poly.integ()(hi) - poly.integ()(lo)
            assert float(w @ poly(x)) == pytest.approx(exact, rel=1e-12, abs=1e-12)
