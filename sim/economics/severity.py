"""Severity modifier: how much health patients lose under current care, against the
general population of the same age and sex, and the QALY weight that earns (NICE
PMG36 2022: 1.2 from an absolute QALY shortfall of 12 or a proportional one of 0.85,
1.7 from 18 or 0.95; the steps are config inputs).

* General-population expected QALYs from diagnosis, per patient: the integral over the
  remaining life of S(s) u(age + s, sex) exp(-delta s), with S the background Gompertz
  survival of the lifetime extension (no disability or condition hazard) and u the
  general-population utility by age and sex (UK: Ara & Brazier 2010, EQ-5D-3L),
  discounted at the QALY rate; Gauss-Legendre quadrature as `lifetime.expected_years`.
* Patients' expected QALYs under current care: the `qaly` of the current strategy (the
  reference one by default) in the base case, discounted the same way.
* Absolute shortfall = general - patients; proportional = absolute / general; the weight
  is that of the highest step whose absolute or proportional bound is reached (1 if
  none). Given for the whole cohort and per underlying condition (severity.csv).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.economics.discount import force
from sim.economics.lifetime import cumulative_hazard

QUAD_NODES = 64  # Gauss-Legendre nodes over the remaining life (smooth integrand)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(QUAD_NODES)
ALL = "all"

SEVERITY_COLUMNS = [
    "group",
    "current_strategy",
    "n_patients",
    "mean_age",
    "share_male",
    "qaly_general_population",
    "qaly_current_care",
    "absolute_shortfall",
    "proportional_shortfall",
    "weight",
]


def population_utility(age: np.ndarray, male: np.ndarray, econ: EconomicsConfig) -> np.ndarray:
    c = econ.severity.population_utility
    return c.intercept + c.male * male + c.age * age + c.age2 * age**2


def general_population_qalys(
    age: np.ndarray, female: np.ndarray, econ: EconomicsConfig
) -> np.ndarray:
    """Expected discounted QALYs from `age` of people of that age and sex in the general
    population (background mortality, population utility norms)."""
    age = np.asarray(age, dtype=float)
    female = np.asarray(female, dtype=bool)
    lt = econ.lifetime
    a = np.where(female, lt.background_female.a, lt.background_male.a)
    b = np.where(female, lt.background_female.b, lt.background_male.b)
    span = np.clip(lt.max_age - age, 0.0, None)
    s = (span / 2.0)[:, None] * (_NODES[None, :] + 1.0)
    one = np.ones_like(age)[:, None]
    h = cumulative_hazard(s, age[:, None], a[:, None], b[:, None], one, 0.0 * one)
    u = population_utility(age[:, None] + s, (~female)[:, None].astype(float), econ)
    integrand = np.exp(-h - force(econ.discount.qalys) * s) * u
    return (span / 2.0) * (integrand @ _WEIGHTS)


def weight(absolute: float, proportional: float, econ: EconomicsConfig) -> float:
    """The QALY weight of the highest step reached (1 if none)."""
    w = 1.0
    for step in econ.severity.steps:
        if absolute >= step.absolute or proportional >= step.proportional:
            w = max(w, step.weight)
    return w


def severity_table(values: pd.DataFrame, econ: EconomicsConfig, current: str) -> pd.DataFrame:
    """values: the base case with `qaly_general_population`, `age`, `female` columns.
    One row for the whole cohort, then one per condition."""
    v = values[values["strategy"] == current]
    groups = [(ALL, v)] + [(str(c), g) for c, g in v.groupby("condition", sort=False)]
    rows = []
    for name, g in groups:
        general = float(g["qaly_general_population"].mean())
        patients = float(g["qaly"].mean())
        absolute = general - patients
        proportional = absolute / general if general > 0 else float("nan")
        rows.append(
            {
                "group": name,
                "current_strategy": current,
                "n_patients": len(g),
                "mean_age": float(g["age"].mean()),
                "share_male": float((~g["female"].astype(bool)).mean()),
                "qaly_general_population": general,
                "qaly_current_care": patients,
                "absolute_shortfall": absolute,
                "proportional_shortfall": proportional,
                "weight": weight(absolute, proportional, econ),
            }
        )
    return pd.DataFrame(rows, columns=SEVERITY_COLUMNS)
