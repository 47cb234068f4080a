"""Budget impact: what adopting a strategy costs the budget holder, year by year.

Following ISPOR's budget impact good practice (Sullivan et al., Value Health 2014;
17:5-14): cash flows are *undiscounted*, by budget year, for the incident population
the budget holder covers, with uptake of the new strategy rising by year.

* Incident patients per year: population x incidence (per 100,000 person-years).
* Each year's cohort is diagnosed at the start of its budget year (ASSUMPTION: it puts
  a cohort's k-th year since diagnosis in budget year c + k - 1); a share `uptake[c]`
  of cohort c gets the new strategy, the rest the current one; the current scenario
  gives everyone the current strategy.
* Cost of a patient in year k since diagnosis (`year_costs`): year 1 is the simulated
  acute phase, costed as in cea.csv but undiscounted and without the lifetime
  extension (drugs, hospital, monitoring, adverse events, end-of-life care of deaths in
  follow-up, care after discharge); years 2.. are the survivors' yearly long-term care
  by residual mRS plus the care of their condition, times their expected time alive in
  that year, plus end-of-life care times their probability of dying in it, with the
  death hazard of the lifetime extension (`sim.economics.lifetime`).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.config.schema import ModelConfig, MonitoringConfig, TherapyConfig
from sim.economics.discount import DAYS_PER_YEAR
from sim.economics.lifetime import cumulative_hazard
from sim.economics.values import patient_values, per_condition

PER_100K = 100_000.0
QUAD_NODES = 32  # Gauss-Legendre nodes per year: S(s) is smooth (tested vs closed form)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(QUAD_NODES)

BUDGET_COLUMNS = [
    "year",
    "incident_patients",
    "uptake",
    "current_strategy",
    "new_strategy",
    "cost_current_scenario",
    "cost_new_scenario",
    "budget_impact",
    "cumulative_impact",
]


def _hazard_terms(
    patients: pd.DataFrame, econ: EconomicsConfig, horizon_days: float
) -> dict[str, np.ndarray]:
    lt = econ.lifetime
    female = patients["female"].to_numpy(dtype=bool)
    top = len(lt.mrs_mortality_hr) - 1
    mrs = np.minimum(patients["mrs"].to_numpy().astype(int), top)
    return {
        "age": patients["age"].to_numpy(dtype=float) + horizon_days / DAYS_PER_YEAR,
        "a": np.where(female, lt.background_female.a, lt.background_male.a),
        "b": np.where(female, lt.background_female.b, lt.background_male.b),
        "hr": np.asarray(lt.mrs_mortality_hr, dtype=float)[mrs],
        "excess": per_condition(
            patients["condition"], lambda x: lt.excess_mortality_per_year.get(x, 0.0)
        ),
    }


def survival(s: np.ndarray, terms: dict[str, np.ndarray], max_age: float) -> np.ndarray:
    """S(s) from the horizon, per patient (rows) at times s (patients x points); 0 once
    a patient would pass max_age."""
    col = {k: v[:, None] for k, v in terms.items()}
    h = cumulative_hazard(s, col["age"], col["a"], col["b"], col["hr"], col["excess"])
    return np.where(col["age"] + s < max_age, np.exp(-h), 0.0)


def time_alive(t0: float, t1: float, terms: dict[str, np.ndarray], max_age: float) -> np.ndarray:
    """Expected years alive in [t0, t1] (years from the horizon), per patient:
    integral of S(s) by Gauss-Legendre quadrature, split at max_age."""
    age = terms["age"]
    hi = np.clip(max_age - age, t0, t1)  # S = 0 beyond max_age: integrate to there
    half = (hi - t0) / 2.0
    s = t0 + half[:, None] * (_NODES[None, :] + 1.0)
    return half * (survival(s, terms, np.inf) @ _WEIGHTS)


def year_costs(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    econ: EconomicsConfig,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    therapies: dict[str, TherapyConfig],
    horizon_days: float,
    years: int,
    memo: dict | None = None,
) -> pd.DataFrame:
    """Undiscounted cost of each patient in years 1..`years` since diagnosis (columns
    budget_year_1 ...; year 1 = the acute phase, horizon_days <= 1 year). `memo`: as
    `patient_values`'s."""
    acute_econ = copy.deepcopy(econ)
    acute_econ.discount.costs = 0.0
    acute_econ.lifetime.enabled = False
    acute_econ.perspective = "healthcare"  # a budget holds the payer's costs only
    acute = patient_values(
        patients, events, acute_econ, model, monitoring, therapies, horizon_days, memo=memo
    )
    pts = patients.set_index("patient_id").loc[acute["patient_id"]].reset_index()
    out = pd.DataFrame({"patient_id": acute["patient_id"].to_numpy()})
    if "strategy" in acute:
        out["strategy"] = acute["strategy"].to_numpy()
    out["budget_year_1"] = acute["cost"].to_numpy()
    alive = ~pts["died"].to_numpy(dtype=bool)
    c = econ.costs
    top = len(c.long_term_care_per_year) - 1
    mrs = np.minimum(pts["mrs"].to_numpy().astype(int), top)
    yearly = np.asarray(c.long_term_care_per_year, dtype=float)[mrs] + per_condition(
        pts["condition"], lambda x: c.condition_care_per_year.get(x, 0.0)
    )
    h = horizon_days / DAYS_PER_YEAR
    terms = _hazard_terms(pts, econ, horizon_days)
    max_age = econ.lifetime.max_age if econ.lifetime.enabled else -np.inf
    for k in range(2, years + 1):
        # the year, in years from the horizon (year 2 also takes the part of year 1
        # after a horizon shorter than a year: 365 days leave a quarter of a day)
        t0, t1 = (0.0 if k == 2 else k - 1 - h), k - h
        cost = np.zeros(len(pts))
        if econ.lifetime.enabled and t1 > t0:
            one = np.array([[t0, t1]])
            s = survival(np.repeat(one, len(pts), axis=0), terms, max_age)
            cost = yearly * time_alive(t0, t1, terms, max_age) + c.death * (s[:, 0] - s[:, 1])
        out[f"budget_year_{k}"] = np.where(alive, cost, 0.0)
    return out


def incident_patients(econ: EconomicsConfig) -> float:
    b = econ.budget_impact
    return b.population * b.incidence_per_100k / PER_100K


def budget_impact(
    per_patient: pd.DataFrame, econ: EconomicsConfig, new: str, current: str
) -> pd.DataFrame:
    """per_patient: `year_costs` of every strategy (a `strategy` column). One row per
    budget year."""
    b = econ.budget_impact
    years = len(b.uptake)
    cols = [f"budget_year_{k}" for k in range(1, years + 1)]
    mean = per_patient.groupby("strategy")[cols].mean()
    n = incident_patients(econ)
    rows, cum = [], 0.0
    for y in range(1, years + 1):
        cur = new_total = 0.0
        for c in range(1, y + 1):  # cohorts diagnosed so far, in their year y - c + 1
            k = f"budget_year_{y - c + 1}"
            u = b.uptake[c - 1]
            cur += n * mean.loc[current, k]
            new_total += n * (u * mean.loc[new, k] + (1.0 - u) * mean.loc[current, k])
        cum += new_total - cur
        rows.append(
            {
                "year": y,
                "incident_patients": n,
                "uptake": b.uptake[y - 1],
                "current_strategy": current,
                "new_strategy": new,
                "cost_current_scenario": cur,
                "cost_new_scenario": new_total,
                "budget_impact": new_total - cur,
                "cumulative_impact": cum,
            }
        )
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)
