"""Weighted log-rank tests for effects that are not proportional hazards: the
Fleming-Harrington family and the MaxCombo test.

* Fleming-Harrington FH(rho, gamma) (Fleming & Harrington 1991, Counting Processes and
  Survival Analysis, s.7.3; Harrington & Fleming 1982, Biometrika 69:553): the log-rank
  sums over death times t_j, each term weighted by w_j = S(t_j-)^rho (1 - S(t_j-))^gamma,
  S the Kaplan-Meier curve of both arms pooled, taken just before t_j:
  U = sum_j w_j (d_ej - d_j n_ej / n_j) (the experimental arm's weighted O - E) and
  V = sum_j w_j^2 v_j, v_j = d_j (n_ej / n_j) (1 - n_ej / n_j) (n_j - d_j) / (n_j - 1)
  (the log-rank's hypergeometric variance with ties). z = -U / sqrt(V) (> 0 favours
  the experimental arm). FH(0, 0) is the log-rank test; FH(1, 0) (Peto-Prentice-type)
  weights early deaths, FH(0, 1) late deaths (a delayed effect), FH(1, 1) the middle.
  Stratified: U and V summed over strata, each stratum with its own pooled KM curve
  (the stratified log-rank's construction).
* MaxCombo (Lee 2007, Comput Stat Data Anal 51:6557; Lin et al. 2020, Stat Biopharm Res
  12:187): the largest of several FH statistics, by default FH(0,0), FH(0,1), FH(1,0),
  FH(1,1). Under the null the statistics are jointly normal with covariance
  sum_j w_kj w_lj v_j between FH_k and FH_l (the same martingale, different weights),
  so the one-sided p-value is P(max_k Z_k >= z_max) = 1 - Phi_K(z_max, ..., z_max; R)
  with R the estimated correlation matrix (scipy's multivariate normal cdf, Genz's
  quasi-Monte Carlo with fixed points); two-sided: 1 - P(|Z_k| < max |z_k| for all k).
  The trial's decision uses z = Phi^-1(1 - p), so "z >= the boundary" is "p <= alpha".
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy.special import ndtr
from scipy.stats import multivariate_normal, norm

from sim.trial.analyses import TestResult, _upper, death_table

# the default MaxCombo family (Lin et al. 2020): (rho, gamma) pairs
MAXCOMBO_DEFAULT = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
# scipy's multivariate normal cdf: absolute error target, QMC seed and points per dimension
MVN_ABSEPS = 1.0e-5
MVN_SEED = 0
MVN_MAXPTS = 200_000
# ranks up to this are integrated by quadrature (Simpson, X_NODES per axis on
# [-X_RANGE, X_RANGE]: normal tail mass beyond it < 1e-17)
MAX_QUAD_RANK = 3
X_RANGE = 8.5
X_NODES = 161
RANK_TOL = 1e-10
NODE_FLOOR = 1e-18  # quadrature nodes of smaller weight are dropped (total < 1e-13)


def km_before(nj: np.ndarray, dj: np.ndarray) -> np.ndarray:
    """The pooled Kaplan-Meier curve just before each death time (n_j at risk, d_j deaths)."""
    return np.r_[1.0, np.cumprod(1.0 - dj / nj)[:-1]]


def fh_weights(before: np.ndarray, weights) -> np.ndarray:
    """(K, deaths): w_k = S(t-)^rho_k (1 - S(t-))^gamma_k for each (rho, gamma) in `weights`,
    `before` the pooled curve just before each death time."""
    return np.array([before**rho * (1.0 - before) ** gamma for rho, gamma in weights])


def weighted_parts(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    weights,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(U, C, O - E, V): the weighted O - E of each (rho, gamma) in `weights`, their null
    covariance matrix, and the unweighted log-rank's O - E and V (summed over strata)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    e = np.asarray(experimental, dtype=bool)
    k = len(weights)
    u, c = np.zeros(k), np.zeros((k, k))
    o_minus_e = v_total = 0.0
    groups = (
        [np.ones(len(time), bool)] if strata is None else [strata == s for s in np.unique(strata)]
    )
    for on in groups:
        tab = death_table(time[on], event[on], e[on])
        if tab is None:
            continue
        nj, dj, dej, frac, tie = tab
        terms = dej - dj * frac  # as the log-rank's O - E
        var = dj * frac * (1.0 - frac) * tie
        o_minus_e += float(terms.sum())
        v_total += float(var.sum())
        w = fh_weights(km_before(nj, dj), weights)
        for a in range(k):
            u[a] += float((w[a] * terms).sum())
            for b in range(a, k):
                c[a, b] += float((w[a] * w[b] * var).sum())
                c[b, a] = c[a, b]
    return u, c, o_minus_e, v_total


def _hr(o_minus_e: float, v: float) -> float:
    return math.exp(o_minus_e / v) if v > 0.0 else math.nan


def fleming_harrington(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    strata: np.ndarray | None = None,
    rho: float = 0.0,
    gamma: float = 0.0,
) -> TestResult:
    """FH(rho, gamma) weighted log-rank test; H1: lower hazard on experimental. The
    estimate is the log-rank's one-step hazard ratio exp((O - E) / V)."""
    e = np.asarray(experimental, dtype=bool)
    event = np.asarray(event, dtype=bool)
    deaths_e, deaths_c = int((event & e).sum()), int((event & ~e).sum())
    u, c, ome, v = weighted_parts(time, event, e, [(rho, gamma)], strata)
    if c[0, 0] <= 0.0:
        return TestResult(0.0, 1.0, _hr(ome, v), deaths_e, deaths_c, v)
    z = -float(u[0]) / math.sqrt(c[0, 0])
    return TestResult(z, _upper(z), _hr(ome, v), deaths_e, deaths_c, v)


