"""The mRS cut points refitted for every posterior draw (columns of calibrated_posterior.csv).

    python experiments/posterior_mrs_cutpoints.py [--n N] [--write]

The cut points map residual damage to the modified Rankin Scale (sim/model/disability.py).
They are a measurement model fitted after the dynamics: the damage of HIV survivors under
standard of care at Lima 2010's cumulative mRS shares (experiments/fit_mrs_cutpoints.py).
Damage has no unit of its own; its scale is set by the damage rate, the lesion burdens and
the death threshold, which the posterior draws vary (the damage rate alone over a 10-fold
95% interval). One fixed map read through every draw would put a draw with a fast damage
rate's survivors at mRS 4-5 and a slow one's at mRS 0-1, however well each reproduces
Lima. So each draw gets its own map, fitted the same way on its own simulated survivors.

The same map the posterior task now writes itself (`posterior.mrs_map`,
sim/evidence/mrs_map.py); this script adds it to an installed posterior made before.
--write adds (or replaces) the columns model.mrs_cutpoints.0 .. .4 of
conf/model/calibrated_posterior.csv; every consumer of the draws (summary UIs, PSA, EVSI,
assurance, validation under uncertainty) applies them with the other columns. Without
--write the per-draw cut points are summarised. --n: HIV patients per draw (default
`posterior.mrs_map.n`, 4,000; about half survive).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sim.api import load_config
from sim.evidence.mrs_map import COLUMNS, per_draw

ROOT = Path(__file__).resolve().parent.parent
POSTERIOR = ROOT / "conf" / "model" / "calibrated_posterior.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="patients per draw (default: config)")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    draws = pd.read_csv(POSTERIOR, float_precision="round_trip")  # exact: rewrites change nothing
    cfg = load_config(["+experiment=posterior"])
    m = cfg.posterior.mrs_map
    if a.n is not None:
        m = replace(m, n=a.n)
    cuts = per_draw(cfg, draws, m)
    print(cuts.describe(percentiles=[0.025, 0.5, 0.975]).round(3).to_string())
    if a.write:
        out = pd.concat([draws.drop(columns=COLUMNS, errors="ignore"), cuts], axis=1)
        tmp = POSTERIOR.with_suffix(".csv.tmp")
        out.to_csv(tmp, index=False)
        tmp.replace(POSTERIOR)
        print(f"wrote {len(COLUMNS)} columns into {POSTERIOR}")


if __name__ == "__main__":
    main()
