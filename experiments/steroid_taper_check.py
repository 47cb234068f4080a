"""Prophylactic and reactive steroids against SOC: 1-year survival, IRIS and when it starts.

    python experiments/steroid_taper_check.py                                   # taper on
    python experiments/steroid_taper_check.py therapies.corticosteroids.taper_days=0  # off

Issue 12 item 6: with an abrupt stop on day 42, most IRIS onsets under prophylactic
steroids fell on days 42-44 (the immune rebound). Prints per strategy and condition:
n, the share alive at 1 year, the share with IRIS, and the share of IRIS onsets on days
42-44. 20,000 patients of the default mix, one parameter set (uncertainty=none).
"""

from __future__ import annotations

import sys

import pandas as pd

from sim.api import load_config
from sim.engine.run import simulate

YEAR_DAYS = 365.0
REBOUND = (42.0, 44.0)  # days: the abrupt end of the 42-day course and the 2 days after


def table(overrides: list[str]) -> pd.DataFrame:
    base = ["strategy=[soc,steroids_prophylactic,steroids_reactive]", "cohort.n=20000"]
    quiet = ["uncertainty=none", "output.progress=false", "executor=processes"]
    patients, _, _ = simulate(load_config([*base, *quiet, *overrides]))
    patients["cond"] = patients["condition"].astype(str)
    rows = []
    for (strategy, cond), g in patients.groupby(["strategy", "cond"], observed=True):
        onset = g["iris_onset_days"].dropna()
        on_rebound = onset.between(*REBOUND).mean() if len(onset) else float("nan")
        rows.append(
            {
                "strategy": strategy,
                "condition": cond,
                "n": len(g),
                "survival_1y": 1.0 - float((g["died"] & (g["time_days"] < YEAR_DAYS)).mean()),
                "iris": float(g["iris"].mean()),
                "iris_onset_days_42_44": on_rebound,
            }
        )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    print(table(sys.argv[1:]).round(3).to_string(index=False))
