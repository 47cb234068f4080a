"""Reject keys the schema does not know.

Hydra lets `+key=value` add a key even to a structured config, and OmegaConf drops it
when building the dataclasses: `+horizon=730` or `+cohort.nn=5` would run silently
with the defaults. Every key of the composed config must name a schema field; the
error lists the allowed keys and the closest match.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

from omegaconf import DictConfig, ListConfig

from sim.config.errors import ConfigError


def _unknown(key: str, name: str, allowed: list[str]) -> ConfigError:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(key, f"unknown key{hint}; allowed: {', '.join(sorted(allowed))}")


def _check(node: Any, tp: Any, key: str) -> None:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(node, DictConfig):
            return
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        for k in node.keys():
            sub = f"{key}.{k}" if key else str(k)
            if k not in hints:
                raise _unknown(sub, str(k), names)
            _check(node._get_node(k), hints[k], sub)
    elif origin is dict:
        _, value_tp = typing.get_args(tp)
        if isinstance(node, DictConfig):
            for k in node.keys():
                _check(node._get_node(k), value_tp, f"{key}.{k}")
    elif origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(node, ListConfig):
            for i in range(len(node)):
                _check(node._get_node(i), item_tp, f"{key}[{i}]")
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg) or typing.get_origin(arg) in (dict, list):
                _check(node, arg, key)


def check_keys(node: DictConfig, schema: type) -> None:
    """Raise ConfigError for the first key of `node` (outside `hydra`) not in `schema`."""
    hints = typing.get_type_hints(schema)
    for k in node.keys():
        if k == "hydra":
            continue
        if k not in hints:
            raise _unknown(str(k), str(k), list(hints))
        _check(node._get_node(k), hints[k], str(k))


def allowed_at(dotted: str, schema: type) -> list[str]:
    """The keys allowed beside the last part of a dotted key (for error messages)."""
    tp: Any = schema
    for part in dotted.split(".")[:-1]:
        if dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp).get(part)
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    return sorted(f.name for f in dataclasses.fields(tp)) if dataclasses.is_dataclass(tp) else []
