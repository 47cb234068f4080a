"""Costs of the societal perspective: patients' lost paid work and unpaid carers' time.

Counted only with `economics.perspective: societal` (the impact inventory of the Second
Panel, Sanders et al. JAMA 2016; CHEERS 2022 item 8), on top of the health and social
care costs every perspective counts.

* **Productivity, human-capital method.** Without PML a patient would have earned, from
  diagnosis to the retirement age, the yearly earnings of a worker times the general
  population's employment rate at each attained age (a band table by age; nothing below
  the first band or from the retirement age on). The patient instead earns nothing
  during the acute phase (diagnosis to death or the horizon: off work, an assumption),
  nothing after death, and, surviving the horizon, the return-to-work share of their
  residual mRS times that employment rate, for as long as they live (the lifetime
  extension's survival). The loss is the discounted difference. With the lifetime
  extension off, potential and actual earnings both stop at the horizon.
* **Productivity, friction-cost method.** Only the first `friction_days` of the absence
  that starts at diagnosis are lost (the time an employer takes to replace the worker),
  at the employment rate of the age at diagnosis: the same for every strategy.
* **Informal care.** Hours of unpaid care per week by mRS, from discharge on: moving
  linearly from the mRS at diagnosis to the residual one (mRS 5 before death) until the
  horizon, as the long-term care does (times `post_discharge_care_share`), then at the
  residual mRS for the rest of life. Each hour is valued in one of two ways
  (`informal_care_method`):
  - `replacement` (default): what it would cost to pay a home-care worker to do it
    (`informal_care_hour_cost`);
  - `opportunity`: what the carer gives up to do it, their own gross hourly earnings
    (`carer_hour_earnings`): carers' own lost work. Every hour of care is taken to come
    out of paid work, so for carers who are not employed (whose hour is leisure or
    housework) it is an upper bound. The hours are the same in both methods.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig, SocietalConfig
from sim.economics.discount import DAYS_PER_YEAR, factor, flow, linear_flow
from sim.economics.lifetime import _NODES, _WEIGHTS, cumulative_hazard

HEALTHCARE, SOCIETAL = "healthcare", "societal"
PERSPECTIVES = (HEALTHCARE, SOCIETAL)
METHODS = ("human_capital", "friction")
CARE_METHODS = ("replacement", "opportunity")  # how an hour of unpaid care is valued
SOCIETAL_COLUMNS = ["cost_productivity", "cost_informal_care"]
DAYS_PER_WEEK = 7.0


def is_societal(econ: EconomicsConfig) -> bool:
    return econ.perspective == SOCIETAL


def yearly_earnings(s: SocietalConfig) -> float:
    """Gross yearly earnings of a worker: weekly earnings x weeks per year."""
    return s.weekly_earnings * DAYS_PER_YEAR / DAYS_PER_WEEK


def _bands(s: SocietalConfig) -> list[tuple[float, float, float]]:
    """(lower age, upper age, employment rate) of each band, cut at the retirement age."""
    edges = [*s.employment_ages[1:], s.retirement_age]
    out = []
    for lo, hi, rate in zip(s.employment_ages, edges, s.employment_rates, strict=True):
        hi = min(hi, s.retirement_age)
        if hi > lo:
            out.append((float(lo), float(hi), float(rate)))
    return out


def employment_flow(
    age0: np.ndarray, t_a: np.ndarray | float, t_b: np.ndarray | float, s: SocietalConfig, delta
) -> np.ndarray:
    """Present value (time 0 = diagnosis at age0) of the employment rate at the attained
    age, integrated from t_a to t_b years after diagnosis: exact, band by band."""
    age0 = np.asarray(age0, dtype=float)
    t_a = np.broadcast_to(np.asarray(t_a, dtype=float), age0.shape)
    t_b = np.broadcast_to(np.asarray(t_b, dtype=float), age0.shape)
    out = np.zeros(age0.shape)
    for lo, hi, rate in _bands(s):
        a = np.clip(lo - age0, t_a, t_b)
        b = np.clip(hi - age0, t_a, t_b)
        out += rate * flow(a, np.maximum(a, b), delta)
    return out


def surviving_employment_flow(
    age: np.ndarray,
    female: np.ndarray,
    hr: np.ndarray,
    excess: np.ndarray,
    delta: float,
    econ: EconomicsConfig,
) -> np.ndarray:
    """Integral over s >= 0 of S(s) e^(-delta s) x employment rate at age + s, for
    survivors aged `age` at the horizon (S: the lifetime extension's survival), by
    Gauss-Legendre quadrature inside each age band (S is smooth there)."""
    lt, s = econ.lifetime, econ.societal
    a = np.where(female, lt.background_female.a, lt.background_male.a)[:, None]
    b = np.where(female, lt.background_female.b, lt.background_male.b)[:, None]
    out = np.zeros(age.shape)
    for lo, hi, rate in _bands(s):
        hi = min(hi, lt.max_age)
        s0 = np.clip(lo - age, 0.0, None)
        s1 = np.clip(hi - age, 0.0, None)
        half = np.maximum(s1 - s0, 0.0) / 2.0
        nodes = s0[:, None] + half[:, None] * (_NODES[None, :] + 1.0)
        h = cumulative_hazard(nodes, age[:, None], a, b, hr[:, None], excess[:, None])
        out += rate * half * (np.exp(-h - delta * nodes) @ _WEIGHTS)
    return out


def productivity_loss(
    pts: pd.DataFrame,
    mrs_end: np.ndarray,
    died: np.ndarray,
    horizon_days: float,
    econ: EconomicsConfig,
    delta: float,
) -> np.ndarray:
    """Discounted paid work lost by each patient (module docstring)."""
    s = econ.societal
    age0 = pts["age"].to_numpy(dtype=float)
    t0 = horizon_days / DAYS_PER_YEAR
    w = yearly_earnings(s)
    if s.productivity_method == "friction":
        return w * employment_flow(age0, 0.0, s.friction_days / DAYS_PER_YEAR, s, delta)
    lt = econ.lifetime
    if not lt.enabled:  # costs stop at the horizon: so do the earnings foregone
        return w * employment_flow(age0, 0.0, t0, s, delta)
    loss = w * employment_flow(age0, 0.0, np.inf, s, delta)
    alive = ~died
    if alive.any():
        cond = pts["condition"].astype(str).to_numpy()[alive]
        top = len(lt.mrs_mortality_hr) - 1
        m = np.minimum(mrs_end[alive], top)
        hr = np.asarray(lt.mrs_mortality_hr, dtype=float)[m]
        excess = np.array([lt.excess_mortality_per_year.get(x, 0.0) for x in cond])
        female = pts["female"].to_numpy(dtype=bool)[alive]
        rtw = np.asarray(s.return_to_work_by_mrs, dtype=float)[m]
        earned = surviving_employment_flow(age0[alive] + t0, female, hr, excess, delta, econ)
        loss[alive] -= w * rtw * factor(t0, delta) * earned
    return loss


def informal_care_hour_value(s: SocietalConfig) -> float:
    """Value of one hour of unpaid care: a paid carer's hour (replacement cost) or the
    carer's own hourly earnings (opportunity cost), by `informal_care_method`."""
    if s.informal_care_method == "opportunity":
        return s.carer_hour_earnings
    return s.informal_care_hour_cost


def informal_care_per_year(s: SocietalConfig) -> np.ndarray:
    """Yearly value of unpaid care by mRS 0..5: hours a week x weeks x value per hour."""
    hours = np.asarray(s.informal_care_hours_per_week, dtype=float)
    return hours * DAYS_PER_YEAR / DAYS_PER_WEEK * informal_care_hour_value(s)


def ramp_after_discharge(
    yearly_by_mrs: np.ndarray,
    admission_days: float,
    mrs0: np.ndarray,
    mrs_end: np.ndarray,
    died: np.ndarray,
    t_end: np.ndarray,
    delta: float,
) -> np.ndarray:
    """Discounted flow from discharge (`admission_days`) to `t_end` of a yearly cost by
    mRS that moves linearly from that of the mRS at diagnosis (time 0) to that of the
    residual mRS at `t_end` (mRS 5 if the patient died). Patients who die before
    discharge get none."""
    top = len(yearly_by_mrs) - 1
    c0 = yearly_by_mrs[np.minimum(mrs0, top)]
    c1 = np.where(died, yearly_by_mrs[top], yearly_by_mrs[np.minimum(mrs_end, top)])
    a = np.minimum(admission_days / DAYS_PER_YEAR, t_end)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_a = c0 + (c1 - c0) * np.where(t_end > 0, a / t_end, 0.0)
    return linear_flow(a, t_end, at_a, c1, delta)


def informal_care(
    mrs0: np.ndarray,
    mrs_end: np.ndarray,
    died: np.ndarray,
    t_end: np.ndarray,
    t0: float,
    years_alive: np.ndarray | None,
    econ: EconomicsConfig,
    delta: float,
) -> np.ndarray:
    """Discounted value of each patient's unpaid care (module docstring); `years_alive`:
    the survivors' discounted life expectancy from the horizon (None: no lifetime)."""
    yearly = informal_care_per_year(econ.societal)
    c = econ.costs
    out = c.post_discharge_care_share * ramp_after_discharge(
        yearly, c.admission_days, mrs0, mrs_end, died, t_end, delta
    )
    if years_alive is not None:
        alive = ~died
        m = np.minimum(mrs_end[alive], len(yearly) - 1)
        out[alive] += yearly[m] * factor(t0, delta) * years_alive
    return out
