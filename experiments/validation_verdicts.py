"""Every validation target against a model, with Monte Carlo error, as a Markdown table.

    python experiments/validation_verdicts.py [--n-max 16000] [--all] [overrides ...]
    python experiments/validation_verdicts.py model=default     # the uncalibrated model

Verdict `miss` when the model's Monte Carlo 95% interval and the published 95% CI are
disjoint (sim.evidence.targets.check_validation; rules in docs/validation.md). Each
population is simulated at the smallest n whose MC se is <= 1/4 of the published se,
doubled while a verdict is undecided, up to --n-max. `--all` adds fit and input targets.
tests/test_validation.py runs the same check (n-max 8000).
"""

import argparse
import math

from sim.api import load_config
from sim.evidence.targets import check_validation


def fmt(x: float, q: str) -> str:
    if not math.isfinite(x):
        return "-"
    if q in ("survival", "iris", "side_effect"):
        return f"{100 * x:.1f}%"
    return f"{x:.3g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-max", type=int, default=16000)
    ap.add_argument("--all", action="store_true", help="fit and input targets too")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    cfg = load_config(["+experiment=calibrate", *args.overrides])
    chosen = [t for t in cfg.targets.items if args.all or t.role == "validation"]
    table = check_validation(cfg, chosen, n_max=args.n_max)
    print(f"model={cfg.model.name}, seed={cfg.seed}, n-max={args.n_max}\n")
    print("| target | role | published (95% CI) | model (MC 95%) | n | verdict |")
    print("|---|---|---|---|---|---|")
    for r in table.itertuples():
        q = r.quantity
        pub = f"{fmt(r.published, q)} ({fmt(r.published_low, q)}-{fmt(r.published_high, q)})"
        sim = f"{fmt(r.simulated, q)} ({fmt(r.mc_low, q)}-{fmt(r.mc_high, q)})"
        verdict = r.verdict + ("" if r.decided else " (undecided at this n)")
        print(f"| {r.target_id} | {r.role} | {pub} | {sim} | {r.n} | {verdict} |")


if __name__ == "__main__":
    main()
