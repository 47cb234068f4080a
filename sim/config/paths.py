"""Read and set a numeric config value by its dotted key (`model.dt_days`,
`therapies.rhil7.levers.lymphocyte_expansion_per_day`, `economics.utilities.by_mrs.3`):
what calibration, one-way and probabilistic analyses vary."""

from __future__ import annotations

import pickle
from dataclasses import is_dataclass

from sim.config.errors import ConfigError
from sim.config.schema import RunConfig


def get_value(cfg: RunConfig, key: str) -> float:
    node: object = cfg
    for part in key.split("."):
        if is_dataclass(node) and hasattr(node, part):
            node = getattr(node, part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # e.g. economics.utilities.by_mrs.3
        else:
            raise ConfigError(key, f"no such config value ({part!r} not found)")
    if not isinstance(node, int | float) or isinstance(node, bool):
        raise ConfigError(key, f"must name a number, found {type(node).__name__}")
    return float(node)


def with_values(cfg: RunConfig, values: dict[str, float]) -> RunConfig:
    """A copy of cfg with dotted keys (e.g. model.viral_kill_log10_per_day) set."""
    # a deep copy through pickle: the same tree (the config travels to worker processes
    # this way too), in a third of deepcopy's time, which a PSA pays once per draw
    out = pickle.loads(pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL))
    for key, value in values.items():
        get_value(out, key)  # checks the key exists and is numeric
        *path, last = key.split(".")
        node: object = out
        for part in path:
            if isinstance(node, dict):
                node = node[part]
            elif isinstance(node, list):
                node = node[int(part)]
            else:
                node = getattr(node, part)
        if isinstance(node, dict):
            node[last] = float(value)
        elif isinstance(node, list):
            node[int(last)] = float(value)
        else:
            setattr(node, last, float(value))
    return out
