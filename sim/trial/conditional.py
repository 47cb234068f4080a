"""Conditional power at an interim look and promising-zone sample-size re-estimation.

Conditional power. A group-sequential trial's z statistics behave like a Brownian
motion on the information scale (sim.trial.boundaries): the B-value B(t) = Z_t sqrt(t)
has independent normal increments with mean theta x (increment of t) and variance the
increment of t, theta being the expected final z (the drift). Given B(t) = b at an
interim look at fraction t, the rest of the path is a fresh Brownian motion started at
b, so the probability of crossing a later efficacy boundary is a crossing probability
of the remaining looks (Lan & Wittes 1988, Biometrics 44:579; Jennison & Turnbull 2000,
s.10.2). With one remaining look at t = 1 and critical value c it is the closed form

    CP(theta) = 1 - Phi((c - b - theta (1 - t)) / sqrt(1 - t)).

"Under the current trend" takes theta = Z_t / sqrt(t) (the drift estimated from the
interim); "under the design effect" takes the planned drift (here the pool's effect at
the design's n). Futility bounds are non-binding and ignored.

Promising-zone re-estimation (Mehta & Pocock 2011, Stat Med 30:3267): at the interim of
a two-look design, when the conditional power under the current trend is in
[cp_min, cp_target) the maximum sample size is raised so that it reaches cp_target,
up to max_factor x the planned n; outside the zone n stays. Raising n on the interim
data and analysing the pooled data as if n had been fixed (the "naive" statistic) can
inflate the type I error (for interim results with CP below 0.5: Chen, DeMets & Lan
2004, Stat Med 23:1023). The Cui-Hung-Wang (1999, Biometrics 55:853) statistic keeps
the planned weights, Z = sqrt(t1) Z_1 + sqrt(1 - t1) Z_2, where Z_1 is the interim z and
Z_2 the z of the patients who enter the analysis after the interim only: under H0 Z_2
is N(0, 1) whatever n became, so Z is N(0, 1) and the planned boundary keeps alpha.

Sample sizes on the information scale: the planned design's final information is 1, the
interim's t1, and a new maximum n' = f n gives final information f (information grows
with the number of analysed patients). With the CHW statistic and the trend
delta = Z_1 / sqrt(t1), the conditional power at f is

    Phi((sqrt(t1) Z_1 + sqrt(1 - t1) delta sqrt(f - t1) - c) / sqrt(1 - t1)),

which at f = 1 is the CP above; f is solved in closed form for cp_target and capped.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from sim.trial.boundaries import crossing_probabilities

SSR_RULES = ("none", "promising_zone")
SSR_STATISTICS = ("chw", "naive")
INTEGRATION_POINTS = 4001  # z1 grid of ssr_rejection: error < 1e-6 in the cases tested
Z_RANGE = 9.0  # ... spanning the interim z's mean +/- this many SDs


def conditional_power(z: float, t: float, later_fractions, later_bounds, theta: float) -> float:
    """P(cross a later efficacy boundary | Z_t = z) for drift theta (expected final z).

    `later_fractions` (increasing, last 1) and `later_bounds` (z) are the looks after
    the interim at fraction t. The remaining path is rescaled to a Brownian motion on
    [0, 1]: look j at fraction t_j becomes u_j = (t_j - t) / (1 - t), its boundary
    (c_j sqrt(t_j) - z sqrt(t)) / sqrt((1 - t) u_j) on the z scale of the new process,
    whose drift is theta sqrt(1 - t)."""
    fr = np.asarray(later_fractions, dtype=float)
    c = np.asarray(later_bounds, dtype=float)
    if not 0.0 < t < 1.0 or len(fr) == 0:
        raise ValueError("an interim fraction in (0, 1) and at least one later look")
    b = z * math.sqrt(t)
    rest = 1.0 - t
    if len(fr) == 1:  # the closed form
        return float(norm.sf((c[0] * math.sqrt(fr[0]) - b - theta * (fr[0] - t)) / math.sqrt(rest)))
    u = (fr - t) / rest
    bounds = (c * np.sqrt(fr) - b) / np.sqrt(rest * u)
    up, _ = crossing_probabilities(u, bounds, theta * math.sqrt(rest))
    return float(up.sum())


def trend_drift(z: float, t: float) -> float:
    """The drift (expected final z) estimated from the interim: Z_t / sqrt(t)."""
    return z / math.sqrt(t)


def chw_power(z1: float, t1: float, c: float, f: float, theta: float) -> float:
    """Conditional power of the CHW statistic at final information f (planned: 1)."""
    w1, w2 = math.sqrt(t1), math.sqrt(1.0 - t1)
    return float(norm.cdf((w1 * z1 + w2 * theta * math.sqrt(f - t1) - c) / w2))


def promising_zone_factor(
    z1: float, t1: float, c: float, cp_min: float, cp_target: float, max_factor: float
) -> tuple[float, float]:
    """(conditional power under the trend at the planned n, information factor f >= 1).

    f > 1 only in the promising zone cp_min <= CP < cp_target: the smallest f whose
    CHW conditional power under the trend reaches cp_target, capped at max_factor."""
    cp, f = promising_zone_factors(np.asarray([z1]), t1, c, cp_min, cp_target, max_factor)
    return float(cp[0]), float(f[0])


def promising_zone_factors(
    z1: np.ndarray, t1: float, c: float, cp_min: float, cp_target: float, max_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """`promising_zone_factor` for an array of interim z values."""
    z1 = np.asarray(z1, dtype=float)
    w1, w2 = math.sqrt(t1), math.sqrt(1.0 - t1)
    delta = z1 / w1
    cp = norm.cdf((w1 * z1 + w2 * delta * w2 - c) / w2)
    zone = (cp >= cp_min) & (cp < cp_target) & (delta > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = (c - w1 * z1 + w2 * norm.isf(1.0 - cp_target)) / (w2 * delta)
    f = np.where(zone, np.clip(t1 + root * root, 1.0, max_factor), 1.0)
    return cp, f


def ssr_rejection(
    t1: float,
    c1: float,
    c2: float,
    theta: float,
    cp_min: float,
    cp_target: float,
    max_factor: float,
    statistic: str,
    futility_z: float | None = None,
) -> dict[str, float]:
    """Rejection probability of a two-look design with promising-zone re-estimation
    under drift theta (expected final z at the planned n), by numerical integration
    over the interim z (Simpson's rule); also the expected information factor and
    P(promising zone).

    Given Z_1 = z1 and factor f, the stage-2 z of the new patients is
    N(theta sqrt(f - t1), 1); the trial rejects if z1 >= c1, or, continuing
    (z1 >= futility_z), if the final statistic reaches c2: CHW
    sqrt(t1) z1 + sqrt(1 - t1) Z_2, naive (sqrt(t1) z1 + sqrt(f - t1) Z_2) / sqrt(f)."""
    mean1 = theta * math.sqrt(t1)
    lo = mean1 - Z_RANGE if futility_z is None else max(futility_z, mean1 - Z_RANGE)
    hi = min(c1, mean1 + Z_RANGE)
    early = float(norm.sf(c1 - mean1))
    if hi <= lo:
        return {"reject": early, "factor": 1.0, "p_promising": 0.0}
    z = np.linspace(lo, hi, INTEGRATION_POINTS)
    w = np.ones(len(z))
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    w *= (hi - lo) / (3.0 * (len(z) - 1)) * norm.pdf(z - mean1)
    cp, f = promising_zone_factors(z, t1, c2, cp_min, cp_target, max_factor)
    zone = (cp >= cp_min) & (cp < cp_target) & (f > 1.0)
    m2 = theta * np.sqrt(f - t1)
    if statistic == "chw":
        need = (c2 - math.sqrt(t1) * z) / math.sqrt(1.0 - t1)
    elif statistic == "naive":
        need = (c2 * np.sqrt(f) - math.sqrt(t1) * z) / np.sqrt(f - t1)
    else:
        raise ValueError(f"statistic must be one of {SSR_STATISTICS}, got {statistic!r}")
    go_on = float(w.sum())
    return {
        "reject": early + float((w * norm.sf(need - m2)).sum()),
        "factor": (float((w * f).sum()) + (1.0 - go_on)) if go_on > 0 else 1.0,
        "p_promising": float((w * zone).sum()),
    }
