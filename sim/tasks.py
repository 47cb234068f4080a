"""Run-directory writers for the tasks beyond a plain simulation.

* `task=study` (`pml-sim +experiment=seed000`): the virtual retrospective study.
  Writes study_table.csv / .md, study_forest.png, study_replicates.csv,
  patients.parquet (the pooled large-n study), config.yaml and run.json.
* `task=calibrate` (`pml-sim +experiment=calibrate`): fits the model. Writes
  calibration_fit.csv / .md, calibration_fit.png, calibration_trace.csv,
  ensemble.csv (every screened set), model_<name>.yaml and <name>_ensemble.csv
  (the kept sets), config.yaml and run.json; with calibration.install=true the last
  two also go to conf/model/, so `model=<name>` selects the fit.

As for simulations, every file is written atomically and run.json comes last.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim import io
from sim.comparison_plots import plot_fit, plot_forest
from sim.config import RunConfig
from sim.run import simulate

ENSEMBLE_REPORTED = 50  # ensemble members whose validation figures are simulated for the report
CONF_MODEL_DIR = Path(__file__).resolve().parent.parent / "conf" / "model"


def _finish(
    out: Path, cfg: RunConfig, resolved_yaml: str, started: float, prov: dict, **extra
) -> None:
    """config.yaml, then run.json (last). `prov` is taken at the start of the run: a
    calibration that installs its model dirties the tree only after it has run."""
    io.write_text(out / "config.yaml", resolved_yaml)
    meta = prov | {
        "task": cfg.task,
        "seed": cfg.seed,
        "wall_seconds": round(time.time() - started, 3),
        **extra,
        "outputs": sorted(p.name for p in out.iterdir() if not p.name.startswith(".")),
        "status": "complete",
    }
    io.write_json(out / "run.json", meta)


def run_study(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.study import (
        add_study_columns,
        comparison_table,
        markdown_table,
        replicate_table,
        study_config,
    )
    from sim.targets import add_therapy_side_effects

    started, prov = time.time(), io.provenance(resolved_yaml)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pooled_cfg = study_config(cfg)
    sname = next(iter(cfg.strategy))  # validation guarantees one
    print(
        f"virtual study '{cfg.study.name}': {cfg.study.replicates} replicate studies of "
        f"n = {cfg.study.study_n} ({pooled_cfg.cohort.n} patients), strategy {sname}"
    )
    patients, events, _ = simulate(pooled_cfg)
    chosen = set(cfg.study.targets)
    targets = [t for t in cfg.targets.items if t.id in chosen] if chosen else []
    patients = add_therapy_side_effects(patients, events, [t.therapy for t in targets if t.therapy])
    patients = add_study_columns(patients[patients["strategy"] == sname], cfg)
    reps = replicate_table(patients, cfg.study, targets)
    table = comparison_table(targets, reps, patients, cfg.study)
    io.write_csv(out / "study_table.csv", table)
    md = markdown_table(table, cfg.study.study_n)
    io.write_text(out / "study_table.md", md)
    io.write_csv(out / "study_replicates.csv", reps)
    io.write_atomic(out / "patients.parquet", lambda p: patients.to_parquet(p, index=False))
    if cfg.output.plots:
        plot_forest(table, cfg.study.study_n, out / "study_forest.png")
    _finish(out, cfg, resolved_yaml, started, prov, n_patients=len(patients), strategy=sname)
    if cfg.output.print_summary:
        print(md)
        print(f"results: {out}")
    return table


def run_calibration(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.api import load_config
    from sim.calibrate import base_model_name, calibrate, fit_table, fit_targets, model_yaml
    from sim.targets import Evaluator

    started, prov = time.time(), io.provenance(resolved_yaml)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
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
    commit, _ = io.git_commit()
    base = load_config([f"model={base_model_name(cfg, CONF_MODEL_DIR)}"])
    text = model_yaml(cfg, fit, str(out), commit, fit_ids, base)
    io.write_text(out / f"model_{cal.output_model}.yaml", text)
    if cfg.output.plots:
        plot_fit(table, out / "calibration_fit.png")
    members = kept[["draw", *[p.key for p in cal.params]]]
    io.write_csv(out / f"{cal.output_model}_ensemble.csv", members)
    if cal.install:  # the two files are all `model=<name>` needs
        io.write_text(CONF_MODEL_DIR / f"{cal.output_model}.yaml", text)
        io.write_csv(CONF_MODEL_DIR / f"{cal.output_model}_ensemble.csv", members)
    _finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        best=fit.best,
        distance=fit.distance,
        fit_targets=fit_ids,
        ensemble_kept=int(fit.ensemble["accepted"].sum()),
        installed=str(CONF_MODEL_DIR / f"{cal.output_model}.yaml") if cal.install else None,
    )
    if cfg.output.print_summary:
        print(fit_markdown(table))
        print("best:", {k: float(f"{v:.4g}") for k, v in fit.best.items()})
        if cal.install:
            name = cal.output_model
            print(f"installed: conf/model/{name}.yaml (select with model={name})")
        print(f"results: {out}")
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
