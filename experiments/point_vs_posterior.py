"""The fit targets at the default parameter set against the posterior's marginal medians.

    python experiments/point_vs_posterior.py [--n 4000]

One `Evaluator.evaluate` of the posterior's fit targets (`+experiment=posterior`) at
model=calibrated's own values (the point fit) and one at the per-parameter medians of
conf/model/calibrated_posterior.csv, the same patients (same seed) for both. Per target
the simulated value and z = (simulated - published) / published SE on the distance scale
(log for ratios); the sum of z^2 at the end. Prints a markdown table. Issue 12: should
the default parameter set be the posterior's centre rather than the 14-parameter point
fit with the ASSUMPTIONs at their nominal values?
"""

from __future__ import annotations

import argparse

import pandas as pd

from sim.api import load_config
from sim.config.ensemble import load_ensemble
from sim.evidence.calibrate import fit_targets
from sim.evidence.targets import Evaluator, on_scale, standard_error


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000, help="patients per target population")
    a = ap.parse_args()
    cfg = load_config(["+experiment=posterior"])
    targets = fit_targets(cfg)
    ev = Evaluator(cfg, targets, a.n)
    draws = load_ensemble(f"{cfg.model.name}_posterior")
    medians = draws.drop(columns=["draw"], errors="ignore").median().to_dict()
    at = {"point fit": ev.evaluate({}), "posterior medians": ev.evaluate(medians)}
    rows = []
    for t in targets:
        row = {"target": t.id, "published": t.value}
        for name, sim in at.items():
            z = (on_scale(t, sim[t.id]) - on_scale(t, t.value)) / standard_error(t)
            row[name] = f"{sim[t.id]:.3g} (z {z:+.2f})"
            row[f"z2 {name}"] = z * z
        rows.append(row)
    df = pd.DataFrame(rows)
    cols = ["target", "published", *at]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for _, r in df.iterrows():
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print()
    print(", ".join(f"sum of z^2 at the {k}: {df[f'z2 {k}'].sum():.2f}" for k in at))


if __name__ == "__main__":
    main()
