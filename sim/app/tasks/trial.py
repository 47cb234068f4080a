"""`task=trial` (`pml-sim +experiment=trial_sizing`): the sizing run's directory.

Writes operating_characteristics.csv (one row per design x n x accrual scale),
sizing.md (smallest n reaching the target power), trials.parquet (one row per
simulated trial, design and scenario), power_curve.png, duration.png, accrual.png,
then config.yaml and run.json (last), every file atomically.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config.schema import RunConfig
from sim.core import io
from sim.trial.accrual import intensity
from sim.trial.conflict import conflict_markdown, conflict_table
from sim.trial.design import Spec, enrol
from sim.trial.plots import plot_accrual, plot_duration, plot_power_curve
from sim.trial.pool import build_pool
from sim.trial.sizing import grid_n, operating_characteristics, simulate_grid, sizing_markdown
from sim.trial.solver import auto_grid
from sim.trial.validate import check_trial as validate  # noqa: F401  (task hook)

ACCRUAL_EXAMPLES = 10  # simulated accrual paths drawn on accrual.png


def run_sizing(cfg: RunConfig, progress: bool = False) -> tuple[Spec, pd.DataFrame, pd.DataFrame]:
    """Pool, every trial of the grid, and the operating characteristics (in memory)."""
    t = cfg.trial
    pool = build_pool(cfg)
    spec = Spec(cfg.seed, t, pool)
    if t.sizing.grid == "auto":  # centred on the analytic n (sim/trial/solver.py)
        t = replace(t, sizing=replace(t.sizing, n=auto_grid(spec)))
        spec = Spec(cfg.seed, t, pool)
    sz = t.sizing
    total = sz.trials * len(grid_n(spec)) * len(sz.accrual_scale)
    bar = tqdm(
        total=total, desc="simulating trials", unit="trial", disable=not progress, mininterval=0.5
    )
    try:
        trials = simulate_grid(spec, cfg.executor, on_chunk=bar.update)
    finally:
        bar.close()
    from sim.trial.assurance import draws

    a = t.assurance
    bar = tqdm(total=a.draws, desc="assurance", unit="draw", disable=not progress or not a.draws)
    try:
        sp = draws(cfg, on_draw=lambda k: bar.update(k - bar.n))
    finally:
        bar.close()
    return spec, trials, operating_characteristics(spec, trials, sp)


def _finish(out, cfg, resolved_yaml, started, prov, spec, trials, pool_started, md) -> None:
    """run.json with the pool's figures (two-arm and platform runs alike), then the summary."""
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        n_trials_simulated=len(trials),
        p_eligible=spec.pool.p_eligible,
        p_died_before_randomisation=spec.pool.p_died_before_randomisation,
        pool_per_arm=cfg.trial.pool_per_arm,
        sizing_seconds=round(time.time() - pool_started, 3),
    )
    if cfg.output.print_summary:
        print(md)
        print(f"results: {out}")


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    out, started, prov = begin(out, resolved_yaml)
    t = cfg.trial
    if t.platform.arms:
        return run_platform_task(cfg, out, resolved_yaml, started, prov)
    print(
        f"trial '{t.name}': {t.experimental} vs "
        f"{t.control if t.comparator == 'randomised' else 'historical control'}, "
        f"{len(t.designs)} designs x "
        f"{'auto' if t.sizing.grid == 'auto' else len(t.sizing.n)} sample sizes x "
        f"{len(t.sizing.accrual_scale)} accrual rates x {t.sizing.trials} trials x 2 scenarios"
    )
    pool_started = time.time()
    spec, trials, oc = run_sizing(cfg, progress=cfg.output.progress)
    t = spec.trial  # with the auto grid's n
    io.write_csv(out / "operating_characteristics.csv", oc)
    md = sizing_markdown(oc, spec)
    if t.sensitivity.enabled:
        from sim.trial.sensitivity import (
            plot_sensitivity,
            sensitivity_markdown,
            sensitivity_table,
        )

        sens = sensitivity_table(spec)
        io.write_csv(out / "sensitivity.csv", sens)
        md += sensitivity_markdown(sens, spec)
        if cfg.output.plots:
            plot_sensitivity(sens, out / "sensitivity.png")
    if t.borrowing.prior != "none":
        borrowing = conflict_table(spec)
        io.write_csv(out / "borrowing.csv", borrowing)
        md += conflict_markdown(borrowing, spec)
    io.write_text(out / "sizing.md", md)
    io.write_atomic(out / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    if cfg.output.plots:
        plot_power_curve(oc, t.sizing.target_power, t.alpha, out / "power_curve.png")
        plot_duration(trials, out / "duration.png")
        p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
        curves = {s: intensity(t.accrual, s, p_rand) for s in t.sizing.accrual_scale}
        n_max = max(t.sizing.n)
        s0 = t.sizing.accrual_scale[0]
        examples = [enrol(spec, n_max, s0, 0, i).entry for i in range(ACCRUAL_EXAMPLES)]
        plot_accrual(
            curves,
            examples,
            n_max,
            t.accrual.max_accrual_months,
            out / "accrual.png",
            t.eligibility.randomisation_delay_days,
        )
    _finish(out, cfg, resolved_yaml, started, prov, spec, trials, pool_started, md)
    return oc


def run_platform_sizing(cfg: RunConfig, progress: bool = False):
    """A platform trial (trial.platform.arms): pool of every arm, the trials of the grid
    and the operating characteristics, one row per design x n x accrual scale x arm."""
    from sim.trial.platform import make_spec, platform_oc, simulate_platform_grid

    t = cfg.trial
    spec = make_spec(cfg.seed, t, build_pool(cfg))
    sz = t.sizing
    total = sz.trials * len(sz.n) * len(sz.accrual_scale)
    bar = tqdm(
        total=total, desc="simulating platform trials", unit="trial", disable=not progress,
        mininterval=0.5,
    )  # fmt: skip
    try:
        trials = simulate_platform_grid(spec, cfg.executor, on_chunk=bar.update)
    finally:
        bar.close()
    return spec, trials, platform_oc(spec, trials)


def run_platform_task(cfg: RunConfig, out: Path, resolved_yaml: str, started, prov):
    """The platform run's directory: operating_characteristics.csv (the two-arm
    columns, then sim.trial.platform.PLATFORM_COLUMNS), sizing.md, trials.parquet,
    power_curve.png (one line per design and arm)."""
    from sim.trial.platform import platform_markdown

    t = cfg.trial
    print(
        f"platform trial '{t.name}': {', '.join(t.platform.arms)} vs shared {t.control}, "
        f"{len(t.designs)} designs x {len(t.sizing.n)} sample sizes per arm x "
        f"{len(t.sizing.accrual_scale)} accrual rates x {t.sizing.trials} trials x 2 scenarios"
    )
    pool_started = time.time()
    spec, trials, oc = run_platform_sizing(cfg, progress=cfg.output.progress)
    io.write_csv(out / "operating_characteristics.csv", oc)
    md = platform_markdown(oc, spec)
    io.write_text(out / "sizing.md", md)
    io.write_atomic(out / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    if cfg.output.plots:
        curves = oc.assign(design=oc["design"] + " / " + oc["arm"])
        plot_power_curve(curves, t.sizing.target_power, t.alpha, out / "power_curve.png")
    _finish(out, cfg, resolved_yaml, started, prov, spec, trials, pool_started, md)
    return oc
