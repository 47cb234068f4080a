"""The base case of a cost-effectiveness run: every strategy's patients, valued.

Each chunk of patients is simulated and valued in the same worker (`map_chunks`): the
worker returns the per-patient values, a few columns, instead of the chunk's patient
and event tables, so valuing runs on every core and little crosses between processes.
The values are the same numbers whichever process computes them: `patient_values` is
a function of the chunk's own patients and events.
"""

from __future__ import annotations

import pandas as pd
from tqdm import tqdm

from sim.config.economics import EconomicsConfig
from sim.config.schema import RunConfig
from sim.economics.budget import year_costs
from sim.economics.severity import general_population_qalys
from sim.economics.values import patient_values
from sim.engine.run import Chunk, map_chunks


def value_chunk(
    cfg: RunConfig,
    c: Chunk,
    recost: dict[str, EconomicsConfig],
    units: tuple[str, ...],
    years: int,
    severity: bool,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One chunk's per-patient values (with `doses_<t>` / `days_<t>` of `units`, the
    undiscounted cost of each of `years` budget years and, if `severity`, age, sex and
    general-population QALYs), and the same patients re-costed under each of `recost`."""
    e = cfg.economics
    args = (cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days)
    memo: dict = {}  # the same patients under several economics configs
    v = patient_values(c.patients, c.events, e, *args, units=units, memo=memo)
    if years:
        yc = year_costs(c.patients, c.events, e, *args, years, memo=memo)
        for k in range(1, years + 1):
            v[f"budget_year_{k}"] = yc[f"budget_year_{k}"].to_numpy()
    if severity:
        pts = c.patients.set_index("patient_id").loc[v["patient_id"]]
        v["age"] = pts["age"].to_numpy(dtype=float)
        v["female"] = pts["female"].to_numpy(dtype=bool)
        v["qaly_general_population"] = general_population_qalys(
            v["age"].to_numpy(), v["female"].to_numpy(), e
        )
    others = {
        name: patient_values(c.patients, c.events, econ, *args, memo=memo)
        for name, econ in recost.items()
    }
    return v, others


def simulate_and_value(
    cfg: RunConfig,
    recost: dict[str, EconomicsConfig] | None = None,
    extras: bool = True,
    desc: str = "base case",
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per-patient values of every strategy (with the `base_case` extras if `extras`),
    and of the same patients re-costed under each economics config of `recost`."""
    e = cfg.economics
    priced = [item.therapy for item in e.threshold_prices] + [a.therapy for a in e.two_way.axes]
    units = tuple(dict.fromkeys(priced)) if extras else ()
    years = len(e.budget_impact.uptake) if extras else 0
    recost = recost or {}
    args = (recost, units, years, extras and e.severity.enabled)
    parts: list[pd.DataFrame] = []
    others: dict[str, list[pd.DataFrame]] = {name: [] for name in recost}
    with tqdm(
        total=cfg.cohort.n * len(cfg.strategy),
        unit="patient",
        unit_scale=True,
        desc=desc,
        disable=not cfg.output.progress,
        mininterval=0.5,
    ) as bar:
        for v, rec in map_chunks(cfg, value_chunk, args, bar):
            parts.append(v)
            for name, r in rec.items():
                others[name].append(r)
    return (
        pd.concat(parts, ignore_index=True),
        {name: pd.concat(p, ignore_index=True) for name, p in others.items()},
    )


def base_case(cfg: RunConfig) -> pd.DataFrame:
    """Per-patient values of the base case (every strategy), chunk by chunk; with the
    discounted doses / days of the threshold-price therapies (`doses_<t>`, `days_<t>`)
    and, for the budget impact, the undiscounted cost in each year since diagnosis
    (`budget_year_<k>`)."""
    return simulate_and_value(cfg)[0]
