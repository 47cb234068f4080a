"""The correctness anchors of issue 6 with many trials (tests/test_trial.py is the small
version).

    python experiments/trial_anchor_check.py [trials] [hazard_ratio]

Assumed effect (control = SOC outcomes of the model, experimental = the same with
proportional hazards at `hazard_ratio`), unstratified 1:1 permuted blocks, no dropout,
as in textbook designs. For each sample size, prints:

* fixed designs: simulated power vs the closed form (two proportions: Fleiss; log-rank:
  Schoenfeld with the simulated mean deaths) and, for the z test, the exact
  (binomial enumeration) power;
* group-sequential designs (3 looks at 1/3, 2/3, 1 of the information; classical
  OF/P and Lan-DeMets asOF/asP; asP at calendar months 24 and 36): simulated power vs
  the crossing probabilities of the boundaries at the same drift;
* every design: simulated type I error under the null vs alpha.

Differences are given in Monte Carlo SEs of the simulated value.
"""

import math
import sys
import time

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.trial import DesignConfig
from sim.trial import analyses
from sim.trial.sizing import superpopulation


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    hr = float(sys.argv[2]) if len(sys.argv) > 2 else 0.6
    cfg = load_config(
        [
            "+experiment=trial_sizing",
            "trial.followup.dropout_per_year=0.0",
            "trial.randomisation.stratify=false",
            "trial.effect.kind=assumed",
            f"trial.effect.hazard_ratio={hr}",
            "trial.sizing.n=[80,240]",
            f"trial.sizing.trials={trials}",
            "trial.sizing.chunk_trials=1000",
            "executor=processes",
            "executor.workers=2",
        ]
    )
    gs = [0.33, 0.67, 1.0]
    cfg.trial.designs = {
        "fixed_z": DesignConfig(endpoint="survival_1y"),
        "fixed_logrank": DesignConfig(endpoint="time_to_death", test="logrank"),
        "OF3_z": DesignConfig(type_of_design="OF", information_rates=gs),
        "P3_z": DesignConfig(type_of_design="P", information_rates=gs),
        "asOF3_z": DesignConfig(type_of_design="asOF", information_rates=gs),
        "asP3_z": DesignConfig(type_of_design="asP", information_rates=gs),
        "asOF3_logrank": DesignConfig(
            endpoint="time_to_death", test="logrank", type_of_design="asOF", information_rates=gs
        ),
        "asP_calendar_z": DesignConfig(
            type_of_design="asP", timing="calendar", look_months=[24.0, 36.0]
        ),
    }
    t0 = time.perf_counter()
    spec, table, oc = run_sizing(cfg, progress=True)
    a = cfg.trial.alpha
    sp = superpopulation(spec, "survival_1y")
    print(
        f"{trials} trials per cell; assumed HR {hr}; pool 1-year survival control "
        f"{sp['p_c']:.4f}, experimental {sp['p_e']:.4f} (= control^HR {sp['p_c'] ** hr:.4f}); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(
        f"{'design':16s} {'n':>4s} {'power':>7s} {'analytic':>8s} {'diff/SE':>7s} "
        f"{'exact':>7s} {'diff/SE':>7s} {'type I':>7s} {'(a-)/SE':>7s} {'E[n]':>6s}"
    )
    for r in oc.itertuples():
        exact, dz = "", ""
        if r.design == "fixed_z":
            alt = table[
                (table["design"] == "fixed_z")
                & (table["scenario"] == "alternative")
                & (table["n"] == r.n)
            ]
            ex = analyses.power_two_proportions_exact(
                sp["p_e"],
                sp["p_c"],
                round(alt["n_analysed_e"].mean()),
                round(alt["n_analysed_c"].mean()),
                a,
            )
            exact, dz = f"{ex:.4f}", f"{(r.power - ex) / r.power_se:+.1f}"
        d_an = (
            f"{(r.power - r.analytic_power) / r.power_se:+.1f}"
            if math.isfinite(r.analytic_power)
            else ""
        )
        print(
            f"{r.design:16s} {r.n:4d} {r.power:7.4f} {r.analytic_power:8.4f} {d_an:>7s} "
            f"{exact:>7s} {dz:>7s} {r.type1_error:7.4f} "
            f"{(r.type1_error - a) / r.type1_error_se:+7.1f} {r.expected_n:6.1f}"
        )


if __name__ == "__main__":  # worker processes are spawned: guard the entry point
    main()
