"""The model's time steps: short after anything changes, long where the state is quiet.

Within a step the dynamics hold the lever levels at their means and integrate the
rest exactly or to second order (`sim.model.dynamics.step`). What a long step gets
wrong is a sudden change inside it: a therapy starting or stopping, a dose, the
response to a visit's decision. So steps restart short at every *calendar point*
and grow from there:

* calendar points are the visits and the times at which a therapy started on the
  calendar changes its levers: each start (at diagnosis, on its `start_day`, or by a
  visit rule at a visit plus the rule's delay), the end of its onset ramp, the start
  of its taper, its doses,
  its planned stop and end of course, and the onset of a side effect that stops it;
* after a calendar point the steps are `dt_first_days`, then as long as the time
  since that point (so they double), up to `dt_days`; a step never crosses a point.

The grid depends on the strategy, the catalog and the visit calendar, never on the
patients, so every patient gets the same numbers whatever chunk or engine runs them.
Changes that are the patient's own (a therapy started on IRIS diagnosis, a side effect
of such a therapy) fall inside steps and are averaged over them.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from sim.config.schema import CONDITIONS, ModelConfig, MonitoringConfig
from sim.model.strategies import Compiled
from sim.model.therapies import Catalog

# levers read only after follow-up (residual disability), not by the dynamics
AFTER_FOLLOW_UP = frozenset({"disability_recovery"})


def _moves_dynamics(k: int, cat: Catalog) -> bool:
    return any(lv not in AFTER_FOLLOW_UP for lv in cat.levers[k])


def _course_points(k: int, start: float, stop: float, cat: Catalog) -> list[float]:
    """Times at which a course of therapy k starting at `start` changes the levers the
    dynamics read (none for a therapy that moves none of them)."""
    if not _moves_dynamics(k, cat):
        return []
    end = min(stop, start + float(cat.course[k]))
    points = [start, start + float(cat.onset[k]), end]
    if cat.taper[k] > 0.0:  # the taper begins: the level starts to fall
        points.append(start + float(cat.course[k]) - float(cat.taper[k]))
    if cat.interval[k] > 0.0:
        n = int(cat.n_doses[k])
        points += [start + j * float(cat.interval[k]) for j in range(n)]
    for s in range(cat.se_prob.shape[1]):
        if cat.se_prob[k, s] > 0.0 and cat.se_stops[k, s]:
            points.append(start + float(cat.se_onset[k, s]))
    return [p for p in points if np.isfinite(p) and p <= end]


def calendar_points(
    strategy: Compiled, cat: Catalog, visits: list[float], horizon: float
) -> np.ndarray:
    """Sorted calendar points in (0, horizon) shared by every patient of the strategy."""
    points: list[float] = [0.0, *visits]
    for ci in range(len(CONDITIONS)):
        for k in strategy.soc[ci]:
            points += _course_points(k, 0.0, np.inf, cat)
    for k, start, stop in strategy.initial:
        points += _course_points(k, start, stop, cat)
    for rule in strategy.visit_rules:
        days = visits if rule.at_day is None else [rule.at_day]
        for day in days:
            at = day + rule.delay
            for k in rule.start:
                points += _course_points(k, at, np.inf, cat)
            points += [at for k in rule.stop if _moves_dynamics(k, cat)]
    p = np.unique(np.asarray(points, dtype=float))
    return p[np.isfinite(p) & (p > 0.0) & (p < horizon)]


class TimeGrid:
    """Step sizes: `first` after each calendar point, then the time since it, up to `longest`."""

    def __init__(self, points: np.ndarray, model: ModelConfig) -> None:
        self.points = points
        # the same floats as a list: a step is looked up a hundred times a run, and
        # bisect on a list is what np.searchsorted(side="right") is, without numpy's
        # per-call cost
        self._points: list[float] = [float(x) for x in points]
        self.longest = float(model.dt_days)
        self.first = min(float(model.dt_first_days), self.longest)

    @classmethod
    def build(
        cls, strategy: Compiled, cat: Catalog, model: ModelConfig, monitoring: MonitoringConfig
    ) -> TimeGrid:
        """The grid of a strategy on the monitoring calendar (any horizon)."""
        visits = sorted(monitoring.visit_days)
        return cls(calendar_points(strategy, cat, visits, np.inf), model)

    def step(self, t: float, until: float, eps: float) -> float:
        """The step from t: never past `until` or the next calendar point."""
        pts = self._points
        i = bisect_right(pts, t + eps)
        last = pts[i - 1] if i > 0 else 0.0
        nxt = pts[i] if i < len(pts) else np.inf
        h = min(self.longest, max(self.first, t - last))
        return min(h, until - t, nxt - t)
