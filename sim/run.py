"""Run a scenario: every strategy over the same virtual cohort, chunk by chunk.

The same patients (same seed, same per-patient random streams) go through every
strategy: differences between strategies are not sampling noise. Chunks are
simulated independently and streamed to Parquet, so memory stays bounded whatever
the cohort size.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from tqdm import tqdm

from sim import cohort as cohort_mod
from sim import io, plots, rng
from sim.config import RunConfig
from sim.engine import simulate_batch
from sim.executors import ordered_map
from sim.outcomes import events_frame, labs_frame, patient_frame
from sim.reference import simulate_reference
from sim.strategies import compile_strategy
from sim.summary import REQUIRED_COLUMNS, format_summary, summarise
from sim.therapies import Catalog


@dataclass
class Chunk:
    strategy: str
    patients: pd.DataFrame
    events: pd.DataFrame
    labs: pd.DataFrame


def simulate_chunk(cfg: RunConfig, sname: str, lo: int, hi: int) -> Chunk:
    """Patients lo..hi-1 under one strategy: a pure function of its arguments, so any
    worker anywhere computes the same numbers."""
    key = rng.run_key(cfg.seed)
    catalog = Catalog.build(cfg.therapies)
    compiled = compile_strategy(cfg.strategy[sname], cfg.model, catalog)
    idx = np.arange(lo, hi)
    pts = cohort_mod.build(key, cfg.cohort, cfg.model, idx)
    args = (pts, compiled, catalog, cfg.model, cfg.monitoring, key, cfg.horizon_days)
    courses = [simulate_batch(*args)] if cfg.engine.kind == "batch" else simulate_reference(*args)
    labs = labs_frame(courses)
    pdf = patient_frame(courses, cfg.horizon_days, cfg.model, cfg.monitoring, labs)
    ev = events_frame(courses)
    for df in (pdf, ev, labs):
        df.insert(0, "strategy", sname)
    return Chunk(sname, pdf, ev, labs)


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


def run_to_dir(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    """Simulate and write the run directory; returns the summary table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    streams = {
        name: (io.ParquetParts if cfg.output.partitioned else io.ParquetStream)(
            out / f"{name}.parquet"
        )
        for name, on in (
            ("patients", cfg.output.write_patients),
            ("events", cfg.output.write_events),
            ("labs", cfg.output.write_labs),
        )
        if on
    }
    kept: list[pd.DataFrame] = []
    total = cfg.cohort.n * len(cfg.strategy)
    bar = tqdm(
        total=total,
        unit="patient",
        unit_scale=True,
        desc="simulating",
        disable=not cfg.output.progress,
        mininterval=0.5,
    )
    try:
        for c in chunks(cfg, bar):
            bar.set_postfix_str(c.strategy)
            kept.append(c.patients[REQUIRED_COLUMNS])  # the rest is streamed to disk
            for name, frame in (("patients", c.patients), ("events", c.events), ("labs", c.labs)):
                if name in streams:
                    streams[name].append(frame)
    except BaseException:
        for s in streams.values():
            s.abort()
        raise
    finally:
        bar.close()
    for s in streams.values():
        s.commit()

    table = pd.concat(kept, ignore_index=True)
    summary = summarise(table, t_survival=cfg.output.survival_day)
    io.write_csv(out / "summary.csv", summary)
    if cfg.output.plots:
        plots.plot_km(table, out / "km.png", t_max=cfg.horizon_days)
        plots.plot_km_by_condition(table, out / "km_by_condition.png")
        plots.plot_iris_cif(table, out / "iris_cuminc.png")
    io.write_text(out / "config.yaml", resolved_yaml)
    meta = io.provenance(resolved_yaml) | {
        "seed": cfg.seed,
        "n_patients": cfg.cohort.n,
        "strategies": list(cfg.strategy),
        "horizon_days": cfg.horizon_days,
        "engine": cfg.engine.kind,
        "chunk_size": cfg.engine.chunk_size,
        "wall_seconds": round(time.time() - started, 3),
        "outputs": sorted(p.name for p in out.iterdir() if not p.name.startswith(".")),
        "status": "complete",
    }
    io.write_json(out / "run.json", meta)  # last: marks the directory as a complete result
    if cfg.output.print_summary:
        print(format_summary(summary))
        print(f"\nresults: {out}")
    return summary


def resolved_yaml(cfg_node) -> str:
    return OmegaConf.to_yaml(cfg_node, resolve=True)
