"""Find the shipped configs and compose a typed config from overrides, as the CLI does.

The configs live in the repository's top-level `conf/` (the one source). Installed from
a wheel they are the package `sim.conf`; in an editable install `sim.conf` maps back to
`conf/`, so either way `config_dir()` is the folder the CLI composes from.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.config.errors import ConfigError

if TYPE_CHECKING:
    from sim.config.schema import RunConfig


def config_dir() -> Path:
    """The folder holding `config.yaml` and the config groups."""
    try:
        spec = importlib.util.find_spec("sim.conf")
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / "config.yaml").is_file():
            return Path(loc)
    source_tree = Path(__file__).resolve().parents[2] / "conf"  # running from a checkout
    if (source_tree / "config.yaml").is_file():
        return source_tree
    raise ConfigError("conf", "the shipped configs (sim.conf) are missing: reinstall pml-sim")


def compose_node(overrides: list[str] | None = None, config_dirs: list[str] | None = None):
    """The composed (untyped) config; inside a running pml-sim app its search path
    (including a user's --config-dir) is reused."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from sim.config import fastcopy, fastyaml
    from sim.config.guard import check_composed, install
    from sim.config.schema import register

    install()
    fastyaml.install()
    fastcopy.install()
    register()
    overrides = list(overrides or [])
    if GlobalHydra.instance().is_initialized():
        node = compose(config_name="config", overrides=overrides)
    else:
        dirs = ",".join(f"file://{Path(d).resolve()}" for d in config_dirs or [])
        extra = [f"hydra.searchpath=[{dirs}]"] if dirs else []
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            node = compose(config_name="config", overrides=overrides + extra)
    check_composed(node)
    return node


def to_object(cfg: Any) -> RunConfig:
    """Turn a composed DictConfig into typed dataclasses; unknown keys, missing values
    and wrong types become a ConfigError naming the key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from sim.config.keys import check_keys
    from sim.config.schema import RunConfig

    check_keys(cfg, RunConfig)
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "config"
        msg = str(e).splitlines()[0]
        if "Missing mandatory value" in msg:
            msg = "missing: this value is required"
        raise ConfigError(key, msg) from None
    assert isinstance(obj, RunConfig)
    return obj


def load(overrides: list[str] | None = None, config_dirs: list[str] | None = None):
    """The typed config for these overrides, without range checks (see sim.api.load_config)."""
    return to_object(compose_node(overrides, config_dirs))


def register_resolvers() -> None:
    """`${pml_uid:}` in run folder names: the process id, so two runs started in the
    same second never share (and overwrite) a folder."""
    import os

    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("pml_uid"):
        OmegaConf.register_new_resolver("pml_uid", lambda: str(os.getpid()), use_cache=True)
