"""Closed-form sizing of an event-driven time-to-event trial: Schoenfeld's number of
deaths for a hazard ratio, and the number of patients that yields them given uniform
accrual, a minimum follow-up and exponential dropout (the formulas of rpact's
getSampleSizeSurvival with typeOfComputation = "Schoenfeld", constant accrual and
exponential survival).

* Events (Schoenfeld 1983, Biometrics 39:499): D = (z_(1-alpha) + z_(1-beta))^2 /
  (r (1 - r) log(HR)^2), r the experimental share (one-sided alpha).
* P(death observed by the analysis) for a patient randomised uniformly over [0, A]
  months and analysed at A + F, with death hazard lam and dropout hazard eta
  (competing, exponential): lam / (lam + eta) x [1 - (e^(-(lam+eta) F) -
  e^(-(lam+eta)(A+F))) / ((lam + eta) A)].
* Patients: N = D / (r P_e + (1 - r) P_c), P_e with hazard HR x lam_c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm


def schoenfeld_events(hazard_ratio: float, alpha: float, beta: float, share_e: float) -> float:
    """Deaths for power 1 - beta of the one-sided log-rank test at level alpha (not
    rounded: round up for a design)."""
    if not 0.0 < hazard_ratio != 1.0:
        raise ValueError(f"hazard ratio must be positive and not 1, got {hazard_ratio}")
    z = norm.isf(alpha) + norm.isf(beta)
    return z * z / (share_e * (1.0 - share_e) * math.log(hazard_ratio) ** 2)


def hazard_from_survival(survival: float, months: float) -> float:
    """Exponential hazard (per month) with S(months) = survival."""
    return -math.log(survival) / months


def event_probability(hazard: float, dropout: float, accrual: float, followup: float) -> float:
    """P(death observed by the analysis at accrual + followup months), uniform entry on
    [0, accrual]; hazards per month; accrual 0: everyone followed `followup` months."""
    h = hazard + dropout
    if h == 0.0:
        return 0.0
    if accrual == 0.0:
        seen = 1.0 - math.exp(-h * followup)
    else:
        seen = 1.0 - (math.exp(-h * followup) - math.exp(-h * (accrual + followup))) / (h * accrual)
    return hazard / h * seen


@dataclass(frozen=True)
class SurvivalSize:
    events: float  # Schoenfeld deaths (unrounded)
    p_event: float  # P(death observed by the analysis), both arms
    patients: float  # events / p_event (unrounded)


def sample_size_survival(
    hazard_ratio: float,
    control_hazard: float,
    accrual_months: float,
    followup_months: float,
    dropout_hazard: float,
    alpha: float,
    beta: float,
    share_e: float,
) -> SurvivalSize:
    """Deaths and patients of an event-driven design (hazards per month)."""
    d = schoenfeld_events(hazard_ratio, alpha, beta, share_e)
    p_e = event_probability(
        hazard_ratio * control_hazard, dropout_hazard, accrual_months, followup_months
    )
    p_c = event_probability(control_hazard, dropout_hazard, accrual_months, followup_months)
    p = share_e * p_e + (1.0 - share_e) * p_c
    return SurvivalSize(d, p, d / p)
