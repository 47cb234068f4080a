"""Run a scenario: every strategy over the same virtual cohort, chunk by chunk.

The same patients (same seed, same per-patient random streams) go through every
strategy: differences between strategies are not sampling noise. Chunks are
simulated independently and streamed to Parquet, so memory stays bounded whatever
the cohort size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

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
    month1_lab_days,
    patient_frame,
    run_rule_names,
)
from sim.model import cohort as cohort_mod
from sim.model.events import COLUMNS as EVENT_COLUMNS
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog

T = TypeVar("T")
_NO_LABS = pd.DataFrame(columns=["strategy", *LAB_COLUMNS])  # as an empty lab table + strategy
_NO_EVENTS = pd.DataFrame(columns=["strategy", *EVENT_COLUMNS])  # likewise for events


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
    cfg: RunConfig,
    lo: int,
    hi: int,
    snames: Iterable[str] | None = None,
    labs: bool = True,
    events: bool = True,
) -> Iterator[Chunk]:
    """Patients lo..hi-1 under each strategy of `snames` (default: every strategy of the
    run) in turn: `simulate_chunk` of each, with the patients and the therapy catalog,
    which do not depend on the strategy, built once. `labs=False`: the chunks' lab
    tables are left empty (the patient table's month-1 columns are still computed),
    for callers that read only patients and events; `events=False` likewise leaves the
    event tables empty, for callers that read only patients (the patients are the same:
    the log is kept, only its table is not built)."""
    key = rng.run_key(cfg.seed)
    catalog = Catalog.build(cfg.therapies)
    pts = cohort_mod.build(key, cfg.cohort, cfg.model, np.arange(lo, hi))
    rules = run_rule_names(cfg.strategy)
    # without a lab table only the visits of the month-1 columns need measuring
    lab_days = None if labs else month1_lab_days(cfg.monitoring)
    for sname in cfg.strategy if snames is None else snames:
        compiled = compile_strategy(cfg.strategy[sname], cfg.model, catalog)
        args = (pts, compiled, catalog, cfg.model, cfg.monitoring, key, cfg.horizon_days)
        if cfg.engine.kind == "batch":
            courses = [simulate_batch(*args, lab_days=lab_days)]
        else:
            courses = simulate_reference(*args, lab_days=lab_days)
        cols = lab_columns(courses)
        pdf = patient_frame(courses, cfg.horizon_days, cfg.model, cfg.monitoring, cols, sname)
        ev = events_frame(courses, rules, sname) if events else _NO_EVENTS.copy()
        if labs and cols:  # fresh columns (lab_columns): no copy into blocks
            lab = pd.DataFrame({"strategy": sname, **cols}, copy=False)
        else:  # a copy of one empty table: pandas builds even an empty one slowly
            lab = _NO_LABS.copy()
        yield Chunk(sname, pdf, ev, lab)


def simulate_then(
    cfg: RunConfig, sname: str, lo: int, hi: int, then: Callable[..., T], args: tuple
) -> T:
    """`then(cfg, chunk, *args)` of patients lo..hi-1 under one strategy (no lab table),
    computed where the chunk is simulated: a worker sends back only what `then` returns
    (e.g. per-patient costs), not the chunk's tables, and the main process does not
    redo the work serially. `then` must be a module-level function (it is pickled)."""
    return then(cfg, next(simulate_strategies(cfg, lo, hi, [sname], labs=False)), *args)


def chunk_spans(cfg: RunConfig) -> list[tuple[str, int, int]]:
    """(strategy, lo, hi) of every chunk of a run, in the order `chunks` yields them."""
    n, size = cfg.cohort.n, cfg.engine.chunk_size
    return [(s, lo, min(lo + size, n)) for s in cfg.strategy for lo in range(0, n, size)]


def map_chunks(
    cfg: RunConfig,
    then: Callable[..., T],
    args: tuple = (),
    progress: tqdm | None = None,
) -> Iterator[T]:
    """`simulate_then` of every chunk of the run on the configured executor, in the
    order of `chunks` whatever executor ran them."""
    spans = chunk_spans(cfg)
    tasks = ((cfg, s, lo, hi, then, args) for s, lo, hi in spans)
    with ordered_map(cfg.executor) as run:
        for (_, lo, hi), out in zip(spans, run(simulate_then, tasks), strict=True):
            if progress is not None:
                progress.update(hi - lo)
            yield out


def chunks(cfg: RunConfig, progress: tqdm | None = None) -> Iterator[Chunk]:
    """Simulate strategy by strategy, chunk by chunk, on the configured executor;
    chunks come back in order whatever executor ran them."""
    tasks = ((cfg, s, lo, hi) for s, lo, hi in chunk_spans(cfg))
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
