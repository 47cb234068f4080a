"""Run a scenario: every strategy over the same virtual cohort, chunk by chunk.

The same patients (same seed, same per-patient random streams) go through every
strategy: differences between strategies are not sampling noise. Chunks are
simulated independently and streamed to Parquet, so memory stays bounded whatever
the cohort size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from sim.config.schema import RunConfig
from sim.core import rng
from sim.engine.batch import simulate_batch
from sim.engine.executors import ordered_map
from sim.engine.reference import simulate_reference
from sim.engine.tables import (
    LAB_COLUMNS,
    events_frame,
    lab_columns,
    patient_frame,
    run_rule_names,
)
from sim.model import cohort as cohort_mod
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog


@dataclass
class Chunk:
    strategy: str
    patients: pd.DataFrame
    events: pd.DataFrame
    labs: pd.DataFrame


def simulate_chunk(cfg: RunConfig, sname: str, lo: int, hi: int) -> Chunk:
    """Patients lo..hi-1 under one strategy: a pure function of its arguments, so any
    worker anywhere computes the same numbers."""
    return next(simulate_strategies(cfg, lo, hi, [sname]))


def simulate_strategies(
    cfg: RunConfig, lo: int, hi: int, snames: Iterable[str] | None = None, labs: bool = True
) -> Iterator[Chunk]:
    """Patients lo..hi-1 under each strategy of `snames` (default: every strategy of the
    run) in turn: `simulate_chunk` of each, with the patients and the therapy catalog,
    which do not depend on the strategy, built once. `labs=False`: the chunks' lab
    tables are left empty (the patient table's month-1 columns are still computed),
    for callers that read only patients and events."""
    key = rng.run_key(cfg.seed)
    catalog = Catalog.build(cfg.therapies)
    pts = cohort_mod.build(key, cfg.cohort, cfg.model, np.arange(lo, hi))
    rules = run_rule_names(cfg.strategy)
    for sname in cfg.strategy if snames is None else snames:
        compiled = compile_strategy(cfg.strategy[sname], cfg.model, catalog)
        args = (pts, compiled, catalog, cfg.model, cfg.monitoring, key, cfg.horizon_days)
        if cfg.engine.kind == "batch":
            courses = [simulate_batch(*args)]
        else:
            courses = simulate_reference(*args)
        cols = lab_columns(courses)
        pdf = patient_frame(courses, cfg.horizon_days, cfg.model, cfg.monitoring, cols)
        ev = events_frame(courses, rules)
        lab = pd.DataFrame(cols) if labs and cols else pd.DataFrame(columns=LAB_COLUMNS)
        for df in (pdf, ev, lab):
            df.insert(0, "strategy", sname)
        yield Chunk(sname, pdf, ev, lab)


def chunks(cfg: RunConfig, progress: tqdm | None = None) -> Iterator[Chunk]:
    """Simulate strategy by strategy, chunk by chunk, on the configured executor;
    chunks come back in order whatever executor ran them."""
    n, size = cfg.cohort.n, cfg.engine.chunk_size
    tasks = (
        (cfg, sname, lo, min(lo + size, n)) for sname in cfg.strategy for lo in range(0, n, size)
    )
    with ordered_map(cfg.executor) as run:
        for c in run(simulate_chunk, tasks):
            if progress is not None:
                progress.update(len(c.patients))
            yield c


def simulate(cfg: RunConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All results in memory (patients, events, labs): for tests and small runs."""
    parts = list(chunks(cfg))
    return (
        pd.concat([c.patients for c in parts], ignore_index=True),
        pd.concat([c.events for c in parts], ignore_index=True),
        pd.concat([c.labs for c in parts], ignore_index=True),
    )
