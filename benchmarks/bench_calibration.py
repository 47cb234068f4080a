"""Speed of the calibration objective and of the virtual seed 000 study.

    python benchmarks/bench_calibration.py [n_per_scenario] [evaluations]

Prints objective evaluations per second for the default fit targets (every fit
population simulated once per evaluation) and the wall time of a 400-replicate
seed 000 study. Run on an otherwise idle machine.
"""

import sys
import time

from sim.api import load_config
from sim.engine.run import simulate
from sim.evidence.calibrate import fit_targets
from sim.evidence.study import add_study_columns, replicate_table, study_config
from sim.evidence.targets import Evaluator

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
k = int(sys.argv[2]) if len(sys.argv) > 2 else 10

cfg = load_config(["+experiment=calibrate"])
targets = fit_targets(cfg)
ev = Evaluator(cfg, targets, n)
ev.evaluate()  # warm-up (imports, caches)
t0 = time.perf_counter()
for i in range(k):
    ev.evaluate({"model.damage_rate_per_day": cfg.model.damage_rate_per_day * (1 + 0.01 * i)})
dt = (time.perf_counter() - t0) / k
pops = len(ev.scenarios)
print(
    f"objective: {len(targets)} fit targets, {pops} populations x {n} patients: "
    f"{dt:.2f} s/evaluation ({pops * n / dt:,.0f} patients/s)"
)

study = load_config(["+experiment=seed000", "output.progress=false"])
t0 = time.perf_counter()
pts, _, _ = simulate(study_config(study))
reps = replicate_table(add_study_columns(pts, study), study.study, [])
print(
    f"seed 000 study: {study.study.replicates} replicates x {study.study.study_n} patients "
    f"({len(pts):,} patients, {len(reps)} logistic-regression sets): "
    f"{time.perf_counter() - t0:.1f} s"
)
