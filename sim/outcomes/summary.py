"""Per-strategy / per-condition outcome summary of a simulated patient table.

Input: one row per simulated patient with the columns

========================  ==========================================================
``strategy`` (str)        treatment strategy simulated
``condition`` (str)       underlying condition (HIV, haematological malignancy, ...)
``time_days`` (float)     > 0: day of death, or of censoring at the end of follow-up
``died`` (bool)           death observed at ``time_days``
``iris`` (bool)           IRIS occurred
``iris_onset_days``       day of IRIS onset (NaN when no IRIS; must be <= ``time_days``)
``side_effect`` (bool)    a treatment side effect occurred
========================  ==========================================================

:func:`summarise` returns one row per strategy x condition (combinations present in the data)
plus one ``condition == "all"`` row per strategy, with these columns:

* ``n``, ``deaths`` - patients and observed deaths.
* ``survival_1y``, ``survival_1y_lo``, ``survival_1y_hi`` - Kaplan-Meier survival at
  ``t_survival`` days (default 365, hence the name; the name is kept for any ``t_survival``)
  with its 95% log(-log) confidence interval.  NaN if follow-up ends (last patient censored)
  before ``t_survival``; 0 if everybody died before it.
* ``median_survival_days`` - Kaplan-Meier median; NaN = not reached.
* ``iris_rate`` - crude proportion of patients with IRIS.
* ``iris_cuminc_1y`` - Aalen-Johansen cumulative incidence of IRIS at ``t_survival`` with death
  before IRIS as a competing risk (IRIS -> cause 1 at ``iris_onset_days``; else death -> cause
  2 at ``time_days``; else censored at ``time_days``).
* ``side_effect_rate`` - crude proportion of patients with a side effect.

Work is done group by group on numpy arrays (one sort, contiguous slices), never patient by
patient, so tables of millions of rows are fine.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.outcomes.survival import _aj_arrays, _km_arrays, _step_lookup

__all__ = ["summarise", "format_summary", "SUMMARY_COLUMNS", "REQUIRED_COLUMNS"]

REQUIRED_COLUMNS = [
    "strategy",
    "condition",
    "time_days",
    "died",
    "iris",
    "iris_onset_days",
    "side_effect",
]
SUMMARY_COLUMNS = [
    "strategy",
    "condition",
    "n",
    "deaths",
    "survival_1y",
    "survival_1y_lo",
    "survival_1y_hi",
    "median_survival_days",
    "iris_rate",
    "iris_cuminc_1y",
    "side_effect_rate",
]
ALL = "all"
_ALPHA = 0.05
IRIS_CAUSE = 1
DEATH_CAUSE = 2


# --------------------------------------------------------------------------- input checks


def _bool_column(patients: pd.DataFrame, name: str) -> np.ndarray:
    col = patients[name]
    if col.isna().any():
        raise ValueError(f"column {name!r} contains missing values")
    values = col.to_numpy()
    if values.dtype == bool:
        return values
    if np.issubdtype(values.dtype, np.number):
        ok = bool(np.all((values == 0) | (values == 1)))
    else:
        ok = set(pd.unique(col)) <= {True, False}  # note: {0, 1} == {False, True}
    if not ok:
        raise ValueError(f"column {name!r} must be boolean (or 0/1)")
    return values.astype(bool)


def _validated(patients: pd.DataFrame) -> dict[str, np.ndarray]:
    """Check the patient table and return its columns as numpy arrays."""
    if not isinstance(patients, pd.DataFrame):
        raise ValueError(f"patients must be a pandas DataFrame, got {type(patients).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in patients.columns]
    if missing:
        raise ValueError(f"patient table is missing required columns: {missing}")
    for name in ("strategy", "condition"):
        if patients[name].isna().any():
            raise ValueError(f"column {name!r} contains missing values")

    try:
        time = patients["time_days"].to_numpy(dtype=float)
        onset = patients["iris_onset_days"].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"time_days and iris_onset_days must be numeric: {exc}") from None
    if not np.all(np.isfinite(time)):
        raise ValueError("time_days must be finite (no NaN or inf)")
    if np.any(time <= 0):
        raise ValueError(f"time_days must be > 0 (min is {time.min()!r})")

    died = _bool_column(patients, "died")
    iris = _bool_column(patients, "iris")
    side = _bool_column(patients, "side_effect")

    onset_iris = onset[iris]
    if not np.all(np.isfinite(onset_iris)):
        raise ValueError("iris_onset_days must be a finite number for every patient with IRIS")
    if np.any(onset_iris < 0):
        raise ValueError("iris_onset_days must be non-negative")
    if np.any(onset_iris > time[iris]):
        raise ValueError("iris_onset_days must not be later than time_days (death / censoring)")
    return {"time": time, "onset": onset, "died": died, "iris": iris, "side": side}


def _iris_events(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Competing-risk coding of IRIS: (time, code) with 1 = IRIS, 2 = death first, 0 = censored."""
    iris = cols["iris"]
    code = np.where(iris, IRIS_CAUSE, np.where(cols["died"], DEATH_CAUSE, 0)).astype(np.int64)
    time = np.where(iris, cols["onset"], cols["time"])
    return time, code


