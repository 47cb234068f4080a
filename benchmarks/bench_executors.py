"""Patients per second by executor (issue 4): in-process, 1 and 2 local processes, Dask.

    python benchmarks/bench_executors.py [n]

One strategy (il7), seed 000 mix, 1 year, chunks of 10,000; the run is consumed
chunk by chunk as the CLI does (nothing written). Scaling efficiency = speed-up /
workers, against the in-process run.
"""

import sys
import time

from sim.api import load_config
from sim.engine.run import chunks


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    setups = [
        ("inprocess", ["executor=inprocess"], 1),
        ("processes x1", ["executor=processes", "executor.workers=1"], 1),
        ("processes x2", ["executor=processes", "executor.workers=2"], 2),
        ("dask LocalCluster x2", ["executor=dask", "executor.workers=2"], 2),
    ]
    base = None
    print(f"{'executor':24s} {'seconds':>8s} {'patients/s':>11s} {'efficiency':>10s}")
    for name, ov, workers in setups:
        cfg = load_config(
            [
                "strategy=il7",
                f"cohort.n={n}",
                "engine.chunk_size=10000",
                "output.progress=false",
                *ov,
            ]
        )
        t0 = time.perf_counter()
        rows = sum(len(c.patients) for c in chunks(cfg))
        dt = time.perf_counter() - t0
        base = base or dt
        print(f"{name:24s} {dt:8.2f} {rows / dt:11,.0f} {base / dt / workers:10.2f}")


if __name__ == "__main__":  # worker processes are spawned: guard the entry point
    main()