def _factor(corr: np.ndarray) -> np.ndarray:
    """A with A A^T = corr and as many columns as corr's rank (eigen-decomposition;
    eigenvalues below RANK_TOL x the largest count as 0): Z = A X, X ~ N(0, I)."""
    vals, vecs = np.linalg.eigh(corr)
    keep = vals > RANK_TOL * vals.max()
    return vecs[:, keep] * np.sqrt(vals[keep])


def box_probability(corr: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """P(lower_k < Z_k < upper_k for every k), Z standard normal with correlation corr.

    Written as Z = A X with X ~ N(0, I_r), r = rank(corr) (the default MaxCombo family
    has rank 3: FH(0,1) = FH(0,0) - FH(1,0)): given X_1..X_(r-1) the box is an interval
    for X_r, whose normal probability is exact; X_1..X_(r-1) (r <= 3) are integrated by
    Simpson's rule on [-X_RANGE, X_RANGE]^(r-1). For r > 3, scipy's multivariate normal
    cdf (Genz's quasi-Monte Carlo with fixed points)."""
    a = _factor(np.asarray(corr, dtype=float))
    r = a.shape[1]
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if r > MAX_QUAD_RANK:
        return float(
            multivariate_normal.cdf(
                upper, mean=np.zeros(len(a)), cov=corr, allow_singular=True,
                lower_limit=lower, abseps=MVN_ABSEPS, releps=0.0,
                maxpts=MVN_MAXPTS * len(a), rng=np.random.default_rng(MVN_SEED),
            )
        )  # fmt: skip
    points, weight = _nodes(r - 1)
    shift = a[:, : r - 1] @ points  # (K, nodes): A's first r - 1 columns times X_1..X_(r-1)
    lo, hi = np.full(len(weight), -np.inf), np.full(len(weight), np.inf)
    ok = np.ones(len(weight), dtype=bool)
    for k in range(len(a)):
        c, s = a[k, r - 1], shift[k]
        if c == 0.0:  # no X_r term: the constraint holds or fails outright
            ok &= (s > lower[k]) & (s < upper[k])
            continue
        # c X_r in (lower - s, upper - s): for c < 0 the ends swap
        low_k, high_k = (lower[k], upper[k]) if c > 0.0 else (upper[k], lower[k])
        if math.isfinite(low_k):
            lo = np.maximum(lo, (low_k - s) / c)
        if math.isfinite(high_k):
            hi = np.minimum(hi, (high_k - s) / c)
    inner = np.where(ok & (hi > lo), ndtr(hi) - ndtr(lo), 0.0)
    return float(np.dot(weight, inner))


@lru_cache(maxsize=8)
def _nodes(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes on [-X_RANGE, X_RANGE]^dim with their weights times the standard
    normal density, dropping nodes whose weight is below NODE_FLOOR: (dim, m), (m,)."""
    x = np.linspace(-X_RANGE, X_RANGE, X_NODES)
    w = np.ones(X_NODES)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w *= (x[1] - x[0]) / 3.0 * norm.pdf(x)
    if dim == 0:
        return np.zeros((0, 1)), np.ones(1)
    grids = np.meshgrid(*([x] * dim), indexing="ij")
    weight = np.ones(grids[0].shape)
    for g in np.meshgrid(*([w] * dim), indexing="ij"):
        weight = weight * g
    keep = weight.ravel() > NODE_FLOOR
    points = np.stack([g.ravel()[keep] for g in grids])
    return points, weight.ravel()[keep]


def max_normal_p(z_max: float, corr: np.ndarray, two_sided: bool = False) -> float:
    """P(max_k Z_k >= z_max) (two-sided: P(max_k |Z_k| >= z_max)) for standard normal Z
    with correlation matrix corr."""
    k = len(corr)
    if k == 1:
        return 2.0 * _upper(abs(z_max)) if two_sided else _upper(z_max)
    upper = np.full(k, z_max)
    lower = -upper if two_sided else np.full(k, -np.inf)
    inside = box_probability(corr, lower, upper)
    # never below one statistic's own tail (a bound the integration error, ~1e-6 absolute,
    # could cross far in the tail, where 1 - inside loses its digits)
    single = 2.0 * _upper(abs(z_max)) if two_sided else _upper(z_max)
    return float(min(max(1.0 - inside, single), 1.0))


def maxcombo(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    strata: np.ndarray | None = None,
    weights=MAXCOMBO_DEFAULT,
    two_sided: bool = False,
) -> tuple[TestResult, np.ndarray, np.ndarray]:
    """MaxCombo test: (result, the FH z statistics, their estimated correlation matrix).

    One-sided (default): p = P(max Z_k >= max z_k) under the null; the result's z is
    Phi^-1(1 - p). Statistics with zero variance (e.g. FH(0, 1) when every death comes
    first) are left out; with none left, z = 0 and p = 1."""
    e = np.asarray(experimental, dtype=bool)
    event = np.asarray(event, dtype=bool)
    deaths_e, deaths_c = int((event & e).sum()), int((event & ~e).sum())
    u, c, ome, v = weighted_parts(time, event, e, list(weights), strata)
    sd = np.sqrt(np.clip(np.diag(c), 0.0, None))
    ok = sd > 0.0
    z = np.zeros(len(u))
    z[ok] = -u[ok] / sd[ok]
    corr = np.full_like(c, math.nan)
    corr[np.ix_(ok, ok)] = c[np.ix_(ok, ok)] / np.outer(sd[ok], sd[ok])
    if not ok.any():
        return TestResult(0.0, 1.0, _hr(ome, v), deaths_e, deaths_c, v), z, corr
    zk = z[ok]
    z_max = float(np.abs(zk).max() if two_sided else zk.max())
    p = max_normal_p(z_max, corr[np.ix_(ok, ok)], two_sided)
    z_test = float(norm.isf(p)) if p > 0.0 else z_max
    return TestResult(z_test, p, _hr(ome, v), deaths_e, deaths_c, v), z, corr
