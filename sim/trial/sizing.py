"""Sizing: simulate every design over a grid of maximum sample sizes and accrual
rates, and summarise each cell's operating characteristics (rpact vocabulary).

Per design x n x accrual scale, from `trials` simulated trials per scenario:

* power (rpact: overallReject under H1) and type1_error (overallReject under the null
  scenario), each with its Monte Carlo standard error sqrt(p (1 - p) / trials);
* p_stop_efficacy / p_stop_futility / early_stop: stopping at an interim look, under
  H1 and (`_h0`) under H0 (rpact: rejectPerStage summed over interim stages,
  futilityStop);
* expected_n (patients randomised by the stopping analysis; rpact's
  expectedNumberOfSubjects counts the analysed ones, docs/trial.md), expected_events
  (deaths at the stopping analysis), expected_duration_months (studyDuration), under
  H1 and under H0;
* analytic_power: the closed-form power of the same design for the pool's
  superpopulation values (sim.trial.analyses; boundaries' crossing probabilities for
  group-sequential designs with information timing; NaN for calendar timing); exact
  binomial enumeration for single-arm designs;
* type1_error_exact: single-arm designs' exact size at p = p0 (NaN for two arms);
* expected_n_by_cap, p_recruited, capped_fraction, recruitable: the accrual cap
  (`recruitment`);
* smallest_n_reaching_target: the first recruitable n of the grid (per design and
  accrual scale) whose simulated power reaches sizing.target_power (event-driven
  designs: also reaching their target deaths, events_reachable);
* historical_p0, control_rate_pool, control_above_p0: single-arm designs' p0 against
  the model's control-strategy rate in the pool (above p0: liberal under SOC).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import norm, poisson

from sim.config.errors import ConfigError
from sim.config.schema import ExecutorConfig
from sim.config.trial import DesignConfig, TrialConfig
from sim.engine.executors import ordered_map
from sim.trial import analyses, safety
from sim.trial.accrual import DAYS_PER_MONTH, intensity
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds, futility_bounds
from sim.trial.design import Spec, safety_rule, simulate_trials, superpopulation
from sim.trial.ordinal import whitehead_drift, whitehead_n
from sim.trial.phase2 import Plan, plan
from sim.trial.solver import Solution, design_solution
from sim.trial.survival_sizing import schoenfeld_events

OC_COLUMNS = [
    "design",
    "endpoint",
    "type_of_design",
    "n",
    "accrual_scale",
    "accrual_rate",
    "n_trials",
    "power",
    "power_se",
    "type1_error",
    "type1_error_se",
    "p_stop_efficacy",
    "p_stop_futility",
    "early_stop",
    "expected_n",
    "expected_n_h0",
    "expected_events",
    "expected_duration_months",
    "duration_q10_months",
    "duration_q90_months",
    "expected_duration_months_h0",
    "analytic_power",
    "assurance",
    "assurance_se",
    "target_power",
    "smallest_n_reaching_target",
    # added later (appended: the columns above keep their order)
    "type1_error_exact",
    "p_stop_efficacy_h0",
    "p_stop_futility_h0",
    "early_stop_h0",
    "expected_n_by_cap",
    "p_recruited",
    "capped_fraction",
    "recruitable",
    # single-arm designs with their own rule and n (design: simon_*, exact_one_stage;
    # sim.trial.phase2): the planned rule and its exact operating characteristics at p0
    # (the historical value) and p1; empty / NaN for group-sequential designs
    "design_rule",
    "planned_p1",
    "planned_size",
    "planned_power",
    "planned_en_h0",
    "planned_en_h1",
    "planned_pet_h0",
    "planned_pet_h1",
    # event-driven designs (analysis: events): the planned deaths and the share of trials
    # (H1) reaching the final analysis that observed them; secondary RMST difference
    # (rmst_tau_days): rejection rates at the stopping analysis against the primary's
    # boundary, and the mean estimate
    "target_events",
    "p_events_reached",
    "rmst_power",
    "rmst_type1_error",
    "rmst_difference",
    # conditional power at the first interim of two-arm designs with interim looks (mean
    # over trials that had one; _h0: under the null), the share of trials in the promising
    # zone [ssr_cp_min, ssr_cp_target) of CP under the trend, and promising-zone
    # re-estimation (ssr): share of trials whose n was raised, mean maximum n after the
    # interim (sim/trial/conditional.py)
    *(
        INTERIM_SAFETY_COLUMNS := [
            "mean_cp_trend",
            "mean_cp_design",
            "p_promising",
            "mean_cp_trend_h0",
            "mean_cp_design_h0",
            "p_promising_h0",
            "p_ssr_increase",
            "p_ssr_increase_h0",
            "expected_max_n",
            "expected_max_n_h0",
            # the IRIS safety boundary (trial.safety; sim/trial/safety.py): simulated share of
            # trials stopped for harm, the IRIS rate of an evaluable patient within the window per
            # arm (pool), and the exact stopping probability of the rule at the experimental rate
            # (H1) and the control rate (H0) over the looks an arm of n x allocation share reaches
            "p_stop_safety",
            "p_stop_safety_h0",
            "iris_rate_e",
            "iris_rate_c",
            "safety_exact",
            "safety_exact_h0",
        ]
    ),
    # log-rank designs: estimation after the stop (sim/trial/estimation.py). hr_pool: the
    # pool's one-step HR, stratified by condition for stratified designs (the "true" HR of
    # the coverage columns under H1; under H0 the truth is HR 1 exactly); coverage of the
    # repeated CI at the stopping look and of the stage-wise 1 - 2 alpha CI, their mean
    # log(upper / lower) under H1, and the median over H1 trials of the naive (one-step)
    # and the median-unbiased HR
    *(
        ESTIMATION_COLUMNS := [
            "hr_pool",
            "rci_coverage",
            "rci_coverage_h0",
            "rci_log_width",
            "adjusted_ci_coverage",
            "adjusted_ci_coverage_h0",
            "adjusted_ci_log_width",
            "median_hr_naive",
            "median_hr_adjusted",
        ]
    ),
    # the analytic sample size of the design for the pool's effect at target_power
    # (sim/trial/solver.py; the same in every row of a design): patients with an outcome
    # (no dropout), randomised with the trial's dropout, deaths (time to death), and the
    # group-sequential inflation factor; designs with their own rule: their planned n
    *(
        SOLVER_COLUMNS := [
            "analytic_n",
            "analytic_n_dropout",
            "analytic_events",
            "inflation_factor",
        ]
    ),
    # event-driven designs: whether the target deaths are observed in at least
    # sizing.min_p_recruited of the H1 trials that reached their final analysis
    # (p_events_reached); True for designs without a death target. An n with False is
    # never the smallest n: its trials are analysed with fewer deaths than planned
    "events_reachable",
    # single-arm designs: the historical p0 of the endpoint, the pool's rate under the
    # control strategy (the model's current SOC), and whether that rate exceeds p0 (then
    # the design is liberal under SOC outcomes: type1_error above alpha); NaN / False for
    # two-arm designs
    "historical_p0",
    "control_rate_pool",
    "control_above_p0",
]


def grid_n(spec: Spec) -> list[int]:
    """The grid's n, then the n of designs that fix their own (not already in the grid)."""
    n = spec.trial.sizing.n
    return [*n, *sorted({p.n for p in phase2_plans(spec).values()} - set(n))]


