"""The exact references of the trial tests, checked on their own: the enumeration of a
group-sequential two-proportion design (tests/exact_gs.py) against brute force over
every outcome sequence and against a direct simulation, and the crossing probabilities
of sim.trial.boundaries against scipy's multivariate normal distribution (for the
Brownian-motion model the boundaries assume, they are exact up to quadrature error)."""

from __future__ import annotations

import itertools
import math

import exact_gs
import numpy as np
import pytest
from scipy.stats import multivariate_normal, norm

from sim.trial import analyses
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds


def _brute_force(p_e, p_c, sizes, critical, futility):
    """Every success / failure sequence of the final sizes, its probability, and where
    the design stops: the definition, written out."""
    ne_max, nc_max = sizes[-1]
    reject, futile = np.zeros(len(sizes)), np.zeros(len(sizes))
    for ye in itertools.product((0, 1), repeat=ne_max):
        for yc in itertools.product((0, 1), repeat=nc_max):
            prob = math.prod(p_e if y else 1 - p_e for y in ye)
            prob *= math.prod(p_c if y else 1 - p_c for y in yc)
            for k, (ne, nc) in enumerate(sizes):
                z = analyses.two_proportions(sum(ye[:ne]), ne, sum(yc[:nc]), nc).z
                if z >= critical[k]:
                    reject[k] += prob
                    break
                if k < len(sizes) - 1 and z < futility[k]:
                    futile[k] += prob
                    break
    return reject, futile


@pytest.mark.parametrize(
    "p_e, p_c, sizes, critical, futility",
    [
        (0.7, 0.3, [(2, 2), (4, 3), (5, 5)], [2.0, 1.8, 1.5], [-0.5, 0.0, -np.inf]),
        (0.5, 0.5, [(3, 2), (5, 5)], [1.2, 1.0], [-np.inf, -np.inf]),
        (0.6, 0.2, [(5, 5)], [1.0], [-np.inf]),
    ],
)
def test_enumeration_equals_brute_force_over_every_outcome(p_e, p_c, sizes, critical, futility):
    ex = exact_gs.group_sequential(p_e, p_c, sizes, critical, futility)
    reject, futile = _brute_force(p_e, p_c, sizes, critical, futility)
    np.testing.assert_allclose(ex["reject"], reject, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ex["futility"], futile, rtol=0, atol=1e-14)
    assert ex["reject"].sum() > 0.05  # the cases reject often enough to be informative


def test_one_look_is_the_exact_fixed_power():
    for p_e, p_c, n_e, n_c in ((0.55, 0.35, 60, 60), (0.4, 0.4, 45, 50), (0.8, 0.5, 30, 31)):
        c = norm.isf(0.025)
        ex = exact_gs.group_sequential(p_e, p_c, [(n_e, n_c)], [c])["reject"].sum()
        ref = analyses.power_two_proportions_exact(p_e, p_c, n_e, n_c, 0.025)
        assert ex == pytest.approx(ref, rel=1e-12)


def test_enumeration_matches_a_direct_simulation_of_the_design():
    """200,000 simulated three-look trials of the anchor's shape (asOF, futility z < 0
    at the interims): every first-crossing probability within 4 binomial SEs."""
    p_e, p_c = 0.55, 0.35
    sizes = [(20, 20), (41, 40), (60, 60)]
    c = efficacy_bounds([0.33, 0.67, 1.0], 0.025, "asOF")
    fut = [0.0, 0.0, -np.inf]
    ex = exact_gs.group_sequential(p_e, p_c, sizes, list(c), fut)
    gen = np.random.default_rng(17)
    reps = 200_000
    de = np.diff([0] + [s[0] for s in sizes])
    dc = np.diff([0] + [s[1] for s in sizes])
    xe = np.cumsum(gen.binomial(de, p_e, size=(reps, 3)), axis=1)
    xc = np.cumsum(gen.binomial(dc, p_c, size=(reps, 3)), axis=1)
    running = np.ones(reps, dtype=bool)
    for k, (ne, nc) in enumerate(sizes):
        z = exact_gs.pooled_z(xe[:, k], ne, xc[:, k], nc)
        up = running & (z >= c[k])
        down = running & ~up & (z < fut[k])
        for name, hit in (("reject", up), ("futility", down)):
            p = ex[name][k]
            tol = 4 * math.sqrt(max(p * (1 - p), 1.0 / reps) / reps)
            assert abs(hit.mean() - p) < tol, (name, k, hit.mean(), p)
        running &= ~up & ~down


