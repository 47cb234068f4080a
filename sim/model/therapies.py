"""Therapy catalog: each therapy is data saying which model lever it moves and how much.

A therapy acts through one or more *levers* of the within-host model
(`sim.model.dynamics`). Levers come in three kinds:

- continuous levers act while the course runs (from start to start + course_days,
  or until stopped), ramping up linearly over `onset_days`;
- per-dose levers act once at every dose (plasma-exchange sessions, T-cell infusions);
- the combination rule says how two therapies on the same lever add up.

A therapy acts only in the conditions listed in `applies_to` (ART does nothing
outside HIV; stopping natalizumab does nothing in a patient not on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.schema import CONDITIONS, TherapyConfig
from sim.core.jit import njit

# lever -> (kind, combination, allowed range, meaning)
LEVERS: dict[str, tuple[str, str, tuple[float, float], str]] = {
    "immune_restoration": (
        "continuous",
        "max",
        (0.0, 1.0),
        "share of the gap between baseline CD4 and the condition's CD4 ceiling that "
        "becomes the new set point (1 = full restoration)",
    ),
    "natalizumab_stop": ("continuous", "max", (0.0, 1.0), "1 = natalizumab stopped (washout)"),
    "drug_removal_per_dose": (
        "per_dose",
        "product",
        (0.0, 1.0),
        "share of circulating natalizumab removed at each session",
    ),
    "lymphocyte_expansion_per_day": (
        "continuous",
        "sum",
        (0.0, 1.0),
        "exponential expansion rate of blood T cells while active (1/day)",
    ),
    "t_cell_function": (
        "continuous",
        "product",
        (0.0, 1.0),
        "share of the exhaustion gap (1 - function) closed",
    ),
    "effector_transfer_per_dose": (
        "per_dose",
        "sum",
        (0.0, 10.0),
        "JCV-specific effector units added at each infusion",
    ),
    "antiviral": ("continuous", "product", (0.0, 1.0), "share of JCV replication blocked"),
    "effector_suppression": (
        "continuous",
        "product",
        (0.0, 1.0),
        "share of the JCV-specific effector response suppressed",
    ),
    "iris_inflammation": (
        "continuous",
        "product",
        (0.0, 1.0),
        "share of IRIS inflammation (damage and death hazard) suppressed",
    ),
    "iris_hazard": ("continuous", "product", (0.0, 1.0), "share of the IRIS onset hazard removed"),
    "iris_resolution_speedup": (
        "continuous",
        "sum",
        (0.0, 10.0),
        "IRIS resolves (1 + x) times faster while active",
    ),
    "disability_recovery": (
        "continuous",
        "max",
        (0.0, 1.0),
        "share of the neurological deficit regained by survivors",
    ),
}

# Model parameters that act only through one lever: without a therapy moving that lever
# they change no patient (the transferred effector pool is fed only by infused T cells,
# `effector_transfer_per_dose`). The one-way analysis reads this to skip them for a pair
# of strategies that gives no such therapy (sim.economics.dsa.enters_comparison).
LEVER_ONLY_PARAMS: dict[str, str] = {
    "model.transferred_effector_half_life_days": "effector_transfer_per_dose",
}


@dataclass(frozen=True)
class Catalog:
    """The therapies as arrays, in name order: the order of the config's keys changes
    nothing (not even the summation order of the levers), and a therapy added to the
    catalog leaves the others' order, and so their numbers, as they were."""

    names: tuple[str, ...]
    configs: tuple[TherapyConfig, ...]
    applies: np.ndarray  # (K, n_conditions) bool
    onset: np.ndarray  # (K,)
    taper: np.ndarray  # (K,) days over which the level falls to 0 before the planned end
    course: np.ndarray  # (K,) inf = open-ended
    n_doses: np.ndarray  # (K,)
    interval: np.ndarray  # (K,)
    magnitude: dict[str, np.ndarray]  # lever -> (K,)
    se_prob: np.ndarray  # (K, S) side-effect probabilities (0 = no such side effect)
    se_onset: np.ndarray  # (K, S) days after start
    se_stops: np.ndarray  # (K, S) bool: the side effect ends the course
    se_severe: np.ndarray  # (K, S) bool
    per_dose: np.ndarray  # (K,) bool: has a per-dose lever
    levers: tuple[tuple[str, ...], ...]  # per therapy: the levers it moves (nonzero)
    # per therapy, as plain bools for the per-step loop (`sim.model.levers`): it is
    # given in doses (a dose interval or a per-dose lever); it moves a continuous lever
    dosing: tuple[bool, ...]
    continuous: tuple[bool, ...]

    @classmethod
    def build(cls, therapies: dict[str, TherapyConfig]) -> Catalog:
        names = tuple(sorted(therapies))
        cfgs = tuple(therapies[n] for n in names)
        k = len(names)
        applies = np.zeros((k, len(CONDITIONS)), dtype=bool)
        for i, c in enumerate(cfgs):
            for cond in c.applies_to:
                if cond == "all":
                    applies[i, :] = True
                else:
                    applies[i, CONDITIONS.index(cond)] = True
        course = np.array(
            [np.inf if c.course_days is None else float(c.course_days) for c in cfgs], dtype=float
        )
        mag = {lv: np.array([c.levers.get(lv, 0.0) for c in cfgs], dtype=float) for lv in LEVERS}
        moves = tuple(tuple(lv for lv in LEVERS if mag[lv][i] != 0.0) for i in range(k))
        n_se = max([len(c.side_effects) for c in cfgs] + [1])
        se_prob = np.zeros((k, n_se))
        se_onset = np.zeros((k, n_se))
        se_stops = np.zeros((k, n_se), dtype=bool)
        se_severe = np.zeros((k, n_se), dtype=bool)
        for i, c in enumerate(cfgs):
            for j, se in enumerate(c.side_effects):
                se_prob[i, j], se_onset[i, j] = se.probability, se.onset_days
                se_stops[i, j], se_severe[i, j] = se.stops_therapy, se.severe
        per_dose = [any(LEVERS[lv][0] == "per_dose" for lv in m) for m in moves]
        return cls(
            names=names,
            configs=cfgs,
            applies=applies,
            onset=np.array([c.onset_days for c in cfgs], dtype=float),
            taper=np.array([c.taper_days for c in cfgs], dtype=float),
            course=course,
            n_doses=np.array([c.n_doses for c in cfgs], dtype=float),
            interval=np.array([c.dose_interval_days for c in cfgs], dtype=float),
            magnitude=mag,
            se_prob=se_prob,
            se_onset=se_onset,
            se_stops=se_stops,
            se_severe=se_severe,
            per_dose=np.array(per_dose),
            levers=moves,
            dosing=tuple(
                c.dose_interval_days > 0.0 or p for c, p in zip(cfgs, per_dose, strict=True)
            ),
            continuous=tuple(any(LEVERS[lv][0] == "continuous" for lv in m) for m in moves),
        )

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def side_effect_names(self) -> tuple[str, ...]:
        """Every side-effect name of the catalog, sorted (a name may recur across therapies)."""
        return tuple(sorted({se.name for c in self.configs for se in c.side_effects}))


