"""A virtual retrospective study: the seed 000 analysis, run on simulated patients.

Seed 000 followed 64 PML patients given rhIL-7 (27 HIV, 16 hematological, 13
primary immunodeficiency, 4 transplant, 4 chronic inflammatory) and reported
one-year survival, its logistic regression on three month-1 changes, and side-effect
and IRIS rates. Here we simulate `replicates x study_n` patients once, split them
into `replicates` disjoint studies with exactly the published condition counts, and
run the same analysis in each (statsmodels logistic regression). The spread over
replicates is what a 64-patient study could have found if the model were true;
all patients pooled give the model's own value (the large-n study).

A month-1 lumbar puncture was not done in everyone: `csf_month1_available` sets the
share with one (seed 000's wide CSF odds-ratio CI suggests about half).

Verdict (docs/validation.md). A published figure from 64 patients has a wide CI, so
"the large-n model value is inside it" is a weak check on its own. The study also
asks whether the published estimate is a plausible draw from the model's sampling
distribution at the published size:

* `n64_p_extreme`: share of (estimable) simulated 64-patient studies whose estimate is
  at least as extreme as the published one, on the published side of the simulated
  median (a one-sided predictive p-value); `n64_significant`: share finding an OR
  significant (> 1, p < 0.05) as the paper did;
* verdict `miss` when the published estimate is outside the central 95% of the
  simulated 64-patient estimates, or when the published 95% CI excludes the large-n
  model value; `hit` otherwise; `not estimable` when the model gives no value.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np
import pandas as pd

from sim.config.schema import CONDITIONS, RunConfig, StudyConfig, Target
from sim.core import rng
from sim.evidence.targets import (
    PREDICTORS,
    Citation,
    alive_at,
    month1_exposures,
    odds_ratio,
    published_ci,
)

TABLE_COLUMNS = [
    "quantity",
    "target_id",
    "role",
    "published",
    "published_low",
    "published_high",
    "n64_median",
    "n64_low",
    "n64_high",
    "n64_estimable",
    "n64_significant",
    "large_n",
    "large_n_low",
    "large_n_high",
    "verdict",
    # added with the predictive check (issue 12); columns above keep their meaning
    "n64_p_extreme",
    "n64_p_extreme_se",
    "verdict_reason",
]
_CSF_STREAM = "study/csf_month1_measured"  # random stream: is a month-1 LP available
VERDICTS = ("hit", "miss", "not estimable")
VERDICT_RULE = (
    "Verdict: **miss** when the published estimate lies outside the central 95% of the "
    "simulated {n}-patient estimates, or when the published 95% CI excludes the large-n "
    "model value; **hit** otherwise. 'at least as extreme' is the share of simulated "
    "{n}-patient studies (estimable ones) whose estimate is at least as far from the "
    "simulated median as the published one, on the published side (a one-sided "
    "predictive p-value; below about 2.5% the published estimate is outside the central "
    "95%). A large-n value inside a wide published CI alone is a weak check "
    "(docs/validation.md)."
)
_TIE = (5e-4, 1e-3)  # published figures are rounded as printed: |x - pub| below this ties


def condition_counts(cfg: RunConfig) -> dict[str, int]:
    """Patients per condition in one replicate study (largest remainder rounding)."""
    w = {c: float(cfg.cohort.mix.get(c, 0.0)) for c in CONDITIONS}
    total = sum(w.values())
    exact = {c: cfg.study.study_n * v / total for c, v in w.items()}
    counts = {c: int(math.floor(x)) for c, x in exact.items()}
    short = cfg.study.study_n - sum(counts.values())
    for c in sorted(exact, key=lambda c: counts[c] - exact[c])[:short]:
        counts[c] += 1
    return {c: k for c, k in counts.items() if k > 0}


def study_config(cfg: RunConfig) -> RunConfig:
    """The pooled cohort: exactly replicates x counts patients of each condition."""
    counts = condition_counts(cfg)
    pooled = copy.copy(cfg)
    pooled.cohort = replace(
        cfg.cohort,
        n=cfg.study.replicates * cfg.study.study_n,
        mix={c: float(k) for c, k in counts.items()},
    )
    return pooled


def assign_replicates(patients: pd.DataFrame, cfg: RunConfig) -> np.ndarray:
    """Replicate number of each patient: within a condition, consecutive blocks.

    Patients are already in random order within a condition (condition assignment
    uses a seeded permutation), so blocks by patient id are random samples.
    """
    counts = condition_counts(cfg)
    rep = np.full(len(patients), -1, dtype=np.int64)
    for c, k in counts.items():
        pos = np.flatnonzero((patients["condition"] == c).to_numpy())
        pos = pos[np.argsort(patients["patient_id"].to_numpy()[pos], kind="stable")]
        usable = (len(pos) // k) * k
        rep[pos[:usable]] = np.arange(usable) // k
    return rep


def add_study_columns(patients: pd.DataFrame, cfg: RunConfig) -> pd.DataFrame:
    """Replicate number and whether a month-1 CSF sample exists (seeded per patient)."""
    out = patients.copy()
    out["replicate"] = assign_replicates(out, cfg)
    u = rng.uniform(rng.run_key(cfg.seed), _CSF_STREAM, out["patient_id"].to_numpy())
    out["csf_month1_measured"] = u < cfg.study.csf_month1_available
    return out


def analyse(
    patients: pd.DataFrame, study: StudyConfig, therapies: list[str], day: float = 365.0
) -> dict[str, float]:
    """The seed 000 analysis on one study's patients."""
    alive = alive_at(patients, day)
    row: dict[str, float] = {"n": float(len(patients)), "survival_1y": float(alive.mean())}
    for c in CONDITIONS:
        m = (patients["condition"] == c).to_numpy()
        if m.any():
            row[f"survival_1y_{c}"] = float(alive[m].mean())
    row["condition_p"] = _condition_p(patients, alive)
    row["iris"] = float(patients["iris"].mean())
    row["side_effect"] = float(patients["side_effect"].mean())
    for th in therapies:
        row[f"side_effect_{th}"] = float(patients[f"side_effect_{th}"].mean())
    exp = month1_exposures(patients, study)
    for pred in PREDICTORS:
        x = exp[pred].to_numpy()
        or_, lo, hi, p = odds_ratio(alive, x)
        row[f"exposed_{pred}"] = float(np.nanmean(x)) if np.isfinite(x).any() else math.nan
        row[f"or_{pred}"], row[f"or_{pred}_low"], row[f"or_{pred}_high"] = or_, lo, hi
        row[f"or_{pred}_p"] = p
    return row


