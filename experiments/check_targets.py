"""Every published target against a model, without fitting anything.

    python experiments/check_targets.py [n] [overrides ...]
    python experiments/check_targets.py 5000 model=default     # the uncalibrated model

Prints published (95% CI) vs simulated for each target in conf/targets/default.yaml
(fit and validation alike), with the implausibility |sim - pub| / se. The fit itself
is `pml-sim +experiment=calibrate`; this is the quick look.
"""

import math
import sys

from sim.api import load_config
from sim.evidence.calibrate import implausibility
from sim.evidence.targets import Evaluator, published_ci

n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
cfg = load_config(["+experiment=calibrate", *sys.argv[2:]])
sims = Evaluator(cfg, cfg.targets.items, n).evaluate()
print(f"model={cfg.model.name}, n={n} per population, seed={cfg.seed}")
for t in cfg.targets.items:
    lo, hi = published_ci(t)
    x = sims[t.id]
    ok = "in CI" if math.isfinite(x) and lo <= x <= hi else "OUT"
    print(
        f"{t.id:40s} {t.role:10s} published {t.value:8.3g} ({lo:.3g}-{hi:.3g})"
        f"  simulated {x:8.3g}  I={implausibility(t, x, n):5.2f}  {ok}"
    )
