"""Fit one therapy lever to one published figure by a grid profile likelihood.

A therapy lever says how strongly a drug moves a mechanism (e.g. how much of the gap
to full T-cell function PD-1 blockade closes). It must come from a source that is not a
validation target (docs/validation.md). When that source gives one figure (5 of 8
patients improved), the lever is read off the model: the source's population is
simulated at each lever value of a grid, with the same patients for every value
(common random numbers), and each simulated figure is scored by the likelihood of the
published one. The fit is the best value; its 95% likelihood interval is the set of
values whose log-likelihood is within chi2(1 df, 0.95) / 2 = 1.92 of the best. That
interval, not the point, is what the lever's PSA prior and one-way range should span:
a figure from a handful of patients pins a lever down only loosely.

For a decision model the base case is the lever's expected value, so `uniform_posterior`
also gives the mean, sd and 2.5-97.5% quantiles of the likelihood normalised over the
grid (the posterior under a uniform prior on the grid's range, an ASSUMPTION the caller
names), and the beta distribution with the same mean and sd for a PSA.

Likelihood of the published figure given a simulated value m: binomial (k of n
patients, k = value x n rounded) for a proportion with its n; otherwise normal on the
target's distance scale with the published standard error (sim.evidence.targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.config.schema import Target
from sim.evidence.targets import PROPORTIONS, on_scale, standard_error

# half the 95% quantile of chi-square with 1 degree of freedom (Wilks)
HALF_CHI2_95 = 1.920729410347062
_FLOOR = 1e-12  # a simulated share of exactly 0 or 1 still gives a finite likelihood


@dataclass(frozen=True)
class LeverFit:
    """The best lever value, its 95% likelihood interval and the profile on the grid."""

    best: float
    low: float
    high: float
    low_at_bound: bool  # the interval reaches the grid's end: the data do not bound it
    high_at_bound: bool
    grid: np.ndarray
    log_likelihood: np.ndarray


def log_likelihood(t: Target, model_value: float) -> float:
    """Log-likelihood (up to a constant) of the target's published figure when the
    model gives model_value."""
    if not math.isfinite(model_value):
        return -math.inf
    if t.quantity in PROPORTIONS and t.n is not None and t.ci_low is None and t.se is None:
        k = round(t.value * t.n)
        m = min(max(model_value, _FLOOR), 1.0 - _FLOOR)
        return k * math.log(m) + (t.n - k) * math.log1p(-m)
    z = (on_scale(t, model_value) - on_scale(t, t.value)) / standard_error(t)
    return -0.5 * z * z


def _crossing(x0: float, x1: float, y0: float, y1: float, level: float) -> float:
    """Where the line through (x0, y0), (x1, y1) reaches level."""
    return x0 + (x1 - x0) * (level - y0) / (y1 - y0)


def profile(t: Target, grid: np.ndarray, model_values: np.ndarray) -> LeverFit:
    """The fit from simulated values at each grid point (grid increasing)."""
    return joint_profile([(t, model_values)], grid)


def joint_profile(figures: list[tuple[Target, np.ndarray]], grid: np.ndarray) -> LeverFit:
    """The fit to several figures of independent patients (their log-likelihoods add),
    each with its simulated values at each grid point (grid increasing)."""
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 3 or np.any(np.diff(grid) <= 0):
        raise ValueError("grid: at least 3 increasing values")
    if not figures:
        raise ValueError("figures: at least one (target, model_values)")
    ll = np.zeros(len(grid))
    for t, model_values in figures:
        values = np.asarray(model_values, dtype=float)
        if values.shape != grid.shape:
            raise ValueError(f"model_values of {t.id}: one per grid value")
        ll = ll + np.array([log_likelihood(t, v) for v in values])
    if not np.isfinite(ll).any():
        raise ValueError("no grid value gives a finite likelihood")
    i = int(np.nanargmax(ll))
    best = float(grid[i])
    if 0 < i < len(grid) - 1 and np.all(np.isfinite(ll[i - 1 : i + 2])):
        # vertex of the parabola through the best point and its neighbours
        x, y = grid[i - 1 : i + 2], ll[i - 1 : i + 2]
        a, b, _ = np.polyfit(x, y, 2)
        if a < 0:
            best = float(np.clip(-b / (2 * a), x[0], x[2]))
    level = ll[i] - HALF_CHI2_95
    j = i
    while j > 0 and ll[j - 1] >= level:
        j -= 1
    low_at_bound = j == 0
    low = (
        float(grid[0]) if low_at_bound else _crossing(grid[j - 1], grid[j], ll[j - 1], ll[j], level)
    )
    j = i
    while j < len(grid) - 1 and ll[j + 1] >= level:
        j += 1
    high_at_bound = j == len(grid) - 1
    high = (
        float(grid[-1])
        if high_at_bound
        else _crossing(grid[j], grid[j + 1], ll[j], ll[j + 1], level)
    )
    return LeverFit(best, low, high, low_at_bound, high_at_bound, grid, ll)


@dataclass(frozen=True)
class UniformPosterior:
    """The lever's posterior under a uniform prior over the grid's range."""

    mean: float
    sd: float
    q025: float
    q975: float


def uniform_posterior(fit: LeverFit) -> UniformPosterior:
    """Mean, sd and 95% quantiles of the likelihood normalised over the grid
    (piecewise-linear density between grid points: trapezoid rule)."""
    x = fit.grid
    dens = np.exp(fit.log_likelihood - np.max(fit.log_likelihood))
    widths = np.diff(x)
    mass = 0.5 * (dens[1:] + dens[:-1]) * widths
    total = mass.sum()
    # exact moments of a density linear on each interval
    x0, x1, d0, d1 = x[:-1], x[1:], dens[:-1], dens[1:]
    m1 = (widths * (d0 * (2 * x0 + x1) + d1 * (x0 + 2 * x1)) / 6.0).sum() / total
    m2 = (
        widths
        * (d0 * (3 * x0**2 + 2 * x0 * x1 + x1**2) + d1 * (x0**2 + 2 * x0 * x1 + 3 * x1**2))
        / 12.0
    ).sum() / total
    cdf = np.concatenate([[0.0], np.cumsum(mass) / total])
    q = np.interp([0.025, 0.975], cdf, x)
    sd = float(np.sqrt(max(m2 - m1 * m1, 0.0)))
    return UniformPosterior(float(m1), sd, float(q[0]), float(q[1]))


def beta_by_moments(mean: float, sd: float) -> tuple[float, float]:
    """Beta(a, b) with this mean and sd (a share in (0, 1))."""
    var = sd * sd
    if not (0.0 < mean < 1.0 and 0.0 < var < mean * (1.0 - mean)):
        raise ValueError(f"no beta with mean {mean} and sd {sd}")
    k = mean * (1.0 - mean) / var - 1.0
    return mean * k, (1.0 - mean) * k
