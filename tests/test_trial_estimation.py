"""Estimation after a group-sequential stop (sim.trial.estimation): repeated confidence
intervals and the stage-wise median-unbiased estimate with its interval.

References: simulated group-sequential trials on the canonical Brownian motion
(Z_k = B(t_k) / sqrt(t_k), B with drift theta; the trial stops at the first look with
Z_k >= c_k or, at an interim, Z_k < f_k) give the coverage of the intervals and the
median of the estimates, within 4 Monte Carlo SEs; with one look every interval must be
the fixed-sample z +- z_(1-alpha); the RCIs' exact simultaneous coverage is checked
against a direct count over the simulated paths. (R/rpact is not installed, so no
getRepeatedConfidenceIntervals / getFinalConfidenceInterval values.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from sim.trial import estimation
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds

K_SE = 4.0
ALPHA = 0.025


def _paths(theta: float, fractions, m: int, seed: int) -> np.ndarray:
    """Z_k of m Brownian-motion trials with drift theta at the given fractions."""
    rng = np.random.default_rng(seed)
    fr = np.asarray(fractions, dtype=float)
    steps = rng.standard_normal((m, len(fr))) * np.sqrt(np.diff(np.r_[0.0, fr]))
    b = np.cumsum(steps, axis=1) + theta * fr
    return b / np.sqrt(fr)


def _stops(z: np.ndarray, critical, futility) -> tuple[np.ndarray, np.ndarray]:
    """(1-based look each trial stops at, its z)."""
    m, k = z.shape
    cross = z >= np.asarray(critical)[None, :]
    fut = np.r_[np.asarray(futility, dtype=float)[: k - 1], -np.inf]
    stop = cross | (z < fut[None, :])
    stop[:, -1] = True
    look = stop.argmax(axis=1)
    return look + 1, z[np.arange(m), look]


def test_one_look_gives_the_fixed_sample_interval_exactly():
    q = norm.isf(ALPHA)
    for z in (-1.3, 0.4, 2.2, 3.9):
        rci = estimation.repeated_ci(z, 25.0, q)
        assert rci == pytest.approx(((z - q) / 5.0, (z + q) / 5.0), rel=1e-14)
        med, lo, hi = estimation.stagewise_estimate([1.0], [q], None, 1, z, ALPHA)
        assert (med, lo, hi) == (z, z - q, z + q)
        # the general root-finding machinery reaches the same numbers
        for target, want in ((0.5, z), (ALPHA, z - q), (1 - ALPHA, z + q)):
            got = estimation._solve(target, [1.0], [q], np.array([-np.inf]), 1, z)
            assert got == pytest.approx(want, abs=1e-8)
    assert estimation.rci_coverage([1.0], [q]) == pytest.approx(1 - 2 * ALPHA, abs=1e-9)
    # hazard-ratio scale: log-rank z and information V -> exp(-(z +- q) / sqrt(V))
    hr = estimation.hazard_ratio_estimates(2.5, 36.0, 1, [1.0], [q], [-np.inf], ALPHA)
    assert hr["hr_adjusted"] == pytest.approx(math.exp(-2.5 / 6.0), rel=1e-12)
    assert hr["hr_rci_lower"] == pytest.approx(math.exp(-(2.5 + q) / 6.0), rel=1e-12)
    assert hr["hr_adjusted_upper"] == pytest.approx(math.exp(-(2.5 - q) / 6.0), rel=1e-12)


def test_stagewise_p_is_the_probability_of_a_more_extreme_stop():
    """p(theta) against a direct count over simulated paths (stopped for efficacy at an
    earlier look, or reached look k with Z_k >= z: stage-wise ordering) and against the
    boundaries' own recursion (crossing_probabilities with z as look k's bound)."""
    fr = [0.4, 0.7, 1.0]
    c = efficacy_bounds(fr, ALPHA, "asP")
    fut = [0.0, 0.3, -np.inf]
    theta, m = 1.5, 200_000
    paths = _paths(theta, fr, m, 4)
    look, z = _stops(paths, c, fut)
    for k, zk in ((2, 1.0), (2, 2.6), (3, 1.7), (3, -0.4), (1, -0.5)):
        earlier = (look < k) & (z >= c[look - 1])
        more = earlier | ((look >= k) & (paths[:, k - 1] >= zk))
        p = estimation.stagewise_p(theta, fr, c, fut, k, zk)
        se = math.sqrt(p * (1 - p) / m)
        assert abs(more.mean() - p) < K_SE * se, (k, zk, more.mean(), p)
        ref = crossing_probabilities(
            fr[:k], np.r_[c[: k - 1], zk], theta, np.r_[fut[: k - 1], -np.inf]
        )
        assert p == pytest.approx(ref[0].sum(), abs=1e-7)


DESIGNS = {
    # (fractions, type_of_design, futility z at the interims)
    "asOF3": ([1 / 3, 2 / 3, 1.0], "asOF", [-np.inf, -np.inf]),
    "P2_futility": ([0.5, 1.0], "P", [0.0]),
    "asP4": ([0.25, 0.5, 0.75, 1.0], "asP", [-np.inf] * 3),
}
M = 4000  # simulated trials per design and drift
THETAS = (0.0, 2.8)  # no effect, and a drift with power about 0.8


@pytest.fixture(scope="module", params=list(DESIGNS))
def simulated(request):
    """M Brownian-motion trials of one design per drift: the look each stops at, its z,
    whether the RCIs cover at every look / at the stop, and p_obs(theta), the
    stage-wise probability of a stop more extreme than the trial's under the true drift.
    p is increasing in the drift, so the trial's 1 - 2 alpha interval covers theta iff
    alpha <= p_obs(theta) <= 1 - alpha, and its median-unbiased estimate is below theta
    iff p_obs(theta) > 1/2 (the solver itself is checked in test_the_solver_inverts_p)."""
    fr, kind, fut = DESIGNS[request.param]
    c = efficacy_bounds(fr, ALPHA, kind)
    fut_all = np.r_[fut, -np.inf]
    s = np.sqrt(np.asarray(fr))
    rows = []
    for theta in THETAS:
        paths = _paths(theta, fr, M, 17)
        look, z = _stops(paths, c, fut_all)
        for i in range(M):
            k = int(look[i])
            rows.append({
                "theta": theta, "look": k, "z": z[i], "naive": z[i] / s[k - 1],
                "p_obs": estimation.stagewise_p(theta, fr, c, fut_all, k, float(z[i])),
                "rci_all_looks": bool(np.all(np.abs(paths[i] - theta * s) < c)),
                "rci_at_stop": abs(z[i] - theta * s[k - 1]) < c[k - 1],
            })  # fmt: skip
    return request.param, c, fut_all, pd.DataFrame(rows)


def test_rcis_cover_at_every_look_simultaneously(simulated):
    name, c, _, df = simulated
    fr = DESIGNS[name][0]
    exact = estimation.rci_coverage(fr, c)
    assert 1 - 2 * ALPHA <= exact < 1 - 2 * ALPHA + 0.002  # two nearly disjoint tails
    for _, g in df.groupby("theta"):
        se = math.sqrt(exact * (1 - exact) / len(g))
        assert abs(g["rci_all_looks"].mean() - exact) < K_SE * se
        assert g["rci_at_stop"].mean() >= g["rci_all_looks"].mean()


def test_stagewise_interval_covers_and_the_estimate_is_median_unbiased(simulated):
    name, _, _, df = simulated
    level = 1 - 2 * ALPHA
    for theta, g in df.groupby("theta"):
        m = len(g)
        cover = g["p_obs"].between(ALPHA, 1 - ALPHA).mean()
        assert abs(cover - level) < K_SE * math.sqrt(level * (1 - level) / m), (name, theta)
        below = (g["p_obs"] > 0.5).mean()  # median-unbiased estimate < theta
        assert abs(below - 0.5) < K_SE * math.sqrt(0.25 / m), (name, theta, below)


def test_the_naive_estimate_after_a_stop_is_biased_upwards(simulated):
    """At the design drift, stopping when Z crosses a boundary selects high estimates:
    the naive estimate's mean is above theta by more than MC error (without futility
    stops, which select low estimates too)."""
    name, _, _, df = simulated
    if name == "P2_futility":
        return
    g = df[df["theta"] == THETAS[1]]
    bias = g["naive"].mean() - THETAS[1]
    assert bias > K_SE * g["naive"].std() / math.sqrt(len(g)), (name, bias)


def test_the_solver_inverts_p(simulated):
    """For 40 of the simulated trials (stops at every look): p(median) = 1/2, p(lower) =
    alpha, p(upper) = 1 - alpha, lower < median < upper, and the naive estimate's bias
    is removed in the direction the stop implies."""
    name, c, fut, df = simulated
    fr = DESIGNS[name][0]
    sample = df.groupby("look", group_keys=False).head(40 // len(fr))
    for _, r in sample.iterrows():
        k, z = int(r["look"]), float(r["z"])
        med, lo, hi = estimation.stagewise_estimate(fr, c, fut, k, z, ALPHA)
        assert lo < med < hi
        for theta, want in ((med, 0.5), (lo, ALPHA), (hi, 1 - ALPHA)):
            assert estimation.stagewise_p(theta, fr, c, fut, k, z) == pytest.approx(want, abs=1e-8)
        if 1 < k < len(fr) and z >= c[k - 1]:  # an interim efficacy stop after the first
            assert med < r["naive"]  # look: adjusted below the naive (at look 1 equal)
        if k == 1:
            assert med == pytest.approx(r["naive"], rel=1e-12)


def test_hazard_ratio_scale():
    """HR = exp(-delta), delta = theta / sqrt(I_K), I_K = V / t_k; the RCI at look k uses
    the observed V; lower HR limits come from upper delta limits."""
    fr = [0.5, 1.0]
    c = efficacy_bounds(fr, ALPHA, "asOF")
    z, v = 3.1, 30.0  # stopped at the interim with 30 units of information
    out = estimation.hazard_ratio_estimates(z, v, 1, fr, c, [-np.inf, -np.inf], ALPHA)
    assert out["hr_rci_lower"] == pytest.approx(math.exp(-(z + c[0]) / math.sqrt(v)))
    assert out["hr_rci_upper"] == pytest.approx(math.exp(-(z - c[0]) / math.sqrt(v)))
    med, lo, hi = estimation.stagewise_estimate(fr, c, None, 1, z, ALPHA)
    scale = math.sqrt(v / 0.5)
    assert out["hr_adjusted"] == pytest.approx(math.exp(-med / scale))
    assert out["hr_adjusted_lower"] < out["hr_adjusted"] < out["hr_adjusted_upper"]
    assert out["hr_adjusted_lower"] == pytest.approx(math.exp(-hi / scale))
    # no information (no deaths): NaN, not an error
    assert math.isnan(
        estimation.hazard_ratio_estimates(0.0, 0.0, 1, fr, c, None, ALPHA)["hr_adjusted"]
    )
