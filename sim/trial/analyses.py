"""The tests a trial's analyses use; one-sided, signed so that z > 0 favours the
experimental arm.

* Two binary arms: the pooled two-proportion z test (z^2 is Pearson's chi-square
  statistic of the 2x2 table, no continuity correction; Fleiss, Levin & Paik 2003,
  s.4.1) or Fisher's exact test (one-sided: the hypergeometric upper tail).
* One binary arm against a historical control value p0: the one-sample z test
  (score form) or the exact binomial test.
* Stratified versions (the analysis follows a stratified randomisation, ICH E9
  s.5.7): the Cochran-Mantel-Haenszel test and the stratified log-rank test.
  Unstratified tests after randomisation stratified on a strong prognostic factor
  (here the underlying condition) are conservative: balance removes between-stratum
  variance that their variance estimate still counts.
* Survival at a fixed time with censoring: the Kaplan-Meier difference at day 365
  with Greenwood variances (`km`), stratified by Mantel-Haenszel-type weights.
* Time to death: the log-rank test with ties (Peto & Peto 1972; Collett 2015, s.2.6),
  z = (E - O) / sqrt(V) for the experimental arm, and the one-step (Peto) estimate of
  the Cox hazard ratio exp((O - E) / V), the first Newton step from beta = 0 of the
  Cox partial likelihood (close to the Cox estimate when the HR is not far from 1).

And the closed-form power of the fixed (single-look) designs, for comparison with
simulation: two proportions (normal approximation, Fleiss et al. 2003 eq. 4.14) and
the log-rank test given the number of deaths (Schoenfeld 1983, Biometrics 39:499);
single-arm designs exactly, by binomial enumeration over their looks
(`one_proportion_crossing`, which at p = p0 is the design's exact size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import binom, hypergeom, norm


def _upper(z: float) -> float:
    """One-sided p-value P(Z >= z) (math.erfc: much faster than scipy per call)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass
class TestResult:
    z: float  # > 0 favours experimental
    p: float  # one-sided p-value
    estimate: float  # difference in proportions (E - C), or hazard ratio (E / C)
    experimental: float  # proportion (or deaths) in the experimental arm
    control: float  # proportion (or deaths) in the control arm / historical value
    # added later: log-rank tests, the Fisher information of the log hazard ratio (the
    # hypergeometric V; SE of log HR = 1 / sqrt(V)); NaN for the other tests
    information: float = math.nan


def two_proportions(x_e: int, n_e: int, x_c: int, n_c: int, exact: bool = False) -> TestResult:
    """Success counts x out of n per arm; H1: p_e > p_c."""
    if n_e == 0 or n_c == 0:
        return TestResult(0.0, 1.0, math.nan, math.nan, math.nan)
    pe, pc = x_e / n_e, x_c / n_c
    pbar = (x_e + x_c) / (n_e + n_c)
    var = pbar * (1.0 - pbar) * (1.0 / n_e + 1.0 / n_c)
    z = (pe - pc) / math.sqrt(var) if var > 0.0 else 0.0
    if exact:  # P(X_e >= x_e | margins), X_e ~ hypergeometric
        p = float(hypergeom.sf(x_e - 1, n_e + n_c, x_e + x_c, n_e))
        z = float(norm.isf(p)) if 0.0 < p < 1.0 else z
    else:
        p = _upper(z)
    return TestResult(z, p, pe - pc, pe, pc)


def one_proportion(x: int, n: int, p0: float, exact: bool = False) -> TestResult:
    """x successes out of n against a fixed historical p0; H1: p > p0."""
    if n == 0:
        return TestResult(0.0, 1.0, math.nan, math.nan, p0)
    ph = x / n
    z = (ph - p0) / math.sqrt(p0 * (1.0 - p0) / n)
    if exact:
        p = float(binom.sf(x - 1, n, p0))
        z = float(norm.isf(p)) if 0.0 < p < 1.0 else z
    else:
        p = _upper(z)
    return TestResult(z, p, ph - p0, ph, p0)


