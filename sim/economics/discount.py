"""Continuous-time discounting, exact at event times.

An annual rate r (the guideline's 3.5% or 3%) is turned into the force of interest
delta = ln(1 + r), so a cost at exactly one year is worth 1 / (1 + r), as in a
cycle-based model, but a cost on day 17 is discounted for exactly 17 days. Flows
(utility, daily drug or care costs) are integrated against exp(-delta t) in closed form.
Times are in years from PML diagnosis.
"""

from __future__ import annotations

import numpy as np

DAYS_PER_YEAR = 365.25  # Julian year: converts the simulator's days into years
_SMALL = 1e-9  # below this force of interest the series limit is used (no 0/0)


def force(rate: float) -> float:
    """Continuous force of interest of an annual discount rate."""
    return float(np.log1p(rate))


def factor(t: np.ndarray | float, delta: float) -> np.ndarray:
    """Present value of 1 paid at time t."""
    return np.exp(-delta * np.asarray(t, dtype=float))


def flow(a: np.ndarray | float, b: np.ndarray | float, delta: float) -> np.ndarray:
    """Present value of a flow of 1 per year from a to b: the integral of exp(-delta t)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if delta < _SMALL:
        return b - a
    return np.exp(-delta * a) * -np.expm1(-delta * (b - a)) / delta


def linear_flow(
    a: np.ndarray | float,
    b: np.ndarray | float,
    u0: np.ndarray | float,
    u1: np.ndarray | float,
    delta: float,
) -> np.ndarray:
    """Present value of a flow that moves linearly from u0 at time a to u1 at time b.

    Integral over [a, b] of (u0 + (u1 - u0) (t - a) / L) exp(-delta t), L = b - a:
    u0 * flow(a, b) + (u1 - u0) / L * exp(-delta a) * (1 - exp(-delta L) (1 + delta L)) / delta^2.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    u0, u1 = np.asarray(u0, dtype=float), np.asarray(u1, dtype=float)
    length = b - a
    if delta < _SMALL:
        return length * (u0 + u1) / 2.0
    x = delta * length
    # (1 - e^-x (1 + x)) / x^2 -> 1/2 as x -> 0; the series avoids cancellation there
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = np.where(
            x > 1e-4,
            (-np.expm1(-x) - x * np.exp(-x)) / np.where(x > 0, x * x, 1.0),
            0.5 - x / 3.0 + x * x / 8.0,
        )
    return u0 * flow(a, b, delta) + (u1 - u0) * np.exp(-delta * a) * length * ramp
