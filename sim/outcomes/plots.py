"""Figures of the outcomes layer: Kaplan-Meier curves and IRIS cumulative incidence.

Every function takes the per-patient table described in :mod:`sim.outcomes.summary`, writes one PNG
atomically (rendered to a temporary file in the target directory, then ``os.replace``-d onto the
final name, so readers never see a half-written file) and closes the figure.  Curves are step
functions with shaded pointwise 95% confidence bands (log(-log) intervals, see
:mod:`sim.outcomes.survival`).  Large tables are drawn from the step function evaluated
on a fine time grid so that the figure stays light.
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sim.outcomes.summary import IRIS_CAUSE, _group_codes, _iris_events, _validated  # noqa: E402
from sim.outcomes.survival import _aj_arrays, _km_arrays  # noqa: E402

__all__ = ["plot_km", "plot_km_by_condition", "plot_iris_cif"]

_ALPHA = 0.05
_MAX_STEPS = 4000  # above this many distinct times, resample the step function on a grid
_YEAR = 365.0
_XLABEL = "Days since PML diagnosis"


# --------------------------------------------------------------------------- helpers


def _save_atomic(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Render ``fig`` to ``path`` via a temporary file in the same directory, then close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name opened with "x" (exclusive create) honours the umask, unlike mkstemp's 0600
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "xb") as fh:
            fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return target


def _thin(
    time: np.ndarray, cols: list[np.ndarray], t_max: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Clip a step function to [0, t_max]; resample it on a grid when it has too many steps."""
    keep = time <= t_max
    time, cols = time[keep], [c[keep] for c in cols]
    if time.size > _MAX_STEPS:
        grid = np.linspace(0.0, t_max, _MAX_STEPS)
        idx = np.searchsorted(time, grid, side="right") - 1
        idx = np.clip(idx, 0, None)
        return grid, [c[idx] for c in cols]
    # extend the last step to t_max so the curve runs to the edge of the follow-up
    if time.size and time[-1] < t_max:
        time = np.append(time, t_max)
        cols = [np.append(c, c[-1]) for c in cols]
    return time, cols


def _step(ax: Axes, time: np.ndarray, est: np.ndarray, lo: np.ndarray, hi: np.ndarray, **kw):
    (line,) = ax.step(time, est, where="post", linewidth=1.6, **kw)
    ax.fill_between(time, lo, hi, step="post", alpha=0.18, color=line.get_color(), linewidth=0)
    return line


def _time_axis(ax: Axes, t_max: float) -> None:
    """x axis from 0 to t_max with a labelled tick (and a faint guide) at 365 days."""
    ax.set_xlim(0.0, t_max)
    ticks = [t for t in ax.get_xticks() if 0.0 <= t <= t_max]
    if t_max >= _YEAR:
        ticks = [t for t in ticks if abs(t - _YEAR) > 0.06 * t_max] + [_YEAR]
        ax.axvline(_YEAR, color="0.6", linewidth=0.8, linestyle=":", zorder=0)
    ax.set_xticks(sorted(ticks))
    ax.set_xticklabels([f"{t:g}" for t in sorted(ticks)])


def _km_curve(time: np.ndarray, died: np.ndarray, t_max: float):
    km = _km_arrays(time, died.astype(np.int64), _ALPHA)
    return _thin(km["time"], [km["survival"], km["lo"], km["hi"]], t_max)


def _t_max(cols: dict[str, np.ndarray], t_max: float | None) -> float:
    if t_max is None:
        return float(cols["time"].max())
    t_max = float(t_max)
    if not math.isfinite(t_max) or t_max <= 0:
        raise ValueError(f"t_max must be a positive finite number, got {t_max!r}")
    return t_max


def _require_rows(patients: pd.DataFrame) -> dict[str, np.ndarray]:
    cols = _validated(patients)
    if len(patients) == 0:
        raise ValueError("patient table is empty: nothing to plot")
    return cols


# --------------------------------------------------------------------------- figures


