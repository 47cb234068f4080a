"""The therapy events of an event log, checked against the config before costing.

The economics reads the typed fields of the log (`sim.model.events`): the event code,
the therapy (a catalog name), the course number (1 = first course, 2 = its restart
...), the side effect and its severity. It never parses the `detail` labels, so a
renamed label changes nothing, and anything the costing cannot take as it stands
raises `EventLogError` instead of silently costing 0:

* a therapy event naming a therapy outside the config's catalog, or one without a
  price in `economics.costs.therapies`;
* a side effect its therapy does not have in the config, or whose `severe` flag
  differs from the config's;
* a course with two starts or two stops; a stop, dose or side effect without the
  start of its course; a stop before its start;
* a course without a stop that should have ended (start + `course_days`) before the
  patient's end (death or horizon): a stop is missing from the log.

A start pairs with the stop of its own (patient, therapy, course), not with the k-th
stop of the patient.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from sim.config.schema import TherapyConfig
from sim.model.events import NO_COURSE, THERAPY_EVENTS, Event

#: Columns of the event log the economics reads.
EVENT_COLUMNS = ("patient_id", "time_days", "event", "therapy", "course", "side_effect", "severe")
#: A course without a logged stop must still run at the patient's end (death or
#: horizon), up to this many days: the engine's last step may end a float rounding
#: (or a skipped remainder shorter than 1e-9 days) short of the horizon.
END_TOLERANCE_DAYS = 1e-6


#: By `Event` code: whether it is a therapy event (a lookup, not a set test per row).
_IS_THERAPY_EVENT = np.array([Event(i) in THERAPY_EVENTS for i in range(len(Event))])


class EventLogError(ValueError):
    """An event log the economics cannot cost as it stands."""


def _describe(events: pd.DataFrame, i: int) -> str:
    """Row i of the log in words, for error messages."""
    r = events.iloc[i]
    return (
        f"patient {r['patient_id']}, day {r['time_days']:g}, {r['event']} of therapy "
        f"{r['therapy']!r}, course {r['course']}"
    )


def _column_codes(col: pd.Series) -> tuple[np.ndarray, list]:
    """A column as (codes, labels), labels[codes[i]] being row i's value: a categorical
    column by its categories (missing: a last label None), so a name is looked up once
    per label, not once per row."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        labels = [*col.cat.categories, None]
        codes = col.cat.codes.to_numpy().astype(np.int64)
        codes[codes < 0] = len(labels) - 1
        return codes, labels
    codes, uniques = pd.factorize(col.astype(object), use_na_sentinel=False)
    return codes.astype(np.int64), list(uniques)


def _therapy_index(
    events: pd.DataFrame, is_th: np.ndarray, names: list[str], priced: Iterable[str]
) -> np.ndarray:
    """Each row's therapy as an index into `names` (-1 for rows that are no therapy
    event); a therapy event of an unknown or unpriced therapy raises."""
    code, labels = _column_codes(events["therapy"])
    index = {x: i for i, x in enumerate(names)}
    th = np.array([index.get(x, -1) for x in labels], dtype=np.int64)[code]
    th = np.where(is_th, th, -1)
    bad = np.flatnonzero(is_th & (th < 0))
    if bad.size:
        raise EventLogError(
            f"unknown therapy ({_describe(events, bad[0])}); the config's therapies: {names}"
        )
    present = np.flatnonzero(np.bincount(th[is_th], minlength=len(names)))
    unpriced = sorted({names[k] for k in present} - set(priced))
    if unpriced:
        raise EventLogError(
            f"therapy {unpriced[0]!r} is in the event log but has no price in "
            "economics.costs.therapies"
        )
    return th


def _severity(
    events: pd.DataFrame, codes: np.ndarray, th: np.ndarray, therapies: dict[str, TherapyConfig]
) -> np.ndarray:
    """Per row: a severe side effect, by the config (the side effect looked up by name
    among its therapy's); an unknown side effect or a `severe` flag that disagrees
    with the config raises."""
    names = list(therapies)
    se = codes == Event.SIDE_EFFECT
    severe = np.zeros(len(codes), dtype=bool)
    se_code, labels = _column_codes(events["side_effect"])
    configs = list(therapies.values())
    for k in np.flatnonzero(np.bincount(th[se], minlength=len(configs))):  # therapies with
        cfg = configs[k]  # side effects in the log only
        rows = np.flatnonzero(se & (th == k))
        own = {x.name: j for j, x in enumerate(cfg.side_effects)}
        j = np.array([own.get(x, -1) for x in labels], dtype=np.int64)[se_code[rows]]
        if (j < 0).any():
            i = rows[np.flatnonzero(j < 0)[0]]
            raise EventLogError(
                f"side effect {labels[se_code[i]]!r} is not one of {names[k]!r}'s in the config "
                f"({_describe(events, i)})"
            )
        severe[rows] = np.array([x.severe for x in cfg.side_effects], dtype=bool)[j]
    differs = np.flatnonzero(se & (events["severe"].to_numpy(dtype=bool) != severe))
    if differs.size:
        raise EventLogError(
            f"severe flag differs from the config ({_describe(events, differs[0])})"
        )
    return severe


