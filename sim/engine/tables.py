"""Per-patient outcome rows, event log and lab table of a simulated course.

One row per patient and strategy: baseline, survival time (death or censoring at
the horizon), IRIS, side effects, the month-1 changes that seed 000 analysed, and
residual disability on a modified Rankin-like scale (0-5 for survivors by damage,
reduced by supportive care; 6 = dead).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sim.config.schema import CONDITIONS, ModelConfig, MonitoringConfig, StrategyConfig
from sim.model.course import Course
from sim.model.disability import mrs_level

# built once: pandas checks the categories each time a type is made
_CONDITION_DTYPE = pd.CategoricalDtype(CONDITIONS)


BASELINE_DAY = 0.0  # the visit the month-1 changes are measured from (diagnosis)


def month1_lab_days(monitoring: MonitoringConfig) -> tuple[float, float]:
    """The visit days whose labs the month-1 columns read (`_month1`)."""
    return (BASELINE_DAY, monitoring.month1_day)


def _month1(
    labs: Mapping[str, np.ndarray] | pd.DataFrame, ids: np.ndarray, day: float, lod_copies: float
) -> dict[str, np.ndarray]:
    """Ratio / log10 change between the day-0 visit and the visit at `day` (NaN if missing)."""
    out = {
        "lymphocytes_ratio_1m": np.full(len(ids), np.nan),
        "cd4_ratio_1m": np.full(len(ids), np.nan),
        "csf_jcv_change_1m_log10": np.full(len(ids), np.nan),
    }
    if len(labs) == 0 or len(labs["patient_id"]) == 0:
        return out
    pid, days = np.asarray(labs["patient_id"]), np.asarray(labs["day"], dtype=float)
    at_0, at_day = np.flatnonzero(days == BASELINE_DAY), np.flatnonzero(np.isclose(days, day))
    # the patients with both visits (visit days are distinct; two within np.isclose of
    # `day` would give a patient two: the first is taken)
    both, i_b, i_m = np.intersect1d(pid[at_0], pid[at_day], return_indices=True)
    b, m = at_0[i_b], at_day[i_m]
    pos = np.searchsorted(ids, both)

    def col(name: str) -> np.ndarray:
        return np.asarray(labs[name], dtype=float)

    lymph, cd4 = col("lymphocytes"), col("cd4")
    out["lymphocytes_ratio_1m"][pos] = lymph[m] / lymph[b]
    out["cd4_ratio_1m"][pos] = cd4[m] / cd4[b]
    # undetectable CSF JCV counts as the detection limit (a conservative fall)
    floor = np.log10(lod_copies)
    csf = col("csf_jcv_log10")
    b_csf = np.where(np.isnan(csf[b]), floor, csf[b])
    m_csf = np.where(np.isnan(csf[m]), floor, csf[m])
    out["csf_jcv_change_1m_log10"][pos] = m_csf - b_csf
    return out


LAB_COLUMNS = [
    "patient_id",
    "day",
    "cd4",
    "lymphocytes",
    "csf_jcv_log10",
    "csf_jcv_detectable",
    "lesion_burden",
]


def lab_columns(courses: list[Course]) -> dict[str, np.ndarray]:
    """The courses' lab values by column, sorted by patient and day ({} if none)."""
    parts = [v for c in courses for v in c.labs]
    if not parts:
        return {}
    cols = {k: np.concatenate([v[k] for v in parts]) for k in LAB_COLUMNS}
    order = np.lexsort((cols["day"], cols["patient_id"]))  # stable, like the visits' order
    return {k: v[order] for k, v in cols.items()}


def events_frame(
    courses: list[Course], rules: tuple[str, ...], strategy: str | None = None
) -> pd.DataFrame:
    """The courses' event logs as one table (columns: `sim.model.events.COLUMNS`).

    `rules`: the rule names of every strategy of the run, the categories of the `rule`
    column, so that the chunks of all strategies share one table schema. `strategy`:
    a first column with the strategy's name.
    """
    if len(courses) == 1:  # one log is sorted by patient and time already
        return courses[0].log.to_frame(rules, strategy)
    frames = [c.log.to_frame(rules) for c in courses]
    ev = pd.concat(frames, ignore_index=True)
    ev = ev.sort_values(["patient_id", "time_days"], kind="stable").reset_index(drop=True)
    if strategy is not None:
        ev.insert(0, "strategy", strategy)
    return ev


def run_rule_names(strategies: dict[str, StrategyConfig]) -> tuple[str, ...]:
    """Every rule name of these strategies, in config order, each once."""
    return tuple(dict.fromkeys(r.name for s in strategies.values() for r in s.rules))


def patient_frame(
    courses: list[Course],
    horizon: float,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    labs: Mapping[str, np.ndarray] | pd.DataFrame,
    strategy: str | None = None,
) -> pd.DataFrame:
    """One row per patient (module docstring); `strategy`: a first column with the
    strategy's name."""

    def cat(get) -> np.ndarray:
        return np.concatenate([np.asarray(get(c)) for c in courses])

    pid = cat(lambda c: c.patients.patient_id)
    order = np.argsort(pid, kind="stable")
    pid = pid[order]

    def col(get) -> np.ndarray:
        return cat(get)[order]

    died = col(lambda c: ~c.state.alive)
    death_time = col(lambda c: c.state.death_time)
    damage = col(lambda c: c.state.damage)
    recovery = col(lambda c: c.final_levers(horizon)["disability_recovery"])
    residual = np.where(died, np.nan, damage * (1.0 - recovery))
    mrs = np.where(died, 6, mrs_level(np.nan_to_num(residual), model.mrs_cutpoints))
    iris_state = col(lambda c: c.state.iris)
    n_se = col(lambda c: c.state.side_effects)
    cond = col(lambda c: c.patients.condition)
    first = {} if strategy is None else {"strategy": strategy}  # a scalar: no type inference
    out = pd.DataFrame(
        {
            **first,
            "patient_id": pid,
            "condition": pd.Categorical.from_codes(cond, dtype=_CONDITION_DTYPE),
            "age": col(lambda c: c.patients.age),
            "female": col(lambda c: c.patients.female),
            "cd4_0": col(lambda c: c.patients.cd4_0),
            "lymphocytes_0": col(lambda c: c.patients.lymph_0),
            "csf_jcv_log10_0": col(lambda c: c.patients.jcv_0),
            "lesion_burden_0": col(lambda c: c.patients.lesion_0),
            "time_days": np.where(died, death_time, horizon),
            "died": died,
            "iris": iris_state > 0,
            "iris_onset_days": col(lambda c: c.state.iris_onset),
            "iris_resolved": iris_state == 2,
            "side_effect": n_se > 0,
            "n_side_effects": n_se.astype(np.int16),
            "severe_side_effect": col(lambda c: c.state.severe_side_effects) > 0,
            "final_cd4": np.where(died, np.nan, col(lambda c: c.state.cd4)),
            "final_csf_jcv_log10": np.where(died, np.nan, col(lambda c: c.state.jcv)),
            "lesion_burden_final": np.where(died, col(lambda c: c.state.damage_at_death), damage),
            "residual_disability": residual,
            "mrs": mrs.astype(np.int8),
            **_month1(labs, pid, monitoring.month1_day, monitoring.csf_jcv_lod_copies),
        },
        copy=False,  # fresh arrays made here: no copy into consolidated blocks
    )
    return out
