"""The posterior predictive check of every target as one table (docs/calibration.md).

    python experiments/ppc_table.py [--posterior DIR] [--validation DIR]

Fit targets: the posterior run's own check (posterior_ppc.csv, its draws x n_per_scenario
patients); validation targets: experiments/validation_verdicts.py --posterior
(validation_predictive.csv). Per target the posterior predictive 95% interval of the
model's figure, the overlap verdict (reproduced when it overlaps the published 95% CI,
sim.evidence.predictive.predictive_verdict) and whether the published value lies inside
the 95% interval of a replicate study. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from sim.api import load_config
from sim.evidence.predictive import predictive_verdict
from sim.evidence.targets import PROPORTIONS, published_ci, simulated_n

ROOT = Path(__file__).resolve().parents[1]


def fmt(t, v: float) -> str:
    if t.quantity in PROPORTIONS:
        return f"{100 * v:.1f}%"
    return f"{v:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posterior", default=str(ROOT / "docs/evidence/posterior"))
    ap.add_argument("--validation", default=str(ROOT / "docs/evidence/validation"))
    a = ap.parse_args()
    targets = {t.id: t for t in load_config(["+experiment=calibrate"]).targets.items}
    fit = pd.read_csv(Path(a.posterior) / "posterior_ppc.csv")
    val = pd.read_csv(Path(a.validation) / "validation_predictive.csv")
    n_fit = load_config(["+experiment=posterior"]).posterior.n_per_scenario
    print("| target | role | published (95% CI) | posterior predictive median (95%) | n x draws "
          "| predictive verdict | published inside replicate |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in fit.to_dict("records"):
        t = targets[r["target_id"]]
        lo, hi = published_ci(t)
        lo_s, hi_s = r["simulated_2.5%"], r["simulated_97.5%"]
        verdict = predictive_verdict(lo, hi, lo_s, hi_s)
        inside = "yes" if r["published_inside"] else "NO"
        print(f"| {t.id} | fit | {fmt(t, t.value)} ({fmt(t, lo)}-{fmt(t, hi)}) | "
              f"{fmt(t, r['simulated_median'])} ({fmt(t, lo_s)}-{fmt(t, hi_s)}) | "
              f"{simulated_n(t, n_fit)} x {r['draws']} | {verdict} | {inside} |")  # fmt: skip
    for r in val.itertuples():
        t = targets[r.target_id]
        print(f"| {t.id} | validation | {fmt(t, r.published)} ({fmt(t, r.published_low)}-"
              f"{fmt(t, r.published_high)}) | {fmt(t, r.pp_median)} ({fmt(t, r.pp_low)}-"
              f"{fmt(t, r.pp_high)}) | {r.n} x {r.draws} | {r.pp_verdict} | "
              f"{'yes' if r.published_inside_replicate else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    main()