def _group_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes in order of first appearance, and the matching labels."""
    codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]


def _slices(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order grouping equal keys together, and the start offset of each key."""
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=n_keys)
    starts = np.concatenate(([0], np.cumsum(counts)))
    return order, starts


# --------------------------------------------------------------------------- summary


def _group_row(
    cols: dict[str, np.ndarray],
    iris_time: np.ndarray,
    iris_code: np.ndarray,
    idx: np.ndarray,
    t_survival: float,
) -> dict[str, float | int]:
    time = cols["time"][idx]
    died = cols["died"][idx]
    km = _km_arrays(time, died.astype(np.int64), _ALPHA)
    i = _step_lookup(km["time"], t_survival)
    if i < 0:
        surv = (1.0, 1.0, 1.0)
    elif i >= km["time"].size:
        surv = (0.0, 0.0, 0.0) if km["survival"][-1] <= 0.0 else (math.nan,) * 3
    else:
        surv = (float(km["survival"][i]), float(km["lo"][i]), float(km["hi"][i]))
    hit = np.flatnonzero(km["survival"] <= 0.5 + 1e-12)
    median = float(km["time"][hit[0]]) if hit.size else math.nan

    aj, final = _aj_arrays(iris_time[idx], iris_code[idx], IRIS_CAUSE, _ALPHA)
    j = _step_lookup(aj["time"], t_survival)
    if j < 0:
        cuminc = 0.0
    elif j >= aj["time"].size:
        cuminc = float(aj["cif"][-1]) if final else math.nan
    else:
        cuminc = float(aj["cif"][j])

    return {
        "n": int(idx.size),
        "deaths": int(died.sum()),
        "survival_1y": surv[0],
        "survival_1y_lo": surv[1],
        "survival_1y_hi": surv[2],
        "median_survival_days": median,
        "iris_rate": float(cols["iris"][idx].mean()),
        "iris_cuminc_1y": cuminc,
        "side_effect_rate": float(cols["side"][idx].mean()),
    }


