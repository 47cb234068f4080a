"""Probabilistic sensitivity analysis: an outer loop of parameter draws, an inner loop
of simulated patients.

Draw d sets the sampled values into a copy of the config, then simulates
`psa.n_patients` new patients (their own seed, derived from the run seed and d) under
every strategy: the same patients under each strategy (common random numbers) but new
patients in each draw. A draw's mean therefore carries two kinds of uncertainty:

* second-order (parameter) uncertainty: what the PSA is for, the spread between draws;
* first-order (patient-sampling) noise: the Monte Carlo error of a mean of n patients,
  reported for each draw as `cost_se` / `qaly_se`; `uncertainty_table` splits the
  between-draw variance into the two parts, so a user can tell if n_patients is enough.

Each draw is a pure function of (config, draw values, draw index), so the results are
identical whatever the executor and number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from sim.config.paths import with_values
from sim.config.schema import RunConfig
from sim.core import rng
from sim.economics.values import patient_values
from sim.engine.executors import ordered_map
from sim.engine.run import simulate_strategies

PSA_COLUMNS = [
    "draw",
    "strategy",
    "cost",
    "qaly",
    "life_years",
    "cost_se",
    "qaly_se",
    "life_years_se",
    "n_patients",
    "survival",
]


def draw_seed(seed: int, draw: int) -> int:
    """The patient seed of draw d: independent of every other draw's."""
    return rng.derived_seed(seed, "psa/patient_seed", draw)


def strategy_means(values: pd.DataFrame) -> dict[str, float]:
    n = len(values)
    out: dict[str, float] = {"n_patients": n}
    for col in ("cost", "qaly", "life_years"):
        x = values[col].to_numpy()
        out[col] = float(x.mean())
        out[f"{col}_se"] = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return out


def run_draw(cfg: RunConfig, values: dict[str, float], draw: int) -> pd.DataFrame:
    """One parameter set: every strategy's mean cost, QALYs and life-years."""
    c = with_values(cfg, values)
    c.seed = draw_seed(cfg.seed, draw)
    n = c.economics.psa.n_patients
    c.cohort.n = n
    rows = []
    for ch in simulate_strategies(c, 0, n, labs=False):
        sname = ch.strategy
        v = patient_values(
            ch.patients, ch.events, c.economics, c.model, c.monitoring, c.therapies, c.horizon_days
        )
        survival = 1.0 - float(ch.patients["died"].to_numpy(dtype=bool).mean())
        rows.append({"draw": draw, "strategy": sname, **strategy_means(v), "survival": survival})
    return pd.DataFrame(rows)[PSA_COLUMNS]


def run_psa(
    cfg: RunConfig, params: pd.DataFrame, on_draw: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """All draws (rows of `params`: a `draw` column and one column per dotted key)."""
    keys = [c for c in params.columns if c not in ("draw", "ensemble_member")]
    tasks = (
        (cfg, {k: float(r[k]) for k in keys}, int(r["draw"])) for r in params.to_dict("records")
    )
    parts = []
    # `auto` sends a large PSA to worker processes: its size in patient-strategies
    work = len(params) * cfg.economics.psa.n_patients * len(cfg.strategy)
    with ordered_map(cfg.executor, outer_patients=work) as run:
        for part in run(run_draw, tasks):
            parts.append(part)
            if on_draw is not None:
                on_draw(len(parts))
    return pd.concat(parts, ignore_index=True)


def uncertainty_table(psa: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and outcome: mean over draws, total variance of the draw means, and
    its split into first-order (patient sampling: mean se^2) and second-order (parameter:
    the rest, floored at 0) parts."""
    rows = []
    for sname, g in psa.groupby("strategy", sort=False):
        for col in ("cost", "qaly", "life_years"):
            total = float(g[col].var(ddof=1)) if len(g) > 1 else math.nan
            first = float((g[f"{col}_se"] ** 2).mean())
            rows.append(
                {
                    "strategy": sname,
                    "outcome": col,
                    "mean": float(g[col].mean()),
                    "sd_between_draws": math.sqrt(total) if total == total else math.nan,
                    "variance_total": total,
                    "variance_first_order": first,
                    "variance_second_order": max(total - first, 0.0),
                    "share_first_order": first / total if total and total > 0 else math.nan,
                }
            )
    return pd.DataFrame(rows)
