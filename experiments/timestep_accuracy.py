"""Default time grid against a 10x finer one: 1-year survival and IRIS per strategy.

    python experiments/timestep_accuracy.py [STRATEGY,...] [N]

Same patients and random numbers on both grids, so the difference is the
discretisation error (plus a small paired Monte Carlo error). Figures quoted in
docs/model.md ("Time step") come from this script; tests/test_timestep.py holds soc,
il7 and pd1 within 1 point.
"""

from __future__ import annotations

import sys
import time

from sim.api import load_config
from sim.engine.run import simulate

ALL = (
    "soc,il7,pd1,steroids_prophylactic,steroids_reactive,vst,cmx001,il2_mefloquine,"
    "il7_maraviroc,no_treatment"
)


def outcomes(strategy: str, n: int, *extra: str) -> tuple[float, float, float]:
    cfg = load_config([f"strategy={strategy}", f"cohort.n={n}", "output.progress=false", *extra])
    t = time.perf_counter()
    pts, _, _ = simulate(cfg)
    wall = time.perf_counter() - t
    alive = ~(pts["died"] & (pts["time_days"] <= 365.0))
    return float(alive.mean()), float(pts["iris"].mean()), wall


def main() -> None:
    strategies = (sys.argv[1] if len(sys.argv) > 1 else ALL).split(",")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    m = load_config([]).model
    fine = (f"model.dt_days={m.dt_days / 10}", f"model.dt_first_days={m.dt_first_days / 10}")
    print(f"default grid (dt_first {m.dt_first_days}, dt {m.dt_days} days) vs 10x finer, n={n}")
    cols = ("surv", "fine", "dS pts", "iris", "fine", "dI pts")
    print(f"{'strategy':22s} " + " ".join(f"{c:>7s}" for c in cols))
    for s in strategies:
        a, b = outcomes(s, n), outcomes(s, n, *fine)
        print(
            f"{s:22s} {a[0]:7.4f} {b[0]:7.4f} {100 * (a[0] - b[0]):+7.2f}"
            f" {a[1]:7.4f} {b[1]:7.4f} {100 * (a[1] - b[1]):+7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
