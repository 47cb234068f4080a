"""Therapy courses of a group of patients: who is on what, from when to when.

A *course* is one run of a therapy for one patient: it begins at its start time and
ends at its end = min(stop time, start + the therapy's `course_days`). While it runs,
its continuous levers ramp up over the therapy's onset and its doses are given; its
side effects are drawn when it begins. Courses of the same therapy follow one another:

* **start** therapy T at time a (`Schedule.begin`, called by the decision rules and
  at diagnosis):
  - T never planned for the patient: the first course begins at a;
  - the patient's latest course of T has ended by a (stopped, or its course_days
    elapsed: end <= a): a *new* course begins at a (a restart). It is a course like
    any other: a new onset ramp from zero, its own doses from the first, its own
    side-effect draws (slot c, the course number, of the random stream named after the
    therapy and the side effect, so a restart never reuses the first course's draws,
    and the draws stay a function of patient, therapy name, side-effect name and
    course number alone: the same whatever the chunking, the engine or the rest of
    the catalog);
  - the patient is on T at a, or a course of T is planned to begin later: nothing
    (a start never shortens, lengthens or moves a course).
* **stop** therapy T at time a (`Schedule.halt`): the latest course of T ends at a if
  it has not ended by then; a course planned to begin after a is cancelled: it never
  happens and nothing of it is logged (one stopped exactly when it begins is logged as
  a start and a stop at that time). Otherwise nothing.

Both return which patients they changed, so a rule knows whom it acted on.

Arrays are course-major, shape (R, n): row r holds course number `course_no[r]` of
therapy `therapy[r]` for every patient of the group (start = inf: the patient has no
such course). Rows 0..K-1 are the first courses of the catalog's therapies; a row
for a second (third ...) course is added the first time a patient of the group needs
it, so a strategy that never restarts anything keeps exactly K rows and the numbers
it always had. Rows are visited in (therapy, course number) order, and a patient
has at most one course of a therapy running at any time, so what a patient gets
does not depend on which other patients share the group.

Most days nothing changes in a course, so the schedule caches, per row, the next
time anything happens (a start, a stop, a side effect) and the activity level of its
continuous levers between changes; the bookkeeping of a quiet row is skipped.
Caching never changes a value, only avoids recomputing it.

`Schedule.record` logs what happened to the courses in a model step: starts (and
their side-effect draws), doses, stops and side effects, each with its therapy and
course number (`sim.model.events`), so a start and its stop pair by course.
"""

from __future__ import annotations

import numpy as np

from sim.core import rng
from sim.model.events import Event, EventLog
from sim.model.therapies import Catalog, course_activity, course_doses

# Side effect s of course c of a therapy: slot c of the patient's random stream
# `side_effect_stream(therapy, side effect)`; one slot per course number.
MAX_COURSES = rng.MAX_SLOT + 1


def side_effect_stream(therapy: str, side_effect: str) -> str:
    """Name of the random stream of a therapy's side effect (sim.core.rng)."""
    return f"side_effect/{therapy}/{side_effect}"


