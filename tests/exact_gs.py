"""Exact operating characteristics of a group-sequential two-proportion z test, by
enumeration (the reference the simulated trials are compared with).

Patients' binary outcomes are independent, success probability p_e on the experimental
arm and p_c on control. Look k analyses the first n_e,k / n_c,k patients of each arm
with the pooled two-proportion z statistic (no continuity correction): it rejects if
z >= c_k and, at an interim, stops for futility if z < f_k. The joint distribution of
the cumulative success counts (x_e, x_c) over the trials still running is carried from
look to look: between looks each arm adds a binomial number of successes (a 2-D
convolution). This is the discrete analogue of Armitage, McPherson & Rowe (1969): no
normal approximation anywhere, only sums of binomial probabilities.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import convolve2d
from scipy.stats import binom


def pooled_z(x_e: np.ndarray, n_e: int, x_c: np.ndarray, n_c: int) -> np.ndarray:
    """(p_e - p_c) / sqrt(pbar (1 - pbar) (1 / n_e + 1 / n_c)); 0 where that is 0/0."""
    pbar = (x_e + x_c) / (n_e + n_c)
    var = pbar * (1.0 - pbar) * (1.0 / n_e + 1.0 / n_c)
    diff = x_e / n_e - x_c / n_c
    return np.divide(diff, np.sqrt(var), out=np.zeros(np.broadcast(diff, var).shape), where=var > 0)


def group_sequential(
    p_e: float,
    p_c: float,
    sizes: list[tuple[int, int]],
    critical: list[float],
    futility: list[float] | None = None,
) -> dict[str, np.ndarray]:
    """Probabilities of rejecting / stopping for futility first at each look.

    sizes: cumulative (n_e, n_c) analysed at each look; critical: efficacy z bounds;
    futility: z bounds at the interims (-inf or None for none; never at the last look).
    """
    k = len(sizes)
    fut = [-np.inf] * k if futility is None else list(futility)
    mass = np.ones((1, 1))  # P(x_e = 0, x_c = 0) = 1 before any patient
    prev = (0, 0)
    reject, futile = np.zeros(k), np.zeros(k)
    for i, ((ne, nc), c) in enumerate(zip(sizes, critical, strict=True)):
        de, dc = ne - prev[0], nc - prev[1]
        step = np.outer(
            binom.pmf(np.arange(de + 1), de, p_e), binom.pmf(np.arange(dc + 1), dc, p_c)
        )
        mass = convolve2d(mass, step)  # (ne + 1, nc + 1): x_e by rows, x_c by columns
        z = pooled_z(np.arange(ne + 1)[:, None], ne, np.arange(nc + 1)[None, :], nc)
        up = z >= c
        reject[i] = mass[up].sum()
        go_on = ~up
        if i < k - 1 and np.isfinite(fut[i]):
            down = go_on & (z < fut[i])
            futile[i] = mass[down].sum()
            go_on &= ~down
        mass = np.where(go_on, mass, 0.0)
        prev = (ne, nc)
    return {"reject": reject, "futility": futile}


def mixture(
    p_e: float,
    p_c: float,
    scenarios: list[tuple[float, list[tuple[int, int]]]],
    critical: list[float],
    futility: list[float] | None = None,
) -> dict[str, np.ndarray]:
    """Average over look sizes that vary between trials: (probability, sizes) pairs."""
    parts = [(w, group_sequential(p_e, p_c, s, critical, futility)) for w, s in scenarios]
    assert abs(sum(w for w, _ in parts) - 1.0) < 1e-12
    return {key: sum(w * r[key] for w, r in parts) for key in ("reject", "futility")}