def simulate_grid(
    spec: Spec, executor: ExecutorConfig, on_chunk: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """All trials of the grid: one row per design x n x scale x scenario x trial."""
    sz = spec.trial.sizing
    plans = phase2_plans(spec)
    grid = grid_n(spec)
    futility = {n: planned_futility(spec, n) for n in grid}
    events = target_events(spec)
    drifts = {n: interim_drifts(spec, n) for n in grid}
    tasks = [
        (
            spec,
            n,
            scale,
            si,
            lo,
            min(lo + sz.chunk_trials, sz.trials),
            futility[n],
            plans,
            events,
            drifts[n],
        )  # fmt: skip
        for si, scale in enumerate(sz.accrual_scale)
        for n in grid
        for lo in range(0, sz.trials, sz.chunk_trials)
    ]
    rows: list[dict] = []
    # `auto` sends a large grid to worker processes: its size in trial patients (each
    # simulated trial analyses n patients; about as costly as a simulated patient)
    work = len(sz.accrual_scale) * sz.trials * sum(grid)
    with ordered_map(executor, outer_patients=work) as run:
        for task, part in zip(tasks, run(simulate_trials, tasks), strict=True):
            lo, hi = task[4], task[5]
            rows.extend(part)
            if on_chunk is not None:
                on_chunk(hi - lo)
    return pd.DataFrame(rows)


def phase2_plans(spec: Spec) -> dict[str, Plan]:
    """The planned rule of every single-arm design that fixes its own n (design: simon_*,
    exact_one_stage), with p1 from the config or the pool (the model's value)."""
    t = spec.trial
    return {
        name: plan(f"trial.designs.{name}", d, t, superpopulation(spec, d.endpoint)["p_e"])
        for name, d in t.designs.items()
        if d.design != "group_sequential"
    }


def target_events(spec: Spec) -> dict[str, int]:
    """Deaths at the final analysis of each event-driven design: its target_events, or
    Schoenfeld's number (rounded up) for the pool's hazard ratio, beta and alpha."""
    t = spec.trial
    a, c = t.randomisation.allocation
    out = {}
    for name, d in t.designs.items():
        if d.analysis != "events":
            continue
        if d.target_events is not None:
            out[name] = d.target_events
            continue
        hr = superpopulation(spec, d.endpoint)["hr"]
        if not hr < 1.0:
            raise ConfigError(
                f"trial.designs.{name}.target_events",
                f"the model's hazard ratio is {hr:.3f} (no benefit): give target_events",
            )
        out[name] = math.ceil(schoenfeld_events(hr, t.alpha, d.beta, a / (a + c)))
    return out


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n) if n else math.nan


