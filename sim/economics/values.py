"""Costs, QALYs and life-years of each simulated patient.

Acute phase (diagnosis to death or the follow-up horizon), from the event log's typed
fields (`sim.model.events`: event code, therapy, course number, side effect), never its
`detail` labels; every therapy and side effect is looked up in the config, and a log
that cannot be costed as it stands raises (`sim.economics.courses`):
* drugs: every dose / session / infusion given (a start, for single-administration
  therapies) at its price, plus a daily price for days on continuous regimens;
* hospital: the diagnostic admission, extra bed days and care per diagnosed IRIS;
* monitoring: every visit, and the MRI / lumbar puncture of visits on the imaging and
  CSF calendars (`monitoring.mri_days`, `monitoring.csf_days`);
* adverse events: each side effect, severe ones at their own price;
* end-of-life care at death;
* care after discharge (from day `admission_days` to death or the horizon): long-term
  care by mRS, moving linearly from the mRS at diagnosis to the residual mRS (mRS 5 at
  death, as the utility), plus the care of the underlying condition
  (`condition_care_acute_per_year`, else `condition_care_per_year`), both times
  `post_discharge_care_share`.
With `economics.perspective: societal` also patients' lost paid work and unpaid
carers' time (`sim.economics.societal`; columns cost_productivity, cost_informal_care).
Each cost is discounted at the moment it happens. Quality of life moves linearly from
the utility of the disability at diagnosis (lesion burden -> mRS) to that of the
residual disability at the horizon, or to the utility of mRS 5 at death (patients
decline before dying: an assumption). IRIS subtracts a decrement while active; a
severe side effect costs a fixed QALY loss.

After the horizon (sim.economics.lifetime): survivors keep their residual mRS, its
utility and its long-term care cost, plus the yearly cost of caring for their
underlying condition, over their remaining (discounted) life expectancy; their death,
whenever it comes, costs end-of-life care, discounted to its expected present value
E[exp(-delta T)] = 1 - delta * (discounted life expectancy) (integration by parts;
everybody is dead by `max_age`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sim.config.economics import CostsConfig, EconomicsConfig
from sim.config.schema import ModelConfig, MonitoringConfig, TherapyConfig
from sim.economics.courses import check_therapy_events, in_sorted
from sim.economics.discount import DAYS_PER_YEAR, factor, flow, force, linear_flow
from sim.economics.lifetime import expected_years, hazard_grid
from sim.economics.severity import population_utility
from sim.economics.societal import (
    informal_care,
    is_societal,
    productivity_loss,
    ramp_after_discharge,
)
from sim.model.disability import mrs_level
from sim.model.events import Event, event_codes

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
    "cost_post_discharge",
    "qaly_acute",
    "qaly_lifetime",
    "life_years_discounted",
]


def _frames(
    patients: pd.DataFrame, events: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """(patients sorted by id, their ids, their events)."""
    in_order = patients["patient_id"].is_monotonic_increasing  # the engine's tables are
    pts = patients if in_order else patients.sort_values("patient_id", kind="stable")
    pid = pts["patient_id"].to_numpy()
    return pts, pid, _of_patients(events, pid)


def _event_rows(ev: pd.DataFrame, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each event's code, time (years) and patient row."""
    kind = event_codes(ev)
    t_ev = ev["time_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    return kind, t_ev, _rows(pid, ev["patient_id"].to_numpy())


def _of_patients(events: pd.DataFrame, pid_sorted: np.ndarray) -> pd.DataFrame:
    """The events of these patients (sorted ids): the table itself when they all are."""
    inside = in_sorted(events["patient_id"].to_numpy(), pid_sorted)
    return events if inside.all() else events[inside]


def _rows(pid_sorted: np.ndarray, pid: np.ndarray) -> np.ndarray:
    return np.searchsorted(pid_sorted, pid)


def _sum_at(n: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.bincount(rows, weights=values, minlength=n)


def patient_values(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    econ: EconomicsConfig,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    therapies: dict[str, TherapyConfig],
    horizon_days: float,
    units: tuple[str, ...] = (),
    memo: dict | None = None,
) -> pd.DataFrame:
    """One strategy's patients (unique, any order) -> their costs, QALYs and life-years.

    `units`: therapies whose discounted quantities are added as columns `doses_<t>`
    (discounted doses given: the cost is linear in the price per dose with this slope)
    and `days_<t>` (discounted days on therapy), for threshold prices.

    `memo`: a dict shared by calls that value the *same* patients and events with the
    same model, monitoring, therapies and horizon under different economics configs
    (re-costed scenarios, one-way inputs): what does not depend on the economics config
    (the event log's rows and checks) or depends only on a part of it that did not
    change (life tables, discount rates) is computed once. The same numbers either way."""
    cache = {} if memo is None else memo

    def once(key: object, make: Callable[[], object]):
        if key not in cache:
            cache[key] = make()
        return cache[key]

    pts, pid, ev = once("frames", lambda: _frames(patients, events))
    n = len(pid)
    dc, dq = force(econ.discount.costs), force(econ.discount.qalys)
    c = econ.costs
    t_end = pts["time_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    died = pts["died"].to_numpy(dtype=bool)

    kind, t_ev, row = once("rows", lambda: _event_rows(ev, pid))
    th_idx, severe_ev = once(
        ("therapy_events", tuple(c.therapies)),
        lambda: check_therapy_events(
            ev, kind, row, pts["time_days"].to_numpy(dtype=float), therapies, c.therapies
        ),
    )
    course = ev["course"].to_numpy().astype(np.int64)

    # drugs: doses (or the single administration at start) and days on therapy
    drugs = np.zeros(n)
    has_doses = {name: t.dose_interval_days > 0.0 for name, t in therapies.items()}
    index_of = {name: k for k, name in enumerate(therapies)}
    extra: dict[str, np.ndarray] = {}
    logged = np.zeros(len(therapies) + 1, dtype=bool)  # the last slot: th_idx -1
    logged[th_idx] = True
    for name, tc in c.therapies.items():
        if name not in index_of:  # not in the catalog: no event can name it
            continue
        if not logged[index_of[name]]:  # no event of it: it adds 0 (doses_/days_: zeros)
            continue
        this = th_idx == index_of[name]
        given_kind = Event.DOSE if has_doses.get(name, False) else Event.THERAPY_START
        wanted = name in units
        if tc.per_dose or wanted:
            m = (kind == given_kind) & this
            if tc.per_dose:
                drugs += _sum_at(n, row[m], tc.per_dose * factor(t_ev[m], dc))
            if wanted:
                extra[f"doses_{name}"] = _sum_at(n, row[m], factor(t_ev[m], dc))
        if tc.per_day or wanted:
            starts = (kind == Event.THERAPY_START) & this
            stops = (kind == Event.THERAPY_STOP) & this
            years_on = _on_therapy(
                n,
                (row[starts], course[starts], t_ev[starts]),
                (row[stops], course[stops], t_ev[stops]),
                t_end,
                dc,
            )
            if tc.per_day:
                drugs += tc.per_day * DAYS_PER_YEAR * years_on
            if wanted:
                extra[f"days_{name}"] = DAYS_PER_YEAR * years_on

    # hospital: diagnostic admission (at day 0) and IRIS episodes
    iris_dx = kind == Event.IRIS_DIAGNOSIS
    per_iris = c.iris_hospital_days * c.hospital_day + c.iris_management
    hospital = c.admission_days * c.hospital_day + _sum_at(
        n, row[iris_dx], per_iris * factor(t_ev[iris_dx], dc)
    )

    # monitoring: visits, MRI and lumbar punctures on their calendars
    visit = kind == Event.VISIT
    vday = ev["time_days"].to_numpy(dtype=float)
    per_visit = (
        c.visit
        + c.mri * np.isin(vday, monitoring.mri_days)
        + c.lumbar_puncture * np.isin(vday, monitoring.csf_days)
    )
    monitor = _sum_at(n, row[visit], (per_visit * factor(t_ev, dc))[visit])

    # adverse events
    se = kind == Event.SIDE_EFFECT
    severe = severe_ev[se]
    se_cost = np.where(severe, c.severe_side_effect, c.side_effect)
    adverse = _sum_at(n, row[se], se_cost * factor(t_ev[se], dc))
    n_severe = _sum_at(n, row[se], severe.astype(float))

    end_of_life = np.where(died, c.death * factor(t_end, dc), 0.0)

    # quality of life in the acute phase
    u = np.asarray(econ.utilities.by_mrs, dtype=float)
    mrs0 = mrs_level(pts["lesion_burden_0"].to_numpy(dtype=float), model.mrs_cutpoints)
    mrs_end = pts["mrs"].to_numpy().astype(int)
    condition = pts["condition"]

    post_discharge = c.post_discharge_care_share * _care_after_discharge(
        c, mrs0, mrs_end, died, condition, t_end, dc
    )
    u_end = np.where(died, u[-1], u[np.minimum(mrs_end, len(u) - 1)])
    qaly_acute = linear_flow(0.0, t_end, u[mrs0], u_end, dq)
    on = pts["iris_onset_days"].to_numpy(dtype=float) / DAYS_PER_YEAR
    res = _first_time(n, row, kind == Event.IRIS_RESOLVED, t_ev)
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
    years_dc = None  # survivors' discounted (costs) life expectancy from the horizon
    if lt.enabled and alive.any():
        age = pts["age"].to_numpy(dtype=float)[alive] + horizon_days / DAYS_PER_YEAR
        female = pts["female"].to_numpy(dtype=bool)[alive]
        m_alive = np.minimum(mrs_end[alive], len(u) - 1)
        hr = np.asarray(lt.mrs_mortality_hr, dtype=float)[m_alive]
        excess = per_condition(condition, lambda x: lt.excess_mortality_per_year.get(x, 0.0))
        excess = excess[alive]
        t0 = horizon_days / DAYS_PER_YEAR
        life = repr(lt)  # the life table's inputs: the cache key of what follows
        grid = once(("grid", life), lambda: hazard_grid(age, female, hr, excess, lt))
        years = {
            d: once(
                ("years", life, d),
                lambda d=d: expected_years(age, female, hr, excess, d, lt, grid=grid),
            )
            for d in {0.0, dc, dq}
        }
        life_years[alive] += years[0.0]
        ly_disc[alive] += factor(t0, dq) * years[dq]
        q_years = years[dq]
        if econ.utilities.age_adjusted:  # norm(attained age) / norm(age at diagnosis)
            male = ~female
            at_dx = population_utility(age - t0, male, econ)
            q_years = once(
                ("age_adjusted_years", life, dq, repr(econ.severity.population_utility)),
                lambda: expected_years(
                    age,
                    female,
                    hr,
                    excess,
                    dq,
                    lt,
                    weight=lambda a: population_utility(a, male[:, None], econ) / at_dx[:, None],
                    grid=grid,
                ),
            )
        qaly_life[alive] = u[m_alive] * factor(t0, dq) * q_years
        yearly = (
            np.asarray(c.long_term_care_per_year, dtype=float)[m_alive]
            + per_condition(condition, lambda x: c.condition_care_per_year.get(x, 0.0))[alive]
        )
        long_term[alive] = yearly * factor(t0, dc) * years[dc]
        years_dc = years[dc]
        # end-of-life care at the (later) death: death * E[exp(-dc T)], T from t0
        end_of_life[alive] += c.death * factor(t0, dc) * (1.0 - dc * years[dc])

    cost = drugs + hospital + monitor + adverse + end_of_life + long_term + post_discharge
    societal = {}
    if is_societal(econ):  # patients' paid work and unpaid carers' time (sim.economics.societal)
        societal["cost_productivity"] = productivity_loss(
            pts, mrs_end, died, horizon_days, econ, dc
        )
        societal["cost_informal_care"] = informal_care(
            mrs0, mrs_end, died, t_end, horizon_days / DAYS_PER_YEAR, years_dc, econ, dc
        )
        cost = cost + societal["cost_productivity"] + societal["cost_informal_care"]
    out = pd.DataFrame(
        {
            # copies: with copy=False the table must not share the input tables' memory
            **({"strategy": pts["strategy"].to_numpy().copy()} if "strategy" in pts else {}),
            "patient_id": pid.copy(),
            "condition": pts["condition"].to_numpy().copy(),
            "cost": cost,
            "qaly": qaly_acute + qaly_life,
            "life_years": life_years,
            "cost_drugs": drugs,
            "cost_hospital": hospital,
            "cost_monitoring": monitor,
            "cost_adverse_events": adverse,
            "cost_end_of_life": end_of_life,
            "cost_long_term": long_term,
            "cost_post_discharge": post_discharge,
            "qaly_acute": qaly_acute,
            "qaly_lifetime": qaly_life,
            "life_years_discounted": ly_disc,
            **societal,
        },
        copy=False,  # fresh arrays, not written after this: no copy into blocks
    )
    for name in units:
        for col in (f"doses_{name}", f"days_{name}"):
            out[col] = extra.get(col, np.zeros(n))
    return out


def _care_after_discharge(
    c: CostsConfig,
    mrs0: np.ndarray,
    mrs_end: np.ndarray,
    died: np.ndarray,
    condition: pd.Series,
    t_end: np.ndarray,
    delta: float,
) -> np.ndarray:
    """Discounted care from discharge (`admission_days`) to death or the horizon, before
    `post_discharge_care_share`: the yearly long-term care cost moves linearly from that
    of the mRS at diagnosis (time 0) to that of the residual mRS at `t_end` (mRS 5 if the
    patient died), as the utility does; the condition's yearly care is constant.
    Patients who die before discharge get none."""
    ltc = np.asarray(c.long_term_care_per_year, dtype=float)
    care = ramp_after_discharge(ltc, c.admission_days, mrs0, mrs_end, died, t_end, delta)
    a = np.minimum(c.admission_days / DAYS_PER_YEAR, t_end)
    yearly = per_condition(
        condition,
        lambda x: c.condition_care_acute_per_year.get(x, c.condition_care_per_year.get(x, 0.0)),
    )
    return care + yearly * flow(a, t_end, delta)


def per_condition(condition: pd.Series, value: Callable[[str], float]) -> np.ndarray:
    """value(condition name) of each patient, computed once per condition (a lookup per
    row costs more than the rest of the costing for a large cohort)."""
    codes, names = pd.factorize(condition, use_na_sentinel=False)
    return np.array([value(str(x)) for x in names], dtype=float)[codes]


def _first_time(n: int, row: np.ndarray, mask: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per patient, the earliest time of the masked events (NaN if none)."""
    out = np.full(n, np.inf)
    np.minimum.at(out, row[mask], t[mask])
    return np.where(np.isinf(out), np.nan, out)


def _on_therapy(
    n: int,
    starts: tuple[np.ndarray, np.ndarray, np.ndarray],
    stops: tuple[np.ndarray, np.ndarray, np.ndarray],
    t_end: np.ndarray,
    delta: float,
) -> np.ndarray:
    """Discounted years on one therapy. `starts`, `stops`: (patient row, course number,
    time) of its start and stop events, checked by `check_therapy_events`; a start pairs
    with the stop of its own course, and a course without a stop runs to death or the
    horizon."""
    start_rows, start_course, start_t = starts
    stop_rows, stop_course, stop_t = stops
    if start_rows.size == 0:
        return np.zeros(n)
    s_order = np.lexsort((start_t, start_rows))
    sr, sc, st = start_rows[s_order], start_course[s_order], start_t[s_order]
    end = t_end[sr].copy()
    if stop_rows.size:
        width = int(max(sc.max(), stop_course.max())) + 1  # > any course: one integer key
        key_e = stop_rows.astype(np.int64) * width + stop_course
        e_order = np.argsort(key_e)
        key_e, et = key_e[e_order], stop_t[e_order]
        key_s = sr.astype(np.int64) * width + sc
        pos = np.searchsorted(key_e, key_s)
        pos_c = np.minimum(pos, key_e.size - 1)
        hit = (pos < key_e.size) & (key_e[pos_c] == key_s)
        end[hit] = np.minimum(et[pos_c[hit]], end[hit])
    return _sum_at(n, sr, flow(st, np.maximum(end, st), delta))
