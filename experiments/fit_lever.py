"""Fit one therapy lever to one input figure (sim.evidence.lever_fit), and show the fit.

    python experiments/fit_lever.py TARGET_ID KEY [--grid LOW HIGH COUNT] [--n N] \\
        [--out DIR] [overrides ...]
    python experiments/fit_lever.py cortese_pd1_alive therapies.pembrolizumab.levers.t_cell_function

Simulates the target's population (conf/targets/default.yaml) at every lever value of
the grid with the same patients (common random numbers), scores each simulated value by
the likelihood of the published figure, and prints the best value, its 95%
likelihood interval, and the mean, sd and 95% interval under a uniform prior on the
grid's range (the base case and the PSA beta of the lever). Only `role: input` targets
are accepted: a validation figure must not set a lever, and a fit figure belongs to the
model's calibration (docs/validation.md). Writes <target>.csv (lever, simulated value,
Monte Carlo se, log-likelihood, and the IRIS share by the same day: shown, not
fitted), <target>.md (the command, commit, fit) and <target>.png into --out (default
docs/evidence/lever_fits/).
"""

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.api import load_config
from sim.core.io import git_commit
from sim.evidence.lever_fit import beta_by_moments, profile, uniform_posterior
from sim.evidence.targets import Evaluator, measure_with_error, published_ci

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("key", help="the lever, therapies.<therapy>.levers.<lever>")
    ap.add_argument(
        "--grid", nargs=3, type=float, default=(0.0, 1.0, 41), metavar=("LOW", "HIGH", "COUNT")
    )
    ap.add_argument("--n", type=int, default=20000, help="patients per lever value")
    ap.add_argument("--out", default=str(ROOT / "docs" / "evidence" / "lever_fits"))
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    if not (args.key.startswith("therapies.") and ".levers." in args.key):
        raise SystemExit(f"KEY: must be therapies.<therapy>.levers.<lever>, got {args.key!r}")
    if args.n < 100:
        raise SystemExit(f"--n: must be >= 100, got {args.n}")
    low, high, count = args.grid
    if not (low < high and count >= 3 and count == int(count)):
        raise SystemExit("--grid: LOW < HIGH and an integer COUNT >= 3")
    cfg = load_config(["+experiment=calibrate", *args.overrides])
    targets = {t.id: t for t in cfg.targets.items}
    if args.target not in targets:
        raise SystemExit(
            f"TARGET_ID: {args.target!r} is not in conf/targets/{cfg.targets.name}.yaml"
        )
    t = targets[args.target]
    if t.role != "input":
        raise SystemExit(
            f"TARGET_ID: {t.id} has role {t.role!r}; only role: input sets a lever "
            "(a validation figure must not; a fit figure belongs to the calibration)"
        )
    grid = np.linspace(low, high, int(count))
    ev = Evaluator(cfg, [t], args.n)
    t0 = time.perf_counter()
    rows = []
    for v in grid:
        patients = next(iter(ev.simulate({args.key: float(v)}).values()))
        value, se, _, _ = measure_with_error(t, patients, cfg.study)
        # IRIS by the same day, shown beside the fit (a lever's cost), never scored
        iris = float((patients["iris"] & (patients["iris_onset_days"] <= t.at_days)).mean())
        rows.append({"lever": v, "simulated": value, "mc_se": se, "iris": iris})
    table = pd.DataFrame(rows)
    fit = profile(t, grid, table["simulated"].to_numpy())
    table["log_likelihood"] = fit.log_likelihood
    seconds = time.perf_counter() - t0
    post = uniform_posterior(fit)
    try:
        a, b = beta_by_moments(post.mean, post.sd)
        beta = f"Beta({a:.2f}, {b:.2f}): `kind: beta, mean: {post.mean:.3f}, sd: {post.sd:.3f}`"
    except ValueError:
        beta = "no beta with these moments (grid outside (0, 1))"
    commit, dirty = git_commit()
    plo, phi = published_ci(t)
    bound = {True: " (grid end: not bounded by the figure)", False: ""}
    lines = [
        f"# {args.key} fitted to {t.id}",
        "",
        "```bash",
        "python experiments/fit_lever.py " + " ".join(sys.argv[1:]),
        "```",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, commit {commit}{' (dirty)' if dirty else ''}, "
        f"model={cfg.model.name}, seed {cfg.seed}, {args.n:,} patients per value, "
        f"{len(grid)} values, {seconds:.0f} s.",
        "",
        f"* figure: {t.value:g} (95% CI {plo:.3g}-{phi:.3g}), {t.quantity} at day "
        f"{t.at_days:g}; {t.source}",
        f"* best value: **{fit.best:.3f}**",
        f"* 95% likelihood interval: **{fit.low:.3f}**{bound[fit.low_at_bound]} to "
        f"**{fit.high:.3f}**{bound[fit.high_at_bound]}",
        f"* under a uniform prior on [{low:g}, {high:g}] (ASSUMPTION): mean **{post.mean:.3f}**, "
        f"sd {post.sd:.3f}, 95% interval {post.q025:.3f}-{post.q975:.3f}; the beta with "
        f"these moments: {beta}",
        "",
        f"| lever | simulated {t.quantity} | MC se | log-likelihood | IRIS by day {t.at_days:g} "
        "(shown, not fitted) |",
        "|---|---|---|---|---|",
        *(
            f"| {r.lever:.3f} | {r.simulated:.4f} | {r.mc_se:.4f} | {r.log_likelihood:.3f} "
            f"| {r.iris:.3f} |"
            for r in table.itertuples()
        ),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{t.id}.csv", index=False)
    (out / f"{t.id}.md").write_text("\n".join(lines) + "\n")
    plot(table, t, fit, post.mean, plo, phi, args.key, out / f"{t.id}.png")
    print("\n".join(lines))


def plot(table, t, fit, mean, plo, phi, key, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhspan(plo, phi, color="tab:blue", alpha=0.15, label="published 95% CI")
    ax.axhline(t.value, color="tab:blue", lw=1)
    ax.errorbar(table["lever"], table["simulated"], yerr=1.96 * table["mc_se"], fmt="o-",
                ms=3, color="k", label="model (MC 95%)")  # fmt: skip
    ax.axvspan(fit.low, fit.high, color="tab:orange", alpha=0.2, label="95% likelihood interval")
    ax.axvline(fit.best, color="tab:orange", lw=1.5, label=f"best {fit.best:.2f}")
    ax.axvline(mean, color="tab:red", lw=1.5, ls="--", label=f"mean, uniform prior {mean:.2f}")
    ax.set_xlabel(key)
    ax.set_ylabel(f"{t.quantity} (day {t.at_days:g})")
    ax.set_title(t.id)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
