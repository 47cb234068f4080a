"""The Python API: compose a config like the CLI does, run it in memory or into a folder.

from sim.api import load_config, simulate, run_task
cfg = load_config(["strategy=il7", "cohort.n=1000"])
patients, events, labs = simulate(cfg)
run_task(cfg, "results/my_run")          # the run directory the CLI would write
"""

from __future__ import annotations

from pathlib import Path

from sim.app.validate import validate
from sim.config import RunConfig
from sim.config.load import compose_node, config_dir, load
from sim.engine.run import simulate

__all__ = ["compose_node", "config_dir", "load_config", "run_task", "simulate"]


def load_config(
    overrides: list[str] | None = None, config_dirs: list[str] | None = None
) -> RunConfig:
    """The validated, typed config for these command-line style overrides; `config_dirs`
    are user config folders searched before the shipped ones (like --config-dir)."""
    cfg = load(overrides, config_dirs)
    validate(cfg)
    return cfg


def run_task(cfg: RunConfig, out: str | Path, overrides: list[str] | None = None):
    """Run cfg's task into the folder `out`, as the CLI does; returns its main table."""
    from omegaconf import OmegaConf

    from sim.app import tasks

    yaml_text = OmegaConf.to_yaml(OmegaConf.structured(cfg), resolve=True)
    return tasks.load(cfg.task).run(cfg, Path(out), yaml_text)
