"""Clinical event codes and the event log both engines write to."""

from __future__ import annotations

from enum import IntEnum

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


class EventLog:
    """Append-only columns (patient, time, event, detail); detail is an index into `labels`."""

    def __init__(self) -> None:
        self._pid: list[np.ndarray] = []
        self._time: list[np.ndarray] = []
        self._code: list[np.ndarray] = []
        self._detail: list[np.ndarray] = []
        self.labels: list[str] = [""]
        self._label_index: dict[str, int] = {"": 0}

    def label(self, text: str) -> int:
        if text not in self._label_index:
            self._label_index[text] = len(self.labels)
            self.labels.append(text)
        return self._label_index[text]

    def add(
        self,
        pid: np.ndarray,
        time: np.ndarray | float,
        code: Event,
        detail: str = "",
    ) -> None:
        pid = np.asarray(pid, dtype=np.int64)
        if pid.size == 0:
            return
        self._pid.append(pid)
        self._time.append(np.broadcast_to(np.asarray(time, dtype=float), pid.shape).copy())
        self._code.append(np.full(pid.shape, int(code), dtype=np.int8))
        self._detail.append(np.full(pid.shape, self.label(detail), dtype=np.int32))

    def to_frame(self) -> pd.DataFrame:
        """Events sorted by patient, time, then code order."""
        if not self._pid:
            return pd.DataFrame(
                {
                    "patient_id": np.array([], dtype=np.int64),
                    "time_days": np.array([], dtype=float),
                    "event": pd.Categorical([], categories=[e.name.lower() for e in Event]),
                    "detail": np.array([], dtype=object),
                }
            )
        pid = np.concatenate(self._pid)
        time = np.concatenate(self._time)
        code = np.concatenate(self._code)
        detail = np.concatenate(self._detail)
        # ties broken by the label text, so the order does not depend on logging order
        label_rank = np.argsort(np.argsort(np.asarray(self.labels, dtype=str)))
        order = np.lexsort((label_rank[detail], code, time, pid))
        names = [e.name.lower() for e in Event]  # codes 0..len-1 in order
        return pd.DataFrame(
            {
                "patient_id": pid[order],
                "time_days": time[order],
                "event": pd.Categorical.from_codes(code[order], categories=names),
                "detail": np.asarray(self.labels, dtype=object)[detail[order]],
            }
        )
