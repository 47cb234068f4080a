"""Type I error (and power) of the event-driven preset's log-rank and MaxCombo tests,
asymptotic and re-randomisation p-values side by side, over many trials: a measurement
for docs/trial.md, too slow for the sizing run's few hundred trials to settle.

    python experiments/null_size.py TRIALS N[,N...] [SHUFFLES] [--null-only]
    python experiments/null_size.py 20000 500,600,800 --asymptotic-only --null-only
    python experiments/null_size.py 3000 600 999

(n = 500-800 reach the preset's 280 deaths at the 2026-12-07 default; the n = 100-300
of docs/trial.md's history table reached the 114 deaths of an earlier model.)

Trials are the sizing run's own (`trial=event_driven_pd1`, seed 0, trial index 0, 1,
...: the first 400 at n = 150 are the ones docs/trial.md's MaxCombo table used), each
analysed under the null (both arms SOC) and, unless --null-only, the model's PD-1
effect. Prints per n and design the rejection rate, its Monte Carlo SE and its
z against alpha, and writes the rows to null_size.parquet in the working directory.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace

import pandas as pd

from sim.api import load_config
from sim.trial.design import Spec, enrol, outcomes, run_design
from sim.trial.pool import build_pool
from sim.trial.sizing import target_events
from sim.trial.validate import check_trial

BASE = ("events_logrank", "events_maxcombo")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    trials, ns = int(args[0]), [int(x) for x in args[1].split(",")]
    shuffles = int(args[2]) if len(args) > 2 else 999
    scenarios = ["null"] if "--null-only" in sys.argv else ["null", "alternative"]
    cfg = load_config(
        ["+experiment=trial_sizing", "trial=event_driven_pd1", "trial.assurance.draws=0"]
    )
    t = cfg.trial
    names = list(BASE)
    if "--asymptotic-only" not in sys.argv:
        for b in BASE:
            t.designs[f"{b}_rr"] = replace(
                t.designs[b], p_value="rerandomisation", rerandomisations=shuffles
            )
            names.append(f"{b}_rr")
    check_trial(cfg)
    spec = Spec(cfg.seed, t, build_pool(cfg))
    events = target_events(spec)
    events.update({f"{b}_rr": events[b] for b in BASE})
    rows, started = [], time.time()
    for n in ns:
        for i in range(trials):
            e = enrol(spec, n, 1.0, 0, i)
            for sc in scenarios:
                o = outcomes(spec, e, sc)
                for name in names:
                    r = run_design(name, t.designs[name], t, e, o, None, None, events[name], None)
                    rows.append(
                        {"n": n, "trial": i, "scenario": sc, "design": name}
                        | {k: r[k] for k in ("reject", "z", "p", "deaths")}
                    )
        print(f"n = {n}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    df.to_parquet("null_size.parquet")
    g = df.groupby(["scenario", "n", "design"]).reject.agg(["mean", "count"])
    se = (t.alpha * (1 - t.alpha) / g["count"]) ** 0.5
    g["se"] = (g["mean"] * (1 - g["mean"]) / g["count"]) ** 0.5
    g["z_vs_alpha"] = (g["mean"] - t.alpha) / se
    pooled = df[df.scenario == "null"].groupby("design").reject.agg(["mean", "count"])
    pooled["z_vs_alpha"] = (pooled["mean"] - t.alpha) / (
        (t.alpha * (1 - t.alpha) / pooled["count"]).map(math.sqrt)
    )
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print(g.round(4))
        print("null, pooled over n:")
        print(pooled.round(4))


if __name__ == "__main__":
    main()
