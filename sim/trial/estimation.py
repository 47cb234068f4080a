"""Estimation after a group-sequential trial: repeated confidence intervals and the
median-unbiased estimate with its confidence interval under stage-wise ordering.

Notation (the canonical joint distribution, Jennison & Turnbull 2000 ch. 3, as in
sim.trial.boundaries): the estimate of the effect delta at look k has information I_k,
Z_k ~ N(delta sqrt(I_k), 1), the looks fall at fractions t_k = I_k / I_K and
theta = delta sqrt(I_K) is the drift (the expected z at full information). For the
log-rank test delta = -log HR, the one-step estimate is -(O - E) / V = Z_k / sqrt(V_k)
and I_k = V_k, the hypergeometric variance (SE of log HR 1 / sqrt(V)).

* Repeated confidence intervals (Jennison & Turnbull 2000, ch. 9; Jennison & Turnbull
  1989, J R Stat Soc B 51:305): at look k, delta_hat_k +- c_k / sqrt(I_k), c_k the
  efficacy boundary on the z scale. Because Z_k - delta sqrt(I_k) is the null z
  process, the intervals cover delta at every look simultaneously with probability
  P_0(|Z_k| < c_k for all k) (`rci_coverage`), at least 1 - 2 alpha for one-sided
  level-alpha boundaries (two one-sided crossings, each at most alpha), and exactly
  1 - 2 alpha with one look (the fixed-sample interval). Valid whatever the stopping
  rule, so also after a stop that did not follow the boundaries.
* Stage-wise ordering (Jennison & Turnbull 2000, s.8.4; Armitage 1957; Tsiatis, Rosner &
  Mehta 1984, Biometrics 40:797): an outcome (stop at look j with z_j) is more extreme
  than the observed (k, z) if j < k and it crossed the efficacy boundary, or j = k and
  z_j >= z. Under drift theta the probability of that is
  p(theta) = sum_(j<k) P_theta(first efficacy crossing at j) + P_theta(reach k, Z_k >= z),
  computed by the boundaries' recursive integration with the design's futility rule
  (trials here do stop when z < f, so the rule that generated the data is the one
  used). p is increasing in theta; the median-unbiased estimate solves p(theta) = 1/2
  and the 1 - 2 alpha confidence interval p(theta) = alpha and 1 - alpha. With one look
  p(theta) = 1 - Phi(z - theta): the naive estimate and the fixed-sample interval.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from scipy.special import ndtr
from scipy.stats import norm

from sim.trial.boundaries import SD_RANGE, _Recursion

XTOL = 1e-9  # root-finding tolerance on the drift theta
GRID_POINTS = 201  # Simpson nodes per look of the stage-wise p (odd; tests: error < 1e-7)
SQRT_2PI = math.sqrt(2.0 * math.pi)
BRACKET = 6.0  # initial half-width of the root bracket (z units), doubled until it holds


def repeated_ci(z: float, information: float, critical: float) -> tuple[float, float]:
    """(lower, upper) of delta at one look: (z - c) / sqrt(I), (z + c) / sqrt(I)."""
    if not information > 0.0:
        return math.nan, math.nan
    se = 1.0 / math.sqrt(information)
    return (z - critical) * se, (z + critical) * se


def rci_coverage(fractions, critical) -> float:
    """P(|Z_k| < c_k at every look) under the null: the simultaneous coverage of the
    repeated confidence intervals whatever delta (recursive integration)."""
    rec = _Recursion(0.0)
    for t, c in zip(np.asarray(fractions, float), np.asarray(critical, float), strict=True):
        rec.advance(float(t), float(c), -float(c))
    return float(rec.w.sum())


def stagewise_p(theta: float, fractions, critical, futility, k: int, z: float) -> float:
    """P_theta(an outcome at least as extreme as stopping at look k (1-based) with z, in
    the stage-wise ordering). `futility`: z bounds of the looks before k (-inf: none).

    The recursion of sim.trial.boundaries (S_j = Z_j sqrt(t_j) carried over the
    continuation regions f_j <= Z_j < c_j on Simpson grids), written out here with
    GRID_POINTS nodes and the normal density as an exponential, for speed: every trial
    solves p(theta) = 1/2, alpha, 1 - alpha (tests: equal to crossing_probabilities)."""
    fr = np.asarray(fractions, dtype=float)
    crit = np.asarray(critical, dtype=float)
    fut = np.asarray(futility, dtype=float)
    x, w, t_prev, total = np.zeros(1), np.ones(1), 0.0, 0.0
    for j in range(k):
        t = float(fr[j])
        d = t - t_prev
        sd = math.sqrt(d)
        mean = x + theta * d
        c = z if j == k - 1 else float(crit[j])
        total += float(np.dot(w, ndtr((mean - c * math.sqrt(t)) / sd)))  # P(Z_j >= c)
        if j == k - 1:
            break
        root = math.sqrt(t)
        centre = theta * t
        lo = max(float(fut[j]) * root, centre - SD_RANGE * root)
        hi = min(c * root, centre + SD_RANGE * root)
        if hi <= lo:
            return total
        xn = np.linspace(lo, hi, GRID_POINTS)
        wn = np.ones(GRID_POINTS)
        wn[1:-1:2], wn[2:-1:2] = 4.0, 2.0
        wn *= (hi - lo) / (3.0 * (GRID_POINTS - 1))
        u = (xn[:, None] - mean[None, :]) / sd
        dens = np.exp(-0.5 * u * u) @ w / (sd * SQRT_2PI)
        x, w, t_prev = xn, wn * dens, t
    return total


def _solve(target: float, fractions, critical, futility, k: int, z: float) -> float:
    def f(theta: float) -> float:
        return stagewise_p(theta, fractions, critical, futility, k, z) - target

    centre = z / math.sqrt(float(np.asarray(fractions, dtype=float)[k - 1]))
    width = BRACKET
    lo, hi = centre - width, centre + width
    while f(lo) > 0.0:
        width *= 2.0
        lo = centre - width
    while f(hi) < 0.0:
        width *= 2.0
        hi = centre + width
    return float(optimize.brentq(f, lo, hi, xtol=XTOL))


def stagewise_estimate(
    fractions, critical, futility, k: int, z: float, alpha: float
) -> tuple[float, float, float]:
    """(median-unbiased theta, lower, upper limit of its 1 - 2 alpha interval) after
    stopping at look k (1-based) with z, on the drift scale (theta = delta sqrt(I_K))."""
    futility = np.full(len(fractions), -np.inf) if futility is None else futility
    fut = np.asarray([-np.inf if f is None else f for f in futility], dtype=float)
    if k == 1:  # p(theta) = 1 - Phi(z - theta sqrt(t_1)): closed form
        s = math.sqrt(float(np.asarray(fractions, dtype=float)[0]))
        q = float(norm.isf(alpha))
        return z / s, (z - q) / s, (z + q) / s
    return (
        _solve(0.5, fractions, critical, fut, k, z),
        _solve(alpha, fractions, critical, fut, k, z),
        _solve(1.0 - alpha, fractions, critical, fut, k, z),
    )


def hazard_ratio_estimates(
    z: float,
    information: float,
    k: int,
    fractions,
    critical,
    futility,
    alpha: float,
) -> dict[str, float]:
    """A log-rank trial stopped at look k (1-based) with z and information V: the
    repeated confidence interval of the hazard ratio at that look and the stage-wise
    median-unbiased HR with its 1 - 2 alpha interval (HR = exp(-delta); I_K = V / t_k)."""
    keys = ("hr_rci_lower", "hr_rci_upper", "hr_adjusted", "hr_adjusted_lower",
            "hr_adjusted_upper")  # fmt: skip
    if not (information > 0.0 and math.isfinite(z)):
        return dict.fromkeys(keys, math.nan)
    lo, hi = repeated_ci(z, information, float(np.asarray(critical)[k - 1]))
    t_k = float(np.asarray(fractions, dtype=float)[k - 1])
    scale = math.sqrt(information / t_k)  # sqrt(I_K)
    med, low, high = stagewise_estimate(fractions, critical, futility, k, z, alpha)
    return dict(
        zip(
            keys,
            (
                math.exp(-hi),
                math.exp(-lo),
                math.exp(-med / scale),
                math.exp(-high / scale),
                math.exp(-low / scale),
            ),  # fmt: skip
            strict=True,
        )
    )
