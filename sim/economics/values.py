"""Costs, QALYs and life-years of each simulated patient.

Acute phase (diagnosis to death or the follow-up horizon), from the event log:
* drugs: every dose / session / infusion given (a start, for single-administration
  therapies) at its price, plus a daily price for days on continuous regimens;
* hospital: the diagnostic admission, extra bed days and care per diagnosed IRIS;
* monitoring: every visit, and the MRI / lumbar puncture of visits on the imaging and
  CSF calendars (`monitoring.mri_days`, `monitoring.csf_days`);
* adverse events: each side effect, severe ones at their own price;
* end-of-life care at death.
Each cost is discounted at the moment it happens. Quality of life moves linearly from
the utility of the disability at diagnosis (lesion burden -> mRS) to that of the
residual disability at the horizon, or to the utility of mRS 5 at death (patients
decline before dying: an assumption). IRIS subtracts a decrement while active; a
severe side effect costs a fixed QALY loss.

After the horizon (sim.economics.lifetime): survivors keep their residual mRS, its
utility and its long-term care cost, plus the yearly cost of caring for their
underlying condition, over their remaining (discounted) life expectancy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.config.schema import ModelConfig, MonitoringConfig, TherapyConfig
from sim.economics.discount import DAYS_PER_YEAR, factor, flow, force, linear_flow
from sim.economics.lifetime import expected_years
from sim.model.disability import mrs_level

VALUE_COLUMNS = [
    "cost",
    "qaly",
    "life_years",
    "cost_drugs",
    "cost_hospital",
    "cost_monitoring",
    "cost_adverse_events",
    "cost_end_of_life",
    "cost_long_term",
    "qaly_acute",
    "qaly_lifetime",
    "life_years_discounted",
]


def _rows(pid_sorted: np.ndarray, pid: np.ndarray) -> np.ndarray:
    return np.searchsorted(pid_sorted, pid)


def _sum_at(n: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.bincount(rows, weights=values, minlength=n)


def _severity(therapies: dict[str, TherapyConfig]) -> dict[str, bool]:
    """'therapy:side_effect' -> severe, as the event log names side effects."""
    return {f"{t}:{se.name}": se.severe for t, cfg in therapies.items() for se in cfg.side_effects}


def patient_values(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    econ: EconomicsConfig,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    therapies: dict[str, TherapyConfig],
    horizon_days: float,
) -> pd.DataFrame:
    """One strategy's patients (unique, any order) -> their costs, QALYs and life-years."""
    pts = patients.sort_values("patient_id", kind="stable")
    pid = pts["patient_id"].to_numpy()
    n = len(pid)
    ev = events[events["patient_id"].isin(pid)]
    dc, dq = force(econ.discount.costs), force(econ.discount.qalys)
    c = econ.costs
    t_end = pts["time_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    died = pts["died"].to_numpy(dtype=bool)

    kind = ev["event"].astype(str).to_numpy()
    detail = ev["detail"].astype(str).to_numpy()
    t_ev = ev["time_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    row = _rows(pid, ev["patient_id"].to_numpy())

    # drugs: doses (or the single administration at start) and days on therapy
    drugs = np.zeros(n)
    has_doses = {name: t.dose_interval_days > 0.0 for name, t in therapies.items()}
    for name, tc in c.therapies.items():
        given_kind = "dose" if has_doses.get(name, False) else "therapy_start"
        if tc.per_dose:
            m = (kind == given_kind) & (detail == name)
            drugs += _sum_at(n, row[m], tc.per_dose * factor(t_ev[m], dc))
        if tc.per_day:
            starts = (kind == "therapy_start") & (detail == name)
            stops = (kind == "therapy_stop") & (detail == name)
            drugs += (
                tc.per_day
                * DAYS_PER_YEAR
                * _on_therapy(n, row[starts], t_ev[starts], row[stops], t_ev[stops], t_end, dc)
            )

    # hospital: diagnostic admission (at day 0) and IRIS episodes
    iris_dx = kind == "iris_diagnosis"
    per_iris = c.iris_hospital_days * c.hospital_day + c.iris_management
    hospital = c.admission_days * c.hospital_day + _sum_at(
        n, row[iris_dx], per_iris * factor(t_ev[iris_dx], dc)
    )

    # monitoring: visits, MRI and lumbar punctures on their calendars
    visit = kind == "visit"
    vday = ev["time_days"].to_numpy(dtype=float)
    per_visit = (
        c.visit
        + c.mri * np.isin(vday, monitoring.mri_days)
        + c.lumbar_puncture * np.isin(vday, monitoring.csf_days)
    )
    monitor = _sum_at(n, row[visit], (per_visit * factor(t_ev, dc))[visit])

    # adverse events
    severe_of = _severity(therapies)
    se = kind == "side_effect"
    severe = np.array([severe_of.get(d, False) for d in detail[se]], dtype=bool)
    se_cost = np.where(severe, c.severe_side_effect, c.side_effect)
    adverse = _sum_at(n, row[se], se_cost * factor(t_ev[se], dc))
    n_severe = _sum_at(n, row[se], severe.astype(float))

    end_of_life = np.where(died, c.death * factor(t_end, dc), 0.0)

    # quality of life in the acute phase
    u = np.asarray(econ.utilities.by_mrs, dtype=float)
    mrs0 = mrs_level(pts["lesion_burden_0"].to_numpy(dtype=float), model.mrs_cutpoints)
    mrs_end = pts["mrs"].to_numpy().astype(int)
    u_end = np.where(died, u[-1], u[np.minimum(mrs_end, len(u) - 1)])
    qaly_acute = linear_flow(0.0, t_end, u[mrs0], u_end, dq)
    on = pts["iris_onset_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    res = _first_time(n, row, kind == "iris_resolved", t_ev)
    iris_end = np.fmin(np.where(np.isnan(res), t_end, res), t_end)
    had = np.isfinite(on)
    qaly_acute -= econ.utilities.iris_decrement * np.where(
        had, flow(np.where(had, on, 0.0), np.where(had, iris_end, 0.0), dq), 0.0
    )
    qaly_acute -= econ.utilities.severe_side_effect_qaly_loss * n_severe

    # after the horizon
    ly_disc = flow(0.0, t_end, dq)
    life_years = t_end.copy()
    qaly_life = np.zeros(n)
    long_term = np.zeros(n)
    lt = econ.lifetime
    alive = ~died
    if lt.enabled and alive.any():
        cond = pts["condition"].astype(str).to_numpy()[alive]
        age = pts["age"].to_numpy(dtype=float)[alive] + horizon_days / DAYS_PER_YEAR
        female = pts["female"].to_numpy(dtype=bool)[alive]
        m_alive = np.minimum(mrs_end[alive], len(u) - 1)
        hr = np.asarray(lt.mrs_mortality_hr, dtype=float)[m_alive]
        excess = np.array([lt.excess_mortality_per_year.get(x, 0.0) for x in cond])
        t0 = horizon_days / DAYS_PER_YEAR
        years = {d: expected_years(age, female, hr, excess, d, lt) for d in {0.0, dc, dq}}
        life_years[alive] += years[0.0]
        ly_disc[alive] += factor(t0, dq) * years[dq]
        qaly_life[alive] = u[m_alive] * factor(t0, dq) * years[dq]
        yearly = np.asarray(c.long_term_care_per_year, dtype=float)[m_alive] + np.array(
            [c.condition_care_per_year.get(x, 0.0) for x in cond]
        )
        long_term[alive] = yearly * factor(t0, dc) * years[dc]

    cost = drugs + hospital + monitor + adverse + end_of_life + long_term
    out = pd.DataFrame(
        {
            "patient_id": pid,
            "condition": pts["condition"].to_numpy(),
            "cost": cost,
            "qaly": qaly_acute + qaly_life,
            "life_years": life_years,
            "cost_drugs": drugs,
            "cost_hospital": hospital,
            "cost_monitoring": monitor,
            "cost_adverse_events": adverse,
            "cost_end_of_life": end_of_life,
            "cost_long_term": long_term,
            "qaly_acute": qaly_acute,
            "qaly_lifetime": qaly_life,
            "life_years_discounted": ly_disc,
        }
    )
    if "strategy" in pts:
        out.insert(0, "strategy", pts["strategy"].to_numpy())
    return out


def _first_time(n: int, row: np.ndarray, mask: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per patient, the earliest time of the masked events (NaN if none)."""
    out = np.full(n, np.inf)
    np.minimum.at(out, row[mask], t[mask])
    return np.where(np.isinf(out), np.nan, out)


def _on_therapy(
    n: int,
    start_rows: np.ndarray,
    start_t: np.ndarray,
    stop_rows: np.ndarray,
    stop_t: np.ndarray,
    t_end: np.ndarray,
    delta: float,
) -> np.ndarray:
    """Discounted years on a therapy: the k-th start of a patient pairs with the k-th stop;
    a start without a stop runs to death or the horizon."""
    if start_rows.size == 0:
        return np.zeros(n)
    s_order = np.lexsort((start_t, start_rows))
    e_order = np.lexsort((stop_t, stop_rows))
    sr, st = start_rows[s_order], start_t[s_order]
    er, et = stop_rows[e_order], stop_t[e_order]
    s_rank = np.arange(sr.size) - np.searchsorted(sr, sr)  # k-th start of its patient
    e_rank = np.arange(er.size) - np.searchsorted(er, er)
    end = t_end[sr].copy()
    if er.size:
        width = max(sr.size, er.size) + 1  # > any rank: (row, rank) -> one integer
        key_e = er.astype(np.int64) * width + e_rank
        key_s = sr.astype(np.int64) * width + s_rank
        pos = np.searchsorted(key_e, key_s)
        pos_c = np.minimum(pos, key_e.size - 1)
        hit = (pos < key_e.size) & (key_e[pos_c] == key_s)
        end[hit] = np.minimum(et[pos_c[hit]], end[hit])
    return _sum_at(n, sr, flow(st, np.maximum(end, st), delta))
