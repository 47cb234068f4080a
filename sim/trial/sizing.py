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
  accrual scale) whose simulated power reaches sizing.target_power.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import poisson

from sim.config.schema import ExecutorConfig
from sim.config.trial import DesignConfig
from sim.engine.executors import ordered_map
from sim.trial import analyses
from sim.trial.accrual import DAYS_PER_MONTH, intensity
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds, futility_bounds
from sim.trial.design import Spec, simulate_trials, superpopulation

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
]


def simulate_grid(
    spec: Spec, executor: ExecutorConfig, on_chunk: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """All trials of the grid: one row per design x n x scale x scenario x trial."""
    sz = spec.trial.sizing
    futility = {n: planned_futility(spec, n) for n in sz.n}
    tasks = [
        (spec, n, scale, si, lo, min(lo + sz.chunk_trials, sz.trials), futility[n])
        for si, scale in enumerate(sz.accrual_scale)
        for n in sz.n
        for lo in range(0, sz.trials, sz.chunk_trials)
    ]
    rows: list[dict] = []
    with ordered_map(executor) as run:
        for task, part in zip(tasks, run(simulate_trials, tasks), strict=True):
            lo, hi = task[4], task[5]
            rows.extend(part)
            if on_chunk is not None:
                on_chunk(hi - lo)
    return pd.DataFrame(rows)


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
    if d.endpoint == "time_to_death":
        o_e, o_c = spec.pool.outcomes["experimental"], spec.pool.outcomes["control"]
        p_death = share * np.isfinite(o_e.death_day).mean()
        p_death += (1 - share) * np.isfinite(o_c.death_day).mean()
        return analyses.drift_logrank(sp["hr"], n * p_death, share)
    if t.comparator == "historical":
        p, p0 = sp["p_e"], getattr(t.historical, d.endpoint)
        return (p - p0) / math.sqrt(p * (1 - p) / n)
    return analyses.drift_two_proportions(sp["p_e"], sp["p_c"], n * share, n * (1 - share))


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


def analytic_power(spec: Spec, design: str, alt: pd.DataFrame) -> float:
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
    sp = superpopulation(spec, d.endpoint)
    a, c = t.randomisation.allocation
    share = a / (a + c)
    n_e = float(final["n_analysed_e"].mean())
    n_c = float(final["n_analysed_c"].mean())
    fixed = d.type_of_design == "none"
    if d.endpoint == "time_to_death":
        deaths = float(final["deaths"].mean())
        if fixed:
            return analyses.power_logrank(sp["hr"], deaths, share, t.alpha)
        drift, ratio = analyses.drift_logrank(sp["hr"], deaths, share), 1.0
    elif t.comparator == "historical":
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


def operating_characteristics(spec: Spec, trials: pd.DataFrame) -> pd.DataFrame:
    """One row per design x n x accrual scale (OC_COLUMNS)."""
    t = spec.trial
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    rows = []
    for (design, n, scale), g in trials.groupby(["design", "n", "accrual_scale"], sort=False):
        alt, null = g[g["scenario"] == "alternative"], g[g["scenario"] == "null"]
        k = len(alt)
        power = float(alt["reject"].mean())
        t1 = float(null["reject"].mean())
        d = t.designs[design]
        by_cap, p_recruited = recruitment(spec, int(n), scale)
        rows.append(
            {
                "design": design,
                "endpoint": d.endpoint,
                "type_of_design": d.type_of_design,
                "n": int(n),
                "accrual_scale": scale,
                # randomised patients per month once every site is open
                "accrual_rate": intensity(t.accrual, scale, p_rand).final_rate * DAYS_PER_MONTH,
                "n_trials": k,
                "power": power,
                "power_se": _se(power, k),
                "type1_error": t1,
                "type1_error_se": _se(t1, len(null)),
                "p_stop_efficacy": float(alt["stop_efficacy"].mean()),
                "p_stop_futility": float(alt["stop_futility"].mean()),
                "early_stop": float((alt["stage"] < alt["looks"]).mean()),
                "expected_n": float(alt["n_randomised"].mean()),
                "expected_n_h0": float(null["n_randomised"].mean()),
                "expected_events": float(alt["deaths"].mean()),
                "expected_duration_months": float(alt["duration_months"].mean()),
                "duration_q10_months": float(alt["duration_months"].quantile(0.1)),
                "duration_q90_months": float(alt["duration_months"].quantile(0.9)),
                "expected_duration_months_h0": float(null["duration_months"].mean()),
                "analytic_power": analytic_power(spec, design, alt),
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
            }
        )
    oc = pd.DataFrame(rows)
    oc["smallest_n_reaching_target"] = False
    for _, g in oc.groupby(["design", "accrual_scale"], sort=False):
        # an n that cannot be recruited within the cap is never the answer: its "power"
        # is that of a smaller, random trial
        hit = g[(g["power"] >= t.sizing.target_power) & g["recruitable"]].sort_values("n")
        if len(hit):
            oc.loc[hit.index[0], "smallest_n_reaching_target"] = True
    return oc[OC_COLUMNS]


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
            ok = g[g["recruitable"]].sort_values("n")
            if ok.empty:
                why = "not reached (no n of the grid is recruitable)"
            else:
                best = ok.iloc[-1]
                why = (
                    f"not reached (largest recruitable n = {int(best['n'])}: power "
                    f"{best['power']:.3f})"
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
