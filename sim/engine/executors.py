"""Where chunks of patients are simulated: here, in local processes, or on Dask.

`auto` (the default) keeps a run's chunks in this process, where a run of up to
~100,000 patients is fastest (spawning workers and sending chunk tables back costs
more than a second core gains), and, under the pml-sim command, sends an outer loop of
small, independent simulations whose results are small (the uncertainty draws) to
`workers` local processes when it has at least `min_parallel_patients`
patient-strategies to simulate.

A chunk is a pure function of (config, strategy, patient index range): every
patient's random numbers come from the seed and the patient's index
(`sim.core.rng`), never from the worker that runs it. So the executor, the number of
workers and the chunk size change the wall time, not the numbers.

Results come back in submission order, with at most `2 x workers` chunks in flight,
so memory stays bounded however many chunks a run has.

On an HPC cluster, start a Dask cluster with dask-jobqueue (e.g.
`SLURMCluster(cores=..., memory=...).scale(jobs=...)`) and pass its scheduler
address: `pml-sim executor=dask executor.address=tcp://<scheduler>:8786`.
"""

from __future__ import annotations

import atexit
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context

from sim.config.schema import ExecutorConfig

KINDS = ("inprocess", "processes", "dask", "auto")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_ORPHAN_POLL_SECONDS = 1.0


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a worker whose parent dies (killed, even with SIGKILL) exits
    instead of living on as an orphan holding memory and CPU.

    Linux delivers SIGTERM on the parent's death (prctl PR_SET_PDEATHSIG); elsewhere a
    daemon thread notices the parent is gone.
    """
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_ORPHAN_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _windowed(submit: Callable, tasks: Iterable[tuple], window: int) -> Iterator:
    """Submit lazily, keep `window` futures in flight, yield results in order."""
    pending: deque = deque()
    for args in tasks:
        pending.append(submit(*args))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_POOL: dict[int, ProcessPoolExecutor] = {}  # workers -> the process's one pool


def _process_pool(workers: int) -> ProcessPoolExecutor:
    """One pool of local worker processes per run (per process), reused by every
    simulation call (base case, one-way analysis, PSA draws): starting spawned workers
    costs seconds. Workers hold no state between tasks, so reuse cannot change numbers."""
    import os

    pool = _POOL.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        _drop_pool(terminate=True)
        # spawn: workers start clean (no forked threads or open files from the parent)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        _POOL[workers] = pool
    return pool


def _drop_pool(terminate: bool = False) -> None:
    for pool in _POOL.values():
        if terminate:
            for proc in list((getattr(pool, "_processes", None) or {}).values()):
                proc.terminate()
        pool.shutdown(wait=not terminate, cancel_futures=True)
    _POOL.clear()


atexit.register(_drop_pool)  # a no-op unless a pool was started


_AUTO_PROCESSES = [False]  # whether `auto` may start local workers (`allow_auto_processes`)


def allow_auto_processes(allowed: bool = True) -> None:
    """Let `auto` start local worker processes. The pml-sim command does: spawned workers
    re-import the main module, which for the command is pml-sim's own. From Python
    (`sim.api`, a notebook, a script that may lack an `if __name__ == "__main__":`
    guard) `auto` stays in this process unless this is called; `executor=processes`
    asks for workers explicitly."""
    _AUTO_PROCESSES[0] = allowed


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_workers(ex: ExecutorConfig) -> int:
    """`auto`'s workers: `workers`, but no more than the usable cores (on one core,
    workers would only add their start-up)."""
    return max(1, min(ex.workers, usable_cores()))


def resolve(ex: ExecutorConfig, outer_patients: int = 0) -> str:
    """The kind that runs a call: `auto` is `processes` for an outer loop of at least
    `min_parallel_patients` patient-strategies (with more than one worker and core,
    where `allow_auto_processes` was called), else `inprocess`; the other kinds are
    themselves."""
    if ex.kind != "auto":
        return ex.kind
    big = outer_patients > 0 and outer_patients >= ex.min_parallel_patients
    return "processes" if big and auto_workers(ex) > 1 and _AUTO_PROCESSES[0] else "inprocess"


@contextmanager
def ordered_map(ex: ExecutorConfig, outer_patients: int = 0):
    """A context giving `run(fn, tasks) -> iterator of fn(*task)`, in task order.

    `outer_patients`: for an outer loop of independent simulations, how many
    patient-strategies it simulates in all (`auto` decides by it; 0: not one)."""
    kind = resolve(ex, outer_patients)
    if kind == "inprocess":
        yield lambda fn, tasks: (fn(*a) for a in tasks)
    elif kind == "processes":
        workers = auto_workers(ex) if ex.kind == "auto" else ex.workers
        pool = _process_pool(workers)
        try:
            yield lambda fn, tasks: _windowed(lambda *a: pool.submit(fn, *a), tasks, 2 * workers)
        except BaseException:  # Ctrl-C, SIGTERM, a failed chunk: stop the workers now
            _drop_pool(terminate=True)
            raise
    elif kind == "dask":
        from dask.distributed import Client, LocalCluster

        if ex.address:
            client = Client(ex.address)
            cluster = None
        else:
            cluster = LocalCluster(
                n_workers=ex.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        try:
            window = 2 * max(len(client.scheduler_info().get("workers", {})), ex.workers)
            yield lambda fn, tasks: _windowed(
                lambda *a: client.submit(fn, *a, pure=False), tasks, window
            )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:  # validated earlier
        raise ValueError(f"unknown executor {ex.kind!r}")
