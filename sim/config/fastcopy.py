"""A faster `copy.deepcopy` of OmegaConf's node metadata: the same copy, less machinery.

Hydra composes a config by merging every YAML file onto the typed schema, and OmegaConf
deep-copies each node it merges or assigns; Hydra then deep-copies the composed config
twice more before the job runs. Every node carries a `Metadata` dataclass (reference
and object type, optional, key, flags, resolver cache), which `copy.deepcopy` copies
through its generic path (`__reduce_ex__`, `_reconstruct`): about a third of the
composition's time. `install()` gives `Metadata` (and so `ContainerMetadata`) a
`__deepcopy__` that builds the same object directly: a new instance of the same class
whose attributes are the originals where they are immutable (str, int, float, bool,
None, classes) and `copy.deepcopy` of them otherwise (the flags dict, the resolver
cache, typing constructs), registered in `memo` before its attributes are copied, as
the generic path does. A test
checks the copies equal the generic ones on every shipped config.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

_ATOMIC = (str, int, float, bool, type(None), type)
_installed = False


def metadata_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """`copy.deepcopy(self, memo)` for an OmegaConf Metadata, built directly."""
    cls = self.__class__
    res = cls.__new__(cls)
    memo[id(self)] = res
    state = {}
    for k, v in self.__dict__.items():
        t = type(v)
        if t in _ATOMIC:
            state[k] = v
        elif t is dict and not v:
            state[k] = {}
        elif t is defaultdict and not v:
            state[k] = defaultdict(v.default_factory)
        else:
            state[k] = copy.deepcopy(v, memo)
    res.__dict__.update(state)
    return res  # copy.deepcopy records it in memo and keeps self alive, as it does anyway


def install() -> None:
    """Give OmegaConf's Metadata the direct `__deepcopy__`; idempotent."""
    global _installed
    if _installed:
        return
    from omegaconf.base import Metadata

    if "__deepcopy__" not in Metadata.__dict__:
        Metadata.__deepcopy__ = metadata_deepcopy  # type: ignore[attr-defined]
    _installed = True
