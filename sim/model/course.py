"""The clinical course of a group of patients under one strategy.

A `Course` holds the state of a group (a chunk of thousands, or a single patient),
and offers the three things an engine does with it: advance the dynamics to a time,
hold a visit (measure, log, apply decision rules) and close follow-up. Engines
differ only in how SimPy schedules these calls (`sim.engine.batch`, `sim.engine.reference`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.config.schema import ModelConfig, MonitoringConfig
from sim.model.cohort import Patients
from sim.model.dynamics import State, lever_levels, step
from sim.model.events import Event, EventLog
from sim.model.monitoring import measure
from sim.model.strategies import Compiled, schedule
from sim.model.therapies import Catalog

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
    log: EventLog = field(default_factory=EventLog)
    labs: list[dict[str, np.ndarray]] = field(default_factory=list)
    memory: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = State.initial(self.patients, self.model)
        self.schedule = schedule(self.strategy, self.patients, self.catalog)
        self.log.add(self.patients.patient_id, 0.0, Event.DIAGNOSIS)

    def advance(self, until: float) -> None:
        """Step the dynamics from the current time to `until` on the fixed dt grid."""
        dt = self.model.dt_days
        while self.t < until - _EPS:
            if not self.state.alive.any():
                self.t = until
                break
            h = min(dt, until - self.t)
            step(
                self.t,
                h,
                self.patients,
                self.state,
                self.schedule,
                self.catalog,
                self.model,
                self.key,
                self.log,
            )
            self.t += h

    def visit(self, index: int, day: float) -> None:
        """Measure the living patients and apply the strategy's visit rules."""
        alive = self.state.alive
        if not alive.any():
            return
        m = measure(
            index,
            day,
            self.patients,
            self.state,
            self.monitoring,
            self.model,
            self.key,
            self.memory,
        )
        pid = self.patients.patient_id
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
        for rule in self.strategy.visit_rules:
            hit = rule.fires(day, m, alive)
            if not hit.any():
                continue
            self.log.add(pid[hit], day, Event.RULE_FIRED, rule.name)
            at = np.full(len(pid), day + rule.delay)
            for k in rule.start:
                self.schedule.begin(k, at, hit)
            for k in rule.stop:
                self.schedule.halt(k, at, hit)

    def close(self, horizon: float) -> None:
        alive = self.state.alive
        self.log.add(self.patients.patient_id[alive], horizon, Event.END_OF_FOLLOW_UP)

    def final_levers(self, horizon: float) -> dict[str, np.ndarray]:
        """Lever levels just before the horizon (e.g. supportive care still running)."""
        dt = min(self.model.dt_days, horizon)
        levels, _ = lever_levels(horizon - dt, dt, self.catalog, self.schedule)
        return levels
