"""Checks of the engine, executor and output sections."""

from __future__ import annotations

from sim.config import ConfigError, RunConfig
from sim.config.checks import number, one_of

ENGINES = ("batch", "reference")
EXECUTORS = ("inprocess", "processes", "dask", "auto")


def validate_engine(cfg: RunConfig) -> None:
    one_of("engine.kind", cfg.engine.kind, ENGINES)
    if cfg.engine.chunk_size < 1:
        raise ConfigError(
            "engine.chunk_size", f"must be an integer >= 1, got {cfg.engine.chunk_size}"
        )
    number("output.survival_day", cfg.output.survival_day, 0.0, open_low=True)
    if cfg.output.survival_day > cfg.horizon_days:
        raise ConfigError(
            "output.survival_day",
            f"must be <= horizon_days ({cfg.horizon_days}), got {cfg.output.survival_day}: "
            "survival cannot be read past the follow-up (lower it, e.g. "
            f"output.survival_day={cfg.horizon_days}, or lengthen horizon_days)",
        )
    one_of("executor.kind", cfg.executor.kind, EXECUTORS)
    if cfg.executor.workers < 1:
        raise ConfigError(
            "executor.workers", f"must be an integer >= 1, got {cfg.executor.workers}"
        )
    if cfg.executor.min_parallel_patients < 0:
        raise ConfigError(
            "executor.min_parallel_patients",
            f"must be an integer >= 0, got {cfg.executor.min_parallel_patients}",
        )
