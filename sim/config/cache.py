"""The composed config, kept between runs: the same inputs are composed once.

Composing the config (Hydra merging ~20 YAML files onto the typed schema) is the
largest single step of pml-sim's start-up, and its result depends only on its inputs:
the config files, the command-line overrides and the code that reads them. `install()`
wraps Hydra's config loader so that a composition is stored (pickled, in the user's
cache folder, never in a results folder) and a later composition with the same inputs
reads it back instead of composing again.

The inputs that pick an entry: the overrides, the config name, Hydra's run mode and
flags, the starting search path (shipped `conf/`, `--config-dir`), the job name,
Hydra's version base, the versions of Python, Hydra, OmegaConf, PyYAML, pml-sim and
the installed Hydra plugins, and the source of `sim/config/` (the schema and the YAML
loader). The entry then records every config source the composition searched
(including a `hydra.searchpath` from a config file or the command line) and a digest
of every `*.yaml` file below each one, names and contents: an entry is used only if
that digest is unchanged, so editing, adding, removing or renaming any config file
there composes afresh. `hydra.run.dir=...` and the sweep folder settings do not pick
an entry (scripts give every run its own folder): they are applied to the stored
composition with Hydra's own setter, as are the working folder (`hydra.runtime.cwd`)
and the record of the command line. Values Hydra copies from the environment
(`hydra.job.env_copy`) are recorded and compared too. A failed composition is never
stored. The resolver cache (`${now:}`, `${pml_uid:}`) is stored empty, so times and
process ids are resolved anew.

Folder: `$PML_SIM_CACHE_DIR`, else `$XDG_CACHE_HOME/pml-sim`, else `~/.cache/pml-sim`
(sub-folder `config/`, at most `MAX_ENTRIES` entries, oldest removed first).
`PML_SIM_CONFIG_CACHE=0` turns the cache off. Any problem reading or writing it (no
such folder, read-only, a damaged entry) means a normal composition, never an error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

FORMAT = 1  # bump when what an entry holds changes
MAX_ENTRIES = 64  # ASSUMPTION: enough for a few sweeps' jobs; ~150 kB each
MAX_FILES = 5000  # a search-path folder with more *.yaml than this is not cached (cost)
STATS = {"hits": 0, "misses": 0, "stored": 0}  # this process's lookups (tests read it)

_original: Any = None


def enabled() -> bool:
    return os.environ.get("PML_SIM_CONFIG_CACHE", "1").strip().lower() not in ("0", "off", "no")


def cache_dir() -> Path:
    """Where entries live (created on first store)."""
    if os.environ.get("PML_SIM_CACHE_DIR"):
        base = Path(os.environ["PML_SIM_CACHE_DIR"])
    elif os.environ.get("XDG_CACHE_HOME"):
        base = Path(os.environ["XDG_CACHE_HOME"]) / "pml-sim"
    else:
        base = Path.home() / ".cache" / "pml-sim"
    return base / "config"


def _code_digest() -> str:
    """The source of sim/config/ (schema, loaders) and the versions of what composes."""
    import hydra
    import omegaconf
    import yaml

    import sim

    h = hashlib.sha256()
    for part in (FORMAT, sys.version, sim.__version__, hydra.__version__, omegaconf.__version__):
        h.update(f"{part}\0".encode())
    h.update(f"{getattr(yaml, '__version__', '')}\0".encode())
    here = Path(__file__).resolve().parent
    for p in sorted(here.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    try:  # Hydra plugins add config sources and ConfigStore entries
        import hydra_plugins

        for root in sorted(hydra_plugins.__path__):
            for p in sorted(Path(root).iterdir()):
                h.update(f"{p.name}\0{p.stat().st_mtime_ns}\0".encode())
    except ImportError:
        pass
    return h.hexdigest()


def _source_dir(scheme: str, path: str) -> Path | None:
    """The folder behind a Hydra config source, or None where there is no folder."""
    if scheme == "file":
        return Path(path)
    if scheme == "pkg":
        import importlib.util

        spec = importlib.util.find_spec(path.replace("/", "."))
        locations = list(spec.submodule_search_locations or []) if spec else []
        return Path(locations[0]) if len(locations) == 1 else None
    return None


def sources_digest(sources: list[tuple[str, str]]) -> str | None:
    """Digest of every *.yaml file (relative name and bytes) below each config source;
    None if a source cannot be digested (then nothing is cached)."""
    h = hashlib.sha256()
    for scheme, path in sources:
        h.update(f"{scheme}://{path}\0".encode())
        if scheme == "structured":  # ConfigStore: the code and versions in the key
            continue
        if scheme not in ("file", "pkg"):
            return None
        folder = _source_dir(scheme, path)
        if folder is None:
            return None
        if not folder.is_dir():
            h.update(b"<absent>\0")
            continue
        files = sorted(folder.rglob("*.yaml"))
        if len(files) > MAX_FILES:
            return None
        for f in files:
            h.update(f.relative_to(folder).as_posix().encode() + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


_NAMES = ("config_name", "overrides", "run_mode", "from_shell", "validate_sweep_overrides")
# Hydra settings that only name the run's folder: most scripts give each run its own,
# so they are set on the stored composition rather than picking an entry
_DETACHABLE = ("hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir")


def _key(loader: Any, call: dict[str, Any]) -> str:
    from hydra import version
    from hydra.core.utils import JobRuntime

    start = [(p.provider, p.path) for p in loader.config_search_path.get_path()]
    parts = [
        _code_digest(),
        repr(sorted((k, repr(v)) for k, v in call.items())),
        repr(start),
        repr(JobRuntime().get("name")),
        repr(version.getbase()),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def _detach(overrides: list[str]) -> tuple[list[str], list[Any]]:
    """Split off plain `hydra.run.dir=...` (and sweep dir) overrides: (the others,
    the split-off ones parsed). One that is a sweep, or whose key another override
    also sets, stays where it is."""

    def key_of(o: str) -> str:
        return o.split("=", 1)[0].lstrip("+~")

    candidates = [o for o in overrides if o.split("=", 1)[0] in _DETACHABLE]
    if not candidates:
        return list(overrides), []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    keys = [key_of(o) for o in overrides]
    detached, parsed = [], []
    parser = OverridesParser.create()
    for o in candidates:
        if keys.count(key_of(o)) != 1:
            continue
        (p,) = parser.parse_overrides([o])
        if p.type != OverrideType.CHANGE or p.is_sweep_override() or p.package is not None:
            continue
        detached.append(o)
        parsed.append(p)
    return [o for o in overrides if o not in detached], parsed


def _attach(cfg: Any, overrides: list[str], detached: list[Any]) -> None:
    """Apply the split-off overrides as Hydra would have (same setter, same record of
    the command line in `hydra.overrides.hydra`, in command-line order)."""
    if not detached:
        return
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(detached, cfg)
    lines = {p.input_line for p in detached}
    recorded = list(cfg.hydra.overrides.hydra)
    merged, i = [], 0
    for o in overrides:
        if o in lines:
            merged.append(o)
        elif i < len(recorded) and recorded[i] == o:
            merged.append(recorded[i])
            i += 1
    if i != len(recorded):
        raise ValueError("hydra overrides out of order")
    cfg.hydra.overrides.hydra = merged


def _env_copy(cfg: Any) -> dict[str, str | None]:
    keys = cfg.hydra.job.env_copy if "hydra" in cfg else []
    return {str(k): os.environ.get(str(k)) for k in keys}


def _lookup(path: Path) -> Any | None:
    try:
        entry = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or foreign entry: compose afresh (and overwrite it)
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        return None
    if sources_digest(entry["sources"]) != entry["digest"]:
        return None
    cfg = entry["cfg"]
    if _env_copy(cfg) != entry["env"]:
        return None
    return cfg


def _store(path: Path, cfg: Any) -> None:
    sources = [(str(s.schema), str(s.path)) for s in cfg.hydra.runtime.config_sources]
    digest = sources_digest(sources)
    if digest is None:
        return
    meta = cfg.__dict__["_metadata"]
    kept = meta.resolver_cache
    meta.resolver_cache = defaultdict(dict)  # times and pids resolve anew in each run
    try:
        data = pickle.dumps(
            {
                "format": FORMAT,
                "sources": sources,
                "digest": digest,
                "env": _env_copy(cfg),
                "cfg": cfg,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    finally:
        meta.resolver_cache = kept
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    STATS["stored"] += 1
    entries = sorted(path.parent.glob("*.pickle"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        old.unlink(missing_ok=True)


def install() -> None:
    """Wrap Hydra's config loader with the cache (outermost, so a hit skips the
    composition and whatever else wraps it); idempotent. `uninstall()` undoes it."""
    global _original
    if _original is not None:
        return
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.load_configuration

    def load_configuration(self, *args, **kwargs):
        if not enabled():
            return original(self, *args, **kwargs)
        try:
            call = dict(zip(_NAMES, args, strict=False)) | kwargs
            full = list(call["overrides"])
            kept, detached = _detach(full)
            call["overrides"] = kept
            path = cache_dir() / f"{_key(self, call)}.pickle"
            cfg = _lookup(path)
        except Exception:  # anything odd: Hydra's own composition, as without the cache
            return original(self, *args, **kwargs)
        if cfg is None:
            STATS["misses"] += 1
            cfg = original(self, **call)
            try:
                _store(path, cfg)
            except Exception:
                pass  # no cache folder, read-only, full disk: the run goes on
        else:
            STATS["hits"] += 1
            cfg.hydra.runtime.cwd = os.getcwd()
        _attach(cfg, full, detached)
        return cfg

    load_configuration.uncached = original  # type: ignore[attr-defined]
    ConfigLoaderImpl.load_configuration = load_configuration  # type: ignore[method-assign]
    _original = original


def uninstall() -> None:
    global _original
    if _original is None:
        return
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl.load_configuration = _original  # type: ignore[method-assign]
    _original = None
