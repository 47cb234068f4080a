"""Figures that put published and simulated figures side by side.

* `plot_forest`: the virtual study's odds ratios (published, n = study_n replicate
  range, large n) on a log axis, and its proportions on a second panel.
* `plot_fit`: every calibration target, published with its 95% CI against the
  fitted model (and the ensemble's range), fit and validation targets marked apart.
* `plot_gsa`: the global sensitivity indices as heat maps (parameter x cell).
* `plot_posterior`, `plot_ppc`: posterior against prior; posterior predictive check.
* `plot_validation_predictive`: validation targets against their posterior predictive
  intervals (sim.evidence.predictive).
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
    t = table[table["index"] == kind].copy()
    # flat cells (sim.evidence.gsa.noise_floor) are blank: their indices mean nothing
    t.loc[~t["informative"].astype(bool), "value"] = np.nan
    params = list(ranking["parameter"])
    panels = [o for o in ("survival_1y", "survival_1y_diff", "iris_1y") if o in set(t["output"])]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 0.3 * len(params) + 2.5), squeeze=False
    )
    for ax, name in zip(axes[0], panels, strict=True):
        sub = t[t["output"] == name]
        cells = sub.pivot_table(
            index="parameter",
            columns=["condition", "strategy"],
            values="value",
            sort=False,
            dropna=False,
        ).reindex(params)
        img = ax.imshow(np.abs(cells.to_numpy()), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(
            np.arange(cells.shape[1]), [f"{c} | {s}" for c, s in cells.columns], rotation=90,
            fontsize=7,
        )  # fmt: skip
        ax.set_yticks(np.arange(len(params)), params if ax is axes[0][0] else [], fontsize=7)
        ax.set_title(name)
    fig.colorbar(img, ax=axes[0].tolist(), label=f"{'|PRCC|' if kind == 'PRCC' else kind}")
    fig.suptitle(
        f"Global sensitivity: {kind} by parameter (rows) and cell (columns); blank: flat cell",
        y=0.92,
    )
    return _save_atomic(fig, path)


def plot_posterior(unit: np.ndarray, params: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Prior (flat, grey) against posterior (histogram) of each parameter on its search
    scale (0 = prior low, 1 = prior high; log scale where the parameter is searched so)."""
    d = unit.shape[1]
    cols = min(d, 4)
    rows = math.ceil(d / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= d:
            ax.axis("off")
            continue
        ax.hist(unit[:, i], bins=25, range=(0, 1), density=True, color="tab:blue", alpha=0.7)
        ax.axhline(1.0, color="grey", lw=1)
        r = params.iloc[i]
        ax.set_title(str(r["parameter"]).removeprefix("model."), fontsize=7)
        ax.set_xticks([0, 1], [f"{r['prior_low']:.3g}", f"{r['prior_high']:.3g}"], fontsize=7)
        ax.tick_params(axis="y", labelsize=6)
    fig.suptitle("Posterior (bars) against the uniform prior (grey line)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))  # room for the title
    return _save_atomic(fig, path)


def _published_se_units(t, x: float) -> float:
    """(x - published) / published SE on the target's distance scale (log for ratios);
    NaN where that scale has no value (non-finite, or a ratio <= 0)."""
    from sim.evidence.targets import RATIOS, on_scale, standard_error

    if not math.isfinite(x) or (x <= 0 and t.quantity in RATIOS):
        return np.nan
    return (on_scale(t, x) - on_scale(t, t.value)) / standard_error(t)


def plot_ppc(ppc: pd.DataFrame, targets: list, path: str | os.PathLike[str]) -> Path:
    """Posterior predictive check: per fit target, the published 95% CI (black) and the
    95% interval of a replicate study under the posterior (blue), in published SEs."""
    from sim.evidence.targets import published_ci

    fig, ax = plt.subplots(figsize=(9, 0.4 * len(ppc) + 1.5))
    by_id = {t.id: t for t in targets}
    y = np.arange(len(ppc))[::-1]
    for yi, r in zip(y, ppc.to_dict("records"), strict=True):
        t = by_id[r["target_id"]]

        def rel(x, t=t):
            return _published_se_units(t, x)

        lo, hi = published_ci(t)
        ax.plot([rel(lo), rel(hi)], [yi + 0.12, yi + 0.12], color="black", lw=2)
        band = [rel(r["predictive_2.5%"]), rel(r["predictive_97.5%"])]
        ax.plot(band, [yi - 0.12, yi - 0.12], color="tab:blue", lw=4, alpha=0.6)
        ax.plot(rel(r["simulated_median"]), yi - 0.12, "o", color="tab:blue")
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(y, list(ppc["target_id"]), fontsize=8)
    ax.set_xlabel("(value - published) / published standard error")
    ax.set_title("Posterior predictive check: published 95% CI (black), replicate study (blue)")
    ax.grid(axis="x", alpha=0.3)
    return _save_atomic(fig, path)


def plot_validation_predictive(
    table: pd.DataFrame, targets: list, path: str | os.PathLike[str]
) -> Path:
    """Validation under parameter uncertainty: per target, the published 95% CI (black),
    the posterior predictive 95% interval with its median (blue) and the single-set
    Monte Carlo 95% interval (orange, if the table has mc_low/mc_high), in published SEs
    from the published value (log scale for ratios). Target labels end with the
    predictive verdict."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.6))
    by_id = {t.id: t for t in targets}
    y = np.arange(len(table))[::-1]
    for yi, r in zip(y, table.to_dict("records"), strict=True):
        t = by_id[r["target_id"]]

        def rel(x, t=t):
            return _published_se_units(t, x)

        ax.plot([rel(r["published_low"]), rel(r["published_high"])], [yi + 0.2] * 2,
                color=_PUB, lw=2)  # fmt: skip
        ax.plot([rel(r["pp_low"]), rel(r["pp_high"])], [yi] * 2, color=_BIG, lw=4, alpha=0.6)
        ax.plot(rel(r["pp_median"]), yi, "o", color=_BIG, ms=4)
        if "mc_low" in r:
            ax.plot([rel(r["mc_low"]), rel(r["mc_high"])], [yi - 0.2] * 2, color=_SMALL, lw=2)
    ax.axvline(0.0, color="grey", lw=0.8)
    labels = [f"{r['target_id']} ({r['pp_verdict']})" for r in table.to_dict("records")]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("(value - published) / published standard error")
    ax.set_title(
        "Validation targets: published 95% CI (black), posterior predictive 95% (blue),\n"
        "one parameter set, Monte Carlo 95% (orange)",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save_atomic(fig, path)
