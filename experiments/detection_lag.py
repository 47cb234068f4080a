"""What the detection-lag lesion burden implies (model=calibrated_detection, docs/calibration.md).

    python experiments/detection_lag.py [n] [model]

1. Joly 2023's condition mix under SOC with every condition's median diagnostic delay
   scaled by 1, 0.5, 0.25 and 0.01: 1-year survival (and by condition). A diagnostic of
   the mechanism, not a fit: Joly's survival is a validation figure and sets nothing.
2. The model's implied growth of the lesion burden before diagnosis, per month, for
   symptomatic natalizumab and HIV patients, to set beside Scarpazza 2019's +62.8% of
   lesion volume per month (natalizumab, prediagnostic MRI).
"""

import sys
from dataclasses import replace

import numpy as np

from sim.api import load_config, simulate
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model import cohort

JOLY_MIX = (
    "{hiv: 43.7, hematologic_malignancy: 21.9, chronic_inflammatory: 10.1, "
    "natalizumab_ms: 10.1, solid_organ_transplant: 4.3, primary_immunodeficiency: 1.5}"
)
DAYS_PER_MONTH = 30.44


def delay_scan(model: str, n: int) -> None:
    base = load_config([f"model={model}", "uncertainty=none"])
    for scale in (1.0, 0.5, 0.25, 0.01):
        over = [f"model={model}", "cohort=custom", f"+cohort.mix={JOLY_MIX}", f"cohort.n={n}",
                "strategy=[soc]", "uncertainty=none", "output.progress=false"]  # fmt: skip
        for c in CONDITIONS:
            m = base.model.conditions[c].diagnostic_delay_days.mean
            over.append(f"model.conditions.{c}.diagnostic_delay_days.mean={m * scale}")
        pts = simulate(load_config(over))[0]
        alive = ~(pts["died"] & (pts["time_days"] <= 365))
        s = alive.mean()
        by = pts.assign(alive=alive).groupby("condition", observed=True)
        parts = ", ".join(f"{k} {a:.2f}" for k, a in by["alive"].mean().items())
        print(f"delays x{scale}: 1-year survival {s:.3f} (MC se {np.sqrt(s * (1 - s) / n):.3f});"
              f" mean burden {pts.lesion_burden_0.mean():.3f}; {parts}", flush=True)  # fmt: skip


def growth(model: str, n: int) -> None:
    cfg = load_config([f"model={model}", "uncertainty=none"])
    key, idx = rng.run_key(cfg.seed), np.arange(n)
    for name in ("natalizumab_ms", "hiv"):
        coh = replace(cfg.cohort, n=n, mix={c: float(c == name) for c in CONDITIONS})
        p = cohort.build(key, coh, cfg.model, idx)
        onset_d = cfg.model.lesion_burden_at_onset
        onset = cohort._draw(onset_d, rng.normal(key, "baseline/lesion_burden_at_onset", idx))
        cp = cfg.model.conditions[name]
        sym = rng.uniform(key, "baseline/surveillance", idx) >= cp.surveillance_fraction
        t = cohort._draw(
            cp.diagnostic_delay_days, rng.normal(key, "baseline/diagnostic_delay_days", idx)
        )
        ok = sym & (t > 1.0) & (p.lesion_0 < onset_d.high)
        g = (p.lesion_0[ok] / onset[ok]) ** (DAYS_PER_MONTH / t[ok]) - 1.0
        q1, q2, q3 = np.quantile(g, [0.25, 0.5, 0.75])
        print(
            f"{name}: burden growth before diagnosis {100 * q2:.1f}% per month"
            f" (IQR {100 * q1:.1f}-{100 * q3:.1f})"
        )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    model = sys.argv[2] if len(sys.argv) > 2 else "calibrated_detection"
    growth(model, 20000)
    delay_scan(model, n)