def _therapies(targets: list[Target]) -> list[str]:
    return sorted({t.therapy for t in targets if t.therapy})


def _condition_p(patients: pd.DataFrame, alive: np.ndarray) -> float:
    """Chi-square test of 1-year survival across the conditions present (seed 000:
    survival "did not differ by underlying condition")."""
    from scipy.stats import chi2_contingency

    cond = patients["condition"].astype(str).to_numpy()
    table = pd.crosstab(cond, alive).to_numpy()
    if table.shape[0] < 2 or table.shape[1] < 2:
        return math.nan
    return float(chi2_contingency(table)[1])


def replicate_table(
    patients: pd.DataFrame, study: StudyConfig, targets: list[Target]
) -> pd.DataFrame:
    rows = []
    therapies = _therapies(targets)
    for r, g in patients[patients["replicate"] >= 0].groupby("replicate", sort=True):
        rows.append({"replicate": int(r), **analyse(g, study, therapies)})
    return pd.DataFrame(rows)


_QUANTITY_COLUMN = {"survival": "survival_1y", "iris": "iris", "side_effect": "side_effect"}


def _column(t: Target) -> str | None:
    if t.quantity == "odds_ratio":
        return f"or_{t.predictor}"
    if t.quantity == "survival" and t.population.condition != "all":
        return f"survival_1y_{t.population.condition}"
    if t.quantity == "side_effect" and t.therapy:
        return f"side_effect_{t.therapy}"
    return _QUANTITY_COLUMN.get(t.quantity)


