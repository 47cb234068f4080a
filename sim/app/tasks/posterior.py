"""`task=posterior` (`pml-sim +experiment=posterior`): Bayesian calibration.

Writes posterior.csv (the draws: the versioned artefact; with posterior.mrs_map.n > 0 each
draw also carries its own mRS cut points, sim/evidence/mrs_map.py), posterior_parameters.csv
(prior vs posterior, ESS), posterior_correlation.csv, posterior_ppc.csv (posterior
predictive check by the simulator), emulator_check.csv, design.csv (every simulator
run), waves.csv, posterior.md, posterior.png, ppc.png; then config.yaml and run.json.
With posterior.install=true the draws also go to conf/model/<model>_posterior.csv.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config import RunConfig
from sim.core import io
from sim.evidence.validate import validate_posterior as validate  # noqa: F401  (task hook)


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.config.load import config_dir
    from sim.evidence.calibrate import Space
    from sim.evidence.posterior import (
        correlation_table,
        parameter_table,
        predictive_check,
        prior_params,
        run_posterior,
    )

    out, started, prov = begin(out, resolved_yaml)
    p = cfg.posterior
    space = Space(prior_params(cfg))
    runs = p.waves * p.design_per_wave + p.ppc_draws
    print(
        f"Bayesian calibration: {len(space.params)} parameters, {p.waves} waves x "
        f"{p.design_per_wave} runs + {p.ppc_draws} predictive-check runs, "
        f"{p.n_per_scenario} patients per population"
    )
    bar = tqdm(total=runs, desc="posterior", unit="run", disable=not cfg.output.progress)
    try:
        post = run_posterior(cfg, on_runs=bar.update)
        t0 = time.perf_counter()
        ppc, _ = predictive_check(cfg, post, p.ppc_draws, cfg.seed)
        post.seconds["predictive_check"] = time.perf_counter() - t0
        bar.update(p.ppc_draws)
    finally:
        bar.close()
    draws = post.draws
    if p.mrs_map.n:  # each draw's own damage -> mRS map (sim/evidence/mrs_map.py)
        from sim.evidence.mrs_map import per_draw

        t0 = time.perf_counter()
        draws = pd.concat([draws, per_draw(cfg, draws, p.mrs_map)], axis=1)
        post.seconds["mrs_map"] = time.perf_counter() - t0
    params = parameter_table(post, space)
    io.write_csv(out / "posterior.csv", draws)
    io.write_csv(out / "posterior_parameters.csv", params)
    io.write_csv(out / "posterior_correlation.csv", correlation_table(post, space))
    io.write_csv(out / "posterior_ppc.csv", ppc)
    io.write_csv(out / "emulator_check.csv", post.check)
    io.write_csv(out / "design.csv", post.design)
    io.write_csv(out / "waves.csv", post.waves)
    md = markdown(cfg, post, params, ppc)
    io.write_text(out / "posterior.md", md)
    if cfg.output.plots:
        from sim.evidence.plots import plot_posterior, plot_ppc

        plot_posterior(post.unit, params, out / "posterior.png")
        plot_ppc(ppc, post.targets, out / "ppc.png")
    chain = post.chain
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        draws=len(post.draws),
        acceptance=chain.acceptance,
        min_ess=float(chain.ess.min()),
        converged=chain.converged,
        phase_seconds={k: round(v, 1) for k, v in post.seconds.items()},
        ppc_inside=int(ppc["published_inside"].sum()),
        fit_targets=[t.id for t in post.targets],
    )
    if p.install:
        target = config_dir() / "model" / f"{cfg.model.name}_posterior.csv"
        io.write_csv(target, draws)
        print(f"installed {target}")
    if cfg.output.print_summary:
        print(md)
        print(f"results: {out}")
    return params


def markdown(cfg: RunConfig, post, params: pd.DataFrame, ppc: pd.DataFrame) -> str:
    ch = post.chain
    p = cfg.posterior
    lines = [
        f"# Posterior (model={cfg.model.name}, calibration={cfg.calibration.name})",
        "",
        f"{len(post.design)} simulator runs in {p.waves} waves of history matching "
        f"(NROY share of the prior box before each wave: "
        f"{', '.join(f'{s:.3g}' for s in post.waves['nroy_share_before'])}); emcee "
        f"{p.walkers} walkers x {p.steps} steps, burn-in {p.burn}, acceptance "
        f"{ch.acceptance:.2f}; {len(post.draws)} draws kept. Longest autocorrelation time "
        f"{ch.autocorr.max():.0f} steps: {'converged' if ch.converged else 'NOT converged'} "
        f"(steps after burn-in >= 50 autocorrelation times). Smallest ESS of the kept chain "
        f"{ch.ess.min():.0f}. Wall seconds: "
        + ", ".join(f"{k.replace('_', ' ')} {v:.0f}" for k, v in post.seconds.items())
        + ".",
        "",
        "| parameter | prior | posterior median (95%) | width vs prior | ESS |",
        "|---|---|---|---|---|",
    ]
    for r in params.to_dict("records"):
        lines.append(
            f"| `{r['parameter']}` | {r['prior_low']:.3g} - {r['prior_high']:.3g}"
            f"{' (log)' if r['log_scale'] else ''} | {r['posterior_median']:.3g} "
            f"({r['posterior_2.5%']:.3g} - {r['posterior_97.5%']:.3g}) "
            f"| {r['width_ratio']:.2f} | {r['ess']:.0f} |"
        )
    lines += [
        "",
        f"Posterior predictive check ({p.ppc_draws} draws re-simulated, published value "
        "inside the 95% interval of a replicate study):",
        "",
        "| target | published | simulated median (95%) | replicate 95% | inside |",
        "|---|---|---|---|---|",
    ]
    for r in ppc.to_dict("records"):
        lines.append(
            f"| {r['target_id']} | {r['published']:.3g} | {r['simulated_median']:.3g} "
            f"({r['simulated_2.5%']:.3g} - {r['simulated_97.5%']:.3g}) "
            f"| {r['predictive_2.5%']:.3g} - {r['predictive_97.5%']:.3g} "
            f"| {'yes' if r['published_inside'] else 'NO'} |"
        )
    if len(post.check):
        lines += ["", "Emulator check (last wave's runs, emulators fitted before them): share "
                  "of standardised errors within 2 / 3: "
                  + ", ".join(f"{r['target_id']} {r['within_2']:.2f}/{r['within_3']:.2f}"
                              for r in post.check.to_dict("records"))]  # fmt: skip
    return "\n".join(lines) + "\n"
