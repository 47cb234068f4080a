"""Speed against accuracy of coarser time steps (issue 13): a menu for users who need speed.

For each setting of the time grid (first step after a calendar point / longest step,
days) and strategy soc, il7, pd1: CPU seconds of `sim.engine.run.chunks` for 50,000
patients x 1 year in this process (best of 3 seeds), and the paired differences of
1-year survival and IRIS (points, with their SE) against a grid 10x finer than the
default (0.1 / 0.7 days), N patients with the same random numbers (default 20,000).
tests/test_timestep.py holds the default and `model.dt_first_days=2` within 1 point.

    python benchmarks/step_menu.py [N]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from sim.api import load_config
from sim.engine.run import chunks, simulate

SETTINGS = {
    "default 1/7": [],
    "first 2": ["model.dt_first_days=2"],
    "first 4": ["model.dt_first_days=4"],
    "4/14": ["model.dt_first_days=4", "model.dt_days=14"],
    "7/7": ["model.dt_first_days=7"],
}
FINE = ["model.dt_days=0.7", "model.dt_first_days=0.1"]
COMMON = ["executor=inprocess", "output.progress=false", "uncertainty=none"]


def outcomes(strategy: str, n: int, extra: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Alive at 1 year and ever-IRIS per patient, in patient order."""
    cfg = load_config([f"strategy={strategy}", f"cohort.n={n}", "seed=11", *COMMON, *extra])
    pts = simulate(cfg)[0].sort_values("patient_id")
    alive = ~(pts["died"] & (pts["time_days"] <= 365.0))
    return alive.to_numpy(), pts["iris"].to_numpy()


def cpu_seconds(strategy: str, extra: list[str]) -> float:
    """Best of 3 seeds: CPU seconds of 50,000 patients x 1 year."""
    cfg = load_config(
        [f"strategy={strategy}", "cohort.n=50000", "horizon_days=365", *COMMON, *extra]
    )
    best = float("inf")
    for seed in (1, 2, 3):
        cfg.seed = seed
        t = time.process_time()
        sum(1 for _ in chunks(cfg))
        best = min(best, time.process_time() - t)
    return best


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 20_000
    sum(1 for _ in chunks(load_config(["cohort.n=300", "strategy=il7", *COMMON])))  # warm-up
    print(f"paired differences against the 0.1 / 0.7-day grid, {n:,} patients, points (SE)")
    for s in ("soc", "il7", "pd1"):
        fine = outcomes(s, n, FINE)
        for name, extra in SETTINGS.items():
            diffs = []
            for x, y in zip(outcomes(s, n, extra), fine, strict=True):
                d = x.astype(float) - y.astype(float)
                diffs.append(f"{100 * d.mean():+.2f} ({100 * d.std(ddof=1) / np.sqrt(len(d)):.2f})")
            cpu = cpu_seconds(s, extra)
            print(f"{s:4s} {name:12s} CPU {cpu:.3f} s  survival {diffs[0]}  IRIS {diffs[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
