"""Familywise error control for a multi-arm trial with a shared control arm.

K experimental arms are each compared with the same control arm by a one-sided z
statistic Z_k (> 0 favours arm k). Because they share the control patients, the Z_k
are positively correlated: with n_k patients on arm k and n_c controls,

    corr(Z_k, Z_l) = sqrt(n_k / (n_k + n_c)) sqrt(n_l / (n_l + n_c)),

(the control mean enters both differences; Dunnett 1955, JASA 50:1096). With
`control_ratio` r controls per patient of each arm (n_c = r n_k for every k) that is
rho = 1 / (1 + r): 0.5 for equal allocation. So Z_k = sqrt(rho) X + sqrt(1 - rho) Y_k
with X (the control's part) and Y_1..Y_K independent standard normals.

* **One look: Dunnett's critical value.** Under the global null (every arm = control)
  the familywise error of rejecting arm k when Z_k >= c is 1 - P(max_k Z_k < c), and,
  conditioning on X,

      P(max_k Z_k < c) = integral phi(x) Phi((c - sqrt(rho) x) / sqrt(1 - rho))^K dx,

  a one-dimensional integral (Dunnett 1955; Dunnett & Tamhane 1991). c solves
  P(max Z_k < c) = 1 - alpha; for alpha = 0.025 and rho = 0.5 it is 2.212, 2.349 and
  2.442 for K = 2, 3, 4 (Dunnett's table for infinite degrees of freedom).
* **Several looks: the generalised Dunnett boundary of Magirr, Jaki & Whitehead
  (2012, Biometrika 99:494).** Each arm is looked at at the same information
  fractions t_1 < ... < t_J = 1 of its own maximum size; Z_kj has the canonical
  joint distribution within an arm (corr(Z_kj, Z_kj') = sqrt(t_j / t_j'), j <= j')
  and correlation rho sqrt(t_j / t_j') between arms. The efficacy boundary has a
  shape, u_j = C / sqrt(t_j) (O'Brien-Fleming, `OF`) or u_j = C (Pocock, `P`), and C
  solves P(Z_kj < u_j for every k and j) = 1 - alpha: the familywise error under the
  global null with every arm followed to its last look. Futility stops are treated
  as non-binding (the boundary ignores them), so they can only lower the familywise
  error, and arms stopping separately (an arm leaving does not stop the others)
  reject exactly when a Z_kj crosses u_j, so the error is still at most alpha. The
  K x J dimensional normal probability is computed by scipy's
  `multivariate_normal.cdf` (Genz's randomised quasi-Monte Carlo; the points are
  fixed by a seed so that C is a smooth, reproducible root; error about 1e-5).
* **Bonferroni split** (`multiplicity: bonferroni`): each arm gets the two-arm
  boundaries of sim.trial.boundaries at alpha / K (any spending function); it
  ignores the correlation, so it is conservative.
* `multiplicity: none`: each arm at alpha (unadjusted), to show the inflation.

Assumptions: the z statistics are asymptotically normal with the correlation above,
i.e. each arm's analyses use controls in the planned ratio, every arm has the same
look fractions, and (for the correlation) all arms share the same controls. In a
platform trial with staggered entry and concurrent controls two arms share only the
controls randomised while both were open, their correlation is lower than rho, and
the boundary computed with rho is slightly liberal (the lowest correlation, 0, gives
Sidak's c = 2.388 instead of 2.349 for K = 3); the simulated familywise error shows
the size of the effect (docs/trial.md).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy.stats import multivariate_normal, norm

from sim.trial.boundaries import efficacy_bounds

MULTIPLICITY = ("dunnett", "bonferroni", "none")
MAMS_SHAPES = ("none", "OF", "P")  # dunnett: one look, or MJW's OF / Pocock shapes
# the Dunnett integral: Simpson nodes on x in [-X_RANGE, X_RANGE] (tail mass < 1e-20)
X_RANGE = 10.0
X_NODES = 4001
# scipy's multivariate normal cdf: absolute error target and the seed of its QMC points
MVN_ABSEPS = 1.0e-5
MVN_SEED = 0
MVN_MAXPTS = 2_000_000


def correlation(control_ratio: float) -> float:
    """Correlation of two arms' z statistics with r controls per patient of each arm:
    n_k / (n_k + n_c) = 1 / (1 + r)."""
    return 1.0 / (1.0 + control_ratio)


def _simpson(n: int = X_NODES) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(-X_RANGE, X_RANGE, n)
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return x, w * (2.0 * X_RANGE) / (3.0 * (n - 1))


def p_all_below(c: float, k: int, rho: float) -> float:
    """P(max_k Z_k < c) for K equicorrelated standard normals (one-factor integral)."""
    x, w = _simpson()
    inner = norm.cdf((c - math.sqrt(rho) * x) / math.sqrt(1.0 - rho))
    return float(np.dot(w, norm.pdf(x) * inner**k))


@lru_cache(maxsize=256)
def dunnett_critical(k: int, alpha: float, rho: float) -> float:
    """Dunnett's one-sided critical value for K arms against a shared control."""
    if k == 1:
        return float(norm.isf(alpha))
    return float(
        optimize.brentq(lambda c: p_all_below(c, k, rho) - (1.0 - alpha), 0.0, 10.0, xtol=1e-10)
    )