def plot_km(
    patients: pd.DataFrame,
    path: str | os.PathLike[str],
    t_max: float | None = None,
    band: pd.DataFrame | None = None,
) -> Path:
    """Kaplan-Meier overall survival, one curve per strategy, with shaded 95% CI bands.

    ``t_max`` limits the time axis (default: the longest follow-up). ``band`` (columns
    strategy, day, lo, hi: sim.outcomes.uncertainty.survival_band) adds each strategy's
    parameter-uncertainty interval as dashed lines. Returns the written path.
    """
    cols = _require_rows(patients)
    t_end = _t_max(cols, t_max)
    s_code, strategies = _group_codes(patients["strategy"])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for s, name in enumerate(strategies):
        sel = s_code == s
        t, (est, lo, hi) = _km_curve(cols["time"][sel], cols["died"][sel], t_end)
        colour = colours[s % len(colours)]
        _step(ax, t, est, lo, hi, label=f"{name} (n={int(sel.sum())})", color=colour)
        if band is not None:
            b = band[band["strategy"] == name]
            for edge in ("lo", "hi"):
                ax.step(b["day"], b[edge], where="post", color=colour, ls="--", lw=0.8)
    ax.set_ylim(0.0, 1.02)
    _time_axis(ax, t_end)
    ax.set_xlabel(_XLABEL)
    ax.set_ylabel("Survival probability")
    title = "Overall survival by strategy (Kaplan-Meier, 95% CI)"
    if band is not None:
        title += "\ndashed: parameter uncertainty interval (uncertainty=posterior)"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return _save_atomic(fig, path)


def plot_km_by_condition(patients: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Small multiples: one panel per condition, one Kaplan-Meier curve per strategy."""
    cols = _require_rows(patients)
    t_end = _t_max(cols, None)
    s_code, strategies = _group_codes(patients["strategy"])
    c_code, conditions = _group_codes(patients["condition"])
    ncols = min(3, len(conditions))
    nrows = math.ceil(len(conditions) / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.2 * ncols, 3.3 * nrows + 0.6),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for c, condition in enumerate(conditions):
        ax = axes[c // ncols][c % ncols]
        in_cond = c_code == c
        for s, name in enumerate(strategies):
            sel = in_cond & (s_code == s)
            if not sel.any():
                continue
            t, (est, lo, hi) = _km_curve(cols["time"][sel], cols["died"][sel], t_end)
            _step(ax, t, est, lo, hi, label=name, color=colours[s % len(colours)])
        ax.set_title(f"{condition} (n={int(in_cond.sum())})", fontsize="medium")
        ax.set_ylim(0.0, 1.02)
        _time_axis(ax, t_end)
        ax.grid(alpha=0.3)
    for k in range(len(conditions), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    for r in range(nrows):
        axes[r][0].set_ylabel("Survival probability")
    # the lowest visible panel of each column carries the x tick labels and the x label
    for col in range(ncols):
        last = max(k for k in range(len(conditions)) if k % ncols == col)
        ax = axes[last // ncols][col]
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel(_XLABEL)
    handles = [
        plt.Line2D([], [], color=colours[s % len(colours)], label=name)
        for s, name in enumerate(strategies)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(strategies)), frameon=False)
    fig.suptitle("Overall survival by condition and strategy (Kaplan-Meier, 95% CI)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save_atomic(fig, path)


def plot_iris_cif(patients: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Aalen-Johansen cumulative incidence of IRIS per strategy, death as competing risk."""
    cols = _require_rows(patients)
    t_end = _t_max(cols, None)
    iris_time, iris_code = _iris_events(cols)
    s_code, strategies = _group_codes(patients["strategy"])
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    top = 0.0
    for s, name in enumerate(strategies):
        sel = s_code == s
        aj, _ = _aj_arrays(iris_time[sel], iris_code[sel], IRIS_CAUSE, _ALPHA)
        t, (est, lo, hi) = _thin(aj["time"], [aj["cif"], aj["lo"], aj["hi"]], t_end)
        _step(ax, t, est, lo, hi, label=f"{name} (n={int(sel.sum())})")
        top = max(top, float(np.max(hi)))
    ax.set_ylim(0.0, min(1.0, max(0.1, 1.1 * top)))
    _time_axis(ax, t_end)
    ax.set_xlabel(_XLABEL)
    ax.set_ylabel("Cumulative incidence of IRIS")
    ax.set_title("IRIS cumulative incidence by strategy (Aalen-Johansen, death competing, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return _save_atomic(fig, path)