def planned_drift(spec: Spec, d: DesignConfig, n: int) -> float:
    """Expected final z of a design at maximum size n under the planned effect, taken
    to be the pool's (superpopulation) effect; planning ignores dropout and accrual
    caps (all n patients followed to the end of the horizon)."""
    t = spec.trial
    a, c = t.randomisation.allocation
    share = a / (a + c)
    sp = superpopulation(spec, d.endpoint)
    if d.endpoint == "mrs_12m":
        return whitehead_drift(sp["levels_c"], sp["odds_ratio"], n, share)
    if d.endpoint == "time_to_death":
        o_e, o_c = spec.pool.outcomes["experimental"], spec.pool.outcomes["control"]
        p_death = share * np.isfinite(o_e.death_day).mean()
        p_death += (1 - share) * np.isfinite(o_c.death_day).mean()
        return analyses.drift_logrank(sp["hr"], n * p_death, share)
    if t.comparator == "historical":
        p, p0 = sp["p_e"], getattr(t.historical, d.endpoint)
        return (p - p0) / math.sqrt(p * (1 - p) / n)
    return analyses.drift_two_proportions(sp["p_e"], sp["p_c"], n * share, n * (1 - share))


def interim_drifts(spec: Spec, n: int) -> dict[str, float]:
    """The planned drift at n of each two-arm design with interim looks (for the
    conditional power under the design effect)."""
    t = spec.trial
    if t.comparator != "randomised":
        return {}
    return {
        name: planned_drift(spec, d, n)
        for name, d in t.designs.items()
        if d.type_of_design != "none" and d.design == "group_sequential"
    }


def _mean(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.mean()) if len(x) else math.nan


def _interim(g: pd.DataFrame, d: DesignConfig) -> dict[str, float]:
    """Conditional-power and re-estimation columns of one scenario's trials."""
    cp = g["cp_trend"].dropna()
    zone = ((cp >= d.ssr_cp_min) & (cp < d.ssr_cp_target)).mean() if len(cp) else math.nan
    ssr = d.ssr != "none"
    factor = g["ssr_factor"]
    return {
        "mean_cp_trend": _mean(g["cp_trend"]),
        "mean_cp_design": _mean(g["cp_design"]),
        "p_promising": float(zone),
        "p_ssr_increase": float((factor > 1.0).mean()) if ssr else math.nan,
        # the maximum n of each trial: raised, or as planned (also trials stopped early)
        "expected_max_n": float(g["ssr_n"].fillna(g["n"]).mean()) if ssr else math.nan,
    }


def estimation_columns(spec: Spec, d: DesignConfig, alt: pd.DataFrame, null: pd.DataFrame) -> dict:
    """Estimation-after-stopping columns of one log-rank design x n (NaN otherwise)."""
    if d.endpoint != "time_to_death" or d.test != "logrank" or d.ssr != "none":
        return dict.fromkeys(ESTIMATION_COLUMNS, math.nan)
    hr = superpopulation(spec, d.endpoint)["hr_stratified" if d.stratified else "hr"]

    def cover(g: pd.DataFrame, lo: str, hi: str, truth: float) -> float:
        ok = g[lo].notna() & g[hi].notna()
        return float(((g[lo] <= truth) & (truth <= g[hi]))[ok].mean()) if ok.any() else math.nan

    def width(lo: str, hi: str) -> float:
        return _mean(np.log(alt[hi] / alt[lo]))

    return {
        "hr_pool": hr,
        "rci_coverage": cover(alt, "hr_rci_lower", "hr_rci_upper", hr),
        "rci_coverage_h0": cover(null, "hr_rci_lower", "hr_rci_upper", 1.0),
        "rci_log_width": width("hr_rci_lower", "hr_rci_upper"),
        "adjusted_ci_coverage": cover(alt, "hr_adjusted_lower", "hr_adjusted_upper", hr),
        "adjusted_ci_coverage_h0": cover(null, "hr_adjusted_lower", "hr_adjusted_upper", 1.0),
        "adjusted_ci_log_width": width("hr_adjusted_lower", "hr_adjusted_upper"),
        "median_hr_naive": float(alt["estimate"].median()),
        "median_hr_adjusted": float(alt["hr_adjusted"].median()),
    }


def iris_rates(spec: Spec) -> tuple[float, float]:
    """The IRIS probability of an evaluable patient within the safety window, per arm
    (experimental, control), among complete cases (sim.trial.safety.analysed_rate)."""
    t = spec.trial
    rate = t.followup.dropout_per_year / 365.25
    out = []
    for arm in ("experimental", "control"):
        o = spec.pool.outcomes[arm]
        out.append(safety.analysed_rate(t.safety.window_days, rate, o.iris_day, o.death_day))
    return out[0], out[1]


def safety_columns(spec: Spec, n: int, alt: pd.DataFrame, null: pd.DataFrame) -> dict:
    """Safety-boundary columns of one design x n (NaN with trial.safety.rule: none)."""
    t = spec.trial
    rule = safety_rule(t)
    keys = ("p_stop_safety", "p_stop_safety_h0", "iris_rate_e", "iris_rate_c", "safety_exact",
            "safety_exact_h0")  # fmt: skip
    if rule is None:
        return dict.fromkeys(keys, math.nan)
    looks, bounds = rule
    a, c = t.randomisation.allocation
    arm_n = n if t.comparator == "historical" else n * a / (a + c)
    reach = looks <= arm_n
    p_e, p_c = iris_rates(spec)
    return {
        "p_stop_safety": float(alt["stop_safety"].mean()),
        "p_stop_safety_h0": float(null["stop_safety"].mean()),
        "iris_rate_e": p_e,
        "iris_rate_c": p_c,
        "safety_exact": float(safety.stop_probabilities(p_e, looks[reach], bounds[reach]).sum()),
        "safety_exact_h0": float(safety.stop_probabilities(p_c, looks[reach], bounds[reach]).sum()),
    }


