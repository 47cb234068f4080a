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
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd

from sim.config.schema import CONDITIONS, RunConfig, StudyConfig, Target
from sim.core import rng
from sim.evidence.targets import (
    PREDICTORS,
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
]
_CSF_STREAM = "study/csf_month1_measured"  # random stream: is a month-1 LP available


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


def _verdict(t: Target, value: float, lo: float, hi: float) -> str:
    """hit: the model's value is inside the published 95% CI.

    For odds ratios, `direction` means on the published side of 1 but outside its
    CI; `miss` otherwise.
    """
    if not math.isfinite(value):
        return "not estimable"
    if lo <= value <= hi:
        return "hit"
    if t.quantity == "odds_ratio" and (value > 1.0) == (t.value > 1.0):
        return "direction"
    return "miss"


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
        verdict = _verdict(t, value, plo, phi) if t is not None else ""
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
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _label(t: Target) -> str:
    if t.quantity == "odds_ratio":
        return f"OR, {t.predictor.replace('_', ' ')}"
    names = {"survival": "1-year survival", "iris": "PML-IRIS", "side_effect": "side effects"}
    label = names.get(t.quantity, t.quantity)
    if t.population.condition != "all":
        label += f", {t.population.condition}"
    return label


def markdown_table(table: pd.DataFrame, study_n: int) -> str:
    """The comparison as a Markdown table a reader scans in seconds."""

    def fmt(x: float, q: str) -> str:
        if not math.isfinite(x):
            return "-"
        return f"{x:.2f}" if q.startswith("OR") else f"{100 * x:.1f}%"

    head = (
        f"| figure | published (95% CI) | simulated n = {study_n}: median (95% range) "
        f"| n = {study_n} studies with p < 0.05 "
        "| simulated large n (95% CI) | verdict |\n|---|---|---|---|---|---|\n"
    )
    lines = []
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
        sig = f"{100 * r.n64_significant:.0f}%" if math.isfinite(r.n64_significant) else "-"
        if r.n64_estimable < 0.999:
            small += f", estimable in {100 * r.n64_estimable:.0f}%"
        big = fmt(r.large_n, q)
        if math.isfinite(r.large_n_low):
            big += f" ({fmt(r.large_n_low, q)}-{fmt(r.large_n_high, q)})"
        verdict = r.verdict if isinstance(r.verdict, str) and r.verdict else "-"
        lines.append(f"| {q} | {pub} | {small} | {sig} | {big} | {verdict} |")
    return head + "\n".join(lines) + "\n"
