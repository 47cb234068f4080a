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
