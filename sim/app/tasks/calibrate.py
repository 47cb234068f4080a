"""`task=calibrate` (`pml-sim +experiment=calibrate`): fit the model.

Writes calibration_fit.csv / .md, calibration_fit.png, calibration_trace.csv,
ensemble.csv (every screened set), model_<name>.yaml and <name>_ensemble.csv (the
kept sets), config.yaml and run.json, all into the run directory and nowhere else.
Making a fit the default model is a separate, explicit step:
`pml-sim-install-model RUN_DIR` (sim/app/install.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config import RunConfig
from sim.config.load import config_dir
from sim.core import io
from sim.evidence.plots import plot_fit
from sim.evidence.validate import validate_calibration as validate  # noqa: F401  (task hook)

ENSEMBLE_REPORTED = 50  # ensemble members whose validation figures are simulated for the report


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.api import load_config
    from sim.evidence.calibrate import (
        base_model_name,
        calibrate,
        fit_table,
        fit_targets,
        model_yaml,
    )
    from sim.evidence.targets import Evaluator

    out, started, prov = begin(out, resolved_yaml)
    cal = cfg.calibration
    fit_ids = [t.id for t in fit_targets(cfg)]
    budget = cal.max_evals + cal.ensemble_draws + 1  # upper bound (the optimiser may stop early)
    bar = tqdm(total=budget, desc="calibrating", unit="eval", disable=not cfg.output.progress)
    best = [math.inf]

    def on_eval(_i: int, d: float) -> None:
        best[0] = min(best[0], d)
        bar.update(1)
        bar.set_postfix_str(f"best distance {best[0]:.3g}")

    try:
        fit = calibrate(cfg, on_eval=on_eval)
    finally:
        bar.close()
    # every target (fit and validation) at the optimum and across the ensemble
    everything = Evaluator(cfg, cfg.targets.items, cal.n_per_scenario)
    at_best = everything.evaluate(fit.best)
    kept = fit.ensemble[fit.ensemble["accepted"]]
    ens_rows = [
        {
            **{p.key: r[p.key] for p in cal.params},
            **everything.evaluate({p.key: float(r[p.key]) for p in cal.params}),
        }
        for _, r in kept.head(ENSEMBLE_REPORTED).iterrows()
    ]
    ens_sims = pd.DataFrame(ens_rows)
    table = fit_table(cfg, fit, at_best, ens_sims)
    io.write_csv(out / "calibration_fit.csv", table)
    io.write_text(out / "calibration_fit.md", fit_markdown(table))
    io.write_csv(out / "calibration_trace.csv", fit.trace)
    io.write_csv(out / "ensemble.csv", fit.ensemble)
    commit = prov["git_commit"]  # the code that ran: a commit made during the fit is not it
    # the base model's values only: uncertainty=none (a base such as model=default has
    # no posterior sample, which the default uncertainty=posterior would ask for)
    base_name = base_model_name(cfg, config_dir() / "model")
    base = load_config([f"model={base_name}", "uncertainty=none"])
    text = model_yaml(cfg, fit, str(out), commit, fit_ids, base)
    io.write_text(out / f"model_{cal.output_model}.yaml", text)
    if cfg.output.plots:
        plot_fit(table, out / "calibration_fit.png")
    members = kept[["draw", *[p.key for p in cal.params]]]
    io.write_csv(out / f"{cal.output_model}_ensemble.csv", members)
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        best=fit.best,
        distance=fit.distance,
        fit_targets=fit_ids,
        ensemble_kept=int(fit.ensemble["accepted"].sum()),
    )
    if cfg.output.print_summary:
        print(fit_markdown(table))
        print("best:", {k: float(f"{v:.4g}") for k, v in fit.best.items()})
        print(f"results: {out}")
    if cal.install:
        from sim.app.install import install_model

        print(install_model(out))
    elif cfg.output.print_summary:
        print(f"to make this fit the default model: pml-sim-install-model {out}")
    return table


def fit_markdown(table: pd.DataFrame) -> str:
    lines = [
        "| target | role | published (95% CI) | fitted | ensemble 95% range | within CI |",
        "|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():

        def f(x: float, q: str = r.quantity) -> str:
            if not math.isfinite(x):
                return "-"
            if q in ("survival", "iris", "side_effect"):
                return f"{100 * x:.1f}%"
            return f"{x:.3g}"

        lines.append(
            f"| {r.target_id} | {r.role} | {f(r.published)} ({f(r.published_low)}-"
            f"{f(r.published_high)}) | {f(r.simulated)} | {f(r.ensemble_low)}-"
            f"{f(r.ensemble_high)} | {'yes' if r.within_ci else 'no'} |"
        )
    return "\n".join(lines) + "\n"
