"""The fast engine: SimPy drives the clinical calendar of a whole chunk of patients.

One SimPy process per chunk walks through the visit calendar. Between two calendar
events numpy advances every patient of the chunk at once (`Course.advance`), finding
deaths, IRIS onsets and therapy changes at their exact times inside the interval;
at each visit the labs are drawn and the decision rules evaluated for all patients
at once. This is the engine used for real runs; `sim.engine.reference` is the readable
one-process-per-patient version it is tested against.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.config.schema import ModelConfig, MonitoringConfig
from sim.model.cohort import Patients
from sim.model.course import Course
from sim.model.strategies import Compiled
from sim.model.therapies import Catalog


def visit_calendar(mon: MonitoringConfig, horizon: float) -> list[float]:
    return sorted(d for d in mon.visit_days if d <= horizon)


def simulate_batch(
    patients: Patients,
    strategy: Compiled,
    catalog: Catalog,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    key: np.uint64,
    horizon: float,
    lab_days: tuple[float, ...] | None = None,
) -> Course:
    """`lab_days`: the visit days whose labs the caller reads (None: all; see `Course`)."""
    course = Course(patients, strategy, catalog, model, monitoring, key, lab_days=lab_days)
    env = simpy.Environment()

    def clinic(env: simpy.Environment):
        for day in visit_calendar(monitoring, horizon):
            yield env.timeout(day - env.now)
            course.advance(env.now)
            course.visit(day)
        yield env.timeout(horizon - env.now)
        course.advance(horizon)
        course.close(horizon)

    env.process(clinic(env))
    env.run()
    return course
