"""How much prophylactic steroids cost in the model, per condition, as a hazard ratio.

Every condition in equal shares, the same patients under `soc`, `steroids_reactive`
(steroids only on IRIS) and `steroids_prophylactic` (a 6-week course from diagnosis,
another on IRIS). Per condition: 1-year survival under each, and the prophylaxis penalty
as the ratio of cumulative hazards ln S(prophylactic) / ln S(reactive), which equals the
hazard ratio of death if the hazards are proportional. For comparison: no PML study
reports survival by prophylactic steroids; the nearest randomised analogue (dexamethasone
from diagnosis of HIV cryptococcal meningitis, CryptoDex, NEJM 2016) gave HR 1.11
(0.84-1.47) at 10 weeks and 1.18 (0.91-1.53) at 6 months (docs/evidence/steroid_evidence.md).
Optional overrides are passed to the run (e.g. the lever at an end of its range).

    python experiments/steroid_penalty.py [n_per_condition] [override ...]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from sim.api import load_config, simulate
from sim.config.schema import CONDITIONS

STRATEGIES = ("soc", "steroids_reactive", "steroids_prophylactic")


def survival_by_condition(n_per_condition: int, overrides: list[str]) -> pd.DataFrame:
    mix = "{" + ", ".join(f"{c}: 1" for c in CONDITIONS) + "}"
    cfg = load_config(
        ["cohort=custom", f"+cohort.mix={mix}", f"cohort.n={n_per_condition * len(CONDITIONS)}"]
        + [f"strategy=[{','.join(STRATEGIES)}]", "executor=inprocess", "uncertainty=none"]
        + ["output.progress=false", *overrides]
    )
    pts, _, _ = simulate(cfg)
    pts["alive"] = ~((pts["time_days"] < 365.0) & pts["died"])
    s = pts.groupby(["condition", "strategy"], observed=True)["alive"].agg(["mean", "count"])
    return s.reset_index()


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 4000
    table = survival_by_condition(n, argv[1:])
    wide = table.pivot(index="condition", columns="strategy", values="mean")
    count = table.pivot(index="condition", columns="strategy", values="count")
    print(f"n = {n:,} per condition; overrides: {' '.join(argv[1:]) or 'none'}")
    print(f"| condition | {' | '.join(STRATEGIES)} | HR (prophylactic / reactive) |")
    print("|---|---|---|---|---|")
    for c, row in wide.iterrows():
        se = {s: np.sqrt(row[s] * (1 - row[s]) / count.loc[c, s]) for s in STRATEGIES}
        hr = np.log(row["steroids_prophylactic"]) / np.log(row["steroids_reactive"])
        cells = " | ".join(f"{row[s]:.3f} ({se[s]:.3f})" for s in STRATEGIES)
        print(f"| {c} | {cells} | {hr:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