class Schedule:
    def __init__(
        self,
        cat: Catalog,
        start: np.ndarray,
        stop: np.ndarray,
        used: list[int],
        applies: np.ndarray,
    ) -> None:
        k, n = start.shape
        self.cat = cat
        self.start = start  # (R, n), inf = no such course
        self.stop = stop  # (R, n), inf = not stopped early
        self.therapy = list(range(k))  # row -> catalog index
        self.course_no = [0] * k  # row -> course number (0 = first)
        self.rows_of: dict[int, list[int]] = {kk: [kk] for kk in range(k)}  # by course number
        self.used = sorted(used)  # rows visited each step, in (therapy, course) order
        self.applies = applies.astype(float)  # (K, n): therapy acts in this condition
        self.se_time = np.full((k, cat.se_prob.shape[1], n), np.inf)  # (R, S, n)
        self.end = np.minimum(stop, start + cat.course[:, None])
        # next pending time per row (stale if < t); a list: read per row every step
        self._next: list[float] = [-np.inf] * k
        self._act: dict[int, tuple[float, np.ndarray]] = {}  # row -> (valid until, level)
        self._doses_at: dict[int, tuple[float, float]] = {}  # row -> (first, last dose)
        self.version = 0  # counts the changes of starts, stops and rows

    # -- changes
    def _touch(self, r: int) -> None:
        self.version += 1
        k = self.therapy[r]
        self.end[r] = np.minimum(self.stop[r], self.start[r] + self.cat.course[k])
        self._next[r] = -np.inf
        self._act.pop(r, None)
        self._doses_at.pop(r, None)

    def _latest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per patient: the row of the latest planned course of therapy k (-1: none)
        and its end (-inf: none). Courses are planned in order, so it is the last row
        with a start."""
        n = self.start.shape[1]
        row = np.full(n, -1)
        end = np.full(n, -np.inf)
        for r in self.rows_of[k]:
            planned = np.isfinite(self.start[r])
            row = np.where(planned, r, row)
            end = np.where(planned, self.end[r], end)
        return row, end

    def _row_after(self, r: int) -> int:
        """The row of the course after row r's (same therapy), added if missing."""
        k, c = self.therapy[r], self.course_no[r] + 1
        rows = self.rows_of[k]
        if c < len(rows):
            return rows[c]
        if c >= MAX_COURSES:
            raise RuntimeError(
                f"therapy {self.cat.names[k]!r}: a patient would start course {c + 1}; "
                f"at most {MAX_COURSES} courses of one therapy are supported"
            )
        n = self.start.shape[1]
        new = self.start.shape[0]
        self.start = np.vstack([self.start, np.full((1, n), np.inf)])
        self.stop = np.vstack([self.stop, np.full((1, n), np.inf)])
        self.end = np.vstack([self.end, np.full((1, n), np.inf)])
        self.se_time = np.concatenate([self.se_time, np.full((1, *self.se_time.shape[1:]), np.inf)])
        self._next.append(-np.inf)
        self.therapy.append(k)
        self.course_no.append(c)
        rows.append(new)
        self.used = sorted([*self.used, new], key=lambda x: (self.therapy[x], self.course_no[x]))
        self.version += 1
        return new

    def begin(self, k: int, at: np.ndarray, who: np.ndarray) -> np.ndarray:
        """Start therapy k at `at` for patients `who`: a first course for those who never
        had it, a new course for those whose latest course has ended by `at`; nothing
        for those on it or with a course still to begin. Returns whom it started."""
        at = np.broadcast_to(at, who.shape)
        row, end = self._latest(k)
        fresh = who & (row < 0)
        again = who & (row >= 0) & (end <= at)
        if fresh.any():
            self.start[k, fresh] = at[fresh]
            self._touch(k)
        for r in np.unique(row[again]):
            m = again & (row == r)
            nxt = self._row_after(int(r))
            self.start[nxt, m] = at[m]
            self._touch(nxt)
        return fresh | again

    def halt(self, k: int, at: np.ndarray, who: np.ndarray) -> np.ndarray:
        """Stop therapy k at `at` for patients `who` whose latest course has not ended by
        then (a course planned to begin after `at` is cancelled). Returns whom it stopped."""
        at = np.broadcast_to(at, who.shape)
        row, end = self._latest(k)
        on = who & (row >= 0) & (end > at)
        for r in np.unique(row[on]):
            self.halt_course(int(r), at, on & (row == r))
        return on

    def halt_course(self, r: int, at: np.ndarray, who: np.ndarray) -> None:
        """End the course in row r at `at` for patients `who` (cancel it if it begins later)."""
        at = np.broadcast_to(at, who.shape)
        running = who & (self.stop[r] > at)
        if not running.any():
            return
        self.stop[r, running] = at[running]
        cancel = running & (at < self.start[r])
        self.start[r, cancel] = np.inf
        self.stop[r, cancel] = np.inf
        self._touch(r)

    def add_side_effect(self, r: int, s: int, at: np.ndarray, who: np.ndarray) -> None:
        self.se_time[r, s, who] = at[who]
        self._next[r] = -np.inf

    # -- queries
    def _next_at(self, r: int, t: float) -> float:
        """The first start, stop or side effect of row r at or after t (cached)."""
        if self._next[r] < t:
            times = np.concatenate([self.start[r], self.end[r], self.se_time[r].ravel()])
            pending = times[times >= t]
            self._next[r] = float(pending.min()) if pending.size else np.inf
        return self._next[r]

    def has_event(self, r: int, t: float, t1: float) -> bool:
        """Whether any start, stop or side effect of row r falls in [t, t1)."""
        return self._next_at(r, t) < t1

    def next_event(self, t: float) -> float:
        """The first start, stop or side effect of any course at or after t (inf: none):
        a step [t, t1) with t1 <= it has no course event to log (`has_event`)."""
        return min((self._next_at(r, t) for r in self.used), default=np.inf)

    def activity(self, r: int, t: float, dt: float) -> np.ndarray:
        """Mean level (0..1) of row r's continuous levers over [t, t + dt).

        Steps only move forward, so a level is cached until the row's next change point
        (a start, the end of an onset ramp, an end): between change points, and with no
        ramp running, every patient's level is constant whatever the step size."""
        t1 = t + dt
        cached = self._act.get(r)
        if cached is not None and t1 <= cached[0]:
            return cached[1]
        k, cat = self.therapy[r], self.cat
        level, holds, until = course_activity(
            t, dt, self.start[r], self.end[r], float(cat.onset[k]), self.applies[k],
            float(cat.course[k]), float(cat.taper[k]),
        )  # fmt: skip
        if holds:
            self._act[r] = (until, level)
        return level

    def unchanged_until(self, r: int, level: np.ndarray | None, t: float, t1: float) -> float:
        """Until when row r's lever inputs stay as they were over the dose-free step
        [t, t1) in which its activity was `level` (None: no continuous lever), while no
        course changes: `activity` keeps returning that same cached array and `doses`
        finds none. t1 if they may change at once."""
        until = np.inf
        if level is not None:
            cached = self._act.get(r)
            if cached is None or cached[1] is not level:
                return t1
            until = cached[0]
        k = self.therapy[r]
        if self.cat.dosing[k]:
            first, final = self._dose_window(r)
            if final >= t:  # doses still to come: none before the first
                if first < t1:
                    return t1
                until = min(until, first)
        return until

    def doses(self, r: int, t: float, dt: float) -> np.ndarray | None:
        """Doses of row r's course given in [t, t + dt), or None if there are none."""
        cat, k = self.cat, self.therapy[r]
        first, final = self._dose_window(r)
        if first >= t + dt or final < t:  # no patient has a dose in the step
            return None
        d, given = course_doses(
            t,
            dt,
            self.start[r],
            self.end[r],
            float(cat.n_doses[k]),
            float(cat.interval[k]),
            self.applies[k],
        )
        return d if given else None

    def _dose_window(self, r: int) -> tuple[float, float]:
        """The first and the last scheduled dose of row r over its patients (cached)."""
        window = self._doses_at.get(r)
        if window is None:
            k = self.therapy[r]
            planned = self.start[r][np.isfinite(self.start[r])]
            window = (np.inf, -np.inf)
            if planned.size:
                span = (self.cat.n_doses[k] - 1.0) * self.cat.interval[k]
                window = (float(planned.min()), float(planned.max() + span))
            self._doses_at[r] = window
        return window

    # -- the log
    def record(
        self,
        t: float,
        dt: float,
        pid: np.ndarray,
        alive: np.ndarray,
        before_death: np.ndarray,
        doses: dict[int, np.ndarray],
        key: np.uint64,
        log: EventLog,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Log the courses' events in the step [t, t + dt) and draw side effects at each
        start; returns the side effects and severe side effects per patient in the step
        (None if there were none).

        `alive`: alive at the start of the step; `before_death`: the death time within
        the step (inf otherwise). Each dose is logged at its scheduled time (the
        dynamics apply a step's doses at its start); every event counts only if it
        comes before the patient's death.
        """
        cat = self.cat
        t1 = t + dt
        for r, dr in doses.items():
            given = (dr > 0) & alive
            if not given.any():
                continue
            # a long step can hold several doses: each is logged at its own time
            k = self.therapy[r]
            therapy, course = cat.names[k], self.course_no[r] + 1
            interval, start = float(cat.interval[k]), self.start[r]
            with np.errstate(invalid="ignore"):
                first = np.where(given, np.maximum(np.ceil((t - start) / interval), 0.0), 0.0)
            for m in range(int(dr[given].max())):
                at = start + (first + m) * interval
                now = given & (dr > m) & (at < before_death)
                if now.any():
                    log.add(pid[now], at[now], Event.DOSE, therapy=therapy, course=course)
        n_se = cat.se_prob.shape[1]
        count: np.ndarray | None = None
        severe: np.ndarray | None = None
        for r in self.used:
            if not self.has_event(r, t, t1):
                continue
            k = self.therapy[r]
            name = cat.names[k]
            c = self.course_no[r] + 1  # logged course number: 1 = first
            start = self.start[r]
            starting = (start >= t) & (start < t1) & alive & (start < before_death)
            if starting.any():
                log.add(pid[starting], start[starting], Event.THERAPY_START, therapy=name, course=c)
                self._draw_side_effects(r, starting, pid, key)
            end = self.end[r]
            ending = (end >= t) & (end < t1) & alive & (end < before_death)
            ending &= np.isfinite(start) & (end >= start)
            if ending.any():
                log.add(pid[ending], end[ending], Event.THERAPY_STOP, therapy=name, course=c)
            for s in range(n_se):
                if cat.se_prob[k, s] <= 0.0:
                    continue
                se_t = self.se_time[r, s]
                now = (se_t >= t) & (se_t < t1) & alive & (se_t < before_death)
                if now.any():
                    log.add(
                        pid[now],
                        se_t[now],
                        Event.SIDE_EFFECT,
                        therapy=name,
                        course=c,
                        side_effect=cat.configs[k].side_effects[s].name,
                        severe=bool(cat.se_severe[k, s]),
                    )
                    if count is None or severe is None:
                        count = np.zeros(len(pid), dtype=np.int16)
                        severe = np.zeros(len(pid), dtype=np.int16)
                    count[now] += 1
                    if cat.se_severe[k, s]:
                        severe[now] += 1
        return None if count is None or severe is None else (count, severe)

    def _draw_side_effects(
        self, r: int, starting: np.ndarray, pid: np.ndarray, key: np.uint64
    ) -> None:
        """Draw each side effect of the course beginning in row r for `starting`; one that
        stops the therapy ends this course at its onset."""
        cat, k, c = self.cat, self.therapy[r], self.course_no[r]
        start = self.start[r]
        for s in range(cat.se_prob.shape[1]):
            prob = cat.se_prob[k, s]
            if prob <= 0.0:
                continue
            name = side_effect_stream(cat.names[k], cat.configs[k].side_effects[s].name)
            u = rng.uniform(key, name, pid[starting], c)
            hit = np.zeros_like(starting)
            hit[starting] = u < prob
            at = start + cat.se_onset[k, s]
            self.add_side_effect(r, s, at, hit)
            if cat.se_stops[k, s]:
                self.halt_course(r, at, hit)
