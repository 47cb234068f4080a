"""PSA speed (issue 5): parameter draws x patients x strategies.

    python benchmarks/bench_psa.py [draws] [n_patients] [executor] [workers]

Defaults: 1,000 draws x 1,000 patients x 4 strategies (soc, il7, pd1, vst) on two
local worker processes: the issue's benchmark. Each draw samples the uk_nhs PSA inputs
and a calibration-ensemble member, simulates new patients under every strategy and
costs them. Prints seconds, draws/s and simulated patients/s. Nothing is written.

Measured 2026-11-24 on the 2-core machine, otherwise idle: 212 s on 2 processes
(18,800 patients/s); 0.40 s per draw in-process.
"""

import sys
import time

from sim.api import load_config
from sim.economics.psa import run_psa
from sim.economics.sampling import draw_parameters
from sim.evidence.calibrate import load_ensemble


def main() -> None:
    draws = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    executor = sys.argv[3] if len(sys.argv) > 3 else "processes"
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    cfg = load_config(
        [
            "+experiment=psa",
            f"economics.psa.draws={draws}",
            f"economics.psa.n_patients={n}",
            f"executor={executor}",
            f"executor.workers={workers}",
            "output.progress=false",
        ]
    )
    params = draw_parameters(cfg.economics.psa, cfg.seed, load_ensemble(cfg.economics.psa.ensemble))
    started = time.perf_counter()
    psa = run_psa(cfg, params)
    seconds = time.perf_counter() - started
    k = len(cfg.strategy)
    print(
        f"PSA {draws} draws x {n} patients x {k} strategies on {executor} x{workers}: "
        f"{seconds:.1f} s, {draws / seconds:.2f} draws/s, {draws * n * k / seconds:,.0f} patients/s"
    )
    assert len(psa) == draws * k


if __name__ == "__main__":  # guarded: spawned worker processes import this module
    main()