def planned_futility(spec: Spec, n: int) -> dict[str, np.ndarray]:
    """Beta-spending futility bounds at the planned looks, per design that has them."""
    t = spec.trial
    out = {}
    for name, d in t.designs.items():
        if d.type_beta_spending == "none":
            continue
        fr = np.asarray(d.information_rates, dtype=float)
        c = efficacy_bounds(fr, t.alpha, d.type_of_design)
        theta = planned_drift(spec, d, n)
        out[name] = futility_bounds(fr, c, theta, d.beta, d.type_beta_spending)
    return out


def _assurance(spec: Spec, design: str, alt: pd.DataFrame, draws: list[dict] | None) -> dict:
    """Mean and Monte Carlo SE over parameter draws of the analytic power (NaN if none)."""
    if not draws:
        return {"assurance": math.nan, "assurance_se": math.nan}
    endpoint = spec.trial.designs[design].endpoint
    x = np.array([analytic_power(spec, design, alt, d[endpoint]) for d in draws])
    x = x[np.isfinite(x)]
    if not len(x):
        return {"assurance": math.nan, "assurance_se": math.nan}
    se = float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return {"assurance": float(x.mean()), "assurance_se": se}


def analytic_power(spec: Spec, design: str, alt: pd.DataFrame, sp: dict | None = None) -> float:
    """Closed-form power at the simulated mean analysed sizes / deaths (final analyses).

    Single-arm designs: the exact binomial power of the design's rule at each trial's
    analysed sizes per look, averaged over the trials (not a normal approximation:
    that was 0.06-0.13 above the simulated power at 20-120 patients).
    Fixed two-arm designs: the textbook formulas. Group-sequential designs (information
    timing): crossing probabilities of the boundaries for Z ~ N(theta sqrt(t), 1) on
    the scale of the estimate's standard deviation under H1; the z statistics of the
    proportion tests are standardised by their null SD, so their boundaries are scaled
    by null SD / H1 SD first (the same step as in the fixed-design formula).
    """
    t = spec.trial
    d = t.designs[design]
    if d.timing == "calendar" and d.type_of_design != "none":
        return math.nan
    final = alt[alt["stage"] == alt["looks"]]
    if final.empty:  # every trial stopped early
        final = alt
    sp_given = sp is not None
    sp = sp if sp_given else superpopulation(spec, d.endpoint)
    a, c = t.randomisation.allocation
    share = a / (a + c)
    n_e = float(final["n_analysed_e"].mean())
    n_c = float(final["n_analysed_c"].mean())
    fixed = d.type_of_design == "none"
    if d.endpoint == "mrs_12m":  # Whitehead 1993 at the mean analysed sizes
        drift = whitehead_drift(sp["levels_c"], sp["odds_ratio"], n_e + n_c, n_e / (n_e + n_c))
        if fixed:
            return float(norm.cdf(drift - norm.isf(t.alpha)))
        ratio = 1.0
    elif d.endpoint == "time_to_death":
        if d.test != "logrank":  # Schoenfeld's formula is the log-rank test's
            return math.nan
        deaths = float(final["deaths"].mean())
        if fixed:
            return analyses.power_logrank(sp["hr"], deaths, share, t.alpha)
        drift, ratio = analyses.drift_logrank(sp["hr"], deaths, share), 1.0
    elif t.comparator == "historical":
        if sp_given:
            return math.nan  # assurance of single-arm designs: not implemented
        # exact binomial power at each trial's analysed sizes (design.single_arm_exact)
        return float(alt["exact_power"].mean())
    else:
        p_e, p_c = sp["p_e"], sp["p_c"]
        if fixed:
            return analyses.power_two_proportions(p_e, p_c, n_e, n_c, t.alpha)
        drift = analyses.drift_two_proportions(p_e, p_c, n_e, n_c)
        pbar = (n_e * p_e + n_c * p_c) / (n_e + n_c)
        null_var = pbar * (1 - pbar) * (1 / n_e + 1 / n_c)
        ratio = math.sqrt(null_var / (p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c))
    fr = np.asarray(d.information_rates, dtype=float)
    bounds = efficacy_bounds(fr, t.alpha, d.type_of_design) * ratio
    fut = None
    if d.futility_z is not None:
        fut = np.r_[np.full(len(fr) - 1, d.futility_z), -np.inf] * ratio
    elif d.type_beta_spending != "none":
        fut = planned_futility(spec, int(alt["n"].iloc[0]))[design] * ratio
    return float(crossing_probabilities(fr, bounds, drift, fut)[0].sum())


def recruitment(spec: Spec, n: int, scale: float) -> tuple[float, float]:
    """(expected patients randomised by the accrual cap, P(n are randomised by the cap)).

    Randomisations form a Poisson process with cumulative intensity M(t)
    (sim.trial.accrual), so the number randomised by the cap is Poisson with mean
    M(cap) and n is reached with probability P(Poisson(M(cap)) >= n)."""
    t = spec.trial
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    cap = t.accrual.max_accrual_months * DAYS_PER_MONTH - t.eligibility.randomisation_delay_days
    mean = float(intensity(t.accrual, scale, p_rand).at(max(cap, 0.0)))
    return mean, float(poisson.sf(n - 1, mean))


