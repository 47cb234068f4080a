"""Figures of the economic evaluation: CE plane, CEAC/CEAF, EVPI/EVPPI, tornado, costs.

Each function writes one PNG atomically (sim.outcomes.plots._save_atomic) and closes the figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from sim.outcomes.plots import _save_atomic

_MAX_POINTS = 2000  # PSA points drawn per strategy on the CE plane
_MARGIN = 0.08  # share of the data range added on each side of the CE plane's axes


def _thousands(ax, axis: str = "both") -> None:
    """Tick labels with thousands separators (12,500 not 12500)."""
    fmt = mticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}")
    if axis in ("x", "both"):
        ax.xaxis.set_major_formatter(fmt)
    if axis in ("y", "both"):
        ax.yaxis.set_major_formatter(fmt)


def _limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits around the data and the origin, with a margin: no empty half axis
    when every point is on one side of zero."""
    lo, hi = min(float(np.nanmin(values)), 0.0), max(float(np.nanmax(values)), 0.0)
    pad = _MARGIN * max(hi - lo, 1e-9)
    return lo - (pad if lo < 0 else pad / 2), hi + (pad if hi > 0 else pad / 2)


def plot_ce_plane(
    cea: pd.DataFrame,
    psa: pd.DataFrame | None,
    reference: str,
    wtp: float,
    currency: str,
    path: Path,
) -> Path:
    """Incremental cost vs incremental QALYs against `reference`: PSA clouds, base-case
    points, the efficient frontier and the WTP line."""
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    base = cea.set_index("strategy")
    ref_cost, ref_qaly = base.at[reference, "cost"], base.at[reference, "qaly"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    xs_all = [base["qaly"].to_numpy() - ref_qaly]
    ys_all = [base["cost"].to_numpy() - ref_cost]
    for k, s in enumerate(base.index):
        col = colors[k % len(colors)]
        if psa is not None:
            g = psa[psa["strategy"] == s].set_index("draw")
            r = psa[psa["strategy"] == reference].set_index("draw")
            g = g.iloc[:_MAX_POINTS]
            dq = (g["qaly"] - r.loc[g.index, "qaly"]).to_numpy()
            dc = (g["cost"] - r.loc[g.index, "cost"]).to_numpy()
            xs_all.append(dq)
            ys_all.append(dc)
            ax.scatter(
                dq,
                dc,
                s=4,
                alpha=0.25,
                color=col,
                linewidths=0,
            )
        ax.scatter(
            base.at[s, "qaly"] - ref_qaly,
            base.at[s, "cost"] - ref_cost,
            s=60,
            color=col,
            edgecolor="black",
            zorder=3,
            label=s
            + {"strong": " (dominated)", "extended": " (ext. dominated)"}.get(
                base.at[s, "dominance"], ""
            ),
        )
    front = cea[~cea["dominated"]]
    ax.plot(front["qaly"] - ref_qaly, front["cost"] - ref_cost, "k-", lw=1, label="frontier")
    xlim = _limits(np.concatenate(xs_all))
    ylim = _limits(np.concatenate(ys_all))
    xs = np.array(xlim)
    ax.plot(xs, wtp * xs, "k--", lw=0.8, label=f"WTP {wtp:,.0f} {currency} / QALY")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    _thousands(ax, "y")
    ax.set_xlabel(f"Incremental QALYs vs {reference}")
    ax.set_ylabel(f"Incremental cost vs {reference} ({currency})")
    ax.set_title("Cost-effectiveness plane" + (" (PSA draws)" if psa is not None else ""))
    ax.legend(fontsize=8, loc="best")
    return _save_atomic(fig, path)


def plot_ceac(ceac: pd.DataFrame, currency: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for s, g in ceac.groupby("strategy", sort=False):
        line = ax.plot(g["wtp"], g["probability"], label=s)[0]
        f = g[g["on_frontier"]]
        ax.plot(f["wtp"], f["probability"], "o", color=line.get_color(), ms=4)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(f"Willingness to pay per QALY ({currency})")
    _thousands(ax, "x")
    ax.set_ylabel("Probability cost-effective")
    ax.set_title("CEAC (lines) and CEAF (dots: the strategy with the highest expected NMB)")
    ax.legend(fontsize=8)
    return _save_atomic(fig, path)


def plot_evpi(evpi: pd.DataFrame, evppi: pd.DataFrame | None, currency: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.plot(evpi["wtp"], evpi["evpi"], "k-", lw=2, label="EVPI (all parameters)")
    if evppi is not None and len(evppi):
        for g, d in evppi.groupby("group", sort=False):
            ax.plot(d["wtp"], d["evppi"], lw=1, label=f"EVPPI: {g}")
    ax.set_xlabel(f"Willingness to pay per QALY ({currency})")
    ax.set_ylabel(f"Expected value of information per patient ({currency})")
    _thousands(ax)
    ax.set_title("Value of information")
    ax.legend(fontsize=8)
    return _save_atomic(fig, path)


def _tornado_label(r) -> str:
    """'label (low / high unit)', e.g. 'rhIL-7 price per dose (1,000 / 15,000 GBP per dose)'."""
    unit = getattr(r, "unit", "")
    unit = f" {unit}" if isinstance(unit, str) and unit else ""
    return f"{r.label} ({r.low:,g} / {r.high:,g}{unit})"


def plot_tornado(dsa: pd.DataFrame, currency: str, path: Path) -> Path:
    """Bars of the inputs that enter the comparison (`enters`), largest swing on top."""
    shown = dsa[dsa["enters"].astype(bool)] if "enters" in dsa else dsa
    d = (shown if len(shown) else dsa).iloc[::-1]  # largest swing on top
    base = float(d["inc_nmb_base"].iloc[0])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(d) + 1.5))
    y = np.arange(len(d))
    low = d["inc_nmb_low"].to_numpy() - base
    high = d["inc_nmb_high"].to_numpy() - base
    ax.barh(y, low, left=base, color="tab:blue", label="input at low value")
    ax.barh(y, high, left=base, color="tab:orange", label="input at high value")
    ax.axvline(base, color="black", lw=1)
    ax.axvline(0.0, color="grey", lw=0.8, ls=":")  # left of it the comparator is preferred
    ax.set_yticks(y)
    ax.set_yticklabels([_tornado_label(r) for r in d.itertuples()], fontsize=8)
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    _thousands(ax, "x")
    ax.set_xlabel(
        f"Incremental net monetary benefit, {s} vs {c} ({currency}; base case {base:,.0f})"
    )
    ax.set_title("One-way sensitivity analysis")
    ax.legend(fontsize=8)
    return _save_atomic(fig, path)


def plot_cost_breakdown(breakdown: pd.DataFrame, currency: str, path: Path) -> Path:
    """Stacked mean cost components per strategy."""
    comps = [c for c in breakdown.columns if c.startswith("cost_")]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    bottom = np.zeros(len(breakdown))
    for c in comps:
        vals = breakdown[c].to_numpy()
        ax.bar(breakdown["strategy"], vals, bottom=bottom, label=c.removeprefix("cost_"))
        bottom += vals
    ax.set_ylabel(f"Mean discounted cost per patient ({currency})")
    _thousands(ax, "y")
    ax.set_title("Where the money goes")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8)
    return _save_atomic(fig, path)


