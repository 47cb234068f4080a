"""Configuration, the bottom stage: typed schema, loading from `conf/`, config errors.

Every other stage imports from here; this package imports no other part of `sim`.
"""

from sim.config.errors import ConfigError
from sim.config.schema import CONDITIONS, RunConfig

__all__ = ["CONDITIONS", "ConfigError", "RunConfig"]