def _events_reached(alt: pd.DataFrame, target: int | None) -> float:
    """Share of the trials that reached their final analysis (no early stop) with the
    target deaths observed (the others were analysed at the end of follow-up)."""
    if target is None:
        return math.nan
    final = alt[alt["stage"] == alt["looks"]]
    return float((final["deaths"] >= target).mean()) if len(final) else math.nan


def _events_reachable(alt: pd.DataFrame, target: int | None, t: TrialConfig) -> bool:
    """An event-driven design's n reaches its target deaths if at least
    sizing.min_p_recruited of the H1 trials that reached the final analysis observed
    them (True for designs without a target)."""
    if target is None:
        return True
    share = _events_reached(alt, target)
    # every trial stopped early: it never needed the final deaths
    return bool(math.isnan(share) or share >= t.sizing.min_p_recruited)


def _historical_columns(spec: Spec, d: DesignConfig) -> dict:
    """Single-arm designs: p0, the pool's control-strategy rate and whether it is above
    p0 (NaN / False for two arms)."""
    t = spec.trial
    if t.comparator != "historical":
        return {"historical_p0": math.nan, "control_rate_pool": math.nan,
                "control_above_p0": False}  # fmt: skip
    p0 = float(getattr(t.historical, d.endpoint))
    p_c = float(superpopulation(spec, d.endpoint)["p_c"])
    return {"historical_p0": p0, "control_rate_pool": p_c, "control_above_p0": p_c > p0}


def _planned(p: Plan | None) -> dict[str, float | str]:
    """The planned-design columns of a row (empty for group-sequential designs)."""
    keys = ("p1", "size", "power", "en_h0", "en_h1", "pet_h0", "pet_h1")
    if p is None:
        return {"design_rule": "", **{f"planned_{k}": math.nan for k in keys}}
    return {"design_rule": p.rule, **{f"planned_{k}": getattr(p, k) for k in keys}}


def simulated_columns(
    t: TrialConfig, design: str, n: int, scale: float, p_rand: float, alt, null
) -> dict:
    """The operating characteristics every sizing run computes alike from its simulated
    trials (alt: under H1, null: under H0), two-arm, single-arm and platform arm rows;
    the callers add the rest and OC_COLUMNS orders them."""
    d = t.designs[design]
    power = float(alt["reject"].mean())
    t1 = float(null["reject"].mean())
    return {
        "design": design,
        "endpoint": d.endpoint,
        "type_of_design": d.type_of_design,
        "n": n,
        "accrual_scale": scale,
        # randomised patients per month once every site is open
        "accrual_rate": intensity(t.accrual, scale, p_rand).final_rate * DAYS_PER_MONTH,
        "n_trials": len(alt),
        "power": power,
        "power_se": _se(power, len(alt)),
        "type1_error": t1,
        "type1_error_se": _se(t1, len(null)),
        "p_stop_efficacy": float(alt["stop_efficacy"].mean()),
        "p_stop_futility": float(alt["stop_futility"].mean()),
        "expected_n": float(alt["n_randomised"].mean()),
        "expected_n_h0": float(null["n_randomised"].mean()),
        "expected_duration_months": float(alt["duration_months"].mean()),
        "duration_q10_months": float(alt["duration_months"].quantile(0.1)),
        "duration_q90_months": float(alt["duration_months"].quantile(0.9)),
        "expected_duration_months_h0": float(null["duration_months"].mean()),
    }


