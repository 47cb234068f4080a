"""Refuse configs that could run code.

Hydra instantiates whatever a config names: `hydra.callbacks` entries (`_target_:
os.system` runs at start-up) and the logging configs, which `logging.config.dictConfig`
reads (a `()` key calls any factory). pml-sim never instantiates objects from a
config, so it rejects every callback, every `_target_` outside Hydra's launcher and
sweeper (which Hydra only loads from its own plugin package) and every `()` factory.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from sim.config.errors import ConfigError

# Hydra itself loads these only from the `hydra_plugins` package
_PLUGIN_SECTIONS = ("hydra.launcher", "hydra.sweeper")


def _walk(node: Any, key: str):
    if isinstance(node, DictConfig):
        for k in node.keys():
            sub = f"{key}.{k}" if key else str(k)
            yield sub, k
            yield from _walk(node._get_node(k), sub)
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            yield f"{key}[{i}]", i
            yield from _walk(node._get_node(i), f"{key}[{i}]")


def check_composed(node: DictConfig) -> None:
    """Raise ConfigError naming the first key that could run code."""
    with_hydra = "hydra" in node
    if with_hydra:
        callbacks = OmegaConf.select(node, "hydra.callbacks", throw_on_missing=False)
        if callbacks:
            name = next(iter(callbacks))
            raise ConfigError(
                f"hydra.callbacks.{name}",
                "callbacks are not allowed: a config file could run arbitrary code",
            )
    for key, leaf in _walk(node, ""):
        if leaf == "_target_" and not key.startswith(_PLUGIN_SECTIONS):
            raise ConfigError(key, "_target_ is not allowed: pml-sim never instantiates objects")
        if leaf == "()" and key.startswith("hydra."):
            raise ConfigError(key, "logging factories '()' are not allowed (they run code)")


_installed = False


def install() -> None:
    """Check every config Hydra composes (runs, sweeps, --cfg, the compose API) before
    Hydra acts on it: the loader is the one place all of them pass through."""
    global _installed
    if _installed:
        return
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration

    def load_configuration(self, *args, **kwargs):
        cfg = original(self, *args, **kwargs)
        check_composed(cfg)
        return cfg

    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]
    _installed = True
