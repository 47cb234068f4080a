"""Lever levels: what the running therapy courses do to the dynamics in a step.

Every therapy moves one or more *levers* (`sim.model.therapies.LEVERS`): continuous
ones (a share of immune restoration, of replication blocked ...) at the course's mean
activity over the step, per-dose ones (plasma-exchange removal, infused T cells) per
dose given in the step. When several courses move the same lever their effects are
combined as the lever says: `sum` adds them, `max` takes the strongest, `product`
treats them as independent shares, 1 - prod(1 - x).

The dynamics (`sim.model.dynamics.step`) only read the levels; the combination is done
by accumulating course by course in the schedule's (therapy, course number) order, so
the result is the same, bit for bit, as stacking the courses and reducing along them.
"""

from __future__ import annotations

import numpy as np

from sim.model.schedule import Schedule
from sim.model.therapies import LEVERS, Catalog


class LeverMemo:
    """The last step's levels and what they were made of, so a step whose courses are
    all as they were (the same cached activity arrays, no doses) reuses them: the same
    inputs give the same levels, so nothing changes but the time it takes."""

    def __init__(self) -> None:
        self.key: tuple | None = None  # None: nothing to reuse
        self.levels: dict[str, np.ndarray] = {}
        # the levels hold, unasked, for a step ending by `until` while the schedule is at
        # `version` (no course started, stopped or added since)
        self.until: float | None = None
        self.version = -1

    def remember(self, key: tuple | None, levels: dict[str, np.ndarray]) -> None:
        self.key, self.levels, self.until = key, levels, None


def lever_levels(
    t: float,
    dt: float,
    cat: Catalog,
    sch: Schedule,
    zeros: np.ndarray | None = None,
    memo: LeverMemo | None = None,
) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Each lever's level over [t, t + dt), and the doses of each course (schedule row)
    in the step. A lever no course moves gets `zeros` (a shared read-only array when
    given: the caller must not write into the levels, which `memo` may hand out again)."""
    t1 = t + dt
    if memo is not None and memo.until is not None and memo.version == sch.version:
        if t1 <= memo.until:  # every course as it was: what the loop below would find
            return memo.levels, {}
    n = sch.start.shape[1]
    rows = []  # (row, its doses in the step, its activity level)
    quiet = True  # no doses in the step: the levels depend on the activities alone
    dosing, continuous = cat.dosing, cat.continuous
    for r in sch.used:
        k = sch.therapy[r]
        dk = sch.doses(r, t, dt) if dosing[k] else None
        rows.append((r, dk, sch.activity(r, t, dt) if continuous[k] else None))
        quiet = quiet and dk is None
    key = tuple((r, a) for r, _, a in rows)
    if (
        memo is not None
        and quiet
        and memo.key is not None
        and len(key) == len(memo.key)
        and all(r == r0 and a is a0 for (r, a), (r0, a0) in zip(key, memo.key, strict=True))
    ):
        _hold(memo, sch, key, t, t1)
        return memo.levels, {}
    # sum: running sum; max: running max; product: running product of (1 - x)
    acc: dict[str, np.ndarray] = {}
    doses: dict[int, np.ndarray] = {}
    for r, dk, act in rows:
        k = sch.therapy[r]
        if dk is not None and cat.interval[k] > 0.0:
            doses[r] = dk
        for lv in cat.levers[k]:
            kind, combine, _, _ = LEVERS[lv]
            mag = cat.magnitude[lv][k]
            if kind == "continuous":
                x = mag * act
            elif dk is not None:
                # per-session removal compounds; transfers add up
                x = 1.0 - (1.0 - mag) ** dk if combine == "product" else mag * dk
            else:
                continue
            prev = acc.get(lv)
            if combine == "product":
                x = 1.0 - x
                acc[lv] = x if prev is None else prev * x
            elif combine == "sum":
                acc[lv] = x if prev is None else prev + x
            else:
                acc[lv] = x if prev is None else np.maximum(prev, x)
    if zeros is None:
        zeros = np.zeros(n)
    levels = {
        lv: (1.0 - acc[lv] if LEVERS[lv][1] == "product" else acc[lv]) if lv in acc else zeros
        for lv in LEVERS
    }
    for lv in acc:  # fresh arrays: read-only, as the kernel takes them (no view to make)
        levels[lv].flags.writeable = False
    if memo is not None:
        memo.remember(key if quiet else None, levels)
        if quiet:
            _hold(memo, sch, key, t, t1)
    return levels, doses


def _hold(memo: LeverMemo, sch: Schedule, key: tuple, t: float, t1: float) -> None:
    """Record until when the quiet step [t, t1)'s levels hold: the first time a course's
    activity may change or a dose may fall (`Schedule.unchanged_until`)."""
    memo.until = min((sch.unchanged_until(r, a, t, t1) for r, a in key), default=np.inf)
    memo.version = sch.version
