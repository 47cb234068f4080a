"""Atomic file output and run provenance.

Every result file is written under a temporary name in the run directory and moved
into place with `os.replace`, so a killed run never leaves a file that looks
complete. `run.json` is written last: a directory without it is not a result.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import sim


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call write(tmp) then rename tmp -> path; the temp file is removed on failure."""
    path = Path(path)
    tmp = tmp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary-encoding in Parquet: all but the floating-point ones.

    pyarrow tries a dictionary for every column by default; for float columns of
    mostly distinct values (times, CD4 counts) that is wasted work (a third of the
    labs and patients write time of a 100,000-patient run) and a larger file. Strings,
    categoricals and integers (patient ids repeat down the events table) keep it."""
    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text))


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    """Full precision (shortest round-trip repr): large costs keep every digit, and an
    ICER recomputed from cea.csv equals the one written (exactly when read with
    `pd.read_csv(..., float_precision="round_trip")`, else to ~1e-16)."""
    return write_atomic(path, lambda p: df.to_csv(p, index=False))


class _Background:
    """Appends done by one writer thread, in order, while the caller goes on.

    A chunk's conversion to Arrow and its Parquet encoding take about a third as long
    as simulating the next chunk, and pyarrow releases the GIL while it encodes and
    compresses: on a machine with a second core the writing overlaps the simulation.
    At most one append is in flight (so at most one chunk's frames are held twice);
    the next append, `commit()` and `abort()` wait for it, and an error raised in the
    thread is raised again there. The file's bytes are those of writing in line: the
    same tables, in the same order, through the same writer.
    """

    def __init__(self) -> None:
        self._pool = None
        self._pending = None

    def _submit(self, write: Callable[[pd.DataFrame], None], df: pd.DataFrame) -> None:
        self._wait()
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pml-parquet")
        # a shallow copy: the thread reads its own frame object (pandas caches columns
        # on the object it is asked for), the data itself is shared, not copied
        self._pending = self._pool.submit(write, df.copy(deep=False))

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # re-raises the thread's error here

    def _stop(self) -> None:
        """Wait for the thread (errors ignored: called on the way out of a failure)."""
        try:
            self._wait()
        except Exception:  # noqa: BLE001  (the original failure is what matters)
            pass
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class ParquetStream(_Background):
    """Append DataFrame chunks to one Parquet file; `commit()` renames it into place.
    Appends are written by a background thread (`_Background`)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.tmp = tmp_path(self.path)
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def append(self, df: pd.DataFrame) -> None:
        self._submit(self._write, df)

    def _write(self, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(
                self.tmp,
                self._schema,
                compression="zstd",
                use_dictionary=dictionary_columns(self._schema),
            )
        else:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        try:
            self._wait()
        except BaseException:
            self.abort()
            raise
        self._stop()
        if self._writer is None:
            return
        self._writer.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Stop the thread and remove the temp file, even if closing the writer fails
        (on the way out of an interrupt the writer may be half-way through a chunk)."""
        try:
            self._stop()
            if self._writer is not None:
                self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class ParquetParts(_Background):
    """Append DataFrame chunks as the parts of a Parquet dataset (a directory).

    Parts go to a hidden temporary directory; `commit()` moves it into place, so a
    killed run never leaves a dataset that looks complete. `pd.read_parquet(path)`
    reads the directory like a single file. Parts are written by a background thread
    (`_Background`).
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.tmp = tmp_path(self.path)
        self._schema: pa.Schema | None = None
        self._n = 0

    def append(self, df: pd.DataFrame) -> None:
        self._submit(self._write, df)

    def _write(self, df: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self.tmp.mkdir(parents=True)
        else:
            table = table.cast(self._schema)
        pq.write_table(
            table,
            self.tmp / f"part-{self._n:05d}.parquet",
            compression="zstd",
            use_dictionary=dictionary_columns(self._schema),
        )
        self._n += 1

    def commit(self) -> None:
        try:
            self._wait()
        except BaseException:
            self.abort()
            raise
        self._stop()
        if self._schema is None:
            return
        old = None
        if self.path.exists():  # an earlier result: move it aside, then drop it
            old = self.path.with_name(f".{self.path.name}.{os.getpid()}.old")
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()

    def abort(self) -> None:
        try:
            self._stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def abort_all(streams) -> None:
    """Abort every stream, even when one abort fails: a stream left running would go on
    writing its temp file after the run's clean-up (the first failure is raised after)."""
    first: BaseException | None = None
    for s in streams:
        try:
            s.abort()
        except BaseException as e:  # noqa: BLE001  (kept, raised once all are stopped)
            first = first or e
    if first is not None:
        raise first


def git_commit() -> tuple[str, bool | None]:
    """(commit, dirty) of the source tree pml-sim runs from; ('unknown', None) outside git."""
    root = Path(sim.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return head, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


# keys that change how a run reports, not what it computes
_NOT_HASHED = {"output": ("progress", "print_summary")}


@functools.lru_cache(maxsize=8)
def config_hash(resolved_yaml: str) -> str:
    """A short hash of the resolved config: same hash, same results (resume key).
    (Parsed with libyaml when PyYAML has it: the same values, several times faster.)"""
    import hashlib
    import json

    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    cfg = yaml.load(resolved_yaml, Loader=loader) or {}
    for section, keys in _NOT_HASHED.items():
        for k in keys:
            (cfg.get(section) or {}).pop(k, None)
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance(resolved_yaml: str | None = None) -> dict:
    commit, dirty = git_commit()
    versions = {}
    for pkg in ("numpy", "scipy", "pandas", "pyarrow", "simpy", "hydra-core", "omegaconf"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "package": "pml-sim",
        "version": sim.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": versions,
        "command": sys.argv,
    } | ({"config_hash": config_hash(resolved_yaml)} if resolved_yaml is not None else {})


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n")
