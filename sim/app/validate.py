"""Validate a whole run config: every stage checks its own section, then the task
checks what it alone reads. Raises `ConfigError(key, allowed)`."""

from __future__ import annotations

from sim.app import tasks
from sim.config import RunConfig
from sim.config.checks import one_of
from sim.engine.validate import validate_engine
from sim.model.validate import validate_model


def validate(cfg: RunConfig) -> None:
    validate_model(cfg)
    validate_engine(cfg)
    one_of("task", cfg.task, tasks.names())
    tasks.load(cfg.task).validate(cfg)
