"""Figures of a sizing run: power curves, trial durations, the accrual curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.outcomes.plots import _save_atomic  # noqa: E402
from sim.trial.accrual import DAYS_PER_MONTH, Intensity  # noqa: E402

Z95 = 1.96  # error bars: +/- 1.96 Monte Carlo SE


def plot_power_curve(oc: pd.DataFrame, target: float, alpha: float, path: Path) -> Path:
    """Simulated power (+/- 1.96 MC SE) and analytic power vs n; type I error below; n
    that cannot be recruited within the accrual cap drawn as open circles."""
    fig, (ax, ax0) = plt.subplots(
        2, 1, figsize=(7.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for (design, scale), g in oc.groupby(["design", "accrual_scale"], sort=False):
        g = g.sort_values("n")
        label = design if oc["accrual_scale"].nunique() == 1 else f"{design} (accrual x{scale:g})"
        line = ax.errorbar(
            g["n"], g["power"], yerr=Z95 * g["power_se"], marker="o", ms=4, capsize=2, label=label
        )
        color = line[0].get_color()
        if "recruitable" in g and not g["recruitable"].all():
            # n the accrual cap rules out: open markers over the filled ones
            off = g[~g["recruitable"].astype(bool)]
            ax.plot(off["n"], off["power"], "o", ms=8, mfc="white", mec=color, zorder=3)
        if g["analytic_power"].notna().any():
            ax.plot(g["n"], g["analytic_power"], ls="--", color=color, lw=1)
        ax0.errorbar(
            g["n"],
            g["type1_error"],
            yerr=Z95 * g["type1_error_se"],
            marker="o",
            ms=3,
            capsize=2,
            color=color,
        )
    ax.axhline(target, color="0.4", ls=":", lw=1)
    ax.set_ylabel("power (simulated; dashed: analytic; open: not recruitable)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    ax0.axhline(alpha, color="0.4", ls=":", lw=1)
    ax0.set_ylabel("type I error")
    ax0.set_xlabel("maximum sample size n (randomised)")
    return _save_atomic(fig, path)


def plot_duration(trials: pd.DataFrame, path: Path) -> Path:
    """Distribution of trial duration (months to the stopping analysis) by n, under H1."""
    alt = trials[trials["scenario"] == "alternative"]
    designs = list(dict.fromkeys(alt["design"]))
    fig, axes = plt.subplots(
        1, len(designs), figsize=(4.2 * len(designs), 4), squeeze=False, sharey=True
    )
    for ax, design in zip(axes[0], designs, strict=True):
        g = alt[(alt["design"] == design) & (alt["accrual_scale"] == alt["accrual_scale"].min())]
        ns = sorted(g["n"].unique())
        ax.boxplot([g.loc[g["n"] == n, "duration_months"] for n in ns], showfliers=False)
        ax.set_xticks(range(1, len(ns) + 1), [str(n) for n in ns])
        ax.set_title(design, fontsize=9)
        ax.set_xlabel("n")
        ax.tick_params(axis="x", labelsize=7)
    axes[0][0].set_ylabel("duration to stopping analysis (months)")
    return _save_atomic(fig, path)


def plot_accrual(
    curves: dict[float, Intensity],
    examples: list[np.ndarray],
    n_max: int,
    cap_months: float,
    path: Path,
    delay_days: float = 0.0,
) -> Path:
    """Expected randomised patients over time per accrual scale, simulated paths (grey,
    first scale), the largest n (dotted) and the accrual cap (dashed). `delay_days`:
    randomisation comes that long after referral (the curves M count referrals)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    to_n = min(float(m.inverse(np.array([n_max]))[0]) for m in curves.values()) + delay_days
    seen = max((float(e.max()) for e in examples), default=0.0)
    end = min(max(to_n, seen), cap_months * DAYS_PER_MONTH) * 1.05
    t = np.linspace(0, end, 400)
    for scale, m in curves.items():
        expected = np.where(t >= delay_days, m.at(np.maximum(t - delay_days, 0.0)), 0.0)
        ax.plot(t / DAYS_PER_MONTH, expected, lw=2, label=f"expected (accrual x{scale:g})")
    for e in examples:
        steps = np.arange(1, len(e) + 1)
        ax.step(e / DAYS_PER_MONTH, steps, where="post", lw=0.7, color="0.5", alpha=0.6)
    ax.axhline(n_max, color="0.4", ls=":", lw=1)
    if cap_months * DAYS_PER_MONTH <= end:
        ax.axvline(cap_months, color="0.4", ls="--", lw=1, label="accrual cap")
    ax.set_ylim(0, n_max * 1.15)
    ax.set_xlabel("months since the first site opened")
    ax.set_ylabel("patients randomised")
    ax.legend(fontsize=8)
    return _save_atomic(fig, path)
