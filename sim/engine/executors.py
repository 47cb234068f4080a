"""Where chunks of patients are simulated: here, in local processes, or on Dask.

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

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context

from sim.config.schema import ExecutorConfig

KINDS = ("inprocess", "processes", "dask")


def _windowed(submit: Callable, tasks: Iterable[tuple], window: int) -> Iterator:
    """Submit lazily, keep `window` futures in flight, yield results in order."""
    pending: deque = deque()
    for args in tasks:
        pending.append(submit(*args))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@contextmanager
def ordered_map(ex: ExecutorConfig):
    """A context giving `run(fn, tasks) -> iterator of fn(*task)`, in task order."""
    if ex.kind == "inprocess":
        yield lambda fn, tasks: (fn(*a) for a in tasks)
    elif ex.kind == "processes":
        # spawn: workers start clean (no forked threads or open files from the parent)
        with ProcessPoolExecutor(max_workers=ex.workers, mp_context=get_context("spawn")) as pool:
            yield lambda fn, tasks: _windowed(lambda *a: pool.submit(fn, *a), tasks, 2 * ex.workers)
    elif ex.kind == "dask":
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