def mams_correlation(k: int, fractions, rho: float) -> np.ndarray:
    """Correlation matrix of (Z_11..Z_1J, Z_21.., ..., Z_KJ): arm-major order."""
    t = np.asarray(fractions, dtype=float)
    within = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    between = np.where(np.eye(k, dtype=bool), 1.0, rho)
    return np.kron(between, within)


def _shape(fractions, shape: str) -> np.ndarray:
    t = np.asarray(fractions, dtype=float)
    return 1.0 / np.sqrt(t) if shape == "OF" else np.ones(len(t))


def p_no_crossing(bounds, k: int, fractions, rho: float) -> float:
    """P(Z_kj < bounds_j for every arm k and look j) under the global null."""
    b = np.asarray(bounds, dtype=float)
    if len(b) == 1:
        return p_all_below(float(b[0]), k, rho)
    cov = mams_correlation(k, fractions, rho)
    return float(
        multivariate_normal.cdf(
            np.tile(b, k),
            mean=np.zeros(len(cov)),
            cov=cov,
            abseps=MVN_ABSEPS,
            releps=0.0,
            maxpts=MVN_MAXPTS * len(cov),
            rng=np.random.default_rng(MVN_SEED),
        )
    )


@lru_cache(maxsize=64)
def mams_bounds(
    k: int, fractions: tuple[float, ...], alpha: float, rho: float, shape: str
) -> tuple[float, ...]:
    """Magirr-Jaki-Whitehead efficacy boundaries u_j = C x shape(t_j) with familywise
    error alpha under the global null (one look: Dunnett's value)."""
    if len(fractions) == 1 or shape == "none":
        if len(fractions) > 1:
            raise ValueError("type_of_design none allows one look only")
        return (dunnett_critical(k, alpha, rho),)
    s = _shape(fractions, shape)
    c = optimize.brentq(
        lambda c: p_no_crossing(c * s, k, fractions, rho) - (1.0 - alpha), 1.0, 8.0, xtol=1e-6
    )
    return tuple(float(x) for x in c * s)


def platform_bounds(
    multiplicity: str, type_of_design: str, fractions, alpha: float, k: int, rho: float
) -> np.ndarray:
    """Each arm's efficacy z boundaries at the planned looks (the same for every arm)."""
    fr = tuple(float(t) for t in fractions)
    if multiplicity == "dunnett":
        if type_of_design not in MAMS_SHAPES:
            raise ValueError(
                f"multiplicity dunnett takes type_of_design {', '.join(MAMS_SHAPES)}, "
                f"got {type_of_design!r}"
            )
        return np.asarray(mams_bounds(k, fr, float(alpha), float(rho), type_of_design))
    if multiplicity == "bonferroni":
        return efficacy_bounds(fr, alpha / k, type_of_design)
    if multiplicity == "none":
        return efficacy_bounds(fr, alpha, type_of_design)
    raise ValueError(f"unknown multiplicity {multiplicity!r}; allowed: {', '.join(MULTIPLICITY)}")


def familywise_error(bounds, k: int, fractions, rho: float) -> float:
    """Familywise error of boundaries under the global null: 1 - P(no Z_kj crosses),
    every arm followed to its last look, no futility (the planning assumptions)."""
    return 1.0 - p_no_crossing(bounds, k, fractions, rho)
