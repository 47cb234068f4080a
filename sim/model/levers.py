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


def lever_levels(
    t: float, dt: float, cat: Catalog, sch: Schedule, zeros: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Each lever's level over [t, t + dt), and the doses of each course (schedule row)
    in the step. A lever no course moves gets `zeros` (a shared read-only array when
    given: the caller must not write into the levels)."""
    n = sch.start.shape[1]
    # sum: running sum; max: running max; product: running product of (1 - x)
    acc: dict[str, np.ndarray] = {}
    doses: dict[int, np.ndarray] = {}
    for r in sch.used:
        k = sch.therapy[r]
        dk = sch.doses(r, t, dt) if cat.interval[k] > 0.0 or cat.per_dose[k] else None
        if dk is not None and cat.interval[k] > 0.0:
            doses[r] = dk
        for lv in cat.levers[k]:
            kind, combine, _, _ = LEVERS[lv]
            mag = cat.magnitude[lv][k]
            if kind == "continuous":
                x = mag * sch.activity(r, t, dt)
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
    return levels, doses
