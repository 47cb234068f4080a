"""Fit the natalizumab desaturation half-life to receptor occupancy after stopping.

    python experiments/fit_desaturation.py [--offset-days 28] [overrides ...]

Source (not a validation target): TOFINGO (Derfuss T et al., Neurol Neuroimmunol
Neuroinflamm 2017;4(5):e388, PMID 28856176; MS without PML, n = 142 randomised to
natalizumab washouts of 8, 12 or 16 weeks before fingolimod): median alpha4 receptor
occupancy fell from 94.5 / 92.4 / 90.9% to 79.8 / 30.7 / 8.7% after 8 / 12 / 16 weeks
of washout (docs/sources.md).

The model's occupancy after natalizumab stops without plasma exchange (docs/model.md,
"natalizumab level"): the serum level N halves every `natalizumab_half_life_days`; the
occupancy target is x / (1 + x) with x = (N / half_block)^hill; the occupancy relaxes
to the target with `natalizumab_desaturation_half_life_days` (the recursion of
sim/model/kernel.py, one-day steps). N = 1 is the trough level, reached
`--offset-days` after the last infusion (ASSUMPTION: 4-weekly dosing, so the washout's
week w is model day 7 w - 28). The fit is least squares over the three medians with
equal weights (ASSUMPTION: no spread was found) on a grid of half-lives; the table
also shows the fit at the ends of the hill's 95% credible interval (the posterior
samples it) and with no offset.
"""

import argparse
import math

import numpy as np

from sim.api import load_config

WEEKS = (8, 12, 16)  # washout lengths (weeks after the last infusion)
OCCUPANCY = (0.798, 0.307, 0.087)  # median occupancy at their end (Derfuss 2017)
GRID = np.concatenate([[0.25, 0.5, 1.0], np.arange(2.0, 31.0, 2.0)])
HILL_CRI = (1.099, 3.712)  # conf/model/calibrated.yaml: natalizumab_hill 95% CrI


def occupancy(days: np.ndarray, half_life: float, half_block: float, hill: float,
              desaturation: float) -> np.ndarray:  # fmt: skip
    """The model's occupancy on the given whole days (> 0) after the trough (one-day
    steps from the equilibrium at the trough)."""
    n = 1.0
    x = (n / half_block) ** hill
    sat = x / (1.0 + x)
    relax = math.exp(-math.log(2.0) / desaturation)
    decay = math.exp(-math.log(2.0) / half_life)
    out = []
    for _ in range(int(max(days))):
        n *= decay
        x = (n / half_block) ** hill
        target = x / (1.0 + x)
        sat = target + (sat - target) * relax
        out.append(sat)
    return np.array([out[int(d) - 1] for d in days])


def sse(days, m, hill: float, desaturation: float) -> float:
    sim = occupancy(days, m.natalizumab_half_life_days, m.natalizumab_half_block, hill,
                    desaturation)  # fmt: skip
    return _sse(sim)


def _sse(occ: np.ndarray) -> float:
    return float(np.sum((occ - np.array(OCCUPANCY)) ** 2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offset-days", type=float, default=28.0)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    m = load_config(args.overrides).model
    days = np.array([7 * w - args.offset_days for w in WEEKS])
    if np.any(days <= 0) or np.any(days != np.round(days)):
        raise SystemExit("--offset-days: whole days, less than 56")
    print(f"model={m.name}: half-life {m.natalizumab_half_life_days:g} d, half-block "
          f"{m.natalizumab_half_block:g}, hill {m.natalizumab_hill:g}, desaturation "
          f"{m.natalizumab_desaturation_half_life_days:g} d; TOFINGO weeks {WEEKS} = model "
          f"days {tuple(int(d) for d in days)}\n")  # fmt: skip
    print(
        "| desaturation half-life (d) | occupancy at weeks 8 / 12 / 16 | SSE | "
        f"SSE, hill {HILL_CRI[0]} | SSE, hill {HILL_CRI[1]} | SSE, no offset |"
    )
    print("|---|---|---|---|---|---|")
    days0 = np.array([7.0 * w for w in WEEKS])
    best = {}
    for h in GRID:
        occ = occupancy(days, m.natalizumab_half_life_days, m.natalizumab_half_block,
                        m.natalizumab_hill, h)  # fmt: skip
        row = [_sse(occ), sse(days, m, HILL_CRI[0], h),
               sse(days, m, HILL_CRI[1], h), sse(days0, m, m.natalizumab_hill, h)]  # fmt: skip
        for k, v in enumerate(row):
            if k not in best or v < best[k][1]:
                best[k] = (h, v)
        print(
            f"| {h:g} | {' / '.join(f'{o:.3f}' for o in occ)} | "
            + " | ".join(f"{v:.4f}" for v in row)
            + " |"
        )
    print(f"\nTOFINGO: {' / '.join(f'{o:.3f}' for o in OCCUPANCY)}")
    names = ("default hill", f"hill {HILL_CRI[0]}", f"hill {HILL_CRI[1]}", "no offset")
    for k, name in enumerate(names):
        h, v = best[k]
        edge = " (grid end)" if h in (GRID[0], GRID[-1]) else ""
        print(f"best, {name}: {h:g} d{edge}, SSE {v:.4f}")


if __name__ == "__main__":
    main()