@pytest.mark.parametrize("kind, theta", [("asOF", 0.0), ("asOF", 2.8), ("asP", 2.0), ("OF", 3.2)])
def test_crossing_probabilities_equal_the_multivariate_normal(kind, theta):
    """Z_k = S(t_k) / sqrt(t_k) with S Brownian with drift theta: corr(Z_j, Z_k) =
    sqrt(t_j / t_k). P(reject by look 3) = 1 - P(Z_1 < c_1, Z_2 < c_2, Z_3 < c_3), and
    P(reject by look 2) likewise, from scipy's (Genz) multivariate normal CDF."""
    fr = np.array([0.3, 0.65, 1.0])
    c = efficacy_bounds(fr, 0.025, kind)
    up, _ = crossing_probabilities(fr, c, theta)
    cov = np.sqrt(np.minimum.outer(fr, fr) / np.maximum.outer(fr, fr))
    mean = theta * np.sqrt(fr)
    for k in (2, 3):
        mvn = multivariate_normal(mean[:k], cov[:k, :k], abseps=1e-10, releps=1e-10)
        # 1e-6: the quadrature error the boundaries module states (GRID_POINTS); the
        # Genz integration adds 1e-10
        assert up[:k].sum() == pytest.approx(1.0 - mvn.cdf(c[:k]), abs=1e-6), k
    assert up[0] == pytest.approx(norm.sf(c[0] - mean[0]), abs=1e-9)


# ------------------------------------------------- single arm: exact size and power


def _binomtest_size(p: float, p0: float, m: int, alpha: float) -> float:
    """P(the exact binomial test rejects) when each of m outcomes is a success with
    probability p, summed over every count with scipy's own test (the definition)."""
    from scipy.stats import binom, binomtest

    return sum(
        binom.pmf(x, m, p)
        for x in range(m + 1)
        if binomtest(x, m, p0, alternative="greater").pvalue <= alpha
    )


@pytest.mark.parametrize("m", [1, 20, 37, 60, 83])
@pytest.mark.parametrize("p", [0.4, 0.55])
def test_single_arm_one_look_is_scipys_exact_binomial_test(m, p):
    """One look, `test: fisher`: the exact size (p = p0) and power (p > p0) equal the
    rejection probability of scipy's exact binomial test; both are below the normal
    approximation's values, which the old analytic_power used."""
    alpha, p0 = 0.025, 0.4
    up, down = analyses.one_proportion_crossing(p, p0, (m,), (float(norm.isf(alpha)),))
    ref = _binomtest_size(p, p0, m, alpha)
    assert up[0] == pytest.approx(ref, abs=1e-12) and down == (0.0,)
    if p == p0:
        assert up[0] <= alpha  # an exact test never exceeds its level


def test_single_arm_z_test_is_enumerated_with_the_z_rule():
    """`test: z` (score test) is enumerated with its own rule: x counts with
    (x / m - p0) / sqrt(p0 (1 - p0) / m) >= c."""
    from scipy.stats import binom

    m, p0, p, c = 45, 0.3, 0.45, float(norm.isf(0.025))
    x = np.arange(m + 1)
    z = (x / m - p0) / math.sqrt(p0 * (1 - p0) / m)
    ref = binom.pmf(x, m, p)[z >= c].sum()
    got = analyses.one_proportion_crossing(p, p0, (m,), (c,), None, False)[0][0]
    assert got == pytest.approx(ref, abs=1e-14)


@pytest.mark.parametrize("exact", [True, False])
def test_single_arm_group_sequential_equals_brute_force(exact):
    """Three looks at 4, 9 and 13 patients with futility at the interims: every
    success / failure sequence of 13 patients, analysed by `one_proportion` on its
    prefixes, stopping at the first crossing: the definition, written out."""
    p, p0 = 0.55, 0.35
    sizes, crit, fut = (4, 9, 13), (2.4, 2.1, 1.9), (-0.5, 0.2, -math.inf)
    reject, futile = np.zeros(3), np.zeros(3)
    for ys in itertools.product((0, 1), repeat=sizes[-1]):
        prob = math.prod(p if y else 1 - p for y in ys)
        for k, m in enumerate(sizes):
            z = analyses.one_proportion(sum(ys[:m]), m, p0, exact).z
            if z >= crit[k]:
                reject[k] += prob
                break
            if k < 2 and z < fut[k]:
                futile[k] += prob
                break
    up, down = analyses.one_proportion_crossing(p, p0, sizes, crit, fut, exact)
    np.testing.assert_allclose(up, reject, rtol=0, atol=1e-13)
    np.testing.assert_allclose(down, futile, rtol=0, atol=1e-13)
    assert reject.sum() > 0.1 and futile.sum() > 0.05  # informative cases
