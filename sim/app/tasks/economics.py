"""`task=economics` (`pml-sim +experiment=cea`, `+experiment=psa`): the run directory.

Writes, atomically, run.json last:
* cea.csv - one row per strategy: strategy, cost, qaly, life_years, inc_cost, inc_qaly,
  comparator, icer, nmb, dominated, dominance, optimal, plus Monte Carlo SEs;
* cost_breakdown.csv, patient_values.parquet (per patient), ce_plane.png,
  cost_breakdown.png;
* cea_by_condition.csv (the table per underlying condition); with economics.scenarios:
  scenarios.csv; with economics.threshold_prices: threshold_prices.csv; with economics.two_way.axes:
  twoway.csv and twoway.png; with economics.severity.enabled: severity.csv; with
  economics.budget_impact.uptake: budget_impact.csv;
* with economics.dsa.params: dsa.csv and tornado.png;
* with economics.psa.draws > 0: psa.parquet (one row per draw x strategy),
  psa_params.parquet (one row per draw), ceac.csv (wtp, strategy, probability,
  on_frontier), evpi.csv (wtp, evpi), evppi.csv (group, wtp, evppi, capped_at_evpi,
  noise floor), uncertainty.csv, ceac.png, evpi.png, psa_summary.csv; with
  economics.evsi.enabled: evsi.csv;
* report.md, config.yaml, run.json.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config.schema import RunConfig
from sim.core import io
from sim.economics import plots as eplots
from sim.economics.base_case import base_case, simulate_and_value  # noqa: F401  (tests)
from sim.economics.budget import budget_impact
from sim.economics.decision import cea_table, format_cea
from sim.economics.discount import DAYS_PER_YEAR
from sim.economics.dsa import default_pair, one_way
from sim.economics.evsi import evsi_table, trial_design
from sim.economics.pricing import base_price, threshold_prices, two_way
from sim.economics.psa import run_psa, uncertainty_table
from sim.economics.report import ReportExtras, decision_thresholds, report
from sim.economics.sampling import draw_parameters, groups, order_utilities
from sim.economics.scenarios import BASE, recosts_only, scenario_config, scenario_table
from sim.economics.severity import severity_table
from sim.economics.societal import SOCIETAL_COLUMNS
from sim.economics.summary import (  # noqa: F401  (summarise_values: tests)
    add_increment_se,
    cea_by_condition,
    psa_summary,
    summarise_values,
)
from sim.economics.validate import validate_economics as validate  # noqa: F401  (task hook)
from sim.economics.values import VALUE_COLUMNS
from sim.economics.voi import (
    EVPPINoiseWarning,
    ceac,
    evpi,
    evppi,
    evppi_noise_warnings,
    wtp_grid,
)
from sim.engine.run import simulate
from sim.trial.accrual import DAYS_PER_MONTH, expected_accrual_days
from sim.trial.pool import eligible, pool_config

# cost components of cost_breakdown.csv (the societal ones in a societal run only)
COST_COLUMNS = [c for c in VALUE_COLUMNS if c.startswith("cost_")] + SOCIETAL_COLUMNS


def eligible_share(cfg: RunConfig) -> float:
    """Share of referred patients the trial config randomises: eligible (sim.trial.pool)
    and alive at randomisation under the control arm's care, times 1 - screen_fail;
    from `economics.evsi.eligibility_patients` patients of the trial's referral pool."""
    t = cfg.trial
    pcfg = pool_config(cfg)
    pcfg.cohort = replace(pcfg.cohort, n=cfg.economics.evsi.eligibility_patients)
    pcfg.strategy = {t.control: pcfg.strategy[t.control]}
    pcfg.output = replace(pcfg.output, progress=False)
    patients = simulate(pcfg)[0]
    delay = t.eligibility.randomisation_delay_days
    alive = ~patients["died"].to_numpy(dtype=bool) | (patients["time_days"].to_numpy() > delay)
    ok = eligible(patients, cfg) & alive
    return float(ok.mean()) * (1.0 - t.eligibility.screen_fail)


