"""Sensitivity of the analytic sample size to the patient mix and the assumed effect
(`trial.sensitivity`, sensitivity.csv and sensitivity.png).

In plain words: the pool holds each eligible patient's outcomes under both arms and his
underlying condition, so another referral mix needs no new simulation: the pool is
reweighted. A mix w (shares of referred patients by condition) makes a condition's share
among eligible patients proportional to w_c e_c, e_c being the condition's eligible
share among the pool's referred patients; each eligible pool patient of condition c then
weighs (w_c e_c / sum_k w_k e_k) / (eligible pool patients of c). The arms' values
(1-year survival, hazard ratio, mRS distribution) under that mix go through the
analytic solver (sim.trial.solver), with the model's effect multiplied by each of
`effect_multipliers` (risk difference, log hazard ratio or log odds ratio).

Mixes (rows): the preset's (the pool as drawn), HIV only, the preset without HIV, and
the preset with `shift_condition`'s referral share moved by +- `shift` (the other
conditions scaled in proportion). A mix whose conditions have no eligible pool patient
gives NaN. The expected number randomised by the accrual cap moves with the mix's
eligible share, so each row also says whether its n can be recruited.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import poisson

from sim.config.schema import CONDITIONS
from sim.trial.accrual import DAYS_PER_MONTH, intensity
from sim.trial.solver import arm_values, design_solution, scaled

COLUMNS = [
    "design",
    "endpoint",
    "mix",
    "mix_shares",
    "effect_multiplier",
    "p_e",
    "p_c",
    "hazard_ratio",
    "odds_ratio",
    "analytic_n",
    "analytic_n_dropout",
    "analytic_events",
    "inflation_factor",
    "p_eligible",
    "expected_n_by_cap",
    "p_recruited",
    "recruitable",
]


def referral_shares(pool) -> np.ndarray:
    """The pool's referral mix (shares by condition, index into CONDITIONS)."""
    ref = np.asarray(pool.referred_by_condition, dtype=float)
    return ref / ref.sum()


def mix_weights(pool, shares: np.ndarray) -> tuple[np.ndarray | None, float]:
    """(weights of the eligible pool patients, summing to 1; p_eligible) for a referral
    mix `shares` (by condition). Weights None: no eligible patient in the mix."""
    ref = np.asarray(pool.referred_by_condition, dtype=float)
    elig = np.bincount(pool.condition, minlength=len(CONDITIONS)).astype(float)
    rate = np.divide(elig, ref, out=np.zeros_like(elig), where=ref > 0)
    s = np.asarray(shares, dtype=float) / np.sum(shares)
    g = s * rate
    if not g.sum() > 0:
        return None, 0.0
    g = g / g.sum()
    per_patient = np.divide(g, elig, out=np.zeros_like(g), where=elig > 0)
    w = per_patient[pool.condition]
    return w / w.sum(), float((s * rate).sum())


def mixes(spec) -> list[tuple[str, np.ndarray]]:
    """(label, referral shares) of the table's rows."""
    s = spec.trial.sensitivity
    q = referral_shares(spec.pool)
    k = CONDITIONS.index(s.shift_condition)
    hiv = CONDITIONS.index("hiv")

    def moved(delta: float) -> np.ndarray:
        new = min(max(q[k] + delta, 0.0), 1.0)
        rest = 1.0 - q[k]
        out = q * ((1.0 - new) / rest if rest > 0 else 0.0)
        out[k] = new
        return out

    only = np.zeros(len(CONDITIONS))
    only[hiv] = 1.0
    non = q.copy()
    non[hiv] = 0.0
    return [
        ("preset", q),
        ("hiv_only", only),
        ("non_hiv", non),
        (f"{s.shift_condition}+{s.shift:g}", moved(s.shift)),
        (f"{s.shift_condition}-{s.shift:g}", moved(-s.shift)),
    ]


def _shares_text(shares: np.ndarray) -> str:
    tot = shares.sum()
    return ", ".join(f"{c} {x / tot:.3f}" for c, x in zip(CONDITIONS, shares, strict=True) if x > 0)


