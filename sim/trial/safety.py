"""An IRIS safety boundary on the experimental arm (Bayesian beta-binomial monitoring).

Immune reconstitution inflammatory syndrome (IRIS) is the main harm of therapies that
restore immunity in PML (checkpoint inhibitors, rhIL-7, T cells). The rule: with a
Beta(a, b) prior on the experimental arm's IRIS rate p, after each of the planned
numbers n_1 < n_2 < ... of evaluable experimental patients, stop the trial for harm
if P(p > threshold | x_k IRIS among n_k) > cutoff (Thall, Simon & Estey 1995, Stat Med
14:357, in its single-arm beta-binomial form). The posterior is
Beta(a + x_k, b + n_k - x_k) and its tail rises with x_k, so the rule is "stop if
x_k >= b_k", b_k the smallest count whose posterior probability exceeds the cut-off
(n_k + 1: no count stops).

A patient is evaluable once `window_days` have passed since randomisation, unless lost
to follow-up before the outcome is settled (IRIS, death or the window's end: complete
cases); the IRIS outcome is an IRIS onset within the window (a patient who dies first
has none). Patients are counted in the order their windows end, so x_1 <= x_2 <= ...
count IRIS among nested sets of patients and, with a common IRIS probability p, the
stopping probability is an exact binomial sum over the looks (`stop_probabilities`,
a forward recursion over the binomial increments between looks).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import beta, binom

RULES = ("none", "bayes")


def boundary(looks, threshold: float, cutoff: float, a: float, b: float) -> np.ndarray:
    """b_k per look: the smallest IRIS count x with P(p > threshold | x of n_k) > cutoff
    (n_k + 1 if none)."""
    out = []
    for n in looks:
        x = np.arange(n + 1)
        hit = np.flatnonzero(beta.sf(threshold, a + x, b + n - x) > cutoff)
        out.append(int(hit[0]) if len(hit) else int(n) + 1)
    return np.asarray(out, dtype=int)


def stop_probabilities(p: float, looks, bounds) -> np.ndarray:
    """P(first crossing x_k >= b_k at look k) for a common IRIS probability p: the
    distribution of x over the paths not yet stopped, moved from look to look by the
    binomial number of IRIS among the n_k - n_(k-1) new patients."""
    alive = np.ones(1)  # P(x = 0, 1, ...) on the paths still running
    done = 0
    out = []
    for n, b in zip(looks, bounds, strict=True):
        step = binom.pmf(np.arange(n - done + 1), n - done, p)
        alive = np.convolve(alive, step)
        out.append(float(alive[b:].sum()))
        alive[b:] = 0.0
        done = n
    return np.asarray(out)


def evaluable(
    window: float,
    entry: np.ndarray,
    dropout: np.ndarray,
    experimental: np.ndarray,
    iris_day: np.ndarray,
    death_day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(calendar day each evaluable experimental patient enters, IRIS within the
    window), in that order (ties: randomisation order)."""
    iris = iris_day <= np.minimum(window, death_day)
    settle = np.minimum(np.minimum(iris_day, death_day), window)
    keep = experimental & (dropout >= settle)
    day = entry[keep] + window
    order = np.argsort(day, kind="stable")
    return day[order], iris[keep][order]


def first_stop(day: np.ndarray, iris: np.ndarray, looks, bounds) -> tuple[float, int]:
    """(calendar day, look index) of the first safety look crossing its bound; (inf, -1)
    if none (a look happens only once its n_k patients are evaluable)."""
    count = np.cumsum(iris)
    for k, (n, b) in enumerate(zip(looks, bounds, strict=True)):
        if n > len(day):
            break
        if count[n - 1] >= b:
            return float(day[n - 1]), k
    return float("inf"), -1


def analysed_rate(
    window: float, dropout_per_day: float, iris_day: np.ndarray, death_day: np.ndarray
) -> float:
    """The IRIS probability of an evaluable patient drawn from a pool: complete cases
    keep a patient with probability exp(-dropout rate x settle day)."""
    iris = iris_day <= np.minimum(window, death_day)
    settle = np.minimum(np.minimum(iris_day, death_day), window)
    keep = np.exp(-dropout_per_day * settle)
    return float((keep * iris).sum() / keep.sum())
