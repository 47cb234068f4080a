"""CPU per small simulation: the per-run and per-step cost that PSA and uncertainty draws pay.

    python benchmarks/small_runs.py                       # 10, 500, 1,000, 4,000 patients
    python benchmarks/small_runs.py --sizes 10 1000 --repeats 7

Each figure is `sim.engine.run.simulate_strategies` of soc, il7, pd1 and vst without a
lab table (as a PSA draw or an uncertainty draw runs them), in this process: CPU
milliseconds per call, the best of `--repeats` blocks of 10 calls, each call with a new
seed. At 10 patients it is almost all fixed cost (building the course, per-step Python,
the tables); the slope between sizes is the per-patient cost.
"""

from __future__ import annotations

import argparse
import time

from sim.api import load_config
from sim.engine.run import simulate_strategies

STRATEGIES = "strategy=[soc,il7,pd1,vst]"
CALLS = 10  # calls per timed block


def cpu_ms(n: int, repeats: int) -> float:
    """Best-of-`repeats` CPU milliseconds per call at n patients."""
    cfg = load_config([STRATEGIES, f"cohort.n={n}", "uncertainty=none"])
    for _ in range(3):  # warm-up: imports, compiled kernels, caches
        list(simulate_strategies(cfg, 0, n, labs=False))
    best = float("inf")
    seed = 100
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(CALLS):
            cfg.seed, seed = seed, seed + 1
            list(simulate_strategies(cfg, 0, n, labs=False))
        best = min(best, (time.process_time() - t) / CALLS)
    return best * 1000.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 500, 1000, 4000])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    print("patients  CPU ms per call (soc, il7, pd1, vst; no labs)")
    for n in args.sizes:
        print(f"{n:8,d}  {cpu_ms(n, args.repeats):8.1f}")


if __name__ == "__main__":
    main()
