"""Configuration, the bottom stage: typed schema, loading from `conf/`, config errors.

Every other stage imports from here; this package imports no other part of `sim`.
`RunConfig` and `CONDITIONS` (the schema, which needs Hydra and OmegaConf) are
imported on first use, so `pml-sim --help` and `sim.config.load.config_dir` stay light.
"""

from typing import TYPE_CHECKING

from sim.config.errors import ConfigError

if TYPE_CHECKING:
    from sim.config.schema import CONDITIONS, RunConfig

__all__ = ["CONDITIONS", "ConfigError", "RunConfig"]


def __getattr__(name: str):
    if name in ("CONDITIONS", "RunConfig"):
        from sim.config import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
