"""Quick look at the default model against the published figures it is tuned towards.

    python experiments/check_targets.py [n] [extra overrides ...]

Prints 1-year KM survival, IRIS and median survival for standard of care by
condition, no treatment, and rhIL-7 in the seed 000 mix. Targets (docs/sources.md):
HIV on ART 1-yr survival 0.39-0.56 (Falco 2008; De Luca 2008), IRIS 12-23%;
natalizumab ~0.76 alive (Dong-Si 2015), IRIS ~all (Tan IL 2011);
rituximab/hematological ~0.10-0.3 (Carson 2009: 90% fatality);
transplant 1-yr 0.56 (Mateen 2011); untreated death median ~2 months;
rhIL-7 seed 000 mix 0.547 (seed 000), IRIS 8%.
"""

import sys

from sim.api import load_config
from sim.run import simulate
from sim.summary import format_summary, summarise

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
extra = sys.argv[2:]
runs = [
    [
        "cohort=custom",
        "+cohort.mix={hiv: 1, hematologic_malignancy: 1, primary_immunodeficiency: 1, "
        "solid_organ_transplant: 1, chronic_inflammatory: 1, natalizumab_ms: 1}",
        "strategy=[no_treatment,soc,il7,pd1,vst,steroids_reactive]",
    ],
    ["cohort=mixed_seed000", "strategy=[soc,il7]"],
]
for ov in runs:
    cfg = load_config([*ov, f"cohort.n={n}", "output.progress=false", *extra])
    pts, _, _ = simulate(cfg)
    print(format_summary(summarise(pts)))
    print()
