"""Exact one-stage single-arm designs: treat n patients, reject H0: p <= p0 if more
than r respond (the exact binomial test; A'Hern 2001, Stat Med 20:859-866).

The design is the smallest n for which some r gives size P(Bin(n, p0) > r) <= alpha
and power P(Bin(n, p1) > r) >= 1 - beta; r is the smallest such critical value (the
largest power at that n). Power is not monotone in n for discrete tests, so a larger
n can fail where a smaller one succeeds; like A'Hern's tables this takes the smallest.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import binom


@dataclass(frozen=True)
class OneStageDesign:
    r: int  # reject H0 if responses > r
    n: int
    alpha: float  # exact size at p0
    power: float  # exact power at p1


def critical_value(n: int, p0: float, alpha: float) -> int:
    """The smallest r with P(Bin(n, p0) > r) <= alpha."""
    return int(binom.isf(alpha, n, p0)) if alpha < 1.0 else -1


def one_stage(p0: float, p1: float, alpha: float, beta: float, n_max: int) -> OneStageDesign | None:
    """The smallest exact one-stage design with n <= n_max, or None."""
    if not 0.0 < p0 < p1 < 1.0:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0 = {p0}, p1 = {p1}")
    for n in range(1, n_max + 1):
        r = critical_value(n, p0, alpha)
        # isf is a quantile: step to the smallest r meeting alpha exactly
        while r >= 0 and binom.sf(r - 1, n, p0) <= alpha:
            r -= 1
        while binom.sf(r, n, p0) > alpha:
            r += 1
        power = float(binom.sf(r, n, p1))
        if power >= 1.0 - beta:
            return OneStageDesign(r, n, float(binom.sf(r, n, p0)), power)
    return None
