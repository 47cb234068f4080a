"""Survival estimators for right-censored per-patient data (no lifelines dependency).

Every patient contributes one follow-up time (days since PML diagnosis) and what happened at
the end of it: an event (death, IRIS, ...) or censoring (still event-free when follow-up ended).

Kaplan-Meier (``kaplan_meier``)
    At every distinct time ``t_i`` count the patients still under observation just before it
    (``n_i``, "at risk") and the events at it (``d_i``).  The probability of getting past
    ``t_i`` is ``1 - d_i / n_i``; the survival curve is the running product of these
    conditional probabilities.  A censored patient simply leaves the risk set.  When an event and
    a censoring share a time, the censored patient is counted as still at risk at that time
    (events first), the standard convention (and lifelines').

    The 95% band is the Kalbfleisch-Prentice "exponential Greenwood" interval, the default of
    lifelines' ``KaplanMeierFitter``: Greenwood's variance of ``log S``,
    ``V(t) = sum_{t_i <= t} d_i / (n_i (n_i - d_i))``, is carried over to ``log(-log S)`` by the
    delta method, giving ``S(t) ** exp(+-z sqrt(V) / |log S(t)|)``.  The bounds always lie in
    [0, 1].  Where ``S = 1`` (no event yet) the band is [1, 1]; where ``S = 0`` it is [0, 0].

Median (``median_survival``)
    The smallest time at which the curve is at or below 0.5 (lifelines' convention); NaN when the
    curve never gets there ("not reached").  A 1e-12 tolerance absorbs floating-point rounding so
    that a curve that is mathematically exactly 0.5 counts as reaching the median.

Aalen-Johansen cumulative incidence (``cumulative_incidence``)
    With competing causes (e.g. IRIS vs. death before IRIS) ``1 - KM`` of one cause over-states
    its probability, because patients removed by the other cause could never have had it.  The
    Aalen-Johansen estimate of the probability of having had cause ``k`` by time ``t`` is
    ``F_k(t) = sum_{t_i <= t} S(t_{i-1}) * d_ki / n_i``: the chance of still being free of every
    event just before ``t_i`` times the chance of cause ``k`` at ``t_i``.  ``S`` is the all-cause
    Kaplan-Meier curve, so ``S(t) + sum_k F_k(t) = 1`` at every time.  Tied times of different
    causes are handled exactly (no jittering is needed for this estimator).

    The band uses Greenwood-type variance of Collett (Modelling Survival Data in Medical Research,
    3rd ed., p. 411; the same as lifelines' ``AalenJohansenFitter``):
    ``Var F_k(t) = sum_{t_i<=t} [(F_k(t) - F_k(t_i))^2 d_i / (n_i (n_i - d_i))
    + S(t_{i-1})^2 d_ki (n_i - d_ki) / n_i^3 - 2 (F_k(t) - F_k(t_i)) S(t_{i-1}) d_ki / n_i^2]``,
    transformed by the delta method on the ``log(-log F)`` scale, so the bounds are
    ``F ** exp(-+z se)`` with ``se = sqrt(Var) / (F |log F|)`` and stay inside [0, 1].  Where
    ``F = 0`` the band is [0, 0].  (A term with ``n_i = d_i`` - everyone left at risk has an
    event - contributes nothing to the first sum, since ``F_k(t) = F_k(t_i)`` from then on.)

Output tables have one row per distinct observed time (events and censorings), sorted, starting
with a row at time 0 (survival 1 / incidence 0) unless some patients have time exactly 0, in which
case the time-0 row is the one that records what happened at 0.

Step-function look-ups (``survival_at``, ``cif_at``) return the value at the last tabulated time
``<= t``.  Beyond the last observed time the estimate is undefined (NaN) - except when the last
observed time was an event that emptied the risk set (nobody censored there), in which case the
curve is known to stay flat for ever (survival 0, incidence final) and that value is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

__all__ = [
    "kaplan_meier",
    "survival_at",
    "median_survival",
    "cumulative_incidence",
    "cif_at",
]

_MEDIAN_TOL = 1e-12
KM_COLUMNS = ["time", "at_risk", "events", "survival", "lo", "hi"]
CIF_COLUMNS = ["time", "cif", "lo", "hi"]
#: ``DataFrame.attrs`` key set by :func:`cumulative_incidence`: True when the risk set was
#: emptied by events at the last time, so the incidence is known beyond the last time.
CIF_FINAL_ATTR = "final_beyond_last_time"


# --------------------------------------------------------------------------- validation


def _as_times(time: object, name: str = "time") -> np.ndarray:
    t = np.asarray(time)
    if t.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"{name} must contain at least one observation")
    if t.dtype == bool or not np.issubdtype(t.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {t.dtype}")
    t = t.astype(float, copy=False)
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if np.any(t < 0):
        raise ValueError(f"{name} must be non-negative (min is {t.min()!r})")
    return t


def _as_codes(code: object, n: int, name: str, binary: bool) -> np.ndarray:
    c = np.asarray(code)
    if c.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {c.shape}")
    if c.size != n:
        raise ValueError(f"time and {name} must have the same length ({n} != {c.size})")
    if c.dtype == bool:
        return c.astype(np.int64)
    if not np.issubdtype(c.dtype, np.number):
        raise ValueError(f"{name} must be numeric or boolean, got dtype {c.dtype}")
    if np.issubdtype(c.dtype, np.floating):
        if not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise ValueError(f"{name} must contain integer values only")
    ci = c.astype(np.int64)
    if np.any(ci < 0):
        raise ValueError(f"{name} must be non-negative (0 = censored)")
    if binary and np.any(ci > 1):
        raise ValueError(f"{name} must be 0/1 (or boolean); found values {np.unique(ci[ci > 1])}")
    return ci


def _check_alpha(alpha: float) -> float:
    a = float(alpha)
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return a


def _check_t(t: float) -> float:
    tf = float(t)
    if np.isnan(tf):
        raise ValueError("t must not be NaN")
    return tf


def _check_table(df: pd.DataFrame, columns: list[str], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a DataFrame from {what}, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"table is missing columns {missing}; expected the output of {what}")
    if len(df) == 0:
        raise ValueError(f"table is empty; expected the output of {what}")


# --------------------------------------------------------------------------- core arrays


@dataclass(frozen=True)
class _Table:
    """Risk-set table at the distinct observed times (no artificial time-0 row)."""

    time: np.ndarray  # distinct times, ascending
    at_risk: np.ndarray  # n_i (int64)
    events: np.ndarray  # d_i, all causes (int64)
    removed: np.ndarray  # d_i + censored_i (int64)
    survival: np.ndarray  # all-cause KM S(t_i)


def _risk_table(time: np.ndarray, code: np.ndarray) -> tuple[_Table, np.ndarray]:
    """Distinct times, risk sets and all-cause KM; also the index of each patient's time."""
    uniq, inv = np.unique(time, return_inverse=True)
    m = uniq.size
    removed = np.bincount(inv, minlength=m).astype(np.int64)
    events = np.bincount(inv, weights=(code > 0), minlength=m).astype(np.int64)
    n_total = time.size
    at_risk = n_total - np.concatenate(([0], np.cumsum(removed)[:-1]))
    survival = _km_product(at_risk, events, removed)
    return _Table(uniq, at_risk, events, removed, survival), inv