@njit(cache=True, error_model="numpy")
def _ramp_area(u: float, onset: float) -> float:
    """Integral over [0, u] of the onset ramp min(tau / onset, 1) (0 for u <= 0)."""
    u = max(u, 0.0)
    if onset <= 0.0:
        return u
    return 0.5 * u * u / onset if u < onset else u - 0.5 * onset


@njit(cache=True, error_model="numpy")
def course_activity(
    t: float,
    dt: float,
    start: np.ndarray,
    end: np.ndarray,
    onset: float,
    applies: np.ndarray,
    course: float = np.inf,
    taper: float = 0.0,
) -> tuple[np.ndarray, bool, float]:
    """Each patient's mean level of a course over [t, t + dt) (`activity`) times
    `applies`; and whether that level holds unchanged beyond t + dt, until when: no
    ramp running in the step and no start, end of ramp or end inside it; it then holds
    until the next of these after the step (a compiled loop: one pass, no temporaries).

    With a taper the level also falls linearly from 1 at `start + course - taper` to 0
    at the planned end `start + course`. Onset ramp and taper do not overlap
    (validated), so at every moment one of the two is at 1 and the level is their sum
    minus 1: the step's mean adds the taper ramp's area over the step, less the step's
    time on the course. Without a taper the level is computed as it always was."""
    t1 = t + dt
    level = np.empty(start.shape[0])
    ramping = inside = False
    until = np.inf
    for i in range(start.shape[0]):
        s, e = start[i], end[i]
        planned = s + course  # the planned end, where a taper reaches 0
        taper_start = planned - taper if taper > 0.0 else np.inf
        if np.isfinite(s) and e > s:
            area = _ramp_area(min(t1, e) - s, onset) - _ramp_area(min(t, e) - s, onset)
            a, b = min(max(t, s), e), min(max(t1, s), e)  # the step's time on the course
            if b > taper_start:  # the step reaches into the taper
                area += _ramp_area(planned - a, taper) - _ramp_area(planned - b, taper)
                area -= b - a
            level[i] = area / dt * applies[i]
        else:
            level[i] = 0.0 * applies[i]
        ramp_end = s + onset
        ramping = ramping or (onset > 0.0 and s < t1 and t < ramp_end)
        if taper > 0.0:
            ramping = ramping or (s < t1 and t < e and taper_start < t1 and t < planned)
        for x in (s, ramp_end, e, taper_start):
            if t < x < t1:
                inside = True
            elif x >= t1 and x < until:
                until = x
    return level, not (ramping or inside), until


