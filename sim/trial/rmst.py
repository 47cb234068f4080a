"""Restricted mean survival time (RMST): the area under the Kaplan-Meier curve up to
tau, and the difference between arms with a z test (Royston & Parmar 2013, BMC Med Res
Methodol 13:152). A secondary analysis that needs no proportional hazards: the model's
treatment effects are not proportional hazards.

Variance (Klein & Moeschberger 2003, s.4.5): Var = sum over death times t_i <= tau of
A_i^2 d_i / (n_i (n_i - d_i)), A_i = the KM area from t_i to tau (a term with
n_i = d_i, everyone at risk dying, is 0 as in Greenwood's formula). tau is cut to the
smaller of the two arms' largest follow-up times, beyond which the curve is unknown.
"""

from __future__ import annotations

import math

import numpy as np

from sim.trial.analyses import TestResult, _upper


def rmst(time: np.ndarray, event: np.ndarray, tau: float) -> tuple[float, float]:
    """(RMST up to tau, its variance) of one sample."""
    time, event = np.asarray(time, dtype=float), np.asarray(event, dtype=bool)
    if len(time) == 0:
        return math.nan, math.nan
    t_death, deaths = np.unique(time[event & (time <= tau)], return_counts=True)
    at_risk = (len(time) - np.searchsorted(np.sort(time), t_death, side="left")).astype(float)
    surv = np.cumprod(1.0 - deaths / at_risk)  # S just after each death time
    edges = np.r_[0.0, t_death, tau]
    heights = np.r_[1.0, surv]
    pieces = heights * np.diff(edges)  # S on [edge_k, edge_(k+1))
    area = float(pieces.sum())
    tail = np.cumsum(pieces[::-1])[::-1][1:]  # A_i: area from t_i to tau
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0)
    return area, float((tail * tail * w).sum())


def rmst_difference(
    time: np.ndarray, event: np.ndarray, arm: np.ndarray, tau: float
) -> tuple[TestResult, float]:
    """(z test of RMST_e - RMST_c > 0, the tau used). `arm`: True = experimental."""
    arm = np.asarray(arm, dtype=bool)
    if arm.all() or not arm.any():
        return TestResult(0.0, 1.0, math.nan, math.nan, math.nan), math.nan
    tau = min(tau, float(time[arm].max()), float(time[~arm].max()))
    m_e, v_e = rmst(time[arm], event[arm], tau)
    m_c, v_c = rmst(time[~arm], event[~arm], tau)
    se = math.sqrt(v_e + v_c)
    z = (m_e - m_c) / se if se > 0.0 else 0.0
    return TestResult(z, _upper(z), m_e - m_c, m_e, m_c), tau
