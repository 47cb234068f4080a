"""Group-sequential efficacy boundaries from alpha spending.

A trial looked at K times sees z statistics Z_1..Z_K that, at information fractions
t_1 < ... < t_K = 1, behave like a Brownian motion: S_k = Z_k sqrt(t_k) has
independent normal increments with variance t_k - t_(k-1) and mean theta
(t_k - t_(k-1)), theta = 0 under the null (Jennison & Turnbull 2000, ch. 3, the
"canonical joint distribution"). A one-sided efficacy boundary c_k rejects at the
first look with Z_k >= c_k.

* Lan-DeMets spending (Lan & DeMets 1983, Biometrika 70:659): c_k is chosen so the
  probability of first crossing at look k is alpha(t_k) - alpha(t_(k-1)), for a
  spending function alpha(t). Named as in rpact: `asOF` (O'Brien-Fleming type,
  alpha(t) = 2 - 2 Phi(z_(1-alpha/2) / sqrt t)) and `asP` (Pocock type,
  alpha(t) = alpha log(1 + (e - 1) t)). Looks may fall at any fractions.
* Classical shapes (rpact `OF`, `P`; O'Brien & Fleming 1979, Pocock 1977):
  c_k = C / sqrt(t_k) or c_k = C, with one constant C giving total alpha.

Crossing probabilities are computed by recursive numerical integration of the
density of S_k over the continuation region on a grid (Jennison & Turnbull 2000,
ch. 19; Armitage, McPherson & Rowe 1969). An optional lower (futility) boundary
adds "stop for futility if Z_k < f_k" to the continuation region; efficacy
boundaries are computed without it (non-binding futility), so futility stops only
lower the type I error.

Futility boundaries from beta spending (rpact `bsOF`, `bsP`; Pampallona, Tsiatis &
Kim 2001; Jennison & Turnbull 2000, s.7.2): under the planned drift theta, f_k is
chosen so the probability of first stopping for futility at look k is
beta(t_k) - beta(t_(k-1)), with the same spending shapes applied to beta (= 1 -
planned power). With the maximum sample size fixed (a sizing grid), f_k is capped
at c_k where the two would cross, and the final look has no futility bound.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy.stats import norm

TYPES = ("none", "asOF", "asP", "OF", "P")
BETA_TYPES = ("none", "bsOF", "bsP")  # rpact typeBetaSpending
GRID_POINTS = 401  # Simpson nodes per look (odd); errors < 1e-6 in crossing probabilities
SD_RANGE = 8.5  # the grid spans mean +/- SD_RANGE standard deviations of S_k
NO_BOUND = 40.0  # a z boundary this high is never crossed (nothing left to spend)
CALENDAR_DIGITS = 2  # calendar looks: observed fractions rounded to 0.01 so trials share boundaries


def spending(type_of_design: str, t: np.ndarray | float, alpha: float) -> np.ndarray:
    """Cumulative alpha spent at information fraction t (Lan & DeMets 1983)."""
    t = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    if type_of_design == "asOF":
        with np.errstate(divide="ignore"):
            return 2.0 * norm.sf(norm.isf(alpha / 2.0) / np.sqrt(t))
    if type_of_design == "asP":
        return alpha * np.log1p((math.e - 1.0) * t)
    raise ValueError(f"{type_of_design!r} is not a spending function (asOF, asP)")


def futility_bounds(
    fractions, critical, theta: float, beta: float, type_beta_spending: str
) -> np.ndarray:
    """Futility z bounds f_1..f_(K-1) by beta spending under drift theta (-inf at the
    last look). theta is the expected z at full information under the planned effect."""
    fr = np.asarray(fractions, dtype=float)
    kind = {"bsOF": "asOF", "bsP": "asP"}[type_beta_spending]
    cum = spending(kind, fr, beta)
    rec = _Recursion(theta)
    out = np.full(len(fr), -np.inf)
    spent = 0.0
    for i, (t, c) in enumerate(zip(fr[:-1], critical[:-1], strict=True)):
        target = cum[i] - spent
        if target <= 0.0:
            f = -NO_BOUND
        elif rec.below(t, c) <= target:
            f = c  # the bounds meet: stop either way
        else:
            f = optimize.brentq(lambda z, t=t, g=target: rec.below(t, z) - g, -NO_BOUND, c)
        out[i] = f
        spent += rec.below(t, f)
        rec.advance(t, c, f)
    return out


def _simpson(lo: float, hi: float, n: int = GRID_POINTS) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(lo, hi, n)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (hi - lo) / (3.0 * (n - 1))


class _Recursion:
    """Sub-density of S_k on the continuation region, look after look."""

    def __init__(self, theta: float = 0.0) -> None:
        self.theta = theta
        self.t = 0.0
        self.x = np.zeros(1)  # S_0 = 0: a point mass
        self.w = np.ones(1)  # weights: density x quadrature weight

    def exceed(self, t: float, c: float) -> float:
        """P(still running before this look and Z >= c at fraction t)."""
        d = t - self.t
        mean = self.x + self.theta * d
        return float(np.dot(self.w, norm.sf((c * math.sqrt(t) - mean) / math.sqrt(d))))

    def below(self, t: float, f: float) -> float:
        """P(still running before this look and Z < f at fraction t)."""
        d = t - self.t
        mean = self.x + self.theta * d
        return float(np.dot(self.w, norm.cdf((f * math.sqrt(t) - mean) / math.sqrt(d))))

    def advance(self, t: float, c: float, f: float = -math.inf) -> None:
        """Move to fraction t, keeping only paths with f <= Z_t < c."""
        d = t - self.t
        sd_t = math.sqrt(t)
        centre = self.theta * t
        lo = max(f * sd_t, centre - SD_RANGE * sd_t)
        hi = min(c * sd_t, centre + SD_RANGE * sd_t)
        if hi <= lo:
            self.x, self.w = np.zeros(1), np.zeros(1)
        else:
            xn, wn = _simpson(lo, hi)
            mean = self.x + self.theta * d
            dens = norm.pdf((xn[:, None] - mean[None, :]) / math.sqrt(d)) / math.sqrt(d)
            self.x, self.w = xn, wn * (dens @ self.w)
        self.t = t


def crossing_probabilities(
    fractions, critical, theta: float = 0.0, futility=None
) -> tuple[np.ndarray, np.ndarray]:
    """(P(reject first at look k), P(stop for futility at look k)) for drift theta.

    theta is the expected z at full information (t = 1). `futility` (z values, -inf
    for none) applies at every look but the last.
    """
    fr = np.asarray(fractions, dtype=float)
    k = len(fr)
    fut = np.full(k, -np.inf) if futility is None else np.asarray(futility, dtype=float)
    rec = _Recursion(theta)
    up, down = np.zeros(k), np.zeros(k)
    for i, (t, c) in enumerate(zip(fr, critical, strict=True)):
        up[i] = rec.exceed(t, c)
        if i < k - 1:
            if np.isfinite(fut[i]):
                down[i] = rec.below(t, fut[i])
            rec.advance(t, c, fut[i] if np.isfinite(fut[i]) else -math.inf)
    return up, down


def _spending_bounds(fractions: np.ndarray, alpha: float, kind: str) -> np.ndarray:
    cum = spending(kind, fractions, alpha)
    cum[-1] = alpha  # the final look spends what is left (fraction 1)
    rec = _Recursion()
    out = np.empty(len(fractions))
    spent = 0.0
    for i, t in enumerate(fractions):
        target = cum[i] - spent
        if target <= 0.0 or rec.exceed(t, NO_BOUND) >= target:
            c = NO_BOUND
        else:
            c = optimize.brentq(lambda z, t=t, g=target: rec.exceed(t, z) - g, -10.0, NO_BOUND)
        out[i] = c
        spent += rec.exceed(t, c)
        rec.advance(t, c)
    return out


def _classical_bounds(fractions: np.ndarray, alpha: float, kind: str) -> np.ndarray:
    shape = 1.0 / np.sqrt(fractions) if kind == "OF" else np.ones(len(fractions))

    def total(c: float) -> float:
        return float(crossing_probabilities(fractions, c * shape)[0].sum()) - alpha

    return optimize.brentq(total, 0.5, 10.0, xtol=1e-10) * shape


@lru_cache(maxsize=4096)
def _cached(fractions: tuple[float, ...], alpha: float, kind: str) -> tuple[float, ...]:
    fr = np.asarray(fractions)
    if kind == "none" or len(fr) == 1:
        if kind == "none" and len(fr) > 1:
            raise ValueError("type_of_design none allows one look only")
        return (float(norm.isf(alpha)),)
    if kind in ("asOF", "asP"):
        return tuple(_spending_bounds(fr, alpha, kind))
    if kind in ("OF", "P"):
        return tuple(_classical_bounds(fr, alpha, kind))
    raise ValueError(f"unknown type_of_design {kind!r}; allowed: {', '.join(TYPES)}")


def efficacy_bounds(
    fractions, alpha: float, type_of_design: str, digits: int | None = None
) -> np.ndarray:
    """One-sided critical z values c_1..c_K at these information fractions (last = 1).

    Results are cached; with `digits`, fractions are first rounded so that many
    simulated trials with nearly equal observed fractions share one computation.
    """
    fr = tuple(float(t) if digits is None else round(float(t), digits) for t in fractions)
    return np.asarray(_cached(fr, float(alpha), type_of_design))


def nominal_alpha(critical: np.ndarray) -> np.ndarray:
    """The one-sided p-value threshold at each look (rpact: stageLevels)."""
    return norm.sf(np.asarray(critical))
