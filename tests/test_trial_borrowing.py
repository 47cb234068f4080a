"""Bayesian borrowing of a historical control (sim.trial.borrowing).

References: conjugate beta-binomial closed forms (power prior with delta = 1 is
pooling, delta = 0 ignores the history), the mixture posterior against brute-force
numerical integration of prior x likelihood, P(p_e > p_c) against the exact finite sum
for integer beta parameters (Evan Miller's formula), and the enumerated operating
characteristics against a direct double sum over the trial's outcomes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln
from scipy.stats import binom

from sim.trial.borrowing import (
    MixturePrior,
    control_prior,
    decision_table,
    operating_characteristics,
    prob_superior,
)

VAGUE = (1.0, 1.0)


def test_power_prior_interpolates_between_ignoring_and_pooling():
    x_h, n_h, x, n = 12, 40, 9, 20
    full = control_prior("power", x_h, n_h, VAGUE, 1.0, 0.0).posterior(x, n)
    assert (full.a[0], full.b[0]) == (1 + x_h + x, 1 + n_h - x_h + n - x)
    none = control_prior("power", x_h, n_h, VAGUE, 0.0, 0.0).posterior(x, n)
    assert (none.a[0], none.b[0]) == (1 + x, 1 + n - x)
    half = control_prior("power", x_h, n_h, VAGUE, 0.5, 0.0)
    assert half.ess() == pytest.approx(2 + 0.5 * n_h)


def test_mixture_posterior_equals_numerical_bayes():
    prior = control_prior("robust_map", 30, 100, VAGUE, 0.0, 0.8)
    x, n = 18, 30  # 0.6 against a historical 0.3: conflict
    post = prior.posterior(x, n)
    p = (np.arange(200_000) + 0.5) / 200_000
    unnorm = prior.pdf(p) * binom.pmf(x, n, p)
    dens = unnorm / unnorm.mean()
    assert post.pdf(p[::997]) == pytest.approx(dens[::997], rel=1e-6, abs=1e-9)
    assert post.mean() == pytest.approx((p * dens).mean(), abs=1e-8)
    # the conflict moves the weight to the vague component (prior weight 0.2)
    assert post.weights[1] > 0.75


def _miller(a_e: int, b_e: int, a_c: int, b_c: int) -> float:
    """P(p_e > p_c), p_e ~ Beta(a_e, b_e), p_c ~ Beta(a_c, b_c), integer a_e."""
    return sum(
        math.exp(
            betaln(a_c + i, b_c + b_e) - math.log(b_e + i) - betaln(1 + i, b_e) - betaln(a_c, b_c)
        )
        for i in range(a_e)
    )


@pytest.mark.parametrize(
    ("xe", "ne", "xc", "nc"), [(12, 20, 8, 20), (3, 10, 7, 15), (30, 50, 22, 50)]
)
def test_prob_superior_equals_the_exact_sum(xe, ne, xc, nc):
    e = MixturePrior((1.0,), (1.0 + xe,), (1.0 + ne - xe,))
    c = MixturePrior((1.0,), (1.0 + xc,), (1.0 + nc - xc,))
    assert prob_superior(e, c) == pytest.approx(
        _miller(1 + xe, 1 + ne - xe, 1 + xc, 1 + nc - xc), abs=1e-6
    )


def test_operating_characteristics_are_the_double_sum():
    n_e, n_c, thr = 12, 10, 0.95
    prior = control_prior("robust_map", 9, 30, VAGUE, 0.0, 0.5)
    oc = operating_characteristics(n_e, n_c, prior, VAGUE, thr, 0.5, 0.3)
    total = 0.0
    for xe in range(n_e + 1):
        post_e = MixturePrior((1.0,), (1.0 + xe,), (1.0 + n_e - xe,))
        for xc in range(n_c + 1):
            if prob_superior(post_e, prior.posterior(xc, n_c)) >= thr:
                total += binom.pmf(xe, n_e, 0.5) * binom.pmf(xc, n_c, 0.3)
    assert oc.reject == pytest.approx(total, abs=1e-12)
    assert decision_table(n_e, n_c, prior, VAGUE, thr).shape == (n_e + 1, n_c + 1)


def test_borrowing_inflates_type_i_error_under_conflict_and_robustness_limits_it():
    """Historical control 30/100; the current control's true rate moves away."""
    n, thr = 40, 0.975
    rows = {}
    for kind, delta, w in (("none", 0, 0), ("power", 1.0, 0), ("robust_map", 0, 0.8)):
        prior = control_prior(kind, 30, 100, VAGUE, delta, w)
        table = decision_table(n, n, prior, VAGUE, thr)
        rows[kind] = [
            operating_characteristics(n, n, prior, VAGUE, thr, p, p, table).reject
            for p in (0.3, 0.5)
        ]
    # no conflict (true control = historical 0.3): borrowing does not inflate much
    assert rows["power"][0] < 0.05
    # conflict (true 0.5 > 0.3): full borrowing makes the control look worse and rejects
    # far too often; the robust MAP prior's vague component limits the inflation
    assert rows["power"][1] > 3 * rows["none"][1]
    assert rows["none"][1] < rows["robust_map"][1] < rows["power"][1]
