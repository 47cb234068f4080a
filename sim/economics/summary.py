"""Probabilistic results and subgroups: the incremental analysis from the PSA draws, and
the deterministic one per underlying condition.

* `psa_summary` (psa_summary.csv): per willingness to pay and strategy, the mean over
  draws of cost, QALYs and NMB with 95% intervals (2.5th and 97.5th percentiles of the
  draws); the *probabilistic* incremental table (the frontier and ICERs of the expected
  costs and QALYs, so the probabilistic ICER is the ratio of the mean increments, not
  the mean of the per-draw ratios, which is undefined when an increment in QALYs can be
  near 0); the incremental NMB against that comparator with its interval and the share
  of draws in which it is positive; and the deterministic ICER beside it (cea.csv).
* `cea_by_condition` (cea_by_condition.csv): the whole incremental table (frontier,
  dominance, ICERs, NMB, Monte Carlo SEs) per underlying condition, from the per-patient
  values of the base case. The same patients ran under every strategy, so each
  condition's table compares the same patients.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.economics.decision import cea_table
from sim.economics.psa import strategy_means

INTERVAL = (0.025, 0.975)  # 95% interval of the PSA draws (percentiles)

SUMMARY_COLUMNS = [
    "wtp",
    "strategy",
    "cost",
    "cost_lo",
    "cost_hi",
    "qaly",
    "qaly_lo",
    "qaly_hi",
    "nmb",
    "nmb_lo",
    "nmb_hi",
    "comparator",
    "inc_cost",
    "inc_cost_lo",
    "inc_cost_hi",
    "inc_qaly",
    "inc_qaly_lo",
    "inc_qaly_hi",
    "icer",
    "dominance",
    "inc_nmb",
    "inc_nmb_lo",
    "inc_nmb_hi",
    "p_inc_nmb_positive",
    "p_cost_effective",
    "optimal",
    "icer_deterministic",
    "comparator_deterministic",
]


def _interval(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(x, INTERVAL)
    return float(lo), float(hi)


def psa_summary(
    psa: pd.DataFrame,
    strategies: list[str],
    thresholds: list[float],
    deterministic: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """psa: one row per draw and strategy (draw, strategy, cost, qaly). One row per
    threshold and strategy (columns SUMMARY_COLUMNS); `deterministic`: cea.csv, whose
    ICER and comparator are copied beside the probabilistic ones."""
    cost = psa.pivot(index="draw", columns="strategy", values="cost")[strategies].to_numpy()
    qaly = psa.pivot(index="draw", columns="strategy", values="qaly")[strategies].to_numpy()
    means = pd.DataFrame(
        {
            "strategy": strategies,
            "cost": cost.mean(axis=0),
            "qaly": qaly.mean(axis=0),
            "life_years": np.nan,
        }
    )
    col = {s: k for k, s in enumerate(strategies)}
    det = (
        deterministic.set_index("strategy")
        if deterministic is not None
        else pd.DataFrame(index=strategies, data={"icer": np.nan, "comparator": ""})
    )
    rows = []
    for w in thresholds:
        table = cea_table(means, w).set_index("strategy")
        nb = w * qaly - cost
        best = nb.argmax(axis=1)  # ties go to the earlier strategy, as the CEAC
        for s in strategies:
            k = col[s]
            r = table.loc[s]
            comp = str(r["comparator"]) if isinstance(r["comparator"], str) else ""
            row = {"wtp": float(w), "strategy": s}
            for name, x in (("cost", cost[:, k]), ("qaly", qaly[:, k]), ("nmb", nb[:, k])):
                row[name] = float(x.mean())
                row[f"{name}_lo"], row[f"{name}_hi"] = _interval(x)
            row["comparator"] = comp
            if comp:
                j = col[comp]
                for name, x in (
                    ("inc_cost", cost[:, k] - cost[:, j]),
                    ("inc_qaly", qaly[:, k] - qaly[:, j]),
                    ("inc_nmb", nb[:, k] - nb[:, j]),
                ):
                    row[name] = float(x.mean())
                    row[f"{name}_lo"], row[f"{name}_hi"] = _interval(x)
                row["p_inc_nmb_positive"] = float((nb[:, k] > nb[:, j]).mean())
            else:
                for name in ("inc_cost", "inc_qaly", "inc_nmb"):
                    row[name] = row[f"{name}_lo"] = row[f"{name}_hi"] = math.nan
                row["p_inc_nmb_positive"] = math.nan
            row["icer"] = float(r["icer"])
            row["dominance"] = str(r["dominance"])
            row["p_cost_effective"] = float((best == k).mean())
            row["optimal"] = bool(r["optimal"])
            row["icer_deterministic"] = float(det.loc[s, "icer"]) if s in det.index else math.nan
            dc = det.loc[s, "comparator"] if s in det.index else ""
            row["comparator_deterministic"] = dc if isinstance(dc, str) else ""
            rows.append(row)
    return pd.DataFrame(rows)[SUMMARY_COLUMNS]


def summarise_values(values: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    rows = [{"strategy": s, **strategy_means(values[values["strategy"] == s])} for s in strategies]
    return pd.DataFrame(rows)


def add_increment_se(cea: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """Monte Carlo SEs of each frontier increment. The same patients ran under every
    strategy (common random numbers), so the SE comes from per-patient differences:
    much smaller than the two means' SEs combined."""
    cea = cea.copy()
    by = {s: g.set_index("patient_id") for s, g in values.groupby("strategy", sort=False)}
    for col in ("cost", "qaly"):
        se = []
        for r in cea.itertuples():
            if not r.comparator:
                se.append(float("nan"))
                continue
            a, b = by[r.strategy], by[r.comparator]
            d = a[col] - b.loc[a.index, col]
            se.append(float(d.std(ddof=1) / math.sqrt(len(d))))
        cea[f"inc_{col}_se"] = se
    return cea


def cea_by_condition(
    values: pd.DataFrame, strategies: list[str], wtp: float, conditions: list[str] | None = None
) -> pd.DataFrame:
    """The incremental table of each underlying condition (one block of rows each, in
    `conditions` order, else by first appearance), with `condition` and `n_patients`
    first. Uses the same functions as cea.csv on the condition's patients."""
    present = list(dict.fromkeys(values["condition"].astype(str)))
    order = [c for c in (conditions or present) if c in present]
    parts = []
    for cond in order:
        v = values[values["condition"].astype(str) == cond]
        table = add_increment_se(cea_table(summarise_values(v, strategies), wtp), v)
        table.insert(0, "n_patients", table.pop("n_patients"))
        table.insert(0, "condition", cond)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