def operating_characteristics(
    spec: Spec, trials: pd.DataFrame, draws: list[dict] | None = None
) -> pd.DataFrame:
    """One row per design x n x accrual scale (OC_COLUMNS). `draws`: the arms' true
    values under each parameter draw (sim.trial.assurance), for the assurance column."""
    t = spec.trial
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    plans = phase2_plans(spec)
    events = target_events(spec)
    solved = {  # designs with their own rule: their planned n (no second search)
        name: Solution(float(plans[name].n), math.nan, math.nan, math.nan)
        if name in plans
        else design_solution(spec, name)
        for name in t.designs
    }
    rows = []
    for (design, n, scale), g in trials.groupby(["design", "n", "accrual_scale"], sort=False):
        alt, null = g[g["scenario"] == "alternative"], g[g["scenario"] == "null"]
        d = t.designs[design]
        by_cap, p_recruited = recruitment(spec, int(n), scale)
        rmst = d.rmst_tau_days is not None
        rows.append(
            {
                **simulated_columns(t, design, int(n), scale, p_rand, alt, null),
                "early_stop": float((alt["stage"] < alt["looks"]).mean()),
                "expected_events": float(alt["deaths"].mean()),
                "analytic_power": analytic_power(spec, design, alt),
                **_assurance(spec, design, alt, draws),
                "target_power": t.sizing.target_power,
                # single arm: exact size at p = p0 (binomial, the design's looks and rule)
                "type1_error_exact": float(null["exact_size"].mean()),
                "p_stop_efficacy_h0": float(null["stop_efficacy"].mean()),
                "p_stop_futility_h0": float(null["stop_futility"].mean()),
                "early_stop_h0": float((null["stage"] < null["looks"]).mean()),
                "expected_n_by_cap": by_cap,
                "p_recruited": p_recruited,
                # trials whose accrual the cap cut short of n (whether or not they stopped early)
                "capped_fraction": float(alt["capped"].mean()),
                "recruitable": p_recruited >= t.sizing.min_p_recruited,
                **_planned(plans.get(design)),
                "target_events": events.get(design, math.nan),
                "p_events_reached": _events_reached(alt, events.get(design)),
                "rmst_power": float(alt["rmst_reject"].mean()) if rmst else math.nan,
                "rmst_type1_error": float(null["rmst_reject"].mean()) if rmst else math.nan,
                "rmst_difference": float(alt["rmst_difference"].mean()) if rmst else math.nan,
                **_interim(alt, d),
                **{f"{k}_h0": v for k, v in _interim(null, d).items()},
                **safety_columns(spec, int(n), alt, null),
                **estimation_columns(spec, d, alt, null),
                "analytic_n": solved[design].n,
                "analytic_n_dropout": solved[design].n_dropout,
                "analytic_events": solved[design].events,
                "inflation_factor": float(solved[design].inflation),
                "events_reachable": _events_reachable(alt, events.get(design), t),
                **_historical_columns(spec, d),
            }
        )
    oc = pd.DataFrame(rows)
    oc["smallest_n_reaching_target"] = False
    for _, g in oc.groupby(["design", "accrual_scale"], sort=False):
        # an n that cannot be recruited within the cap is never the answer: its "power"
        # is that of a smaller, random trial; nor is an event-driven design's n whose
        # trials do not observe the target deaths (analysed at the end of follow-up)
        ok = g["recruitable"] & g["events_reachable"]
        hit = g[(g["power"] >= t.sizing.target_power) & ok].sort_values("n")
        if len(hit):
            oc.loc[hit.index[0], "smallest_n_reaching_target"] = True
    return oc[OC_COLUMNS]


