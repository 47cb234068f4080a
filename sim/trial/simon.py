"""Simon's two-stage single-arm phase II designs (Simon 1989, Control Clin Trials
10:1-10), by exact binomial enumeration.

Stage 1 treats n1 patients and stops for futility if at most r1 respond; otherwise
n - n1 more are treated and H0: p <= p0 is rejected if more than r of all n respond.
Among the designs with type I error <= alpha at p0 and power >= 1 - beta at p1:

* optimal: the smallest expected sample size under p0, EN0 = n1 + (1 - PET0)(n - n1),
  PET0 = P(X1 <= r1 | p0) (the probability of early termination);
* minimax: the smallest maximum size n, then the smallest EN0.

For each (n1, n) and r1 the smallest r with type I error <= alpha gives the largest
power, so only that r is checked (Simon's search). Rejection probabilities are exact:
P(X1 > r1, X1 + X2 > r) = sum over x1 > r1 of b(x1; n1, p) P(X2 > r - x1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.stats import binom

KINDS = ("optimal", "minimax")


@dataclass(frozen=True)
class SimonDesign:
    kind: str
    r1: int  # stop after stage 1 if responses <= r1
    n1: int
    r: int  # reject H0 if responses > r among all n
    n: int
    en0: float  # expected sample size under p0
    pet0: float  # probability of early termination under p0
    alpha: float  # exact type I error at p0
    power: float  # exact power at p1


@dataclass(frozen=True)
class Characteristics:
    """Exact operating characteristics of a two-stage rule at one response rate p."""

    reject: float  # P(reject H0)
    pet: float  # probability of early termination (stop after stage 1)
    en: float  # expected number of patients treated, n1 + (1 - PET)(n - n1)


def reject_probability(r1: int, n1: int, r: int, n: int, p: float) -> float:
    """P(X1 > r1 and X1 + X2 > r) with X1 ~ Bin(n1, p), X2 ~ Bin(n - n1, p)."""
    x1 = np.arange(r1 + 1, n1 + 1)
    return float(np.dot(binom.pmf(x1, n1, p), binom.sf(r - x1, n - n1, p)))


def characteristics(r1: int, n1: int, r: int, n: int, p: float) -> Characteristics:
    """Exact rejection probability, PET and expected size of the rule at p. A one-stage
    design is n1 = n with r1 = -1 (no futility stop)."""
    pet = float(binom.cdf(r1, n1, p)) if n1 < n else 0.0
    return Characteristics(reject_probability(r1, n1, r, n, p), pet, n1 + (1.0 - pet) * (n - n1))


@lru_cache(maxsize=8)
def _tables(p: float, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """pmf[m, x] = b(x; m, p) and sf[m, k] = P(Bin(m, p) > k - n_max - 1) for
    m = 0..n_max and k = 0..2 n_max + 1 (k shifted so that negative thresholds index)."""
    m = np.arange(n_max + 1)
    x = np.arange(n_max + 1)
    pmf = binom.pmf(x[None, :], m[:, None], p)
    k = np.arange(-n_max - 1, n_max + 1)
    sf = binom.sf(k[None, :], m[:, None], p)
    return pmf, sf


def _stage_table(n1: int, n: int, p: float, n_max: int) -> np.ndarray:
    """[r1, r] -> P(X1 > r1, X1 + X2 > r) for r1 = 0..n1-1, r = 0..n-1."""
    pmf, sf = _tables(p, n_max)
    x1 = np.arange(n1 + 1)
    k = np.arange(n)[None, :] - x1[:, None] + n_max + 1
    m = pmf[n1, : n1 + 1][:, None] * sf[n - n1][k]
    above = np.cumsum(m[::-1], axis=0)[::-1]  # row x1: sum over x >= x1
    return above[1:]  # row r1: sum over x1 > r1


def simon(p0: float, p1: float, alpha: float, beta: float, n_max: int) -> dict[str, SimonDesign]:
    """The optimal and minimax designs with n <= n_max (a kind is missing if none)."""
    if not 0.0 < p0 < p1 < 1.0:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0 = {p0}, p1 = {p1}")
    best: dict[str, SimonDesign] = {}
    for n in range(2, n_max + 1):
        for n1 in range(1, n):
            rej0, rej1 = _stage_table(n1, n, p0, n_max), _stage_table(n1, n, p1, n_max)
            r1s = np.arange(n1)
            ok = (rej0 <= alpha) & (np.arange(n)[None, :] >= r1s[:, None])
            found = ok.any(axis=1)
            r = ok.argmax(axis=1)  # the smallest r meeting alpha, per r1
            good = found & (rej1[r1s, r] >= 1.0 - beta)
            for r1 in np.flatnonzero(good):
                pet0 = float(binom.cdf(r1, n1, p0))
                d = SimonDesign(
                    "",
                    int(r1),
                    n1,
                    int(r[r1]),
                    n,
                    n1 + (1.0 - pet0) * (n - n1),
                    pet0,
                    float(rej0[r1, r[r1]]),
                    float(rej1[r1, r[r1]]),
                )
                o = best.get("optimal")
                if o is None or d.en0 < o.en0:
                    best["optimal"] = d
                m = best.get("minimax")
                if m is None or (d.n, d.en0) < (m.n, m.en0):
                    best["minimax"] = d
    return {k: SimonDesign(k, *list(vars(d).values())[1:]) for k, d in best.items()}