def _km_product(n: np.ndarray, d: np.ndarray, removed: np.ndarray) -> np.ndarray:
    """Kaplan-Meier product prod (n_i - d_i) / n_i, computed block-wise.

    Between censorings the product telescopes: if nobody is censored at t_i then
    n_{i+1} = n_i - d_i and the factors cancel.  So within a censoring-free block starting at
    index s, S_i = S(before block) * (n_i - d_i) / n_s.  This needs far fewer floating-point
    operations than a plain running product and is exact when there is no censoring at all
    (S is then literally (number still alive) / n).
    """
    m = n.size
    censored = removed - d
    new_block = np.ones(m, dtype=bool)
    new_block[1:] = censored[:-1] > 0
    block = np.cumsum(new_block) - 1
    starts = np.flatnonzero(new_block)
    n_start = n[starts][block].astype(float)
    within = (n - d) / n_start
    ends = np.append(starts[1:] - 1, m - 1)
    block_factor = within[ends]
    before = np.concatenate(([1.0], np.cumprod(block_factor)[:-1]))
    return before[block] * within


def _z(alpha: float) -> float:
    return float(ndtri(1.0 - alpha / 2.0))


def _greenwood_loglog(s: np.ndarray, var: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Exponential Greenwood (log(-log)) bounds for a survival curve (lifelines' formula)."""
    lo = np.ones_like(s)
    hi = np.ones_like(s)
    zero = s <= 0.0
    lo[zero] = 0.0
    hi[zero] = 0.0
    mid = (s > 0.0) & (s < 1.0)
    v = np.log(s[mid])
    half = z * np.sqrt(var[mid]) / v
    lo[mid] = np.exp(-np.exp(np.log(-v) - half))
    hi[mid] = np.exp(-np.exp(np.log(-v) + half))
    return lo, hi


def _km_arrays(time: np.ndarray, event: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """KM table as arrays (validated inputs), including the time-0 row."""
    tab, _ = _risk_table(time, event)
    n, d = tab.at_risk, tab.events
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > d, d / (n * (n - d).astype(float)), 0.0)
    var = np.cumsum(term)
    lo, hi = _greenwood_loglog(tab.survival, var, _z(alpha))
    out = {
        "time": tab.time,
        "at_risk": n,
        "events": d,
        "survival": tab.survival,
        "lo": lo,
        "hi": hi,
    }
    if tab.time[0] > 0.0:
        first = {
            "time": 0.0,
            "at_risk": time.size,
            "events": 0,
            "survival": 1.0,
            "lo": 1.0,
            "hi": 1.0,
        }
        out = {k: np.concatenate(([first[k]], v)).astype(v.dtype) for k, v in out.items()}
    return out


def _aj_arrays(
    time: np.ndarray, code: np.ndarray, cause: int, alpha: float
) -> tuple[dict[str, np.ndarray], bool]:
    """Aalen-Johansen table as arrays (validated inputs), including the time-0 row.

    Returns the columns and whether the estimate is final beyond the last time.
    """
    tab, inv = _risk_table(time, code)
    m = tab.time.size
    n = tab.at_risk.astype(float)
    d = tab.events.astype(float)
    dk = np.bincount(inv, weights=(code == cause), minlength=m)
    s_prev = np.concatenate(([1.0], tab.survival[:-1]))
    f = np.cumsum(s_prev * dk / n)

    # Collett / lifelines variance, expanded so it is a few cumulative sums:
    #   sum a_i (F - F_i)^2 = F^2 A - 2 F sum(a_i F_i) + sum(a_i F_i^2)
    #   sum c_i (F - F_i)   = F C - sum(c_i F_i)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(n > d, d / (n * (n - d)), 0.0)
    b = s_prev**2 * dk * (n - dk) / n**3
    c = s_prev * dk / n**2
    quad = f**2 * np.cumsum(a) - 2.0 * f * np.cumsum(a * f) + np.cumsum(a * f**2)
    lin = f * np.cumsum(c) - np.cumsum(c * f)
    var = np.maximum(quad + np.cumsum(b) - 2.0 * lin, 0.0)

    z = _z(alpha)
    lo = f.copy()
    hi = f.copy()
    mid = (f > 0.0) & (f < 1.0)
    lf = np.log(f[mid])
    se = np.sqrt(var[mid]) / (f[mid] * np.abs(lf))
    trans = np.log(-lf)
    lo[mid] = np.exp(-np.exp(trans + z * se))
    hi[mid] = np.exp(-np.exp(trans - z * se))

    out = {"time": tab.time, "cif": f, "lo": lo, "hi": hi}
    if tab.time[0] > 0.0:
        out = {k: np.concatenate(([0.0], v)) for k, v in out.items()}
    final = bool(tab.survival[-1] <= 0.0)
    return out, final


def _step_lookup(times: np.ndarray, t: float) -> int:
    """Index of the last tabulated time <= t; -1 if t precedes the table, len if beyond it."""
    if t > times[-1]:
        return times.size
    return int(np.searchsorted(times, t, side="right")) - 1


# --------------------------------------------------------------------------- public API


def kaplan_meier(time: np.ndarray, event: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier estimate with the exponential Greenwood (log(-log)) confidence interval.

    Parameters
    ----------
    time:
        Follow-up time of each patient (non-negative, finite).
    event:
        1 / True if the follow-up ended with the event, 0 / False if censored.
    alpha:
        The band is the ``1 - alpha`` pointwise confidence interval.

    Returns
    -------
    DataFrame with columns ``time, at_risk, events, survival, lo, hi``: one row per distinct
    observed time (sorted), preceded by a row at time 0 with survival 1.  ``at_risk`` is the
    number under observation just before the time, ``events`` the events at it.  Values match
    lifelines' ``KaplanMeierFitter`` (survival, confidence bounds, median).
    """
    t = _as_times(time)
    e = _as_codes(event, t.size, "event", binary=True)
    a = _check_alpha(alpha)
    return pd.DataFrame(_km_arrays(t, e, a), columns=KM_COLUMNS)


def survival_at(km: pd.DataFrame, t: float) -> tuple[float, float, float]:
    """``(estimate, lo, hi)`` of the KM step function at time ``t``.

    The curve is right-continuous: at an event time the value already includes that time's drop.
    Before time 0 the survival is 1.  Beyond the last observed time the result is
    ``(nan, nan, nan)``, unless the curve has reached 0 (then it is ``(0, 0, 0)``).
    """
    _check_table(km, ["time", "survival", "lo", "hi"], "kaplan_meier()")
    tf = _check_t(t)
    times = km["time"].to_numpy(dtype=float)
    i = _step_lookup(times, tf)
    if i < 0:
        return (1.0, 1.0, 1.0)
    s = km["survival"].to_numpy(dtype=float)
    if i >= times.size:
        if s[-1] <= 0.0:
            return (0.0, 0.0, 0.0)
        return (float("nan"), float("nan"), float("nan"))
    return (float(s[i]), float(km["lo"].iloc[i]), float(km["hi"].iloc[i]))


def median_survival(km: pd.DataFrame) -> float:
    """Median survival: the smallest tabulated time with survival <= 0.5; NaN if not reached."""
    _check_table(km, ["time", "survival"], "kaplan_meier()")
    s = km["survival"].to_numpy(dtype=float)
    hit = np.flatnonzero(s <= 0.5 + _MEDIAN_TOL)
    if hit.size == 0:
        return float("nan")
    return float(km["time"].iloc[hit[0]])


def cumulative_incidence(
    time: np.ndarray, event_code: np.ndarray, cause: int, alpha: float = 0.05
) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of ``cause`` in the presence of competing causes.

    Parameters
    ----------
    time:
        Follow-up time of each patient (non-negative, finite).
    event_code:
        0 = censored, 1, 2, ... = the cause that ended follow-up (non-negative integers).
    cause:
        The cause of interest (a positive integer); every other non-zero code competes with it.
    alpha:
        The band is the ``1 - alpha`` pointwise log(-log) confidence interval (see module doc).

    Returns
    -------
    DataFrame with columns ``time, cif, lo, hi``: one row per distinct observed time, preceded by
    a row at time 0 with incidence 0.  ``attrs["final_beyond_last_time"]`` records whether the
    estimate is known beyond the last time (used by :func:`cif_at`).
    """
    t = _as_times(time)
    code = _as_codes(event_code, t.size, "event_code", binary=False)
    if isinstance(cause, bool) or int(cause) != cause or int(cause) < 1:
        raise ValueError(f"cause must be a positive integer event code, got {cause!r}")
    a = _check_alpha(alpha)
    cols, final = _aj_arrays(t, code, int(cause), a)
    df = pd.DataFrame(cols, columns=CIF_COLUMNS)
    df.attrs[CIF_FINAL_ATTR] = final
    return df


def cif_at(cif_df: pd.DataFrame, t: float) -> float:
    """Cumulative incidence at time ``t`` (step function, right-continuous).

    0 before time 0; NaN beyond the last observed time unless every patient still at risk had
    an event at that time (``attrs["final_beyond_last_time"]``), in which case the incidence stays
    at its last value.
    """
    _check_table(cif_df, ["time", "cif"], "cumulative_incidence()")
    tf = _check_t(t)
    times = cif_df["time"].to_numpy(dtype=float)
    i = _step_lookup(times, tf)
    if i < 0:
        return 0.0
    if i >= times.size:
        if cif_df.attrs.get(CIF_FINAL_ATTR, False):
            return float(cif_df["cif"].iloc[-1])
        return float("nan")
    return float(cif_df["cif"].iloc[i])