def predictive_p(simulated: np.ndarray, published: float) -> tuple[float, float]:
    """Share of simulated small-study estimates at least as extreme as the published one.

    One-sided, on the published value's side of the simulated median; estimates equal
    to the published one as printed (rounded) count as at least as extreme. NaN
    estimates (not estimable studies) are left out. Returns (share, Monte Carlo se).
    """
    x = np.asarray(simulated, float)
    x = x[np.isfinite(x)]
    if not len(x) or not math.isfinite(published):
        return math.nan, math.nan
    tie = _TIE[0] + _TIE[1] * abs(published)
    if published >= float(np.median(x)):
        extreme = x >= published - tie
    else:
        extreme = x <= published + tie
    p = float(extreme.mean())
    return p, math.sqrt(p * (1.0 - p) / len(x))


def study_verdict(
    value: float, lo: float, hi: float, published: float, small_lo: float, small_hi: float
) -> tuple[str, str]:
    """(verdict, reason): the rule of the module doc.

    value: the large-n model value; lo-hi: the published 95% CI; small_lo-small_hi: the
    central 95% of the simulated small-study estimates.
    """
    if not math.isfinite(value):
        return "not estimable", "no large-n model value"
    reasons = []
    if not lo <= value <= hi:
        reasons.append("published CI excludes the large-n model value")
    if math.isfinite(small_lo) and not small_lo <= published <= small_hi:
        reasons.append("published estimate outside the central 95% of simulated studies")
    return ("miss" if reasons else "hit"), "; ".join(reasons)


