"""Coarse fit of five global model parameters to published 1-year survival figures.

    python experiments/coarse_fit.py [n_per_condition] [max_evals]

A first, session-1 calibration so that the default model is in the right range; the
full calibration (targets as data, fit/validation split, ensembles) is issue 3.
Common random numbers (fixed seed) keep the objective smooth in the parameters.
Targets (docs/sources.md):
  HIV, standard of care        0.47  (Falco 2008 0.386; De Luca 2008 0.56)
  natalizumab MS, SOC          0.76  (Dong-Si 2015)
  hematological malignancy     0.15  (Carson 2009: 90% fatal; Neil 2017)
  solid-organ transplant       0.45  (Mateen 2011: 55.7% beyond 1 y from symptoms)
  HIV, no treatment            0.04  (IRINA 2003: 0.00-0.04 without HAART)
  seed 000 mix + rhIL-7        0.547 (seed 000)
"""

import sys

import numpy as np
from scipy.optimize import minimize

from sim.api import load_config
from sim.run import simulate
from sim.survival import kaplan_meier, survival_at

N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
MAXEV = int(sys.argv[2]) if len(sys.argv) > 2 else 60
PARAMS = [
    ("model.damage_rate_per_day", 0.01),
    ("model.death_damage_half", 0.7),
    ("model.viral_kill_log10_per_day", 0.25),
    ("model.iris_damage_rate_per_day", 0.002),
    ("model.viral_net_growth_log10_per_day", 0.015),
]
RUNS = [  # (overrides, condition filter or None, target, label)
    (["cohort=hiv", "strategy=[soc,no_treatment]"], None, None, "hiv"),
    (["cohort=natalizumab_ms", "strategy=soc"], None, None, "ntz"),
    (["cohort=hematologic_malignancy", "strategy=soc"], None, None, "hem"),
    (["cohort=solid_organ_transplant", "strategy=soc"], None, None, "sot"),
    (["cohort=mixed_seed000", "strategy=il7"], None, None, "il7"),
]
TARGETS = {
    ("hiv", "soc"): 0.47,
    ("hiv", "no_treatment"): 0.04,
    ("ntz", "soc"): 0.76,
    ("hem", "soc"): 0.15,
    ("sot", "soc"): 0.45,
    ("il7", "il7"): 0.547,
}


def survival(x):
    sets = [f"{k}={v:.6g}" for (k, _), v in zip(PARAMS, x, strict=True)]
    out = {}
    for ov, _, _, label in RUNS:
        cfg = load_config([*ov, f"cohort.n={N}", "output.progress=false", *sets])
        pts, _, _ = simulate(cfg)
        for s, g in pts.groupby("strategy", sort=False):
            km = kaplan_meier(g["time_days"].to_numpy(), g["died"].to_numpy())
            out[(label, s)] = survival_at(km, 365.0)[0]
    return out


def loss(z):
    x = np.exp(z)
    if x[1] >= 0.98:
        return 1e3
    s = survival(x)
    err = sum((s[k] - v) ** 2 for k, v in TARGETS.items())
    print(
        " ".join(f"{v:.4g}" for v in x),
        "|",
        " ".join(f"{s[k]:.2f}" for k in TARGETS),
        f"| {err:.4f}",
        flush=True,
    )
    return err


if __name__ == "__main__":
    z0 = np.log([v for _, v in PARAMS])
    res = minimize(
        loss, z0, method="Nelder-Mead", options={"maxfev": MAXEV, "xatol": 0.02, "fatol": 1e-4}
    )
    print("best:", {k: float(f"{v:.4g}") for (k, _), v in zip(PARAMS, np.exp(res.x), strict=True)})
    print("survival:", {f"{a}/{b}": round(v, 3) for (a, b), v in survival(np.exp(res.x)).items()})
