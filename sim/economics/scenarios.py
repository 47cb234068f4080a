"""Scenario analysis: named alternatives to the base case, run together, one table.

Each scenario (`economics.scenarios`: name, label, values) sets dotted config keys to
numbers or booleans (`*` sets every entry of a mapping). A scenario that changes only
`economics.*` keys re-costs the base-case patients (their event logs, chunk by chunk,
in the same pass as the base case); one that changes anything else (model, therapies,
horizon) re-simulates them with the same seed (common random numbers), as the one-way
analysis does. `scenarios.csv` holds the whole incremental table of each scenario
(the base case first, as scenario `base`).
"""

from __future__ import annotations

import copy
from dataclasses import is_dataclass
from typing import Any

import pandas as pd

from sim.config.economics import Scenario
from sim.config.errors import ConfigError
from sim.config.schema import RunConfig
from sim.economics.decision import cea_table
from sim.economics.summary import add_increment_se, summarise_values

WILDCARD = "*"
BASE = "base"


def _children(node: object, part: str, key: str) -> list[tuple[object, Any]]:
    """(container, field) pairs that `part` names under `node`."""
    if part == WILDCARD:
        if not isinstance(node, dict):
            raise ConfigError(key, f"'{WILDCARD}' needs a mapping, found {type(node).__name__}")
        return [(node, k) for k in node]
    if is_dataclass(node) and hasattr(node, part):
        return [(node, part)]
    if isinstance(node, dict) and part in node:
        return [(node, part)]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return [(node, int(part))]
    raise ConfigError(key, f"no such config value ({part!r} not found)")


def _get(container: object, field: Any) -> Any:
    return getattr(container, field) if is_dataclass(container) else container[field]


def _set(container: object, field: Any, value: Any) -> None:
    if is_dataclass(container):
        setattr(container, field, value)
    else:
        container[field] = value


def with_settings(cfg: RunConfig, values: dict[str, Any], where: str = "") -> RunConfig:
    """A copy of cfg with each dotted key set: a number where the config has a number, a
    boolean where it has a boolean (`*` = every entry of a mapping). `where` prefixes
    the key in error messages (e.g. economics.scenarios.2.values)."""
    out = copy.deepcopy(cfg)
    for key, value in values.items():
        name = f"{where}.{key}" if where else key
        parts = key.split(".")
        leaves: list[tuple[object, Any]] = [(None, out)]
        nodes: list[object] = [out]
        for part in parts:
            leaves = [pair for n in nodes for pair in _children(n, part, name)]
            nodes = [_get(c, f) for c, f in leaves]
        for container, field in leaves:
            old = _get(container, field)
            if isinstance(old, bool):
                if not isinstance(value, bool):
                    raise ConfigError(name, f"must be true or false, got {value!r}")
                _set(container, field, value)
            elif isinstance(old, int | float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ConfigError(name, f"must be a number, got {value!r}")
                _set(container, field, float(value) if isinstance(old, float) else value)
            else:
                raise ConfigError(name, f"must name a number or a boolean, found {old!r}")
    return out


def recosts_only(s: Scenario) -> bool:
    """True if the scenario changes economics inputs only (the patients stay the same)."""
    return all(k.startswith("economics.") for k in s.values)


def scenario_config(cfg: RunConfig, i: int, s: Scenario) -> RunConfig:
    return with_settings(cfg, dict(s.values), f"economics.scenarios.{i}.values")


def scenario_table(
    results: dict[str, tuple[str, pd.DataFrame]], strategies: list[str], wtp: float
) -> pd.DataFrame:
    """results: scenario name -> (label, per-patient values of every strategy). The
    incremental table of each, with `scenario` and `label` first, in the given order."""
    parts = []
    for name, (label, values) in results.items():
        table = add_increment_se(cea_table(summarise_values(values, strategies), wtp), values)
        table.insert(0, "label", label)
        table.insert(0, "scenario", name)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