def summarise(patients: pd.DataFrame, t_survival: float = 365.0) -> pd.DataFrame:
    """Outcome summary per strategy x condition, plus an ``"all"`` row per strategy.

    Rows are ordered by strategy (order of first appearance), then the ``"all"`` row, then the
    conditions present for that strategy (order of first appearance in the whole table).  See the
    module docstring for the columns; ``survival_1y*`` and ``iris_cuminc_1y`` are evaluated at
    ``t_survival`` days whatever its value.  ``attrs["t_survival"]`` records it.
    """
    t_survival = float(t_survival)
    if not np.isfinite(t_survival) or t_survival < 0:
        raise ValueError(f"t_survival must be a finite non-negative number, got {t_survival!r}")
    cols = _validated(patients)
    if len(patients) == 0:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in SUMMARY_COLUMNS})
        empty.attrs["t_survival"] = t_survival
        return empty

    s_code, strategies = _group_codes(patients["strategy"])
    c_code, conditions = _group_codes(patients["condition"])
    if ALL in conditions:
        raise ValueError(f"condition {ALL!r} is reserved for the per-strategy total rows")
    n_cond = len(conditions)
    iris_time, iris_code = _iris_events(cols)

    # One stable sort by (strategy, condition): every strategy and every strategy x condition
    # group is then a contiguous slice of `order`.
    key = s_code * n_cond + c_code
    order, starts = _slices(key, len(strategies) * n_cond)

    rows: list[dict[str, object]] = []
    for s, strategy in enumerate(strategies):
        lo, hi = starts[s * n_cond], starts[(s + 1) * n_cond]
        rows.append(
            {
                "strategy": strategy,
                "condition": ALL,
                **_group_row(cols, iris_time, iris_code, order[lo:hi], t_survival),
            }
        )
        for c, condition in enumerate(conditions):
            g = s * n_cond + c
            if starts[g + 1] == starts[g]:
                continue
            idx = order[starts[g] : starts[g + 1]]
            rows.append(
                {
                    "strategy": strategy,
                    "condition": condition,
                    **_group_row(cols, iris_time, iris_code, idx, t_survival),
                }
            )
    out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    out["n"] = out["n"].astype(np.int64)
    out["deaths"] = out["deaths"].astype(np.int64)
    out.attrs["t_survival"] = t_survival
    return out


# --------------------------------------------------------------------------- text table


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100.0 * x:.1f}%"


def _surv_ci(est: float, lo: float, hi: float) -> str:
    if not np.isfinite(est):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _pct(est)
    return f"{100.0 * est:.1f}% ({100.0 * lo:.1f}-{100.0 * hi:.1f})"


def _median(x: float) -> str:
    return "not reached" if not np.isfinite(x) else f"{x:.0f} d"


def _day_label(t: float | None) -> str:
    if t is None:
        return "1y"
    if float(t) == 365.0:
        return "1y"
    return f"d{float(t):g}"


def format_summary(summary: pd.DataFrame) -> str:
    """Compact plain-text table of :func:`summarise` output for the terminal.

    Survival as ``54.7% (41.8-66.9)`` (95% CI), median in days or ``not reached``, rates as
    percentages, ``n/a`` where an estimate is undefined.
    """
    if not isinstance(summary, pd.DataFrame):
        raise ValueError(f"summary must be a DataFrame, got {type(summary).__name__}")
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise ValueError(f"summary is missing columns {missing}; expected summarise() output")
    when = _day_label(summary.attrs.get("t_survival"))
    headers = [
        "strategy",
        "condition",
        "n",
        "deaths",
        f"survival {when} (95% CI)",
        "median",
        "IRIS",
        f"IRIS cum.inc {when}",
        "side effects",
    ]
    right = [False, False, True, True, True, True, True, True, True]
    body = [
        [
            str(r.strategy),
            str(r.condition),
            f"{int(r.n)}",
            f"{int(r.deaths)}",
            _surv_ci(r.survival_1y, r.survival_1y_lo, r.survival_1y_hi),
            _median(r.median_survival_days),
            _pct(r.iris_rate),
            _pct(r.iris_cuminc_1y),
            _pct(r.side_effect_rate),
        ]
        for r in summary.itertuples(index=False)
    ]
    widths = [max([len(h)] + [len(row[k]) for row in body]) for k, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    previous = None
    for row in body:
        if previous is not None and row[0] != previous:
            out.append("")
        out.append(line(row))
        previous = row[0]
    return "\n".join(out)
