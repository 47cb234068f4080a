"""Figures that put published and simulated figures side by side.

* `plot_forest`: the virtual study's odds ratios (published, n = study_n replicate
  range, large n) on a log axis, and its proportions on a second panel.
* `plot_fit`: every calibration target, published with its 95% CI against the
  fitted model (and the ensemble's range), fit and validation targets marked apart.
* `plot_gsa`: the global sensitivity indices as heat maps (parameter x cell).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sim.outcomes.plots import _save_atomic, plt

_PUB, _SMALL, _BIG = "black", "tab:orange", "tab:blue"


def _rows(ax, table: pd.DataFrame, log: bool, pct: bool) -> None:
    y = np.arange(len(table))[::-1]
    scale = 100.0 if pct else 1.0
    # (centre, low, high, row offset, marker, colour, size) for each of the three estimates
    series = [
        ("published", "published_low", "published_high", 0.22, "s", _PUB, 5),
        ("n64_median", "n64_low", "n64_high", 0.0, "o", _SMALL, 4),
        ("large_n", "large_n_low", "large_n_high", -0.22, "D", _BIG, 4),
    ]
    for yi, r in zip(y, table.itertuples(), strict=True):
        for mid, low, high, dy, marker, colour, size in series:
            x, lo, hi = getattr(r, mid), getattr(r, low), getattr(r, high)
            if not math.isfinite(x):
                continue
            err = [[max(x - lo, 0.0) * scale], [max(hi - x, 0.0) * scale]]
            if not (math.isfinite(lo) and math.isfinite(hi)):
                err = None
            ax.errorbar(x * scale, yi + dy, xerr=err, fmt=marker, color=colour, capsize=3, ms=size)
        if isinstance(r.verdict, str) and r.verdict:
            colour = {"hit": "tab:green", "not estimable": "tab:grey"}.get(r.verdict, "tab:red")
            ax.annotate(
                r.verdict,
                (1.01, yi),
                xycoords=("axes fraction", "data"),
                color=colour,
                fontsize=8,
                va="center",
            )
    ax.set_yticks(y, list(table["quantity"]))
    if log:
        ax.set_xscale("log")
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.grid(axis="x", alpha=0.3)


def plot_forest(table: pd.DataFrame, study_n: int, path: str | os.PathLike[str]) -> Path:
    """Odds ratios (left) and proportions (right): published vs simulated."""
    ors = table[table["quantity"].str.startswith("OR")]
    q = table["quantity"]
    props = table[~q.str.startswith(("OR", "share", "survival differs", "all three"))]
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(14, max(3.0, 0.42 * max(len(ors), len(props)) + 1.6)),
        gridspec_kw={"width_ratios": [1, 1.2], "wspace": 0.9},
    )
    _rows(axes[0], ors, log=True, pct=False)
    axes[0].set_xlabel("odds ratio for 1-year survival (log scale)")
    axes[0].set_title("Month-1 predictors of survival")
    _rows(axes[1], props, log=False, pct=True)
    axes[1].set_xlabel("percent")
    axes[1].set_xlim(0, 100)
    axes[1].set_title("Survival, IRIS, side effects")
    handles = [
        plt.Line2D([], [], color=_PUB, marker="s", ls="", label="published (95% CI)"),
        plt.Line2D(
            [],
            [],
            color=_SMALL,
            marker="o",
            ls="",
            label=f"simulated n = {study_n}: median (95% range)",
        ),
        plt.Line2D([], [], color=_BIG, marker="D", ls="", label="simulated large n (95% CI)"),
    ]
    fig.legend(
        handles=handles, loc="lower center", ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.02)
    )
    fig.subplots_adjust(bottom=0.22)
    return _save_atomic(fig, path)


def plot_fit(fit: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Published (95% CI) vs fitted, one row per target, relative to the published value."""
    fit = fit.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(fit) + 1.5))
    y = np.arange(len(fit))[::-1]
    for yi, r in zip(y, fit.itertuples(), strict=True):
        ratio = r.quantity in ("odds_ratio", "hazard_ratio")

        def rel(x, pub=r.published, ratio=ratio, se=r.se):
            # distance in published standard errors keeps survival, IRIS, days and ORs on one axis
            return ((math.log(x) if ratio else x) - (math.log(pub) if ratio else pub)) / se

        lo, hi = rel(r.published_low), rel(r.published_high)
        ax.plot([lo, hi], [yi, yi], color="black", lw=2)
        colour = "tab:blue" if r.role == "fit" else "tab:purple"
        if math.isfinite(r.ensemble_low) and math.isfinite(r.ensemble_high):
            ax.plot(
                [rel(r.ensemble_low), rel(r.ensemble_high)], [yi, yi], color=colour, lw=6, alpha=0.3
            )
        if math.isfinite(r.simulated) and (r.simulated > 0 or not ratio):
            ax.plot(rel(r.simulated), yi, "o", color=colour)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{r.target_id} [{r.role}]" for r in fit.itertuples()], fontsize=8)
    ax.set_xlabel("(simulated - published) / published standard error")
    ax.set_title("Calibration: published 95% CI (black), fitted model (dot), ensemble (band)")
    ax.grid(axis="x", alpha=0.3)
    return _save_atomic(fig, path)


def plot_gsa(table: pd.DataFrame, ranking: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Heat maps of each parameter's total effect (Sobol ST, or |PRCC|) on 1-year
    survival, on the difference to the first strategy and on IRIS, one column per
    condition x strategy; parameters sorted by their largest effect anywhere."""
    kind = str(ranking["index"].iloc[0])
    t = table[table["index"] == kind]
    params = list(ranking["parameter"])
    panels = [o for o in ("survival_1y", "survival_1y_diff", "iris_1y") if o in set(t["output"])]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 0.3 * len(params) + 2.5), squeeze=False
    )
    for ax, name in zip(axes[0], panels, strict=True):
        sub = t[t["output"] == name]
        cells = sub.pivot_table(
            index="parameter", columns=["condition", "strategy"], values="value", sort=False
        ).reindex(params)
        img = ax.imshow(np.abs(cells.to_numpy()), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(
            np.arange(cells.shape[1]), [f"{c} | {s}" for c, s in cells.columns], rotation=90,
            fontsize=7,
        )  # fmt: skip
        ax.set_yticks(np.arange(len(params)), params if ax is axes[0][0] else [], fontsize=7)
        ax.set_title(name)
    fig.colorbar(img, ax=axes[0].tolist(), label=f"{'|PRCC|' if kind == 'PRCC' else kind}")
    fig.suptitle(f"Global sensitivity: {kind} by parameter (rows) and cell (columns)")
    return _save_atomic(fig, path)
