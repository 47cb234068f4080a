"""Fit the damage cut points of the modified Rankin Scale to long-term PML survivors.

Lima et al. (JNNP 2010;81:1288-91) give the only full mRS distribution of PML survivors
found (docs/evidence/issue12_evidence.md, section 6): 24 survivors of > 5 years, 23 with
HIV, mRS 1 / 2 / 3 / 4 = 33 / 25 / 21 / 21% (8 / 6 / 5 / 5 patients), none at 0 or 5.
Disability plateaus within about 6 months of diagnosis, so the model's residual damage
of 1-year survivors stands for it (ASSUMPTION). The fit is a quantile match: cut point j
is the damage quantile of simulated HIV survivors under standard of care (ART) at the
cumulative share of mRS < j. The empty cells (mRS 0 and 5) count half a patient each
(ASSUMPTION, a continuity correction: 0/24 is not a share of zero), so the cumulative
shares are 0.5, 8.5, 14.5, 19.5, 24.5 out of 25.

Validation, not fitted: Anand et al. 2019 (Neurol Neuroimmunol Neuroinflamm 6:e618):
median mRS 2 among the survivors of a mixed cohort (91 patients, 2 Boston centres).

    python experiments/fit_mrs_cutpoints.py [n]     # default n = 20,000 HIV patients

prints the cut points and the survivors' mRS distribution by condition and strategy
under them, and the mRS at diagnosis they imply.

History. On 2026-12-05 (damage alone killing) the fit gave the same cut points but was
not adopted: survivors ended with about their baseline damage, so the map read at
diagnosis put a third of patients at mRS 5. Adopted on 2026-12-06 after the structural
revision (death needs active disease, `model.death_activity_weight`; refit of
model=calibrated), 20,000 HIV patients:

    cut points 0.074 / 0.166 / 0.204 / 0.236 / 0.298 (conf/model/calibrated.yaml)
    survivors (soc, il7, pd1 x 5 conditions): median mRS 2 in 11 of 15 cells, 3 in 4;
    mRS 4-5 in 19-47% of survivors (Lima: 21% at mRS 4); Anand's median 2: hit.

Refitted on 2026-12-07 when the default became the posterior's centre
(experiments/posterior_centre.py; larger lesion burdens and damage rate, so a different
damage scale): cut points 0.138 / 0.279 / 0.328 / 0.368 / 0.435; survivors' median mRS 2
in 10 of 15 cells (1 in the other 5: transplant and chronic inflammatory disease), mRS
4-5 in 7-28% of survivors; at diagnosis mRS 0/1/2/3/4/5 = 15/42/14/9/11/10% of the seed
000 mix (a tenth bedridden, against a third with the old cut points).

What the 2026-12-06 cut points implied at diagnosis (the same map on the baseline lesion burden, an
ASSUMPTION Beta(0.25, 0.12) in five conditions): mRS 0/1/2/3/4/5 = 5/22/12/10/19/33%
of the seed 000 mix; natalizumab patients (Beta(0.18, 0.10)) at median mRS 2 against a
mean EDSS of 5.4 (about mRS 3) in symptomatic natalizumab PML (Dong-Si 2014). A third
bedridden at diagnosis is a consequence of the unsourced lesion-burden assumption, not
of this fit; trials with `max_baseline_mrs: 4` exclude them.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from sim.api import load_config, simulate
from sim.evidence.mrs_map import cutpoints
from sim.model.disability import mrs_level

# Lima's counts (mRS 0..5, empty cells as half a patient) and the fit's own seed: the
# same as each posterior draw's map (conf/posterior/default.yaml `mrs_map`)
MAP = load_config(["+experiment=posterior"]).posterior.mrs_map
SEED = MAP.seed


def residual_damage(overrides: list[str]) -> pd.DataFrame:
    pts, _, _ = simulate(load_config(overrides + ["executor=inprocess", "output.progress=false"]))
    return pts


def cutpoints_from(pts: pd.DataFrame) -> list[float]:
    """The quantile fit: survivors' residual damage at Lima's cumulative mRS shares."""
    return cutpoints(pts["residual_disability"].dropna().to_numpy(), MAP.counts)


def fit(n: int) -> list[float]:
    pts = residual_damage(["cohort=hiv", f"cohort.n={n}", "strategy=soc", f"seed={SEED}"])
    alive = int(pts["residual_disability"].notna().sum())
    print(f"HIV under SOC: {alive:,} of {n:,} alive at 1 year")
    return cutpoints_from(pts)


def report(cuts: list[float], n: int) -> pd.DataFrame:
    pts = residual_damage(
        ["cohort=mixed_seed000", f"cohort.n={n}", "strategy=[soc,il7,pd1]", f"seed={SEED + 1}"]
    )
    m0 = mrs_level(pts["lesion_burden_0"].to_numpy(), cuts)
    print("mRS at diagnosis, all patients:", np.round(np.bincount(m0, minlength=6) / len(m0), 3))
    alive = pts[pts["residual_disability"].notna()].copy()
    alive["mrs_fit"] = mrs_level(alive["residual_disability"].to_numpy(), cuts)
    rows = []
    for (s, c), g in alive.groupby(["strategy", "condition"], observed=True):
        share = np.bincount(g["mrs_fit"], minlength=6) / len(g)
        rows.append(
            {"strategy": s, "condition": c, "survivors": len(g)}
            | {"median_mrs": g["mrs_fit"].median()}
            | {f"mrs{j}": round(float(share[j]), 3) for j in range(6)}
        )
    return pd.DataFrame(rows)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    cuts = fit(n)
    print("mrs_cutpoints:", [round(c, 3) for c in cuts])
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(report([round(c, 3) for c in cuts], n // 2))


if __name__ == "__main__":
    main()
