"""The readable reference engine: one SimPy process per patient.

Each patient is a SimPy process that waits for its next clinical event: the next
visit, or its own death, or the end of follow-up. Between events the dynamics are
advanced for that one patient. It is slow (thousands of times slower than
`sim.engine.batch`) and is kept to show plainly what the model does and to test that the
fast engine gives the same per-patient results.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.config.schema import ModelConfig, MonitoringConfig
from sim.engine.batch import visit_calendar
from sim.model.cohort import Patients
from sim.model.course import Course
from sim.model.strategies import Compiled
from sim.model.therapies import Catalog


def patient_process(env: simpy.Environment, course: Course, visits: list[float], horizon: float):
    """Diagnosis at t = 0, then visits until death or the end of follow-up."""
    for day in visits:
        course.advance(day)  # dynamics up to the visit, patient alone
        if not course.state.alive[0]:
            break
        yield env.timeout(day - env.now)
        course.visit(day)
    course.advance(horizon)
    if course.state.alive[0]:
        yield env.timeout(horizon - env.now)
        course.close(horizon)
    else:  # the process ends at the patient's death
        yield env.timeout(float(course.state.death_time[0]) - env.now)


def simulate_reference(
    patients: Patients,
    strategy: Compiled,
    catalog: Catalog,
    model: ModelConfig,
    monitoring: MonitoringConfig,
    key: np.uint64,
    horizon: float,
    lab_days: tuple[float, ...] | None = None,
) -> list[Course]:
    env = simpy.Environment()
    visits = visit_calendar(monitoring, horizon)
    courses = []
    for i in range(len(patients)):
        one = patients.take(np.array([i]))
        course = Course(one, strategy, catalog, model, monitoring, key, lab_days=lab_days)
        courses.append(course)
        env.process(patient_process(env, course, visits, horizon))
    env.run()
    return courses