def two_proportions_stratified(
    x_e: np.ndarray, n_e: np.ndarray, x_c: np.ndarray, n_c: np.ndarray
) -> TestResult:
    """Cochran-Mantel-Haenszel test over strata (arrays: one entry per stratum).

    z = sum_s (x_e,s - E_s) / sqrt(sum_s V_s) with the hypergeometric mean and variance
    of x_e,s given the stratum's margins (Agresti 2013, s.6.4); the estimate is the
    Mantel-Haenszel risk difference (weights n_e n_c / N).
    """
    x_e, n_e, x_c, n_c = (np.asarray(a, dtype=float) for a in (x_e, n_e, x_c, n_c))
    big_n, m = n_e + n_c, x_e + x_c
    ok = (n_e > 0) & (n_c > 0)
    if not ok.any():
        return TestResult(0.0, 1.0, math.nan, math.nan, math.nan)
    x_e, n_e, x_c, n_c, big_n, m = (a[ok] for a in (x_e, n_e, x_c, n_c, big_n, m))
    expect = n_e * m / big_n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(big_n > 1, n_e * n_c * m * (big_n - m) / (big_n**2 * (big_n - 1)), 0.0)
    v = float(var.sum())
    z = float((x_e - expect).sum()) / math.sqrt(v) if v > 0 else 0.0
    w = n_e * n_c / big_n
    rd = float((w * (x_e / n_e - x_c / n_c)).sum() / w.sum())
    return TestResult(z, _upper(z), rd, float(x_e.sum() / n_e.sum()), float(x_c.sum() / n_c.sum()))


def death_table(
    time: np.ndarray, event: np.ndarray, e: np.ndarray
) -> tuple[np.ndarray, ...] | None:
    """Per distinct death time (ties as in Collett s.2.6): (n_j at risk, d_j deaths, d_ej
    experimental deaths, n_ej / n_j, the ties factor (n_j - d_j) / (n_j - 1)); None
    without deaths or without one of the arms."""
    if not event.any() or e.all() or not e.any():
        return None
    order = np.argsort(time, kind="stable")
    t, d, g = time[order], event[order], e[order]
    n = len(t)
    at_risk = n - np.arange(n)  # at risk just before the i-th smallest time
    at_risk_e = np.cumsum(g[::-1])[::-1]
    # one row per distinct time: first position of the tie group
    _, first = np.unique(t, return_index=True)
    d_all = np.add.reduceat(d.astype(float), first)
    d_e = np.add.reduceat((d & g).astype(float), first)
    keep = d_all > 0
    nj, nej, dj, dej = at_risk[first][keep], at_risk_e[first][keep], d_all[keep], d_e[keep]
    frac = nej / nj
    with np.errstate(invalid="ignore", divide="ignore"):
        tie = np.where(nj > 1, (nj - dj) / (nj - 1.0), 1.0)
    return nj, dj, dej, frac, tie


