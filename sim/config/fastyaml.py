"""OmegaConf's YAML loader on libyaml: the same rules, parsed in C.

Hydra reads every config file through `OmegaConf.load`, whose loader is PyYAML's
pure-Python `SafeLoader` with three changes (floats like `1e-3`, no timestamps,
duplicate keys refused). Parsing the shipped configs that way is a sizeable share of
pml-sim's start-up. `install()` makes OmegaConf use the same loader built on
`yaml.CSafeLoader` (libyaml does the scanning and parsing; the resolvers and
constructors are OmegaConf's own, copied, so every value loads as before; a test
compares both loaders on every shipped config). Without libyaml nothing changes.
"""

from __future__ import annotations

from typing import Any

import yaml

_installed = False


def python_loader() -> type:
    """OmegaConf's own loader (pure Python), whether or not `install()` ran."""
    from omegaconf import _utils

    return getattr(_utils.get_yaml_loader, "omegaconf_loader", _utils.get_yaml_loader)()


def c_loader() -> type | None:
    """OmegaConf's loader with libyaml's parser, or None if PyYAML has no libyaml."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    base = python_loader()

    class OmegaConfCLoader(yaml.CSafeLoader):  # type: ignore[name-defined,misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            # OmegaConf's own check, verbatim: a key given twice is an error
            keys = set()
            for key_node, _value_node in node.value:
                if key_node.tag != yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG:
                    continue
                if key_node.value in keys:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value}",
                        key_node.start_mark,
                    )
                keys.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    OmegaConfCLoader.yaml_implicit_resolvers = base.yaml_implicit_resolvers
    OmegaConfCLoader.yaml_constructors = base.yaml_constructors
    return OmegaConfCLoader


def install() -> None:
    """Make `OmegaConf.load` (and so Hydra) parse with libyaml; idempotent."""
    global _installed
    if _installed:
        return
    loader = c_loader()
    if loader is not None:
        from omegaconf import _utils

        def get_yaml_loader() -> type:
            return loader

        get_yaml_loader.omegaconf_loader = _utils.get_yaml_loader  # type: ignore[attr-defined]
        _utils.get_yaml_loader = get_yaml_loader
    _installed = True
