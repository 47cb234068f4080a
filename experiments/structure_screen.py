"""Issue 12's done-when checks, side by side for model structures.

For each model (a `model=` preset, plus any overrides) this simulates, with the
structure's own parameters and no refitting:

* the seed 000 study pooled (mix and strategy of seed 000, rhIL-7): 1-year survival and
  the three month-1 odds ratios for 1-year survival (lymphocyte rise, CD4 rise, CSF JCV
  fall), against the published 95% CIs (validation targets);
* HIV under standard of care: the odds ratio of death within a year for CD4 < 100 vs
  >= 100 (issue: >= 1.5; Berenguer 2003: 2.71, 1.19-6.15);
* how much baseline lesion burden alone decides death (AUC; issue: 0.88 today);
* Joly 2023's mix under standard of care: 1-year survival (61.8%, 57.8-65.8);
* survivors' median mRS (Anand 2019: 2) and their share at mRS 4-5.

    python experiments/structure_screen.py [n] [name=OVERRIDES ...]
    python experiments/structure_screen.py 20000 net=model=calibrated gross=model=gross_calibrated

Writes nothing; prints one row per model. The numbers are large-n model values (Monte
Carlo SE of a survival ~0.004 at n = 20,000), not 64-patient studies: the per-study
verdicts are the seed 000 study's (`pml-sim +experiment=seed000`).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from sim.api import load_config, simulate
from sim.evidence.study import add_study_columns, analyse

# uncertainty=none: one parameter set per structure (model=gross_calibrated has no posterior)
QUIET = ["executor=inprocess", "output.progress=false", "uncertainty=none"]
JOLY_MIX = (
    "{hiv: 43.7, hematologic_malignancy: 21.9, chronic_inflammatory: 10.1, "
    "natalizumab_ms: 10.1, solid_organ_transplant: 4.3, primary_immunodeficiency: 1.5}"
)
PUBLISHED = {  # validation targets: (value, low, high)
    "or_lymphocyte_rise": (4.1, 1.2, 14.9),
    "or_cd4_rise": (5.9, 1.7, 23.3),
    "or_csf_jcv_fall": (7.6, 1.6, 56.1),
    "seed000_survival": (0.547, 0.425, 0.669),
    "hiv_or_cd4_lt_100": (2.71, 1.19, 6.15),
    "joly_survival": (0.618, 0.578, 0.658),
}


def _died(pts: pd.DataFrame) -> np.ndarray:
    return ((pts["time_days"] < 365.0) & pts["died"]).to_numpy()


def screen(n: int, overrides: list[str]) -> dict[str, float]:
    cfg = load_config(["+experiment=seed000", f"cohort.n={n}", *QUIET, *overrides])
    pts, _, _ = simulate(cfg)
    r = analyse(add_study_columns(pts, cfg), cfg.study, [])
    died = _died(pts)
    lesion = pts["lesion_burden_0"].to_numpy()
    out = {
        "seed000_survival": r["survival_1y"],
        "or_lymphocyte_rise": r["or_lymphocyte_rise"],
        "or_cd4_rise": r["or_cd4_rise"],
        "or_csf_jcv_fall": r["or_csf_jcv_fall"],
        "auc_lesion": mannwhitneyu(lesion[died], lesion[~died]).statistic
        / (died.sum() * (~died).sum()),
    }
    hiv, _, _ = simulate(
        load_config(["cohort=hiv", f"cohort.n={n}", "strategy=soc", *QUIET, *overrides])
    )
    d, low = _died(hiv), (hiv["cd4_0"] < 100).to_numpy()
    a, b, c, e = (d & low).sum(), (~d & low).sum(), (d & ~low).sum(), (~d & ~low).sum()
    out["hiv_or_cd4_lt_100"] = a * e / (b * c)
    joly, _, _ = simulate(
        load_config(
            ["cohort=custom", f"+cohort.mix={JOLY_MIX}", f"cohort.n={n}", "strategy=soc"]
            + QUIET
            + overrides
        )
    )
    out["joly_survival"] = 1.0 - _died(joly).mean()
    mrs = pts.loc[~died, "mrs"].to_numpy()
    out["survivors_median_mrs"] = float(np.median(mrs))
    out["survivors_mrs_4_5"] = float(np.isin(mrs, [4, 5]).mean())
    return out


def main() -> None:
    args = sys.argv[1:]
    n = int(args.pop(0)) if args and args[0].isdigit() else 20_000
    variants = dict(a.split("=", 1) for a in args) or {"net": "model=calibrated"}
    rows = [{"model": k} | screen(n, v.split()) for k, v in variants.items()]
    values = pd.DataFrame(rows).set_index("model").T
    table = values.map(lambda x: f"{x:.3f}")
    for q, (_, lo, hi) in PUBLISHED.items():
        miss = (values.loc[q] < lo) | (values.loc[q] > hi)
        table.loc[q, miss] = table.loc[q, miss] + " miss"
    table["published"] = [
        "{} ({}-{})".format(*PUBLISHED[q]) if q in PUBLISHED else "" for q in table.index
    ]
    with pd.option_context("display.width", 160, "display.max_colwidth", 40):
        print(f"n = {n:,} per population")
        print(table.to_string())


if __name__ == "__main__":
    main()
