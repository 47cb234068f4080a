"""Group-sequential MaxCombo: the largest of several Fleming-Harrington statistics,
looked at several times, with alpha spent over the looks.

At look k the trial computes the FH(rho, gamma) statistics Z_j(k) of `weights`
(sim.trial.weighted) on the data in by then, and their maximum M_k = max_j Z_j(k).
Under the null all statistics of all looks are jointly normal (Wang, Luo & Zheng 2021,
Stat Biopharm Res 13:79; gsDesign2's gs_design_combo; nphsim): FH statistic a at look
k and b at look l >= k are weighted sums of the same log-rank martingale increments,
so their covariance is the sum over the death times of look k of
w_a^(k)(t) w_b^(l)(t) v^(k)(t), each weight from its own look's pooled Kaplan-Meier
curve just before t and v^(k) the hypergeometric variance at look k (the variance form
of weighted.py, no Greenwood term; stratified: summed over strata, each with its own
curve). At k = l this is weighted.py's covariance. Correlations come from these
estimates, so they are the trial's own, not planned ones.

Efficacy: the design's alpha-spending function alpha(t) (Lan & DeMets 1983; asOF or
asP) on the information fraction of the log-rank statistic, i.e. the planned (or, with
calendar timing, observed) share of deaths, with alpha(1) = alpha. Bounds c_k on the
scale of M are solved one look after the other so that

    P(M_j < c_j for every j < k, M_k >= c_k) = alpha(t_k) - alpha(t_(k-1))

under the estimated joint null distribution. Decisions use the equivalent stage-wise
p-value p_k = P(M_j < c_j for j < k, M_k >= observed M_k): reject at look k if
p_k <= alpha(t_k) - alpha(t_(k-1)). A trial's z is Phi^-1(1 - p_k) and its critical z
Phi^-1(1 - (alpha(t_k) - alpha(t_(k-1)))), so "z >= critical" is the decision, as for
the one-look MaxCombo (whose z and p the first look reproduces exactly). c_k itself
is only solved when a later look needs it. Futility (futility_z, non-binding: the
bounds ignore it) stops at an interim when every FH statistic is below futility_z
(M_k < f).

Integration: ranks <= 3 (one look of the default family, or one log-rank statistic at
up to 3 looks) use weighted.py's quadrature (Simpson for all but the last normal
coordinate, that one exact). Larger ranks (4 statistics at 2 looks: rank 6) write the
statistics as A X, X ~ N(0, I_r), integrate X_r exactly given the others and the other
r - 1 coordinates by randomised quasi-Monte Carlo (scrambled Sobol points, fixed seed:
the same numbers on every run; absolute error about 1e-5, tests). scipy's
multivariate_normal.cdf (Genz) takes 1-5 s per call at these singular 8-dimensional
correlations on this machine, too slow for one call per simulated trial; it is the
reference in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy.special import ndtr, ndtri
from scipy.stats import norm, qmc

from sim.trial.analyses import TestResult, death_table
from sim.trial.boundaries import NO_BOUND, spending
from sim.trial.weighted import (
    MAX_QUAD_RANK,
    _factor,
    _nodes,
    fh_weights,
    km_before,
    max_normal_p,
)

QMC_LOG2_POINTS = 16  # 2^16 scrambled Sobol points for ranks > MAX_QUAD_RANK
QMC_SEED = 20211  # fixed: the same points (and numbers) on every run
BOUND_XTOL = 1e-7  # root-finding tolerance of the bounds on the M scale
LOW_BOUND = -10.0  # lower end of the root bracket of a bound (z scale)
SPENDING_TYPES = ("asOF", "asP")  # group-sequential MaxCombo needs a spending function


def cumulative_alpha(fractions, alpha: float, type_of_design: str) -> np.ndarray:
    """alpha(t_k) at the looks' information fractions, the last look spending alpha."""
    cum = np.asarray(spending(type_of_design, np.asarray(fractions, dtype=float), alpha))
    cum[-1] = alpha
    return cum


def stage_levels(fractions, alpha: float, type_of_design: str) -> np.ndarray:
    """alpha(t_k) - alpha(t_(k-1)): the alpha each look spends (rejection at look k if
    its stage-wise p-value is at most this)."""
    return np.diff(np.r_[0.0, cumulative_alpha(fractions, alpha, type_of_design)])


def critical_z(fractions, alpha: float, type_of_design: str) -> np.ndarray:
    """Phi^-1(1 - stage level) per look: the trials' critical z (NO_BOUND where a look
    spends nothing)."""
    lv = stage_levels(fractions, alpha, type_of_design)
    return np.where(lv > 0.0, norm.isf(np.clip(lv, 1e-300, None)), NO_BOUND)


@lru_cache(maxsize=8)
def _qmc_normals(dim: int) -> np.ndarray:
    """(dim, 2^QMC_LOG2_POINTS) standard normal scrambled Sobol points."""
    u = qmc.Sobol(d=dim, scramble=True, seed=QMC_SEED).random_base2(QMC_LOG2_POINTS)
    return ndtri(np.clip(u, 1e-16, 1.0 - 1e-16)).T


