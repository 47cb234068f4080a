"""Write the default parameter set (conf/model/calibrated.yaml) as the posterior's centre.

    python experiments/posterior_centre.py [--write]

The Bayesian calibration (`pml-sim +experiment=posterior`, docs/uncertainty.md) samples
47 parameters jointly: the 14 of the calibration box and the 33 ASSUMPTION parameters the
global sensitivity analysis finds influential. Its draws are installed in
conf/model/calibrated_posterior.csv. The one parameter set a run without parameter
uncertainty uses (`uncertainty=none`, the deterministic economics base case, the
validation verdicts) should sit at that posterior's centre, not at an older point fit
with the 33 at their nominal guesses (issue 12): at the marginal medians the 15 fit
targets fit better (sum of z^2 8.8 against 14.6, experiments/point_vs_posterior.py).

The centre is each parameter's marginal median: it is defined for every parameter,
invariant to the log or logit scale the sampler used, and lies inside the prior. Each
line states the median, the 95% credible interval and the prior range it came from.
The mRS cut points (a measurement map fitted after the dynamics,
experiments/fit_mrs_cutpoints.py) are carried over and refitted separately.

Without --write the YAML is printed; with it conf/model/calibrated.yaml is replaced.
The previous point fit stays selectable as model=calibrated_point.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from sim.evidence.calibrate import annotated_lines
from sim.evidence.mrs_map import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "conf" / "model"
POSTERIOR = MODEL / "calibrated_posterior.csv"
BOX = ROOT / "conf" / "calibration" / "default.yaml"
RANGES = ROOT / "conf" / "ranges" / "assumption_ranges.yaml"
CUTPOINTS_NOTE = (
    "CALIBRATED (python experiments/fit_mrs_cutpoints.py 20000, refitted at the posterior medians)"
)


def priors() -> dict[str, tuple[float, float]]:
    box = yaml.safe_load(BOX.read_text())["params"]
    ranges = yaml.safe_load(RANGES.read_text())["ranges"]
    return {p["key"]: (float(p["low"]), float(p["high"])) for p in [*box, *ranges]}


def render(cutpoints: list[float]) -> str:
    draws = pd.read_csv(POSTERIOR).drop(columns="draw", errors="ignore")
    # the per-draw mRS cut points (experiments/posterior_mrs_cutpoints.py) are a derived
    # measurement map, not sampled parameters: the centre's own are refitted separately
    draws = draws.drop(columns=COLUMNS, errors="ignore")
    bounds = priors()
    q = draws.quantile([0.025, 0.5, 0.975])
    lines = [
        "# Default parameter set: the centre of the Bayesian calibration's posterior, written",
        "# by `python experiments/posterior_centre.py --write` from",
        f"# conf/model/calibrated_posterior.csv ({len(draws)} draws, {draws.shape[1]} parameters;",
        "# provenance in conf/model/calibrated_posterior.md).",
        "# Each value is its parameter's marginal posterior median; 95% CrI = the central 95%",
        "# of the draws; prior = the calibration box (conf/calibration/default.yaml) or the",
        "# plausible range (conf/ranges/assumption_ranges.yaml). Fit targets: every role: fit",
        "# target of conf/targets/default.yaml; validation targets not used. Extends",
        "# model=default. The earlier 14-parameter point fit: model=calibrated_point.",
        "defaults:",
        "  - default",
        "  - _self_",
        "",
        "name: calibrated",
    ]
    entries = {}
    for key in draws.columns:
        lo, hi = bounds[key]
        med, q_lo, q_hi = q.loc[0.5, key], q.loc[0.025, key], q.loc[0.975, key]
        note = (
            f"CALIBRATED (posterior median; 95% CrI [{q_lo:.4g}, {q_hi:.4g}];"
            f" prior [{lo:g}, {hi:g}])"
        )
        entries[key] = (repr(float(f"{med:.6g}")), note)
    lines += annotated_lines(entries)
    lines += [
        "# residual damage -> mRS 1..5: quantile fit to Lima 2010's long-term survivors (HIV",
        "# under SOC; empty mRS 0 and 5 cells count half a patient), after the dynamics above;",
        "# Anand 2019's median 2 is validation",
        f"mrs_cutpoints: {cutpoints!r}  # {CUTPOINTS_NOTE}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace conf/model/calibrated.yaml")
    ap.add_argument(
        "--cutpoints",
        type=float,
        nargs=5,
        help="mRS cut points (default: those in conf/model/calibrated.yaml now)",
    )
    a = ap.parse_args()
    current = yaml.safe_load((MODEL / "calibrated.yaml").read_text())
    cuts = a.cutpoints or current["mrs_cutpoints"]
    text = render([float(c) for c in cuts])
    if not a.write:
        print(text, end="")
        return
    target = MODEL / "calibrated.yaml"
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