def sensitivity_table(spec) -> pd.DataFrame:
    """One row per design x mix x effect multiplier (COLUMNS); designs with their own
    rule (Simon, one stage) and calendar-timed looks are left out."""
    t = spec.trial
    p_screen = 1.0 - t.eligibility.screen_fail
    cap = t.accrual.max_accrual_months * DAYS_PER_MONTH - t.eligibility.randomisation_delay_days
    rows = []
    names = [
        n
        for n, d in t.designs.items()
        if d.design == "group_sequential"
        and (d.timing == "information" or d.type_of_design == "none")
    ]
    for label, shares in mixes(spec):
        weights, p_elig = mix_weights(spec.pool, shares)
        uniform = label == "preset"
        by_cap = float(intensity(t.accrual, 1.0, p_elig * p_screen).at(max(cap, 0.0)))
        values = {}
        for name in names:
            d = t.designs[name]
            if weights is not None and d.endpoint not in values:
                values[d.endpoint] = arm_values(spec, d.endpoint, None if uniform else weights)
            for m in t.sensitivity.effect_multipliers:
                row = {"design": name, "endpoint": d.endpoint, "mix": label,
                       "mix_shares": _shares_text(shares), "effect_multiplier": m,
                       "p_eligible": p_elig, "expected_n_by_cap": by_cap}  # fmt: skip
                if weights is None:
                    rows.append(row)
                    continue
                v = scaled(values[d.endpoint], m)
                if m == 1.0:
                    sol = design_solution(spec, name, v, None if uniform else weights)
                else:
                    # the scaled arms; for time to death the death shares are v's (the
                    # accrual-dependent follow-up adjustment is for the unscaled pool)
                    from sim.trial.solver import solve

                    p_rand = p_elig * p_screen
                    sol = solve(t, d, v, p_rand, None, spec.pool.horizon_days)
                n = sol.n_dropout if math.isfinite(sol.n_dropout) else sol.n
                p_rec = float(poisson.sf(n - 1, by_cap)) if math.isfinite(n) else math.nan
                row.update(
                    p_e=v.p_e, p_c=v.p_c, hazard_ratio=v.hazard_ratio, odds_ratio=v.odds_ratio,
                    analytic_n=sol.n, analytic_n_dropout=sol.n_dropout,
                    analytic_events=sol.events, inflation_factor=float(sol.inflation),
                    p_recruited=p_rec,
                    recruitable=bool(p_rec >= t.sizing.min_p_recruited)
                    if math.isfinite(p_rec) else False,
                )  # fmt: skip
                rows.append(row)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)


def sensitivity_markdown(df: pd.DataFrame, spec) -> str:
    """A short sizing.md section: analytic n with dropout by mix (rows) and effect
    multiplier (columns), per design."""
    t = spec.trial
    mults = list(t.sensitivity.effect_multipliers)
    lines = [
        "",
        "**Sensitivity of the analytic n** (sensitivity.csv, sensitivity.png; patients "
        "randomised, with dropout; each design's formula, stratified where its analysis is, "
        "except mRS) to the patient mix (the pool reweighted by condition) and the effect "
        "(x the model's risk difference, log HR or log OR); * = not recruitable within the "
        "accrual cap, - = no benefit under that mix:",
    ]
    for name, g in df.groupby("design", sort=False):
        lines += ["", f"{name}:", "",
                  "| mix | " + " | ".join(f"x{m:g}" for m in mults) + " | expected n by cap |",
                  "|---|" + "---|" * (len(mults) + 1)]  # fmt: skip
        for mix, h in g.groupby("mix", sort=False):
            cells = []
            for m in mults:
                r = h[h["effect_multiplier"] == m].iloc[0]
                n = r["analytic_n_dropout"]
                n = r["analytic_n"] if not math.isfinite(n) else n
                cells.append(
                    "-" if not math.isfinite(n) else f"{int(n)}{'' if r['recruitable'] else '*'}"
                )
            lines.append(
                f"| {mix} | " + " | ".join(cells) + f" | {h['expected_n_by_cap'].iloc[0]:.0f} |"
            )
    return "\n".join(lines) + "\n"


def plot_sensitivity(df: pd.DataFrame, path: Path) -> Path:
    """Analytic n (with dropout) against the effect multiplier, one line per mix, one
    panel per design (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.outcomes.plots import _save_atomic

    designs = list(dict.fromkeys(df["design"]))
    fig, axes = plt.subplots(1, len(designs), figsize=(4.2 * len(designs), 3.8), squeeze=False)
    for ax, name in zip(axes[0], designs, strict=True):
        g = df[df["design"] == name]
        for mix, h in g.groupby("mix", sort=False):
            n = h["analytic_n_dropout"].where(h["analytic_n_dropout"].notna(), h["analytic_n"])
            ax.plot(h["effect_multiplier"], n, marker="o", label=mix)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("x the model's effect")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("analytic n (randomised, with dropout)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _save_atomic(fig, path)