def plot_two_way(table: pd.DataFrame, base: tuple[float, float], currency: str, path: Path) -> Path:
    """Optimal-strategy map over two prices, one panel per threshold; the base-case
    prices marked."""
    thresholds = list(dict.fromkeys(table["wtp"]))
    names = list(dict.fromkeys(table["optimal"]))
    fig, axes = plt.subplots(
        1, len(thresholds), figsize=(5.2 * len(thresholds), 5.0), squeeze=False
    )
    cmap = plt.get_cmap("tab10")
    for ax, w in zip(axes[0], thresholds, strict=True):
        t = table[table["wtp"] == w]
        for k, name in enumerate(names):
            m = t["optimal"] == name
            ax.scatter(t.loc[m, "x_price"], t.loc[m, "y_price"], s=9, marker="s",
                       color=cmap(k % 10), label=name)  # fmt: skip
        ax.plot(*base, marker="*", ms=14, color="black", ls="none", label="base-case prices")
        ax.set_xlabel(f"{t['x_therapy'].iloc[0]} price ({currency})")
        ax.set_ylabel(f"{t['y_therapy'].iloc[0]} price ({currency})")
        ax.xaxis.set_major_locator(mticker.MaxNLocator(5))
        _thousands(ax)
        ax.set_title(f"Optimal strategy at {w:,.0f} {currency} per QALY", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4)
    fig.tight_layout()
    return _save_atomic(fig, path)
