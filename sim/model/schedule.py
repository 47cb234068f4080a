"""Therapy timing of a group of patients: who starts and stops what, when.

Arrays are therapy-major, shape (K, n), so one therapy's row is contiguous. Most
days nothing changes in a therapy's schedule, so the schedule caches, per therapy,
the next time anything happens (a start, a stop, a side effect) and the activity
level of its continuous levers between changes; the dynamics skip a therapy's
bookkeeping on quiet days. Caching never changes a value, only avoids recomputing it.
"""

from __future__ import annotations

import numpy as np

from sim.model.therapies import Catalog, activity, doses_in_step


class Schedule:
    def __init__(
        self,
        cat: Catalog,
        start: np.ndarray,
        stop: np.ndarray,
        used: list[int],
        applies: np.ndarray,
        iris_actions: list[tuple[str, list[int], list[int], float]],
    ) -> None:
        k, n = start.shape
        self.cat = cat
        self.start = start  # (K, n), inf = never
        self.stop = stop  # (K, n), inf = not stopped early
        self.used = used  # therapies this strategy can ever start
        self.applies = applies.astype(float)  # (K, n): therapy acts in this condition
        self.iris_actions = iris_actions  # (rule name, starts, stops, delay)
        n_se = cat.se_prob.shape[1]
        self.se_time = np.full((k, n_se, n), np.inf)
        self.end = np.minimum(stop, start + cat.course[:, None])
        self._next = np.full(k, -np.inf)  # next pending time per therapy (stale if < t)
        self._act: dict[int, tuple[float, np.ndarray]] = {}  # k -> (valid until, level)

    # -- changes
    def _touch(self, k: int) -> None:
        self.end[k] = np.minimum(self.stop[k], self.start[k] + self.cat.course[k])
        self._next[k] = -np.inf
        self._act.pop(k, None)

    def begin(self, k: int, at: np.ndarray, who: np.ndarray) -> None:
        """Start therapy k at time `at` for patients `who` who have not had it yet."""
        fresh = who & ~np.isfinite(self.start[k])
        if fresh.any():
            self.start[k, fresh] = np.broadcast_to(at, fresh.shape)[fresh]
            self._touch(k)

    def halt(self, k: int, at: np.ndarray, who: np.ndarray) -> None:
        """Stop therapy k at `at` for patients `who` on it (started, not yet stopped)."""
        running = who & np.isfinite(self.start[k]) & (self.stop[k] > at)
        if running.any():
            self.stop[k, running] = np.broadcast_to(at, running.shape)[running]
            self._touch(k)

    def add_side_effect(self, k: int, s: int, at: np.ndarray, who: np.ndarray) -> None:
        self.se_time[k, s, who] = at[who]
        self._next[k] = -np.inf

    # -- queries
    def has_event(self, k: int, t: float, t1: float) -> bool:
        """Whether any start, stop or side effect of therapy k falls in [t, t1)."""
        if self._next[k] < t:
            times = np.concatenate([self.start[k], self.end[k], self.se_time[k].ravel()])
            pending = times[times >= t]
            self._next[k] = pending.min() if pending.size else np.inf
        return self._next[k] < t1

    def activity(self, k: int, t: float, dt: float) -> np.ndarray:
        """Level (0..1) of therapy k's continuous levers over [t, t + dt)."""
        mid = t + 0.5 * dt
        cached = self._act.get(k)
        if cached is not None and mid < cached[0]:
            return cached[1]
        start, end, onset = self.start[k], self.end[k], float(self.cat.onset[k])
        level = activity(t, dt, start, end, onset) * self.applies[k]
        ramping = onset > 0.0 and bool(np.any((start < mid) & (mid < start + onset)))
        if not ramping:
            changes = np.concatenate([start, start + onset, end])
            later = changes[changes > mid]
            self._act[k] = (later.min() if later.size else np.inf, level)
        return level

    def doses(self, k: int, t: float, dt: float) -> np.ndarray | None:
        """Doses of therapy k given in [t, t + dt), or None if there are none."""
        cat = self.cat
        last = self.start[k] + (cat.n_doses[k] - 1.0) * cat.interval[k]
        if not np.any((self.start[k] < t + dt) & (last >= t)):
            return None
        d = doses_in_step(t, dt, self.start[k], self.end[k], cat.n_doses[k], cat.interval[k])
        d = d * self.applies[k]
        return d if d.any() else None