def _logrank_parts(time: np.ndarray, event: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    """(O - E, V) of the experimental arm's deaths, ties handled as in Collett s.2.6."""
    tab = death_table(time, event, e)
    if tab is None:
        return 0.0, 0.0
    _, dj, dej, frac, tie = tab
    return float((dej - dj * frac).sum()), float((dj * frac * (1.0 - frac) * tie).sum())


def logrank_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank (Savage) scores a_i = delta_i - sum over death times t_j <= t_i of d_j / n_j
    (the Nelson-Aalen estimate at the patient's own time). The experimental arm's
    O - E is the sum of its patients' scores; the scores sum to 0."""
    if len(time) == 0:
        return np.zeros(0)
    order = np.argsort(time, kind="stable")
    t, d = time[order], event[order].astype(float)
    _, first, tie = np.unique(t, return_index=True, return_inverse=True)
    at_risk = (len(t) - np.arange(len(t)))[first]
    cum_hazard = np.cumsum(np.add.reduceat(d, first) / at_risk)
    out = np.empty(len(t))
    out[order] = d - cum_hazard[tie]
    return out


def _permutation_variance(time: np.ndarray, event: np.ndarray, e: np.ndarray) -> float:
    """Variance of O - E over the random choices of which n_e of the N patients are
    experimental: n_e n_c / (N (N - 1)) sum a_i^2 (a linear rank statistic's
    permutation variance; Peto & Peto 1972)."""
    big_n, n_e = len(time), int(e.sum())
    if big_n < 2 or n_e in (0, big_n):
        return 0.0
    a = logrank_scores(time, event)
    return float(n_e * (big_n - n_e) / (big_n * (big_n - 1.0)) * np.dot(a, a))


VARIANCES = ("hypergeometric", "permutation")


def logrank(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    strata: np.ndarray | None = None,
    variance: str = "hypergeometric",
) -> TestResult:
    """Log-rank test of experimental vs control; H1: lower hazard on experimental.

    With `strata`, the stratified log-rank test: O - E and V summed over strata
    (Peto et al. 1977, Br J Cancer 35:1; Collett 2015, Modelling Survival Data).
    `variance`: V is the sum of the hypergeometric variances at the death times (the
    usual, Mantel-Haenszel form) or, with "permutation", the permutation variance of
    the log-rank scores within each stratum (the linear rank test form; an option for
    small samples, docs/trial.md). The HR estimate exp((O - E) / V) uses the
    hypergeometric V in both cases.
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown log-rank variance {variance!r}; allowed: {VARIANCES}")
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    e = np.asarray(experimental, dtype=bool)
    deaths_e, deaths_c = int((event & e).sum()), int((event & ~e).sum())
    groups = (
        [np.ones(len(time), bool)] if strata is None else [strata == s for s in np.unique(strata)]
    )
    o_minus_e = v = v_test = 0.0
    for on in groups:
        a, b = _logrank_parts(time[on], event[on], e[on])
        o_minus_e, v = o_minus_e + a, v + b
        if variance == "permutation":
            v_test += _permutation_variance(time[on], event[on], e[on])
    if variance == "hypergeometric":
        v_test = v
    if v <= 0.0 or v_test <= 0.0:
        return TestResult(0.0, 1.0, math.nan, deaths_e, deaths_c, v)
    z = -o_minus_e / math.sqrt(v_test)
    return TestResult(z, _upper(z), math.exp(o_minus_e / v), deaths_e, deaths_c, v)


def km_groups(
    time: np.ndarray, event: np.ndarray, group: np.ndarray, n_groups: int, t_star: float
) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival at t_star and its Greenwood variance for each group
    0..n_groups-1 at once (Collett 2015, s.2.1; one sort instead of a loop)."""
    order = np.lexsort((time, group))
    t, d, g = time[order], event[order] & (time[order] <= t_star), group[order]
    counts = np.bincount(g, minlength=n_groups)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    at_risk = counts[g] - (np.arange(len(t)) - start[g])  # at risk just before t (ties: first)
    first = np.ones(len(t), dtype=bool)
    first[1:] = (g[1:] != g[:-1]) | (t[1:] != t[:-1])
    tie = np.cumsum(first) - 1
    deaths = np.bincount(tie, weights=d, minlength=tie[-1] + 1 if len(t) else 0)
    n_j, g_j = at_risk[first].astype(float), g[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_factor = np.log1p(-deaths / n_j)  # -inf when everyone at risk dies
        greenwood = np.where(n_j > deaths, deaths / (n_j * (n_j - deaths)), 0.0)
    s = np.exp(np.bincount(g_j, weights=log_factor, minlength=n_groups))
    var = s * s * np.bincount(g_j, weights=greenwood, minlength=n_groups)
    return s, var


def km_at(time: np.ndarray, event: np.ndarray, t_star: float) -> tuple[float, float]:
    """Kaplan-Meier survival at t_star and its Greenwood variance, one sample."""
    time = np.asarray(time, dtype=float)
    if len(time) == 0:
        return math.nan, math.nan
    s, v = km_groups(time, np.asarray(event, dtype=bool), np.zeros(len(time), int), 1, t_star)
    return float(s[0]), float(v[0])


def km_difference(
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    t_star: float,
    strata: np.ndarray | None = None,
) -> TestResult:
    """Compare Kaplan-Meier survival at a fixed time (Klein et al. 2007, Stat Med
    26:4505): z = (S_e - S_c) / sqrt(V0), where V0 is the null variance: the Greenwood
    variance of the two arms' pooled KM curve, per patient, times (1/n_e + 1/n_c).
    Without censoring this is exactly the pooled two-proportion z test; the unpooled
    version (Greenwood variance of each arm) is liberal in small strata, where an arm
    with no deaths or no survivors has zero estimated variance. Unlike a complete-case
    proportion, it uses patients lost before t_star up to their loss: a complete-case
    analysis keeps early deaths more often than survivors and under-estimates
    survival. With strata: differences combined with weights n_e n_c / N and null
    variances with the hypergeometric factor N / (N - 1), so that without censoring
    it is exactly the Cochran-Mantel-Haenszel test (small strata need the factor)."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    e = np.asarray(experimental, dtype=bool)
    if len(time) == 0 or e.all() or not e.any():
        return TestResult(0.0, 1.0, math.nan, math.nan, math.nan)
    _, st = np.unique(np.zeros(len(time)) if strata is None else strata, return_inverse=True)
    k = int(st.max()) + 1
    s_arm, _ = km_groups(time, event, st * 2 + e, 2 * k, t_star)  # (stratum, arm) cells
    _, v_pool = km_groups(time, event, st, k, t_star)
    n_cell = np.bincount(st * 2 + e, minlength=2 * k).reshape(k, 2).astype(float)
    nc, ne = n_cell[:, 0], n_cell[:, 1]
    ok = (ne > 0) & (nc > 0)
    if not ok.any():
        return TestResult(0.0, 1.0, math.nan, math.nan, math.nan)
    big_n = ne + nc
    if strata is None:
        w, fpc = np.ones(k), np.ones(k)
    else:
        w = ne * nc / big_n
        with np.errstate(divide="ignore", invalid="ignore"):
            fpc = big_n / (big_n - 1.0)
    diff = s_arm[1::2] - s_arm[0::2]
    with np.errstate(divide="ignore", invalid="ignore"):
        v0 = v_pool * big_n * (1.0 / ne + 1.0 / nc) * fpc
    num = float((w * diff)[ok].sum())
    var = float((w * w * v0)[ok].sum()) if ok.all() else float((w[ok] ** 2 * v0[ok]).sum())
    z = num / math.sqrt(var) if var > 0.0 else 0.0
    s_ec, _ = km_groups(time, event, e.astype(int), 2, t_star)
    return TestResult(z, _upper(z), num / float(w[ok].sum()), s_ec[1], s_ec[0])


# ------------------------------------------------------------------- analytic power


def power_two_proportions(p_e: float, p_c: float, n_e: float, n_c: float, alpha: float) -> float:
    """Power of the one-sided pooled z test (Fleiss et al. 2003 eq. 4.14, no correction)."""
    pbar = (n_e * p_e + n_c * p_c) / (n_e + n_c)
    null_sd = math.sqrt(pbar * (1 - pbar) * (1 / n_e + 1 / n_c))
    alt_sd = math.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c)
    if alt_sd == 0.0:
        return float(p_e > p_c)
    return float(norm.cdf((p_e - p_c - norm.isf(alpha) * null_sd) / alt_sd))


def power_two_proportions_exact(p_e: float, p_c: float, n_e: int, n_c: int, alpha: float) -> float:
    """Exact power of the one-sided pooled z test: sum over all binomial outcomes.

    The closed form above is a normal approximation that is off by about a point at
    60 patients per arm; this enumeration (n_e + 1) x (n_c + 1) tables is the
    reference the simulation must match within Monte Carlo error.
    """
    xe = np.arange(n_e + 1)[:, None]
    xc = np.arange(n_c + 1)[None, :]
    pbar = (xe + xc) / (n_e + n_c)
    var = pbar * (1 - pbar) * (1 / n_e + 1 / n_c)
    diff = xe / n_e - xc / n_c
    z = np.divide(diff, np.sqrt(var), out=np.zeros(var.shape), where=var > 0)
    w = binom.pmf(xe, n_e, p_e) * binom.pmf(xc, n_c, p_c)
    return float(w[z >= norm.isf(alpha)].sum())


def power_one_proportion(p: float, p0: float, n: float, alpha: float) -> float:
    """Power of the one-sided one-sample z test against p0."""
    alt_sd = math.sqrt(p * (1 - p) / n)
    if alt_sd == 0.0:
        return float(p > p0)
    return float(norm.cdf((p - p0 - norm.isf(alpha) * math.sqrt(p0 * (1 - p0) / n)) / alt_sd))


def one_proportion_z(x: np.ndarray, m: int, p0: float, exact: bool) -> np.ndarray:
    """The z statistic `one_proportion` gives for each success count x out of m
    (vectorised; the same arithmetic, so the same decisions to the last bit)."""
    x = np.asarray(x)
    if m == 0:
        return np.zeros(x.shape)
    z = (x / m - p0) / math.sqrt(p0 * (1.0 - p0) / m)
    if not exact:
        return z
    p = binom.sf(x - 1, m, p0)
    inside = (p > 0.0) & (p < 1.0)
    return np.where(inside, norm.isf(np.where(inside, p, 0.5)), z)


@lru_cache(maxsize=65536)
def one_proportion_crossing(
    p: float,
    p0: float,
    sizes: tuple[int, ...],
    critical: tuple[float, ...],
    futility: tuple[float, ...] | None = None,
    exact: bool = True,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact (P(reject first at look k), P(stop for futility at look k)) of a single-arm
    design when each patient's outcome is a success with probability p.

    Look k analyses the first sizes[k] patients (non-decreasing) with the one-sample
    test against p0 (`one_proportion`: exact binomial or score z), rejects if
    z >= critical[k] and, at an interim, stops for futility if z < futility[k]. The
    distribution of the success count over the trials still running is carried from
    look to look (a binomial convolution per look): no normal approximation. At
    p = p0 the total rejection probability is the design's exact size."""
    k = len(sizes)
    fut = (-math.inf,) * k if futility is None else futility
    mass = np.ones(1)  # P(0 successes among 0 patients)
    prev = 0
    up, down = [0.0] * k, [0.0] * k
    for i, (m, c) in enumerate(zip(sizes, critical, strict=True)):
        if m < prev:
            raise ValueError(f"look sizes must not decrease, got {sizes}")
        mass = np.convolve(mass, binom.pmf(np.arange(m - prev + 1), m - prev, p))
        z = one_proportion_z(np.arange(m + 1), m, p0, exact)
        hit = z >= c
        up[i] = float(mass[hit].sum())
        go_on = ~hit
        if i < k - 1 and math.isfinite(fut[i]):
            stop = go_on & (z < fut[i])
            down[i] = float(mass[stop].sum())
            go_on &= ~stop
        mass = np.where(go_on, mass, 0.0)
        prev = m
    return tuple(up), tuple(down)


def power_logrank(hazard_ratio: float, deaths: float, share_e: float, alpha: float) -> float:
    """Schoenfeld (1983): power = Phi(sqrt(D r (1 - r)) |log HR| - z_alpha), one-sided."""
    drift = math.sqrt(deaths * share_e * (1 - share_e)) * -math.log(hazard_ratio)
    return float(norm.cdf(drift - norm.isf(alpha)))


def drift_two_proportions(p_e: float, p_c: float, n_e: float, n_c: float) -> float:
    """Expected z of the two-proportion test at full information (group-sequential power)."""
    sd = math.sqrt(p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c)
    return (p_e - p_c) / sd if sd > 0 else 0.0


def drift_logrank(hazard_ratio: float, deaths: float, share_e: float) -> float:
    return math.sqrt(deaths * share_e * (1 - share_e)) * -math.log(hazard_ratio)
