"""OmegaConf's YAML loader and dumper on libyaml: the same rules, run in C.

Hydra reads every config file through `OmegaConf.load`, whose loader is PyYAML's
pure-Python `SafeLoader` with three changes (floats like `1e-3`, no timestamps,
duplicate keys refused). Parsing the shipped configs that way is a sizeable share of
pml-sim's start-up. `install()` makes OmegaConf use the same loader built on
`yaml.CSafeLoader` (libyaml does the scanning and parsing; the resolvers and
constructors are OmegaConf's own, copied, so every value loads as before; a test
compares both loaders on every shipped config). Without libyaml nothing changes.

Writing is the mirror image: every run dumps the composed config three times before
it simulates (Hydra's `.hydra/config.yaml` and `hydra.yaml`, pml-sim's resolved
`config.yaml`, which is also what the config hash reads), each through
`OmegaConf.to_yaml`, whose dumper is PyYAML's pure-Python `Dumper` plus one rule
(strings that would read back as a bool, int or float are quoted). `install()` makes
`to_yaml` use the same representers (so the same YAML nodes) emitted by libyaml; the
text is the same character for character (a test compares both dumpers on every
shipped config, composed, and on strings that need quoting or escaping).
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


def python_dumper() -> type:
    """OmegaConf's own dumper (pure Python)."""
    from omegaconf import _utils

    return _utils.get_omega_conf_dumper()


def c_dumper() -> type | None:
    """OmegaConf's dumper with libyaml's emitter, or None if PyYAML has no libyaml."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    base = python_dumper()

    class OmegaConfCDumper(yaml.CDumper):  # type: ignore[name-defined,misc]
        pass

    # OmegaConf's representers (its quoting rule for str among them) and resolvers
    OmegaConfCDumper.yaml_representers = dict(base.yaml_representers)
    OmegaConfCDumper.yaml_multi_representers = dict(base.yaml_multi_representers)
    OmegaConfCDumper.yaml_implicit_resolvers = base.yaml_implicit_resolvers
    return OmegaConfCDumper


# libyaml and PyYAML's emitter differ on keys of 126-128 characters (libyaml
# writes a long key as a simple key, PyYAML as `? key`), on line breaks in double-quoted
# strings (libyaml counts bytes, PyYAML characters) and on which characters they escape
# (non-ASCII outside the BMP, NEL, ...). Printable ASCII with keys up to this length
# comes out the same (tests/test_startup.py); anything else takes the pure-Python path.
MAX_C_KEY = 100


def _plain_ascii(s: str) -> bool:
    return s.isascii() and s.isprintable()


def c_safe(data: Any) -> bool:
    """Does libyaml emit `data` (plain containers) exactly as PyYAML does? Yes for dicts
    and lists of numbers, booleans, None and printable-ASCII strings (keys up to
    MAX_C_KEY characters); anything else (bytes, paths, ...) is left to PyYAML."""
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            for k in x:
                if isinstance(k, str):
                    if len(k) > MAX_C_KEY or not _plain_ascii(k):
                        return False
                elif not (k is None or isinstance(k, int | float)):
                    return False
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
        elif isinstance(x, str):
            if not _plain_ascii(x):
                return False
        elif not (x is None or isinstance(x, int | float)):  # bool is an int
            return False
    return True


def dump(data: Any, sort_keys: bool = False) -> str:
    """`OmegaConf.to_yaml`'s text for a plain container (`to_container`'s output):
    libyaml when it gives the same characters, else PyYAML."""
    dumper = _C_DUMPER if _C_DUMPER is not None and c_safe(data) else python_dumper()
    return yaml.dump(
        data, default_flow_style=False, allow_unicode=True, sort_keys=sort_keys, Dumper=dumper
    )


_C_DUMPER: type | None = None


def install() -> None:
    """Make `OmegaConf.load` (and so Hydra) parse, and `OmegaConf.to_yaml` emit, with
    libyaml; idempotent."""
    global _installed, _C_DUMPER
    if _installed:
        return
    loader = c_loader()
    if loader is not None:
        from omegaconf import _utils

        def get_yaml_loader() -> type:
            return loader

        get_yaml_loader.omegaconf_loader = _utils.get_yaml_loader  # type: ignore[attr-defined]
        _utils.get_yaml_loader = get_yaml_loader
    _C_DUMPER = c_dumper()
    if _C_DUMPER is not None:
        from omegaconf import OmegaConf
        from omegaconf.omegaconf import _ensure_container

        def to_yaml(cfg: Any, *, resolve: bool = False, sort_keys: bool = False) -> str:
            # OmegaConf.to_yaml's body, its yaml.dump replaced by `dump`
            cfg = _ensure_container(cfg)
            container = OmegaConf.to_container(cfg, resolve=resolve, enum_to_str=True)
            return dump(container, sort_keys=sort_keys)

        to_yaml.omegaconf_to_yaml = OmegaConf.to_yaml  # type: ignore[attr-defined]
        OmegaConf.to_yaml = staticmethod(to_yaml)  # type: ignore[method-assign,assignment]
    _installed = True