def trial_years(cfg: RunConfig, sizes: list[int]) -> list[float]:
    """Years from the decision to run the trial to its report, per total sample size:
    the time until the expected number randomised reaches n (sim.trial.accrual, capped
    at the accrual cap), the minimum follow-up and economics.evsi.reporting_months."""
    t = cfg.trial
    p = eligible_share(cfg)
    after = (t.followup.min_followup_months + cfg.economics.evsi.reporting_months) * DAYS_PER_MONTH
    return [(expected_accrual_days(t.accrual, p, n) + after) / DAYS_PER_YEAR for n in sizes]


def run_scenarios(
    cfg: RunConfig, values: pd.DataFrame, recosted: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """scenarios.csv: the base case, then each scenario (re-costed ones from `recosted`,
    the others re-simulated here with the same seed)."""
    e = cfg.economics
    results = {BASE: ("base case", values)}
    for i, sc in enumerate(e.scenarios):
        if sc.name in recosted:
            results[sc.name] = (sc.label, recosted[sc.name])
        else:
            c = scenario_config(cfg, i, sc)
            results[sc.name] = (sc.label, simulate_and_value(c, extras=False, desc=sc.name)[0])
    return scenario_table(results, list(cfg.strategy), e.wtp)


def budget_strategies(cfg: RunConfig, cea: pd.DataFrame) -> tuple[str, str]:
    """(new, current) of the budget impact: as configured, else the optimal strategy at
    economics.wtp and the reference strategy (the first of `strategy`)."""
    b = cfg.economics.budget_impact
    new = b.new_strategy or str(cea.loc[cea["nmb"].to_numpy().argmax(), "strategy"])
    return new, b.current_strategy or list(cfg.strategy)[0]


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    out, started, prov = begin(out, resolved_yaml)
    e = cfg.economics
    strategies = list(cfg.strategy)
    figures: list[str] = []

    recost = {
        sc.name: scenario_config(cfg, i, sc).economics
        for i, sc in enumerate(e.scenarios)
        if recosts_only(sc)
    }
    values, recosted = simulate_and_value(cfg, recost)
    means = summarise_values(values, strategies)
    cea = add_increment_se(cea_table(means, e.wtp), values)
    io.write_csv(out / "cea.csv", cea)
    breakdown = (
        values.groupby("strategy", sort=False)[[c for c in COST_COLUMNS if c in values]]
        .mean()
        .reset_index()
    )
    io.write_csv(out / "cost_breakdown.csv", breakdown)
    io.write_atomic(out / "patient_values.parquet", lambda p: values.to_parquet(p, index=False))
    thresholds = decision_thresholds(cfg)
    by_condition = cea_by_condition(values, strategies, e.wtp, list(cfg.cohort.mix) or None)
    io.write_csv(out / "cea_by_condition.csv", by_condition)
    scenarios = None
    if e.scenarios:
        scenarios = run_scenarios(cfg, values, recosted)
        io.write_csv(out / "scenarios.csv", scenarios)
    prices = None
    if e.threshold_prices:
        prices = threshold_prices(values, e, strategies, thresholds, cfg.therapies)
        io.write_csv(out / "threshold_prices.csv", prices)
    severity = None
    if e.severity.enabled:
        severity = severity_table(values, e, e.severity.current_strategy or strategies[0])
        io.write_csv(out / "severity.csv", severity)
    twoway = None
    if e.two_way.axes:
        twoway = two_way(values, e, strategies, thresholds)
        io.write_csv(out / "twoway.csv", twoway)
    budget = None
    if e.budget_impact.uptake:
        new, current = budget_strategies(cfg, cea)
        budget = budget_impact(values, e, new, current)
        io.write_csv(out / "budget_impact.csv", budget)

    dsa = None
    if e.dsa.params:
        strategy, comparator = default_pair(cea, e.dsa.strategy, e.dsa.comparator)
        steps = 2 * len(e.dsa.params)
        with tqdm(total=steps, desc="one-way", disable=not cfg.output.progress) as bar:
            dsa = one_way(cfg, strategy, comparator, on_step=lambda: bar.update(1))
        io.write_csv(out / "dsa.csv", dsa)

    psa = params = ceac_t = evpi_t = evppi_t = unc = summary = evsi_t = None
    n_reordered = 0
    if e.psa.draws > 0:
        from sim.config.ensemble import load_ensemble

        ensemble = load_ensemble(e.psa.ensemble) if e.psa.ensemble else None
        params = draw_parameters(e.psa, cfg.seed, ensemble)
        if e.psa.ordered_utilities:
            params, n_reordered = order_utilities(params, list(e.utilities.by_mrs))
        with tqdm(
            total=e.psa.draws, desc="PSA", unit="draw", disable=not cfg.output.progress
        ) as bar:
            psa = run_psa(cfg, params, on_draw=lambda _n: bar.update(1))
        psa["nmb"] = e.wtp * psa["qaly"] - psa["cost"]
        io.write_atomic(out / "psa.parquet", lambda p: psa.to_parquet(p, index=False))
        io.write_atomic(out / "psa_params.parquet", lambda p: params.to_parquet(p, index=False))
        grid = wtp_grid(e.psa.wtp_max, e.psa.wtp_points)
        ceac_t = ceac(psa, strategies, grid)
        evpi_t = evpi(psa, strategies, grid)
        io.write_csv(out / "ceac.csv", ceac_t)
        io.write_csv(out / "evpi.csv", evpi_t)
        if e.psa.evppi:
            evppi_t = evppi(
                psa,
                params,
                strategies,
                grid,
                groups(e.psa, ensemble),
                permutations=e.psa.evppi_permutations,
                seed=cfg.seed,
            )
            io.write_csv(out / "evppi.csv", evppi_t)
            for msg in evppi_noise_warnings(evppi_t, e.wtp, e.psa.draws):
                warnings.warn(msg, EVPPINoiseWarning, stacklevel=1)
        unc = uncertainty_table(psa)
        io.write_csv(out / "uncertainty.csv", unc)
        summary = psa_summary(psa, strategies, thresholds, cea)
        io.write_csv(out / "psa_summary.csv", summary)
        if e.evsi.enabled:
            design = trial_design(cfg)
            if e.evsi.accrual_delay:
                design.years = trial_years(cfg, [n for n, _, _ in design.sizes])
            evsi_t = evsi_table(
                psa, strategies, thresholds, e, design, cfg.seed, e.psa.evppi_permutations
            )
            io.write_csv(out / "evsi.csv", evsi_t)

    if cfg.output.plots:
        ref = strategies[0]
        eplots.plot_ce_plane(cea, psa, ref, e.wtp, e.currency, out / "ce_plane.png")
        eplots.plot_cost_breakdown(breakdown, e.currency, out / "cost_breakdown.png")
        figures += ["ce_plane.png", "cost_breakdown.png"]
        if twoway is not None:
            ax_x, ax_y = e.two_way.axes
            base_prices = (
                base_price(e, ax_x.therapy, ax_x.per),
                base_price(e, ax_y.therapy, ax_y.per),
            )
            eplots.plot_two_way(twoway, base_prices, e.currency, out / "twoway.png")
            figures.append("twoway.png")
        if dsa is not None:
            eplots.plot_tornado(dsa, e.currency, out / "tornado.png")
            figures.append("tornado.png")
        if ceac_t is not None:
            eplots.plot_ceac(ceac_t, e.currency, out / "ceac.png")
            eplots.plot_evpi(evpi_t, evppi_t, e.currency, out / "evpi.png")
            figures += ["ceac.png", "evpi.png"]
    notes = []
    if n_reordered:
        notes.append(
            f"Utilities by mRS were made non-increasing in {n_reordered:,} of {e.psa.draws:,} "
            "PSA draws (economics.psa.ordered_utilities)."
        )
    if evppi_t is not None:
        notes += evppi_noise_warnings(evppi_t, e.wtp, e.psa.draws)
    extras = ReportExtras(
        psa_summary=summary,
        by_condition=by_condition,
        scenarios=scenarios,
        threshold_prices=prices,
        two_way=twoway,
        severity=severity,
        budget_impact=budget,
        evsi=evsi_t,
    )
    text = report(cfg, cea, breakdown, dsa, evpi_t, ceac_t, unc, figures, evppi_t, notes, extras)
    io.write_text(out / "report.md", text)
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        n_patients=cfg.cohort.n,
        strategies=strategies,
        psa_draws=e.psa.draws,
    )
    if cfg.output.print_summary:
        print(format_cea(cea, e.currency, e.wtp))
        print(f"results: {out}")
    return cea
