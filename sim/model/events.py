"""Clinical event codes and the event log both engines write to.

Every event is logged with typed fields, not only a text label: the event code, and
for therapy events the therapy (a catalog name) and its course number (1 = first
course, 2 = its first restart ...), for side effects the side-effect name and whether
it is severe, for `rule_fired` the rule's name. Readers (the economics, the study
targets) use these fields; the `detail` label is written from them for people and
scripts reading `events.parquet`:

| event | detail | therapy | course | side_effect | severe | rule |
|---|---|---|---|---|---|---|
| therapy_start, dose, therapy_stop | therapy | therapy | >= 1 | - | False | - |
| side_effect | "therapy:side effect" | therapy | >= 1 | name | from config | - |
| rule_fired | rule | - | 0 | - | False | rule |
| any other | "" | - | 0 | - | False | - |

(- = missing: NaN in a categorical column.) `therapy`, `side_effect` and `rule` are
categoricals whose categories are declared when the log is made (catalog therapies,
catalog side effects, the strategy's rules), so a name outside them is an error at
logging time, and every chunk of a run has the same categories.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numpy as np
import pandas as pd


class Event(IntEnum):
    """Event codes; the log stores the name. Order = tie-break order at equal times."""

    DIAGNOSIS = 0
    VISIT = 1
    RULE_FIRED = 2
    THERAPY_START = 3
    DOSE = 4
    SIDE_EFFECT = 5
    THERAPY_STOP = 6
    IRIS_ONSET = 7
    IRIS_DIAGNOSIS = 8
    IRIS_RESOLVED = 9
    DEATH = 10
    END_OF_FOLLOW_UP = 11


#: The `event` column's values (categories, in code order).
EVENT_NAMES: tuple[str, ...] = tuple(e.name.lower() for e in Event)
#: Events about one course of one therapy: they carry `therapy` and `course`.
THERAPY_EVENTS: frozenset[Event] = frozenset(
    {Event.THERAPY_START, Event.DOSE, Event.SIDE_EFFECT, Event.THERAPY_STOP}
)
#: Columns of `EventLog.to_frame` (the engine prepends `strategy`).
COLUMNS: tuple[str, ...] = (
    "patient_id",
    "time_days",
    "event",
    "detail",
    "therapy",
    "course",
    "side_effect",
    "severe",
    "rule",
)
#: `course` of an event that is not about a therapy course.
NO_COURSE = 0
#: Separator of therapy and side effect in a side effect's `detail` label.
SIDE_EFFECT_SEP = ":"


@dataclass(frozen=True)
class Entry:
    """What one `EventLog.add` call records for each of its patients."""

    code: Event
    therapy: str | None = None
    course: int = NO_COURSE
    side_effect: str | None = None
    severe: bool = False
    rule: str | None = None

    @property
    def detail(self) -> str:
        """The human-readable label of the `detail` column (its format never changes)."""
        if self.code == Event.SIDE_EFFECT:
            return f"{self.therapy}{SIDE_EFFECT_SEP}{self.side_effect}"
        if self.code in THERAPY_EVENTS:
            return self.therapy or ""
        if self.code == Event.RULE_FIRED:
            return self.rule or ""
        return ""


def _check(entry: Entry) -> None:
    """The fields an event of this code must (and must not) carry."""
    therapy_event = entry.code in THERAPY_EVENTS
    if therapy_event != (entry.therapy is not None) or therapy_event != (entry.course > NO_COURSE):
        raise ValueError(f"{entry}: therapy and course (>= 1) go with therapy events only")
    if (entry.code == Event.SIDE_EFFECT) != (entry.side_effect is not None):
        raise ValueError(f"{entry}: side_effect goes with side_effect events only")
    if entry.severe and entry.code != Event.SIDE_EFFECT:
        raise ValueError(f"{entry}: only a side effect can be severe")
    if (entry.code == Event.RULE_FIRED) != (entry.rule is not None):
        raise ValueError(f"{entry}: rule goes with rule_fired events only")


class EventLog:
    """Append-only rows (patient, time, entry); an entry holds the row's typed fields.

    `therapies`, `side_effects` and `rules` are the names the log may record (the
    categories of its columns); logging any other name raises.
    """

    def __init__(
        self,
        therapies: tuple[str, ...] = (),
        side_effects: tuple[str, ...] = (),
        rules: tuple[str, ...] = (),
    ) -> None:
        self.therapies = tuple(therapies)
        self.side_effects = tuple(side_effects)
        self.rules = tuple(rules)
        self._pid: list[np.ndarray] = []
        self._time: list[np.ndarray] = []
        self._entry: list[int] = []  # each add's entry and number of rows
        self._count: list[int] = []
        self._key_index: dict[tuple, int] = {}
        self.entries: list[Entry] = []
        self._entry_index: dict[Entry, int] = {}

    def _intern(self, entry: Entry) -> int:
        found = self._entry_index.get(entry)
        if found is not None:
            return found
        _check(entry)
        for value, allowed, what in (
            (entry.therapy, self.therapies, "therapy"),
            (entry.side_effect, self.side_effects, "side effect"),
            (entry.rule, self.rules, "rule"),
        ):
            if value is not None and value not in allowed:
                raise ValueError(f"{what} {value!r} is not declared in this log: {allowed}")
        self._entry_index[entry] = len(self.entries)
        self.entries.append(entry)
        return self._entry_index[entry]

    def add(
        self,
        pid: np.ndarray,
        time: np.ndarray | float,
        code: Event,
        *,
        therapy: str | None = None,
        course: int = NO_COURSE,
        side_effect: str | None = None,
        severe: bool = False,
        rule: str | None = None,
    ) -> None:
        """Log event `code` at `time` for patients `pid`, with its typed fields (see the
        module docstring for which event carries which)."""
        pid = np.asarray(pid, dtype=np.int64)
        if pid.size == 0:
            return
        # the fields as given -> their entry (equal fields, equal entry: no Entry to
        # build and hash on every call)
        key = (code, therapy, course, side_effect, severe, rule)
        index = self._key_index.get(key)
        if index is None:
            entry = Entry(Event(code), therapy, int(course), side_effect, bool(severe), rule)
            index = self._key_index[key] = self._intern(entry)
        self._pid.append(pid)
        if isinstance(time, np.ndarray) and time.shape == pid.shape:
            self._time.append(time.astype(float, copy=True))
        else:
            self._time.append(np.broadcast_to(np.asarray(time, dtype=float), pid.shape).copy())
        self._entry.append(index)
        self._count.append(pid.size)

    def to_frame(
        self, rules: tuple[str, ...] | None = None, strategy: str | None = None
    ) -> pd.DataFrame:
        """Events sorted by patient, time, code order, detail label, then course.

        `rules`: the categories of the `rule` column (default: this log's rules); they
        must include every rule of the log. `strategy`: a first column `strategy` with
        this name (text) on every row, as inserting it afterwards would give."""
        rules = self.rules if rules is None else tuple(rules)
        unknown = set(self.rules) - set(rules)
        if unknown:
            raise ValueError(f"rules {sorted(unknown)} logged but not among the run's {rules}")
        entries = self.entries
        pid = np.concatenate([np.array([], dtype=np.int64), *self._pid])
        time = np.concatenate([np.array([], dtype=float), *self._time])
        e = np.repeat(np.array(self._entry, dtype=np.int32), np.array(self._count, dtype=np.int64))
        code = np.array([x.code for x in entries], dtype=np.int8)
        detail = np.array([x.detail for x in entries], dtype=object)
        course = np.array([x.course for x in entries], dtype=np.int16)
        # ties broken by the label text, so the order does not depend on logging order;
        # the entries' own order (code, label, course) ranked once: a sort by patient,
        # time and that rank is the sort by all five (entries alike in all three tie)
        label_rank = np.unique(detail.astype(str), return_inverse=True)[1]
        entry_order = np.lexsort((course, label_rank, code))
        keys = np.stack([code, label_rank, course])[:, entry_order]
        new_key = np.r_[True, np.any(keys[:, 1:] != keys[:, :-1], axis=0)] if len(code) else []
        entry_rank = np.empty(len(code), dtype=np.int64)
        entry_rank[entry_order] = np.cumsum(new_key) - 1
        order = np.lexsort((entry_rank[e], time, pid))
        e = e[order]

        def categorical(values: list[str | None], categories: tuple[str, ...]) -> pd.Categorical:
            index = {name: i for i, name in enumerate(categories)}
            codes = np.array([-1 if v is None else index[v] for v in values], dtype=np.int32)
            # codes valid by construction: no need for pandas to check them again
            return pd.Categorical.from_codes(
                codes[e].astype(np.int32), dtype=_dtype(categories), validate=False
            )

        first = {} if strategy is None else {"strategy": strategy}  # a scalar: no type inference
        # copy=False: every column is a fresh array made here; pandas need not copy it
        # into consolidated blocks (a third of this method's time for a large log)
        return pd.DataFrame(
            {
                **first,
                "patient_id": pid[order],
                "time_days": time[order],
                "event": pd.Categorical.from_codes(code[e], dtype=_EVENT_DTYPE, validate=False),
                "detail": detail[e],
                "therapy": categorical([x.therapy for x in entries], self.therapies),
                "course": course[e],
                "side_effect": categorical([x.side_effect for x in entries], self.side_effects),
                "severe": np.array([x.severe for x in entries], dtype=bool)[e],
                "rule": categorical([x.rule for x in entries], rules),
            },
            copy=False,
        )


@lru_cache(maxsize=256)
def _dtype(categories: tuple[str, ...]) -> pd.CategoricalDtype:
    """The categorical type of a column with these names (built once: pandas checks the
    categories each time a type is made)."""
    return pd.CategoricalDtype(pd.Index(categories, dtype=object))


_EVENT_DTYPE = pd.CategoricalDtype(list(EVENT_NAMES))


def event_codes(events: pd.DataFrame) -> np.ndarray:
    """The `event` column of an event table as `Event` codes (int8); an event name that
    is not an `Event` (renamed, misspelt) raises instead of matching nothing."""
    col = events["event"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        # the engine's tables: look up the categories once, not every row's text
        codes = col.cat.codes.to_numpy()
        cats = col.cat.categories.astype(str).to_numpy()
        if (codes < 0).any():  # a missing event reads as text "nan", as it did before
            cats = np.append(cats, "nan")
            codes = np.where(codes < 0, len(cats) - 1, codes)
        used = np.bincount(codes, minlength=len(cats)) > 0
        unknown = sorted(x for x, u in zip(cats, used, strict=True) if u and x not in EVENT_NAMES)
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r} in the event log; known: {EVENT_NAMES}")
        lookup = np.array([EVENT_NAMES.index(x) if x in EVENT_NAMES else -1 for x in cats])
        return lookup.astype(np.int8)[codes]
    names = col.astype(str).to_numpy()
    known, inverse = np.unique(names, return_inverse=True)
    unknown = [str(x) for x in known if x not in EVENT_NAMES]
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r} in the event log; known: {EVENT_NAMES}")
    lookup = np.array([EVENT_NAMES.index(x) for x in known], dtype=np.int8)
    return lookup[inverse].reshape(names.shape)
