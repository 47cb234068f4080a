"""Every validation target against a model, with Monte Carlo error, as a Markdown table.

    python experiments/validation_verdicts.py [--n-max 16000] [--all] [overrides ...]
    python experiments/validation_verdicts.py model=default     # the uncalibrated model
    python experiments/validation_verdicts.py --posterior [--draws 200] [--out DIR] \\
        executor=processes executor.workers=2                  # under parameter uncertainty

Verdict `miss` when the model's Monte Carlo 95% interval and the published 95% CI are
disjoint (sim.evidence.targets.check_validation; rules in docs/validation.md). Each
population is simulated at the smallest n whose MC se is <= 1/4 of the published se,
doubled while a verdict is undecided, up to --n-max. `--all` adds fit and input targets.
tests/test_validation.py runs the same check (n-max 8000).

`--posterior` adds the posterior predictive check (sim.evidence.predictive): the first
--draws rows of conf/model/<model>_posterior.csv, each simulated with the same patients
(n per population: MC se <= 1/4 of the published se, at most --pp-n-max), the 95%
predictive interval of each target and the verdict `reproduced` (it overlaps the
published 95% CI) or `miss`, beside the single-set verdict. Writes
validation_predictive.csv, validation_predictive_draws.csv, validation_predictive.md
and validation_predictive.png into --out (default docs/evidence/validation/).
"""

import argparse
import math
import time
from pathlib import Path

from sim.api import load_config
from sim.evidence.targets import check_validation

ROOT = Path(__file__).resolve().parent.parent


def fmt(x: float, q: str) -> str:
    if not math.isfinite(x):
        return "-"
    if q in ("survival", "iris", "side_effect"):
        return f"{100 * x:.1f}%"
    return f"{x:.3g}"


def single_set_markdown(table) -> list[str]:
    lines = [
        "| target | role | published (95% CI) | model (MC 95%) | n | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        q = r.quantity
        pub = f"{fmt(r.published, q)} ({fmt(r.published_low, q)}-{fmt(r.published_high, q)})"
        sim = f"{fmt(r.simulated, q)} ({fmt(r.mc_low, q)}-{fmt(r.mc_high, q)})"
        verdict = r.verdict + ("" if r.decided else " (undecided at this n)")
        lines.append(f"| {r.target_id} | {r.role} | {pub} | {sim} | {r.n} | {verdict} |")
    return lines


def predictive_markdown(table, head: str) -> list[str]:
    lines = [
        head,
        "",
        "| target | published (95% CI) | posterior predictive median (95%) | n x draws "
        "| predictive verdict | one set: model (MC 95%) | single-set verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        q = r.quantity
        pub = f"{fmt(r.published, q)} ({fmt(r.published_low, q)}-{fmt(r.published_high, q)})"
        pp = f"{fmt(r.pp_median, q)} ({fmt(r.pp_low, q)}-{fmt(r.pp_high, q)})"
        one = f"{fmt(r.simulated, q)} ({fmt(r.mc_low, q)}-{fmt(r.mc_high, q)})"
        verdict = r.verdict + ("" if r.decided else " (undecided)")
        lines.append(
            f"| {r.target_id} | {pub} | {pp} | {r.n} x {r.draws} | {r.pp_verdict} | {one} "
            f"| {verdict} |"
        )
    k = int((table["pp_verdict"] == "reproduced").sum())
    h = int((table["verdict"] == "hit").sum())
    lines += ["", f"Reproduced under parameter uncertainty: {k} of {len(table)} "
              f"(single set, Monte Carlo only: {h} hits)."]  # fmt: skip
    return lines


def posterior_sets(cfg, draws: int):
    """The first `draws` rows of conf/model/<model>_posterior.csv (SystemExit if the file
    is missing or holds fewer: load_sets would cycle and count draws twice)."""
    import pandas as pd

    from sim.config import ConfigError
    from sim.config.load import config_dir
    from sim.outcomes.uncertainty import load_sets

    try:
        sets = load_sets(cfg.model.name, "posterior", draws, "--posterior")
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    held = len(pd.read_csv(config_dir() / "model" / f"{cfg.model.name}_posterior.csv"))
    if draws > held:
        raise SystemExit(f"--draws {draws}: the posterior file holds {held} draws")
    return sets


def posterior_check(cfg, chosen, single, args) -> None:
    from sim.core import io
    from sim.evidence.plots import plot_validation_predictive
    from sim.evidence.predictive import validate_under_uncertainty

    sets = posterior_sets(cfg, args.draws)
    t0 = time.perf_counter()
    pp, draws = validate_under_uncertainty(cfg, chosen, sets, n_max=args.pp_n_max)
    wall = time.perf_counter() - t0
    merged = pp.merge(
        single[["target_id", "simulated", "mc_low", "mc_high", "n", "verdict", "decided"]]
        .rename(columns={"n": "single_set_n"}),
        on="target_id",
    )  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    io.write_csv(out / "validation_predictive.csv", merged)
    io.write_csv(out / "validation_predictive_draws.csv", draws)
    plot_validation_predictive(merged, chosen, out / "validation_predictive.png")
    head = (
        f"model={cfg.model.name}, seed={cfg.seed}: {args.draws} posterior draws "
        f"(conf/model/{cfg.model.name}_posterior.csv), posterior predictive simulation "
        f"{wall:.0f} s wall on {cfg.executor.kind} x {cfg.executor.workers or 1}"
    )
    text = "\n".join(predictive_markdown(merged, head)) + "\n"
    io.write_text(out / "validation_predictive.md", text)
    print("\n" + text)
    print(f"written: {out}/validation_predictive.csv, .md, .png, validation_predictive_draws.csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-max", type=int, default=16000)
    ap.add_argument("--all", action="store_true", help="fit and input targets too")
    ap.add_argument("--posterior", action="store_true", help="posterior predictive check too")
    ap.add_argument("--draws", type=int, default=200, help="posterior draws (--posterior)")
    ap.add_argument("--pp-n-max", type=int, default=16000, help="patients per draw at most")
    ap.add_argument("--out", default=str(ROOT / "docs" / "evidence" / "validation"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if args.posterior and args.draws < 2:
        raise SystemExit(f"--draws: must be an integer >= 2, got {args.draws}")
    cfg = load_config(["+experiment=calibrate", *args.overrides])
    if args.posterior:
        posterior_sets(cfg, args.draws)  # bad --draws or no posterior: say so before running
    chosen = [t for t in cfg.targets.items if args.all or t.role == "validation"]
    t0 = time.perf_counter()
    table = check_validation(cfg, chosen, n_max=args.n_max)
    print(f"model={cfg.model.name}, seed={cfg.seed}, n-max={args.n_max} "
          f"({time.perf_counter() - t0:.0f} s)\n")  # fmt: skip
    print("\n".join(single_set_markdown(table)))
    if args.posterior:
        posterior_check(cfg, chosen, table, args)


if __name__ == "__main__":
    main()