def comparison_table(
    targets: list[Target], reps: pd.DataFrame, pooled: pd.DataFrame, study: StudyConfig
) -> pd.DataFrame:
    """published | n = study_n (median, 95% range over replicates) | large n, per figure."""
    big = analyse(pooled, study, _therapies(targets))
    rows = []

    def add(label, tid, role, pub, plo, phi, col, t=None):
        x = reps[col].to_numpy(float) if col in reps else np.array([math.nan])
        ok = x[np.isfinite(x)]
        significant = math.nan  # share of studies with a significant finding
        if col.startswith("or_") and f"{col}_p" in reps:
            sig = (reps[col] > 1.0) & (reps[f"{col}_p"] < 0.05)
            significant = float(sig.mean())
        q = np.quantile(ok, [0.5, 0.025, 0.975]) if len(ok) else [math.nan] * 3
        value = big.get(col, math.nan)
        lo_big, hi_big = big.get(f"{col}_low", math.nan), big.get(f"{col}_high", math.nan)
        if col.startswith(("survival", "iris", "side_effect")) and math.isfinite(value):
            se = math.sqrt(value * (1 - value) / big["n"])
            lo_big, hi_big = value - 1.96 * se, value + 1.96 * se
        verdict, reason, p_ext, p_se = "", "", math.nan, math.nan
        if t is not None:
            verdict, reason = study_verdict(value, plo, phi, pub, q[1], q[2])
            p_ext, p_se = predictive_p(x, pub)
        rows.append(
            {
                "quantity": label,
                "target_id": tid,
                "role": role,
                "published": pub,
                "published_low": plo,
                "published_high": phi,
                "n64_median": q[0],
                "n64_low": q[1],
                "n64_high": q[2],
                "n64_estimable": len(ok) / max(len(x), 1),
                "n64_significant": significant,
                "large_n": value,
                "large_n_low": lo_big,
                "large_n_high": hi_big,
                "verdict": verdict,
                "n64_p_extreme": p_ext,
                "n64_p_extreme_se": p_se,
                "verdict_reason": reason,
            }
        )

    listed = set()
    for t in targets:
        col = _column(t)
        if col is None:
            continue
        lo, hi = published_ci(t)
        add(_label(t), t.id, t.role, t.value, lo, hi, col, t)
        listed.add(col)
    for c in CONDITIONS:  # seed 000: "did not differ by underlying condition"
        col = f"survival_1y_{c}"
        if col in reps and col not in listed:
            add(f"1-year survival, {c}", "", "", math.nan, math.nan, math.nan, col)
    if "condition_p" in reps:  # a study that would report a difference by condition
        p = reps["condition_p"].to_numpy(float)
        rows.append(
            {
                **dict.fromkeys(TABLE_COLUMNS, math.nan),
                "quantity": "survival differs by condition (chi-square)",
                "target_id": "",
                "role": "",
                "n64_estimable": float(np.isfinite(p).mean()),
                "n64_significant": float(np.nanmean(p < 0.05)),
                "verdict": "",
                "verdict_reason": "",
            }
        )
    for pred in PREDICTORS:
        add(
            f"share with {pred.replace('_', ' ')}",
            "",
            "",
            math.nan,
            math.nan,
            math.nan,
            f"exposed_{pred}",
        )
    # appended last: the rows above keep their place in the table (output contract)
    or_cols = [f"or_{pred}" for pred in PREDICTORS]
    if all(c in reps and f"{c}_p" in reps for c in or_cols):  # as the paper found
        sig = np.ones(len(reps), dtype=bool)
        for c in or_cols:
            sig &= ((reps[c] > 1.0) & (reps[f"{c}_p"] < 0.05)).to_numpy()
        rows.append(
            {
                **dict.fromkeys(TABLE_COLUMNS, math.nan),
                "quantity": "all three odds ratios significant (as published)",
                "target_id": "",
                "role": "",
                "n64_estimable": float(
                    np.all([np.isfinite(reps[c].to_numpy(float)) for c in or_cols], axis=0).mean()
                ),
                "n64_significant": float(sig.mean()),
                "verdict": "",
                "verdict_reason": "",
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _label(t: Target) -> str:
    if t.quantity == "odds_ratio":
        return f"OR, {t.predictor.replace('_', ' ')}"
    names = {"survival": "1-year survival", "iris": "PML-IRIS", "side_effect": "side effects"}
    label = names.get(t.quantity, t.quantity)
    if t.population.condition != "all":
        label += f", {t.population.condition}"
    return label


def markdown_table(table: pd.DataFrame, study_n: int, citations: Iterable[Citation] = ()) -> str:
    """The comparison as a Markdown table a reader scans in seconds, the verdict rule,
    the misses, and the validation figures a config value cites (not independent)."""

    def fmt(x: float, q: str) -> str:
        if not math.isfinite(x):
            return "-"
        return f"{x:.2f}" if q.startswith("OR") else f"{100 * x:.1f}%"

    head = (
        f"| figure | published (95% CI) | simulated n = {study_n}: median (95% range) "
        f"| n = {study_n} studies with p < 0.05 "
        f"| n = {study_n} studies at least as extreme as published "
        "| simulated large n (95% CI) | verdict |\n|---|---|---|---|---|---|---|\n"
    )
    lines, reasons = [], []
    for r in table.itertuples():
        q = r.quantity
        pub = (
            f"{fmt(r.published, q)} ({fmt(r.published_low, q)}-{fmt(r.published_high, q)})"
            if math.isfinite(r.published)
            else "-"
        )
        small = f"{fmt(r.n64_median, q)} ({fmt(r.n64_low, q)}-{fmt(r.n64_high, q)})"
        if not math.isfinite(r.n64_median):
            small = "-"
        sig = f"{100 * r.n64_significant:.1f}%" if math.isfinite(r.n64_significant) else "-"
        if r.n64_estimable < 0.999:
            small = ("" if small == "-" else small + ", ") + (
                f"estimable in {100 * r.n64_estimable:.0f}%"
            )
        extreme = "-"
        if math.isfinite(r.n64_p_extreme):
            extreme = f"{100 * r.n64_p_extreme:.1f}% (MC se {100 * r.n64_p_extreme_se:.1f})"
        big = fmt(r.large_n, q)
        if math.isfinite(r.large_n_low):
            big += f" ({fmt(r.large_n_low, q)}-{fmt(r.large_n_high, q)})"
        verdict = r.verdict if isinstance(r.verdict, str) and r.verdict else "-"
        if isinstance(r.verdict_reason, str) and r.verdict_reason:
            reasons.append(f"- {q}: {r.verdict_reason}.")
        lines.append(f"| {q} | {pub} | {small} | {sig} | {extreme} | {big} | {verdict} |")
    text = head + "\n".join(lines) + "\n\n" + VERDICT_RULE.format(n=study_n) + "\n"
    if reasons:
        text += "\nMisses:\n" + "\n".join(reasons) + "\n"
    shown = set(table["target_id"].dropna())
    mine = [c for c in citations if c.target_id in shown]
    if mine:
        text += (
            "\nNot independent: these validation figures are cited by config values "
            "(open problems, docs/validation.md):\n"
        )
        text += "\n".join(
            f"- {c.target_id}: conf/{c.file} line {c.line} `{c.key}` ({c.why})" for c in mine
        )
        text += "\n"
    return text
