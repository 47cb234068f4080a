"""Python entry points: compose a config like the CLI does, and run it in memory."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from sim.cli import CONFIG_DIR
from sim.config import RunConfig, register, to_object
from sim.validate import validate


def compose_node(overrides: list[str] | None = None) -> DictConfig:
    register()
    if GlobalHydra.instance().is_initialized():  # inside the pml-sim app: same search path
        return compose(config_name="config", overrides=list(overrides or []))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


def load_config(overrides: list[str] | None = None) -> RunConfig:
    """The validated, typed config for these command-line style overrides."""
    cfg = to_object(compose_node(overrides))
    validate(cfg)
    return cfg