def _points(r: int) -> tuple[np.ndarray, np.ndarray]:
    """Integration points of X_1..X_(r-1) and their weights (sum 1)."""
    if r - 1 <= MAX_QUAD_RANK - 1:
        return _nodes(r - 1)
    x = _qmc_normals(r - 1)
    return x, np.full(x.shape[1], 1.0 / x.shape[1])


def _mass(a: np.ndarray, points: np.ndarray, rows: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per point of X_1..X_(r-1): P(A_i X < upper_i for the rows i | X_1..X_(r-1)),
    the last coordinate X_r integrated exactly."""
    r = a.shape[1]
    shift = a[rows, : r - 1] @ points
    lo = np.full(points.shape[1], -np.inf)
    hi = np.full(points.shape[1], np.inf)
    ok = np.ones(points.shape[1], dtype=bool)
    for i, row in enumerate(rows):
        c, s = a[row, r - 1], shift[i]
        if c == 0.0:
            ok &= s < upper[i]
        elif c > 0.0:
            hi = np.minimum(hi, (upper[i] - s) / c)
        else:
            lo = np.maximum(lo, (upper[i] - s) / c)
    return np.where(ok & (hi > lo), ndtr(hi) - ndtr(lo), 0.0)


def first_crossing(corr: np.ndarray, look: np.ndarray, bounds, k: int, m: float) -> float:
    """P(M_j < bounds[j] for every look j < k and M_k >= m) for standard normal
    statistics with correlation corr; look[i] is statistic i's look (0-based)."""
    a = _factor(np.asarray(corr, dtype=float))
    points, weight = _points(a.shape[1])
    before = np.flatnonzero(look < k)
    now = np.flatnonzero(look == k)
    up_before = np.asarray([bounds[j] for j in look[before]], dtype=float)
    prev = _mass(a, points, before, up_before) if len(before) else np.ones(len(weight))
    rows = np.r_[before, now]
    both = _mass(a, points, rows, np.r_[up_before, np.full(len(now), m)])
    return float(np.dot(weight, np.clip(prev - both, 0.0, None)))


def solve_bound(corr: np.ndarray, look: np.ndarray, bounds, k: int, level: float) -> float:
    """c_k on the M scale: P(no crossing before look k, M_k >= c_k) = level
    (NO_BOUND if the look spends nothing)."""
    if level <= 0.0:
        return NO_BOUND
    sub = look <= k
    c, lk = corr[np.ix_(sub, sub)], look[sub]

    def f(z: float) -> float:
        return first_crossing(c, lk, bounds, k, z) - level

    # P(no crossing before, M_k >= z) <= P(M_k >= z) <= J P(Z >= z): the root lies below
    # Phi^-1(1 - level / J) (the bracket is widened if integration error moves it out)
    hi = float(norm.isf(level / int(np.sum(lk == k))))
    if f(hi) > 0.0:
        hi = NO_BOUND
        if f(hi) >= 0.0:
            return NO_BOUND
    return float(optimize.brentq(f, LOW_BOUND, hi, xtol=BOUND_XTOL))


def bound(corr: np.ndarray, look: np.ndarray, bounds, k: int, level: float) -> float:
    """c_k on the M scale given the bounds of the earlier looks: at the first look the
    one-look MaxCombo tail (weighted.max_normal_p) equals the level, later
    `solve_bound`."""
    if level <= 0.0 or not np.any(look == k):  # nothing spent, or no statistic to cross
        return NO_BOUND
    if k > 0:
        return solve_bound(corr, look, bounds, k, level)
    c0 = corr[np.ix_(look == 0, look == 0)]
    if len(c0) == 1:
        return float(norm.isf(level))

    def g(z: float) -> float:
        return max_normal_p(z, c0) - level

    # P(M >= c) lies between one statistic's tail and Bonferroni's sum of tails: the root
    # is in [Phi^-1(1 - level), Phi^-1(1 - level / J)] (widened if integration error
    # moves it out)
    lo, hi = float(norm.isf(level)), float(norm.isf(level / len(c0)))
    if not (g(lo) >= 0.0 and g(hi) <= 0.0):
        lo, hi = LOW_BOUND, NO_BOUND
        if g(hi) >= 0.0:
            return NO_BOUND
    return float(optimize.brentq(g, lo, hi, xtol=BOUND_XTOL))


def sequential_bounds(corr: np.ndarray, look, levels) -> np.ndarray:
    """The efficacy bounds c_1..c_K on the M scale for the stage levels (alpha spent per
    look), given the joint correlation of all statistics (look[i]: statistic i's look)."""
    look = np.asarray(look)
    out: list[float] = []
    for k, level in enumerate(levels):
        out.append(bound(corr, look, out, k, float(level)))
    return np.asarray(out)


@dataclass
class _Look:
    """One look's death tables per stratum: stratum code -> (death times, weights
    (J x deaths), O - E terms, hypergeometric variances, pooled KM just before each
    death time)."""

    strata: dict = field(default_factory=dict)
    last_hazard: dict = field(default_factory=dict)  # d_j / n_j at each stratum's last death


def _tables(time, event, arm, strata, weights) -> tuple[_Look, float, float]:
    """The look's per-stratum tables and the log-rank O - E and V (as weighted_parts)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    arm = np.asarray(arm, dtype=bool)
    look = _Look()
    ome = v = 0.0
    codes = [None] if strata is None else list(np.unique(strata))
    for s in codes:
        on = np.ones(len(time), bool) if s is None else strata == s
        tab = death_table(time[on], event[on], arm[on])
        if tab is None:
            continue
        nj, dj, dej, frac, tie = tab
        tt = np.sort(time[on][event[on]])
        times = np.unique(tt)  # the distinct death times, in death_table's order
        terms = dej - dj * frac
        var = dj * frac * (1.0 - frac) * tie
        ome += float(terms.sum())
        v += float(var.sum())
        before = km_before(nj, dj)
        w = fh_weights(before, weights)
        look.strata[s] = (times, w, terms, var, before)
        look.last_hazard[s] = float(dj[-1] / nj[-1])
    return look, ome, v


def _cross(early: _Look, late: _Look, weights) -> np.ndarray:
    """Covariance of the FH statistics of an earlier look (rows) and a later one (columns):
    sum over the earlier look's death times of w^(early) w^(late) v^(early)."""
    k = len(weights)
    c = np.zeros((k, k))
    for s, (times, w, _, var, _) in early.strata.items():
        if s not in late.strata:
            continue
        lt, _, _, _, lbefore = late.strata[s]
        # the later curve just before each earlier death time (every earlier death time
        # is a later one; the last entry covers times beyond the later curve's end)
        tail = lbefore[-1] * (1.0 - late.last_hazard[s])
        before = np.r_[lbefore, tail][np.searchsorted(lt, times, side="left")]
        wl = fh_weights(before, weights)
        c += (w * var) @ wl.T
    return c


class SequentialMaxCombo:
    """One trial's group-sequential MaxCombo test: call `look` at each look in order."""

    def __init__(self, weights, fractions, alpha: float, type_of_design: str) -> None:
        self.weights = [tuple(p) for p in weights]
        self.levels = stage_levels(fractions, alpha, type_of_design)
        self.looks: list[_Look] = []
        self.cov = np.zeros((0, 0))  # all kept statistics of the looks so far
        self.look_of = np.zeros(0, dtype=int)
        self.kept: list[np.ndarray] = []  # per look: which of the J statistics are kept
        self.bounds: list[float] = []  # c_j on the M scale, solved when needed

    def look(self, time, event, arm, strata=None) -> tuple[TestResult, float]:
        """(the look's result: z = Phi^-1(1 - stage-wise p), p, log-rank one-step HR,
        deaths per arm, log-rank V; the largest FH z, M_k, for the futility rule)."""
        k = len(self.looks)
        e = np.asarray(arm, dtype=bool)
        ev = np.asarray(event, dtype=bool)
        deaths_e, deaths_c = int((ev & e).sum()), int((ev & ~e).sum())
        cur, ome, v = _tables(time, ev, e, strata, self.weights)
        j = len(self.weights)
        u, cc = np.zeros(j), np.zeros((j, j))
        for _, w, terms, var, _ in cur.strata.values():
            u += w @ terms
            cc += (w * var) @ w.T
        sd = np.sqrt(np.clip(np.diag(cc), 0.0, None))
        ok = sd > 0.0
        z = np.zeros(j)
        z[ok] = -u[ok] / sd[ok]
        # grow the joint covariance by this look's kept statistics
        cross = [(_cross(prev, cur, self.weights))[np.ix_(kp, ok)]
                 for prev, kp in zip(self.looks, self.kept, strict=True)]  # fmt: skip
        block = np.vstack(cross) if cross else np.zeros((0, int(ok.sum())))
        self.cov = np.block([[self.cov, block], [block.T, cc[np.ix_(ok, ok)]]])
        self.look_of = np.r_[self.look_of, np.full(int(ok.sum()), k)]
        self.looks.append(cur)
        self.kept.append(ok)
        hr = math.exp(ome / v) if v > 0.0 else math.nan
        if not ok.any():
            return TestResult(0.0, 1.0, hr, deaths_e, deaths_c, v), 0.0
        sds = np.sqrt(np.diag(self.cov))
        corr = self.cov / np.outer(sds, sds)
        m = float(z[ok].max())
        if k == 0:
            p = max_normal_p(m, corr)  # the one-look MaxCombo p-value
        else:
            while len(self.bounds) < k:  # bounds of the earlier looks, in order
                i = len(self.bounds)
                sub = self.look_of <= i
                c_i = bound(corr[np.ix_(sub, sub)], self.look_of[sub], self.bounds, i,
                            float(self.levels[i]))  # fmt: skip
                self.bounds.append(c_i)
            p = first_crossing(corr, self.look_of, self.bounds, k, m)
            p = min(max(p, 0.0), 1.0)
        z_test = float(norm.isf(p)) if p > 0.0 else m
        return TestResult(z_test, p, hr, deaths_e, deaths_c, v), m
