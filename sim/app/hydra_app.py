"""The Hydra application behind `pml-sim`: one job = compose, validate, run a task.

Kept apart from `sim.app.cli` so that `pml-sim --help` and argument checks need not
import Hydra. A job that fails writes `error.txt` in its folder; in a sweep the other
jobs go on and the sweep's exit status says how many failed.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sim.config import ConfigError, fastcopy, fastyaml
from sim.config.guard import install as install_guard
from sim.config.load import config_dir, register_resolvers, to_object
from sim.config.schema import register


def _sets_mode(overrides: list[str]) -> bool:
    """Does the command line set `hydra.mode` (`hydra.mode=`, `+hydra.mode=`, ...)?"""
    return any(o.lstrip("+~").startswith("hydra.mode") for o in overrides)


def _no_mode_probe() -> None:
    """Compose the config once per run, not twice.

    Before a run Hydra composes the whole config once only to read `hydra.mode`
    (`Hydra.get_mode`), then again for the job: half of the start-up. pml-sim's configs
    never set `hydra.mode` (a sweep is `-m`), and for a config without it Hydra takes
    the mode from `-m` anyway: so the probe is skipped unless the command line sets
    `hydra.mode`. (A `hydra.mode` written in a config file is therefore not read.)
    """
    from hydra._internal.hydra import Hydra

    probe = Hydra.get_mode
    if getattr(probe, "hydra_probe", None):
        return

    def get_mode(self, config_name, overrides):
        return probe(self, config_name, overrides) if _sets_mode(overrides) else None

    get_mode.hydra_probe = probe  # type: ignore[attr-defined]
    Hydra.get_mode = get_mode  # type: ignore[method-assign]


def _register_before_composing() -> None:
    """Register the typed schema in Hydra's ConfigStore when Hydra first composes, not
    at import: a run whose composed config comes from the cache (sim.config.cache)
    never needs it."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    compose = ConfigLoaderImpl.load_configuration
    if getattr(compose, "registers_schema", False):
        return

    done = []

    def load_configuration(self, *args, **kwargs):
        if not done:
            register()
            done.append(True)
        return compose(self, *args, **kwargs)

    load_configuration.registers_schema = True  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]


install_guard()
fastyaml.install()
fastcopy.install()
_no_mode_probe()
_register_before_composing()
register_resolvers()

FAILED: list[str] = []  # folders of failed jobs of this process (sweeps on the basic launcher)
_BOOKKEEPING = (".hydra", "main.log", "cli.log", "pml-sim.log", "error.txt")
_STALE = re.compile(r"^\..+\.(\d+)\.(tmp|old)$")


def _discard_run_dir(out: Path) -> None:
    """Remove a run directory that holds nothing but Hydra's own bookkeeping."""
    if out.is_dir() and all(p.name in _BOOKKEEPING for p in out.iterdir()):
        shutil.rmtree(out, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(out: Path, own: bool = False) -> list[str]:
    """Temp files and folders of killed runs (`.<name>.<pid>.tmp`, `.old`) whose
    process is gone: a run into the folder removes them before it writes. `own=True`:
    this process's own, on the way out of an interrupted run (a signal can land between
    a writer creating its file and the code that would remove it)."""
    removed = []
    if not out.is_dir():
        return removed
    for p in out.iterdir():
        m = _STALE.match(p.name)
        if m and (int(m.group(1)) == os.getpid() if own else not _pid_alive(int(m.group(1)))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def _write_error(out: Path, text: str) -> str:
    """error.txt, atomically; on a full disk say so instead of leaving a 0-byte file."""
    from sim.core import io

    try:
        io.write_text(out / "error.txt", text)
        return str(out / "error.txt")
    except OSError as e:
        return f"not written: {e.strerror or e}"


def _fail(out: Path, message: str, detail: str, code: int) -> None:
    where = _write_error(out, detail)
    print(f"{message} (details: {where})" if code == 1 else message, file=sys.stderr)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        FAILED.append(str(out))
        return
    sys.exit(code)


def resolved_yaml(node: DictConfig, saved: Path | None = None) -> str:
    """The config as run, interpolations resolved, as YAML text (the run folder's
    config.yaml).

    Hydra has just written this very node, unresolved and with the same emitter, to
    `saved` (`.hydra/config.yaml`). Resolving changes interpolations (`${...}`) and
    nothing else, so when that text holds none it is already the resolved text:
    converting and dumping the whole config a second time cost ~0.09 s of every run's
    start-up (benchmarks/README.md). Otherwise, or without the file, resolve."""
    if saved is not None:
        try:
            text = saved.read_text(encoding="utf-8")
        except OSError:
            text = ""
        if text and "${" not in text:
            return text
    return OmegaConf.to_yaml(node, resolve=True)


def _hydra_saved_config(out: Path) -> Path | None:
    """Where Hydra wrote the job's unresolved config (None: `hydra.output_subdir=null`)."""
    sub = HydraConfig.get().output_subdir
    return None if sub is None else out / str(sub) / "config.yaml"


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def app(node: DictConfig) -> None:
    from sim.app import tasks
    from sim.app.validate import validate
    from sim.core.io import config_hash

    # composition succeeded: let progress bars through. (sys.__stderr__, not a module
    # global: the joblib launcher pickles this function, and a file object cannot be.)
    sys.stderr = sys.__stderr__
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        cfg = to_object(node)
        validate(cfg)
    except ConfigError as e:
        _discard_run_dir(out)
        line = f"pml-sim: config error: {e}"
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            out.mkdir(parents=True, exist_ok=True)  # the job's folder says why it failed
        _fail(out, line, line + "\n", 2)
        return
    yaml_text = resolved_yaml(node, _hydra_saved_config(out))
    if _already_complete(out, config_hash(yaml_text)):
        print(f"pml-sim: {out} is already complete with this config; skipped")
        return
    remove_stale_temporaries(out)
    (out / "error.txt").unlink(missing_ok=True)  # from an earlier failed attempt
    try:
        tasks.load(cfg.task).run(cfg, out, yaml_text)
    except (KeyboardInterrupt, Exception) as e:  # one failed job must not stop a sweep
        interrupt = _interrupt_in_chain(e)  # e itself, or one a compiled call wrapped
        if interrupt is not None:
            remove_stale_temporaries(out, own=True)
            raise interrupt from None
        msg = f"pml-sim: run failed: {type(e).__name__}: {e}"
        _fail(out, msg, traceback.format_exc(), 1)


def _interrupt_in_chain(e: BaseException) -> KeyboardInterrupt | None:
    """Ctrl-C or SIGTERM that a compiled call wrapped in another error (numba raises
    SystemError when a signal handler fires inside it): the user stopped the run, it did
    not fail."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def _already_complete(out: Path, digest: str) -> bool:
    """A complete run.json with the same config hash: re-running a sweep skips it."""
    import json

    meta_path = out / "run.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # a corrupt run.json: run again
    return meta.get("status") == "complete" and meta.get("config_hash") == digest