def _phase2_markdown(oc: pd.DataFrame, t: TrialConfig) -> list[str]:
    """Single-arm designs with their own rule: the planned rule's exact operating
    characteristics next to the simulated ones (first accrual scale)."""
    rows = oc[oc["design_rule"] != ""].drop_duplicates("design")
    if rows.empty:
        return []
    lines = [
        "",
        f"**Single-arm designs with their own rule and n** (exact binomial; planned for size "
        f"<= {t.alpha} at p0 and power >= 1 - beta at p1; EN: expected number treated, PET: "
        "probability of early termination):",
        "",
        "| design | rule | p0 -> p1 | exact size | exact power | EN(p0) | EN(p1) | PET(p0) "
        "| PET(p1) | simulated power (SE) | expected n randomised | P(n recruited) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in rows.iterrows():
        p0 = getattr(t.historical, r["endpoint"])
        lines.append(
            f"| {r['design']} | {r['design_rule']} | "
            f"{r['endpoint']}: {p0:g} -> {r['planned_p1']:.3f} | {r['planned_size']:.4f} "
            f"| {r['planned_power']:.3f} | {r['planned_en_h0']:.1f} | {r['planned_en_h1']:.1f} "
            f"| {r['planned_pet_h0']:.3f} | {r['planned_pet_h1']:.3f} "
            f"| {r['power']:.3f} ({r['power_se']:.3f}) | {r['expected_n']:.1f} "
            f"| {r['p_recruited']:.3f} |"
        )
    return lines


def _solver_markdown(oc: pd.DataFrame, t: TrialConfig) -> list[str]:
    """The analytic n beside the simulated answer, per design (first accrual scale)."""
    rows = oc[oc["accrual_scale"] == oc["accrual_scale"].iloc[0]]
    lines = [
        "",
        f"**Analytic n** for {t.sizing.target_power:.0%} power at the pool's effect "
        "(sim/trial/solver.py: two proportions, Schoenfeld deaths, Whitehead, exact binomial; "
        "stratified where the design's analysis is, except mRS) beside the simulated "
        "smallest n" + (" (grid: auto, centred on it)" if t.sizing.grid == "auto" else "") + ":",
        "",
    ]
    for design, g in rows.groupby("design", sort=False):
        r = g.iloc[0]
        hit = g[g["smallest_n_reaching_target"]]
        sim_n = str(int(hit["n"].iloc[0])) if len(hit) else "not reached on the grid"
        if not math.isfinite(r["analytic_n"]):
            lines.append(f"* {design}: no analytic n (no benefit, or calendar looks); "
                         f"simulated {sim_n}")  # fmt: skip
            continue
        extra = []
        if math.isfinite(r["analytic_n_dropout"]):
            extra.append(f"{int(r['analytic_n_dropout'])} randomised with dropout")
        if math.isfinite(r["analytic_events"]):
            extra.append(f"{int(r['analytic_events'])} deaths")
        if math.isfinite(r["inflation_factor"]) and r["inflation_factor"] != 1.0:
            extra.append(f"inflation factor {r['inflation_factor']:.3f}")
        lines.append(
            f"* {design}: analytic {int(r['analytic_n'])}"
            + (f" ({', '.join(extra)})" if extra else "")
            + f"; simulated {sim_n}"
        )
    return lines


def _events_markdown(spec: Spec) -> list[str]:
    """Event-driven designs: their target deaths and where the number comes from."""
    t = spec.trial
    events = target_events(spec)
    if not events:
        return []
    hr = superpopulation(spec, "time_to_death")["hr"]
    items = ", ".join(
        f"{name}: {d}"
        + (
            f" (Schoenfeld 1983 for HR {hr:.3f}, power {1 - t.designs[name].beta:g})"
            if t.designs[name].target_events is None
            else " (target_events)"
        )
        for name, d in events.items()
    )
    return [
        "",
        f"**Event-driven designs** (final analysis at the target deaths): {items}; "
        "p_events_reached in operating_characteristics.csv is the share of trials that "
        "observed them.",
    ]


def _whitehead_markdown(spec: Spec) -> list[str]:
    """mrs_12m designs: the pool's mRS distributions, common odds ratio and Whitehead's
    (1993) fixed-design n for the target power."""
    t = spec.trial
    if not any(d.endpoint == "mrs_12m" for d in t.designs.values()):
        return []
    sp = superpopulation(spec, "mrs_12m")
    a, c = t.randomisation.allocation
    n = whitehead_n(
        sp["levels_c"], sp["odds_ratio"], t.alpha, 1 - t.sizing.target_power, a / (a + c)
    )
    dist = lambda v: " / ".join(f"{x:.3f}" for x in v)  # noqa: E731
    return [
        "",
        f"**mRS at 12 months** (pool; mRS 0 / 1 / ... / 6 = dead): {t.experimental} "
        f"{dist(sp['levels_e'])}; {t.control} {dist(sp['levels_c'])}; common odds ratio of "
        f"a better mRS (proportional odds) {sp['odds_ratio']:.3f}. Whitehead (1993): "
        f"{math.ceil(n)} patients with analysed outcomes for {t.sizing.target_power:.0%} power "
        "(fixed design, no dropout).",
    ]


def _safety_markdown(spec: Spec) -> list[str]:
    """The IRIS safety rule: its bound per look and exact stopping probabilities over
    all its looks at the report rates and at the pool's rates per arm."""
    t = spec.trial
    rule = safety_rule(t)
    if rule is None:
        return []
    s = t.safety
    looks, bounds = rule
    p_e, p_c = iris_rates(spec)
    rates = [(f"{r:g}", r) for r in s.report_rates]
    rates += [(f"{t.experimental} (pool) {p_e:.3f}", p_e), (f"{t.control} (pool) {p_c:.3f}", p_c)]
    rule_text = ", ".join(
        f"{b} of {n}" if b <= n else f"never at {n}" for n, b in zip(looks, bounds, strict=True)
    )
    probs = "; ".join(
        f"{name}: {safety.stop_probabilities(p, looks, bounds).sum():.3f}" for name, p in rates
    )
    return [
        "",
        f"**IRIS safety boundary** (stop if P(IRIS rate > {s.threshold:g} | data) > {s.cutoff:g}, "
        f"Beta({s.prior_a:g}, {s.prior_b:g}) prior, IRIS within {s.window_days:g} days): stop at "
        f"{rule_text} evaluable experimental patients with IRIS. Exact P(safety stop) over all "
        f"looks at an IRIS rate of {probs}. Simulated: p_stop_safety (_h0) in "
        "operating_characteristics.csv.",
    ]


def sizing_markdown(oc: pd.DataFrame, spec: Spec) -> str:
    """The smallest recruitable n reaching the target power, per design and accrual
    scale; the n the accrual cap rules out; single-arm designs' exact size."""
    t = spec.trial
    single = t.comparator == "historical"
    lines = [
        f"# Trial sizing: {t.name}",
        "",
        f"{t.experimental} vs {t.control if not single else 'historical control'}"
        f", one-sided alpha {t.alpha}, target power {t.sizing.target_power:.0%}, "
        f"{int(oc['n_trials'].iloc[0])} simulated trials per cell and scenario; "
        f"outcomes: {t.effect.kind} ("
        + (
            "experimental strategy simulated"
            if t.effect.kind == "model"
            else f"assumed HR {t.effect.hazard_ratio}"
        )
        + f"); randomisation {t.eligibility.randomisation_delay_days:g} days after diagnosis "
        f"({spec.pool.p_died_before_randomisation:.1%} of referred patients die before it).",
        "",
        "| design | accrual x | smallest n | power (SE) | type I error (SE) | expected n "
        "| expected duration (months) | analytic power | exact size at p0 "
        "| P(n recruited by the cap) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (design, scale), g in oc.groupby(["design", "accrual_scale"], sort=False):
        hit = g[g["smallest_n_reaching_target"]]
        if hit.empty:
            ok = g[g["recruitable"] & g["events_reachable"]].sort_values("n")
            events = not g["events_reachable"].all()
            if ok.empty:
                why = "not reached (no n of the grid is recruitable" + (
                    " and reaches the target deaths)" if events else ")"
                )
            else:
                best = ok.iloc[-1]
                why = (
                    "not reached (largest recruitable n"
                    + (" reaching the target deaths" if events else "")
                    + f" = {int(best['n'])}: power {best['power']:.3f})"
                )
            lines.append(f"| {design} | {scale:g} | {why} | | | | | | | |")
            continue
        r = hit.iloc[0]
        size = "" if math.isnan(r["type1_error_exact"]) else f"{r['type1_error_exact']:.4f}"
        lines.append(
            f"| {design} | {scale:g} | {int(r['n'])} | {r['power']:.3f} ({r['power_se']:.3f}) "
            f"| {r['type1_error']:.3f} ({r['type1_error_se']:.3f}) | {r['expected_n']:.1f} "
            f"| {r['expected_duration_months']:.1f} | {r['analytic_power']:.3f} | {size} "
            f"| {r['p_recruited']:.3f} |"
        )
    lines += [
        "",
        "Smallest n: the first grid value that is recruitable and whose simulated power "
        "reaches the target (point estimate; see power_se). Full table: "
        "operating_characteristics.csv.",
    ]
    a = t.assurance
    if a.draws and oc["assurance"].notna().any():
        lines += [
            "",
            f"**Assurance** (analytic power averaged over {a.draws} parameter draws from "
            f"conf/model/<model>_{a.source}.csv; boundaries and sizes as planned) beside the "
            "analytic power at the point estimate, at each design's largest n:",
            "",
        ]
        top = oc.sort_values("n").groupby(["design", "accrual_scale"], sort=False).tail(1)
        for r in top.to_dict("records"):
            if math.isfinite(r["assurance"]):
                lines.append(
                    f"* {r['design']} (accrual x {r['accrual_scale']:g}), n = {int(r['n'])}: "
                    f"power {r['analytic_power']:.3f}, assurance {r['assurance']:.3f} "
                    f"(SE {r['assurance_se']:.3f})"
                )
    capped = oc[~oc["recruitable"]].drop_duplicates(["n", "accrual_scale"])
    for scale, g in capped.groupby("accrual_scale", sort=False):
        items = ", ".join(
            f"{int(r['n'])} (P = {r['p_recruited']:.2f}, {r['capped_fraction']:.0%} of trials "
            "capped)"
            for _, r in g.sort_values("n").iterrows()
        )
        lines += [
            "",
            f"**Not recruitable within the accrual cap** (accrual x {scale:g}: "
            f"{t.accrual.max_accrual_months:g} months, {g['expected_n_by_cap'].iloc[0]:.1f} "
            f"patients expected by then; an n needs P(n randomised by the cap) >= "
            f"{t.sizing.min_p_recruited:g}): n = {items}. Their rows in "
            "operating_characteristics.csv describe smaller, random-sized trials "
            "(recruitable = False) and are never the smallest n.",
        ]
    short = oc[oc["recruitable"] & ~oc["events_reachable"]]
    for (design, scale), g in short.groupby(["design", "accrual_scale"], sort=False):
        items = ", ".join(
            f"{int(r['n'])} (P = {r['p_events_reached']:.2f})"
            for _, r in g.sort_values("n").iterrows()
        )
        lines += [
            "",
            f"**Target deaths not reached** ({design}, accrual x {scale:g}: "
            f"{int(g['target_events'].iloc[0])} deaths; an n needs them observed in >= "
            f"{t.sizing.min_p_recruited:g} of the trials reaching the final analysis): n = "
            f"{items}. Those trials are analysed at the end of follow-up with fewer deaths "
            "(events_reachable = False) and are never the smallest n.",
        ]
    lines += _phase2_markdown(oc, t)
    lines += _solver_markdown(oc, t)
    lines += _whitehead_markdown(spec)
    lines += _events_markdown(spec)
    lines += _safety_markdown(spec)
    above = oc[oc["control_above_p0"]]
    for _, g in above.groupby("design", sort=False):
        r = g.iloc[0]
        ok = g[g["recruitable"]] if g["recruitable"].any() else g
        lo, hi = ok["type1_error"].min(), ok["type1_error"].max()
        where = "recruitable n" if g["recruitable"].any() else "n"
        lines += [
            "",
            f"**Warning: {t.control} beats the historical p0** ({r['design']}): the model's "
            f"{r['endpoint']} under {t.control} in this design's pool is "
            f"{r['control_rate_pool']:.3f}, above p0 = {r['historical_p0']:g}. A design tested "
            f"against p0 then rejects more often than alpha when the experimental therapy "
            f"is no better than today's {t.control} (type I error under {t.control} "
            f"outcomes: {lo:.3f}-{hi:.3f} at the grid's {where} {int(ok['n'].min())}-"
            f"{int(ok['n'].max())}, alpha {t.alpha}); "
            "p0 is the design's input and is not changed (docs/trial.md).",
        ]
    if single:
        lines += [
            "",
            "Single arm: `type I error` is the rejection rate when trial patients get the "
            f"{t.control} strategy's outcomes (the pool's value "
            + ", ".join(
                f"{d.endpoint} {superpopulation(spec, d.endpoint)['p_c']:.3f} vs historical "
                f"{getattr(t.historical, d.endpoint)}"
                for d in {d.endpoint: d for d in t.designs.values()}.values()
            )
            + "): the type I error only if the control strategy matches the historical "
            "value. `exact size at p0` is the design's exact binomial size at p = p0 "
            "(its rule and looks at the simulated analysed sizes).",
        ]
    return "\n".join(lines) + "\n"
