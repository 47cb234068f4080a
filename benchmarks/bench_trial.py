"""Sizing speed (issue 6): the default design set, 8 sample sizes x 2,000 trials.

    python benchmarks/bench_trial.py [trials]

conf/trial/pd1_vs_soc.yaml as shipped: 4 designs (stratified KM at 1 year fixed and
with 3 asOF looks + futility, stratified log-rank, naive chi-square), 8 sample sizes,
each trial analysed under the model's effect and under the null (128,000 analyses at
2,000 trials). Times the patient pool (2 x 20,000 patients through the model)
separately from the trials, in-process and on 2 local processes.

Measured 2026-11-24 on the 2-core machine, otherwise idle: pool 1.9 s; trials 29.0 s
in-process, 16.5 s on 2 processes (4,400 / 7,800 analyses per second).
"""

import sys
import time

from sim.api import load_config
from sim.trial.design import Spec
from sim.trial.pool import build_pool
from sim.trial.sizing import operating_characteristics, simulate_grid


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print(f"{'executor':14s} {'pool s':>7s} {'trials s':>9s} {'trials/s':>9s} {'analyses/s':>11s}")
    for name, ov in [
        ("inprocess", ["executor=inprocess"]),
        ("processes x2", ["executor=processes", "executor.workers=2"]),
    ]:
        cfg = load_config(
            [
                "+experiment=trial_sizing",
                f"trial.sizing.trials={trials}",
                "output.progress=false",
                *ov,
            ]
        )
        t0 = time.perf_counter()
        spec = Spec(cfg.seed, cfg.trial, build_pool(cfg))
        t1 = time.perf_counter()
        table = simulate_grid(spec, cfg.executor)
        operating_characteristics(spec, table)
        t2 = time.perf_counter()
        n_trials = trials * len(cfg.trial.sizing.n) * len(cfg.trial.sizing.accrual_scale)
        print(
            f"{name:14s} {t1 - t0:7.2f} {t2 - t1:9.2f} {n_trials / (t2 - t1):9,.0f} "
            f"{len(table) / (t2 - t1):11,.0f}"
        )


if __name__ == "__main__":  # worker processes are spawned: guard the entry point
    main()