def activity(
    t: float,
    dt: float,
    start: np.ndarray,
    end: np.ndarray,
    onset: float,
    course: float = np.inf,
    taper: float = 0.0,
) -> np.ndarray:
    """Mean effect level (0..1) of a continuous lever over the step [t, t + dt).

    The level ramps linearly from 0 at `start` to 1 at `start + onset`, falls linearly
    to 0 over the last `taper` days of the planned course (`start + course`) and drops
    to 0 at `end`; its mean over the step is integrated exactly, so a course that
    begins or ends inside a step counts for the share of the step it covers, whatever
    the step size.
    """
    start, end = (np.ascontiguousarray(x, dtype=np.float64) for x in (start, end))
    ones = np.ones_like(start)
    return course_activity(
        float(t), float(dt), start, end, float(onset), ones, float(course), float(taper)
    )[0]


def doses_in_step(
    t: float,
    dt: float,
    start: np.ndarray,
    end: np.ndarray,
    n_doses: float,
    interval: float,
) -> np.ndarray:
    """Number of doses given in [t, t + dt): dose j at start + j * interval, j < n_doses."""
    start, end = (np.ascontiguousarray(x, dtype=np.float64) for x in (start, end))
    ones = np.ones(start.shape[0])
    return course_doses(float(t), float(dt), start, end, float(n_doses), float(interval), ones)[0]


@njit(cache=True, error_model="numpy")
def course_doses(
    t: float,
    dt: float,
    start: np.ndarray,
    end: np.ndarray,
    n_doses: float,
    interval: float,
    applies: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """Each patient's doses of a course in [t, t + dt) (`doses_in_step`) times `applies`,
    and whether any patient has one (a compiled loop: one pass, no temporaries).

    With an interval, the doses j_lo <= j < j_hi fall in the step, where j_lo and j_hi
    count the dose times before t and before t + dt (ceil((x - start) / interval),
    clipped to 0..n_doses) and j_hi stops at the doses scheduled before the course's end;
    without one, the single dose at the start. Only exact operations (division, ceil,
    comparisons), so the counts are those numpy gives element by element."""
    t1 = t + dt
    out = np.empty(start.shape[0])
    given = False
    for i in range(start.shape[0]):
        s = start[i]
        if not np.isfinite(s):  # no course
            out[i] = 0.0 * applies[i]
            continue
        if interval <= 0.0:
            n = 1.0 if (s >= t and s < t1 and s < end[i]) else 0.0
        else:
            j_lo = min(max(np.ceil((t - s) / interval), 0.0), n_doses)
            j_hi = min(max(np.ceil((t1 - s) / interval), 0.0), n_doses)
            # doses scheduled at or after the stop time are not given
            j_end = min(max(np.ceil((end[i] - s) / interval), 0.0), n_doses)
            n = max(min(j_hi, j_end) - j_lo, 0.0)
        out[i] = n * applies[i]
        given = given or out[i] != 0.0
    return out, given
