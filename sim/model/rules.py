"""Decision rules: when a rule fires, what it changes, and what the event log says.

A rule reads "if MARKER OP THRESHOLD, start / stop these therapies, `delay_days`
later". This module is the one place where rules act on a group's therapy courses
(`sim.model.schedule`), for both triggers:

* `trigger: visit` fires at the visit on `at_day`, or at every visit when `at_day` is
  null, for each living patient whose measured marker satisfies the condition (a
  missing measurement, NaN, never does: CSF JCV off the lumbar-puncture days, lesion
  growth without two MRIs). Markers are what the clinician sees (`MARKERS`), with
  assay noise; an undetectable CSF JCV reads half the detection limit.
* `trigger: iris_diagnosis` fires when IRIS is diagnosed (onset +
  `model.iris_diagnosis_delay_days`), for every diagnosed patient alive then; it has
  no condition (its marker must be `always`).

When a rule fires for a patient at time t, its actions are for the action time
a = t + delay_days, judged against the patient's courses as planned at t, starts
first, then stops, in the order listed:

* start T: begins T's first course at a if T was never planned; begins a *new*
  course at a if the latest course of T has ended by a (stopped, or its course_days
  elapsed); does nothing if the patient is on T at a or a course of T is planned to
  begin later. So "steroids again if IRIS is diagnosed later" gives a second course
  to a patient whose prophylactic course is over, and nothing to one still on it; an
  every-visit rule restarts a finished course at the next visit that satisfies it.
* stop T: ends the latest course of T at a if it has not ended by then (cancels it
  if it is planned to begin after a); otherwise does nothing.

`rule_fired` is logged at t (the visit, the diagnosis) for exactly the patients for
whom at least one action changed their courses; a patient who dies between t and a,
or whose action time is at or after the horizon, keeps the `rule_fired` row but gets
no therapy_start.

Timing inside the engine: visit rules act at the visit, between two model steps.
An IRIS diagnosis falls inside a step; its rules act before that step's lever levels
are computed (`on_iris` with the diagnoses of the coming step), so a therapy started
at the diagnosis works from that step on, as if the clinic had acted at that moment.
If the diagnosis falls in the very step of the onset (a diagnosis delay shorter
than a step), they act right after the step's dynamics, before its events are logged.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np

from sim.model.events import Event, EventLog
from sim.model.schedule import Schedule

MARKERS: dict[str, str] = {
    "always": "1 at every visit (unconditional action)",
    "cd4": "measured CD4 count, cells/uL",
    "lymphocytes": "measured lymphocyte count, cells/uL",
    "cd4_ratio": "measured CD4 divided by the baseline measurement",
    "csf_jcv_log10": "measured CSF JCV, log10 copies/mL (NaN when not sampled)",
    "csf_jcv_detectable": "1 if CSF JCV is above the detection limit, 0 if not, NaN if not sampled",
    "lesion_growth": "change in MRI lesion burden since the previous MRI (NaN without MRI)",
}
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
TRIGGERS = ("visit", "iris_diagnosis")


@dataclass(frozen=True)
class Rule:
    name: str
    at_day: float | None
    marker: str
    op: str
    threshold: float
    start: tuple[int, ...]  # catalog indices
    stop: tuple[int, ...]
    delay: float

    def fires(self, day: float, markers: dict[str, np.ndarray], alive: np.ndarray) -> np.ndarray:
        """Living patients for whom the rule's condition holds at this visit."""
        if self.at_day is not None and not np.isclose(day, self.at_day):
            return np.zeros_like(alive)
        value = markers[self.marker]
        with np.errstate(invalid="ignore"):
            hold = OPS[self.op](value, self.threshold)
        return alive & hold & ~np.isnan(value)


@dataclass
class Rules:
    """A strategy's rules acting on one group of patients' courses and event log."""

    visit_rules: tuple[Rule, ...]
    iris_rules: tuple[Rule, ...]
    schedule: Schedule
    patient_id: np.ndarray
    log: EventLog
    _iris_done: np.ndarray = field(init=False)  # IRIS diagnosis already acted on
    _fired_at_dx: list[tuple[str, np.ndarray]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._iris_done = np.zeros(len(self.patient_id), dtype=bool)

    def _act(self, rule: Rule, at: np.ndarray, who: np.ndarray) -> np.ndarray:
        """Apply the rule's starts, then stops, at `at` to `who`; returns whom it changed."""
        changed = np.zeros_like(who)
        for k in rule.start:
            changed |= self.schedule.begin(k, at, who)
        for k in rule.stop:
            changed |= self.schedule.halt(k, at, who)
        return changed

    def at_visit(self, day: float, markers: dict[str, np.ndarray], alive: np.ndarray) -> None:
        """Fire the visit rules on this visit's measurements, in the order listed."""
        for rule in self.visit_rules:
            hit = rule.fires(day, markers, alive)
            if not hit.any():
                continue
            changed = self._act(rule, np.full(len(hit), day + rule.delay), hit)
            self.log.add(self.patient_id[changed], day, Event.RULE_FIRED, rule=rule.name)

    def on_iris(self, t1: float, iris_dx: np.ndarray, alive: np.ndarray) -> None:
        """Fire the IRIS rules for living patients diagnosed before t1 not yet acted on;
        their `rule_fired` rows wait for `log_iris` (the patient must live to the
        diagnosis)."""
        if not self.iris_rules:
            return
        due = (iris_dx < t1) & alive & ~self._iris_done
        if not due.any():
            return
        self._iris_done |= due
        for rule in self.iris_rules:
            changed = self._act(rule, iris_dx + rule.delay, due)
            if changed.any():
                self._fired_at_dx.append((rule.name, changed))

    def log_iris(self, diagnosed: np.ndarray, iris_dx: np.ndarray) -> None:
        """Log `rule_fired` at the diagnosis for the patients diagnosed in this step
        (alive at their diagnosis) whom an IRIS rule changed."""
        for name, changed in self._fired_at_dx:
            m = changed & diagnosed
            self.log.add(self.patient_id[m], iris_dx[m], Event.RULE_FIRED, rule=name)
        self._fired_at_dx = []