def in_sorted(x: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """np.isin(x, sorted_keys) for keys already sorted (a binary search each)."""
    if sorted_keys.size == 0:
        return np.zeros(x.shape, dtype=bool)
    pos = np.searchsorted(sorted_keys, x)
    return (pos < sorted_keys.size) & (sorted_keys[np.minimum(pos, sorted_keys.size - 1)] == x)


def _check_courses(
    events: pd.DataFrame,
    codes: np.ndarray,
    key: np.ndarray,
    th: np.ndarray,
    end_days: np.ndarray,
    course_days: np.ndarray,
) -> None:
    """Starts, stops, doses and side effects of each course (`key`: one integer per
    patient, therapy and course) fit together; `end_days`: each row's patient's end
    (death or horizon); `course_days`: per therapy (inf = open-ended)."""
    starts = np.flatnonzero(codes == Event.THERAPY_START)
    stops = np.flatnonzero(codes == Event.THERAPY_STOP)
    by_key = np.argsort(key[starts])
    start_keys, stop_keys = key[starts][by_key], np.sort(key[stops])
    checks = (("two starts", starts, start_keys), ("two stops", stops, stop_keys))
    for what, idx, k_sorted in checks:
        dup = np.flatnonzero(k_sorted[1:] == k_sorted[:-1])
        if dup.size:
            i = idx[np.flatnonzero(key[idx] == k_sorted[dup[0]])[0]]
            raise EventLogError(f"{what} of one course ({_describe(events, i)})")
    others = np.flatnonzero((th >= 0) & (codes != Event.THERAPY_START))
    orphan = others[~in_sorted(key[others], start_keys)]
    if orphan.size:
        raise EventLogError(f"no therapy_start of this course ({_describe(events, orphan[0])})")
    t = events["time_days"].to_numpy(dtype=float)
    start_of_stop = t[starts[by_key]][np.searchsorted(start_keys, key[stops])]
    early = stops[t[stops] < start_of_stop]
    if early.size:
        raise EventLogError(f"therapy_stop before its start ({_describe(events, early[0])})")
    open_ = starts[~in_sorted(key[starts], stop_keys)]
    due = t[open_] + course_days[th[open_]] < end_days[open_] - END_TOLERANCE_DAYS
    if due.any():
        raise EventLogError(
            "no therapy_stop although the course ended before the patient's end "
            f"({_describe(events, open_[due][0])})"
        )


def check_therapy_events(
    events: pd.DataFrame,
    codes: np.ndarray,
    row: np.ndarray,
    end_days: np.ndarray,
    therapies: dict[str, TherapyConfig],
    priced: Iterable[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Check the therapy events of an event log (see the module docstring).

    `codes`: the rows' `Event` codes; `row`: each row's patient as an index into
    `end_days` (the patients' death or horizon, days); `therapies`: the catalog;
    `priced`: the therapies with a price. Returns per row the therapy (index into
    `therapies`, -1 for rows that are no therapy event) and whether it is a severe
    side effect.
    """
    missing = [c for c in EVENT_COLUMNS if c not in events]
    if missing:
        raise EventLogError(
            f"the event log lacks {missing}: the economics reads the typed event fields "
            "(sim.model.events), not the detail labels"
        )
    is_th = _IS_THERAPY_EVENT[codes]
    th = _therapy_index(events, is_th, list(therapies), priced)
    course = events["course"].to_numpy().astype(np.int64)
    bad = np.flatnonzero(is_th & (course <= NO_COURSE))
    if bad.size:
        raise EventLogError(f"no course number ({_describe(events, bad[0])})")
    severe = _severity(events, codes, th, therapies)
    width = int(course.max(initial=NO_COURSE)) + 1  # > any course: one integer per course
    key = (row.astype(np.int64) * len(therapies) + th) * width + course
    course_days = np.array(
        [np.inf if c.course_days is None else float(c.course_days) for c in therapies.values()]
    )
    _check_courses(events, codes, key, th, end_days[row], course_days)
    return th, severe
