"""The clinical course of a group of patients under one strategy.

A `Course` holds the state of a group (a chunk of thousands, or a single patient),
and offers the three things an engine does with it: advance the dynamics to a time,
hold a visit (measure, log, apply decision rules) and close follow-up. Engines
differ only in how SimPy schedules these calls (`sim.engine.batch`, `sim.engine.reference`).

Each model step is the same sequence: the IRIS rules act on the diagnoses falling in
the step (`sim.model.rules`); the therapy courses give the lever levels; the dynamics
advance the patients under them (`sim.model.dynamics.step`, physics only); rules act
on IRIS diagnosed within the step itself; the courses' events of the step (starts,
doses, stops, side effects) are logged (`sim.model.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.schema import ModelConfig, MonitoringConfig
from sim.model.cohort import Patients
from sim.model.dynamics import State, Stepper
from sim.model.events import Event, EventLog
from sim.model.levers import LeverMemo, lever_levels
from sim.model.monitoring import measure, on_day
from sim.model.rules import Rules
from sim.model.strategies import Compiled, schedule
from sim.model.therapies import Catalog
from sim.model.timegrid import TimeGrid

_EPS = 1e-9


@dataclass
class Course:
    patients: Patients
    strategy: Compiled
    catalog: Catalog
    model: ModelConfig
    monitoring: MonitoringConfig
    key: np.uint64
    t: float = 0.0
    log: EventLog = field(init=False)
    labs: list[dict[str, np.ndarray]] = field(default_factory=list)
    memory: dict[str, np.ndarray] = field(default_factory=dict)
    # the visit days whose labs the caller reads (None: every visit). With no visit
    # rule nothing else reads a measurement, so the other visits are only logged
    lab_days: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        self.log = EventLog(
            therapies=self.catalog.names,
            side_effects=self.catalog.side_effect_names,
            rules=self.strategy.rule_names,
        )
        self.state = State.initial(self.patients, self.model)
        self.schedule = schedule(self.strategy, self.patients, self.catalog)
        self.rules = Rules(
            self.strategy.visit_rules,
            self.strategy.iris_rules,
            self.schedule,
            self.patients.patient_id,
            self.log,
        )
        self.log.add(self.patients.patient_id, 0.0, Event.DIAGNOSIS)
        self.grid = TimeGrid.build(self.strategy, self.catalog, self.model, self.monitoring)
        # the level of every lever no course moves in a step (read-only: shared by steps)
        self._zeros = np.zeros(len(self.patients))
        self._zeros.flags.writeable = False
        self._memo = LeverMemo()
        self._step = Stepper(self.patients, self.state, self.model)

    def advance(self, until: float) -> None:
        """Step the dynamics from the current time to `until` (steps: `sim.model.timegrid`)."""
        st, sch, pid = self.state, self.schedule, self.patients.patient_id
        while self.t < until - _EPS:
            if not st.alive.any():
                self.t = until
                break
            t = self.t
            span = self._quiet_span(t, until)
            if span:
                self._step.span(span, self._memo.levels, self.log)
                for _, h in span:
                    self.t += h
                continue
            h = self.grid.step(t, until, _EPS)
            self.rules.on_iris(t + h, st.iris_dx, st.alive)
            levers, doses = lever_levels(t, h, self.catalog, sch, self._zeros, self._memo)
            out = self._step(t, h, levers, self.log)
            self.rules.on_iris(t + h, st.iris_dx, out.alive)
            self.rules.log_iris(out.diagnosed, st.iris_dx)
            counts = sch.record(t, h, pid, out.alive, out.before_death, doses, self.key, self.log)
            if counts is not None:
                st.side_effects += counts[0]
                st.severe_side_effects += counts[1]
            self.t += h

    def _quiet_span(self, t: float, until: float) -> list[tuple[float, float]]:
        """The steps from t on that the loop of `advance` would take with nothing to do
        between them but the dynamics: the last step's lever levels hold (no dose, no
        course changes: `LeverMemo`), no course starts, stops or has a side effect
        (`Schedule.next_event`), and no IRIS rule can act on a diagnosis. They run in
        one compiled call (`Stepper.span`) with the same numbers as step by step.
        Empty when the next step is not quiet."""
        memo, sch = self._memo, self.schedule
        if self.rules.iris_rules or memo.until is None or memo.version != sch.version:
            return []
        limit = min(memo.until, sch.next_event(t))
        steps = []
        while t < until - _EPS:
            h = self.grid.step(t, until, _EPS)
            if t + h > limit:
                break
            steps.append((t, h))
            t += h
        return steps

    def visit(self, day: float) -> None:
        """Measure the living patients and apply the strategy's visit rules (log the visit
        only, when no rule and no lab day of the caller needs its measurements)."""
        alive = self.state.alive
        if not alive.any():
            return
        pid = self.patients.patient_id
        if (
            self.lab_days is not None
            and not self.rules.visit_rules
            and not on_day(day, self.lab_days)
        ):
            # an unmeasured visit: the noise streams are named by assay and day, so
            # skipping it leaves every other number as it was
            self.log.add(pid[alive], day, Event.VISIT)
            return
        m = measure(
            day,
            self.patients,
            self.state,
            self.monitoring,
            self.model,
            self.key,
            self.memory,
        )
        self.log.add(pid[alive], day, Event.VISIT)
        self.labs.append(
            {
                "patient_id": pid[alive],
                "day": np.full(int(alive.sum()), day),
                "cd4": m["cd4"][alive],
                "lymphocytes": m["lymphocytes"][alive],
                "csf_jcv_log10": np.where(
                    m["csf_jcv_detectable"] == 1.0, m["csf_jcv_log10"], np.nan
                )[alive],
                "csf_jcv_detectable": m["csf_jcv_detectable"][alive],
                "lesion_burden": m["lesion_burden"][alive],
            }
        )
        self.rules.at_visit(day, m, alive)

    def close(self, horizon: float) -> None:
        alive = self.state.alive
        self.log.add(self.patients.patient_id[alive], horizon, Event.END_OF_FOLLOW_UP)

    def final_levers(self, horizon: float) -> dict[str, np.ndarray]:
        """Lever levels just before the horizon (e.g. supportive care still running)."""
        dt = min(self.model.dt_first_days, horizon)
        levels, _ = lever_levels(horizon - dt, dt, self.catalog, self.schedule)
        return levels
