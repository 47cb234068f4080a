"""One virtual trial, from the first site opening to the analysis that stops it.

For a maximum sample size n, a trial:

1. randomises patients at Poisson accrual times (sim.trial.accrual; randomisation
   comes `eligibility.randomisation_delay_days` after referral) until n or the
   accrual cap, each a random eligible pool patient alive at randomisation
   (sim.trial.pool), to arms by permuted blocks within condition strata
   (sim.trial.randomise);
2. gives each patient an exponential loss-to-follow-up time (trial.followup);
3. reads each patient's outcomes under its arm from the pool: under the
   "alternative" scenario the experimental arm gets the experimental strategy's (or
   the assumed effect's) outcomes, under the "null" scenario everyone gets the
   control strategy's (so type I error is simulated, not assumed);
4. analyses at each look of each design in its own calendar: the final analysis is
   min_followup_months after the last randomisation; interim looks are placed at
   planned information fractions (the date at which that share of the final
   analysis's information - patients with a settled binary outcome whose window has
   passed, or deaths - is in) or at calendar months (boundaries then follow the
   observed fractions);
5. stops at the first look whose z crosses the efficacy boundary, or (interims only)
   falls below futility_z.

A binary outcome is settled at death or at the end of its window (1-year survival:
day 365; CSF clearance: the CSF day; IRIS: onset, death or day 365), but a patient
enters an analysis only once the whole window has passed since randomisation: an
interim analysis that also counted the early deaths of recently randomised patients
would select patients on their outcome (more deaths among the known outcomes, less
information per patient than the look's planned fraction assumes). Patients lost to
follow-up before their outcome is settled are left out of the z / Fisher analyses
(complete cases), and censored at their loss in the Kaplan-Meier (`km`) and log-rank
analyses. A design with `stratified: true` analyses within the randomisation strata
(conditions): Cochran-Mantel-Haenszel, stratified KM difference or stratified
log-rank.

The trial's random numbers come from a generator keyed by (seed, the stream name
"trial/enrolment", n, accrual scale index, trial index): the same trial patients are
analysed under both scenarios and by every design (common random numbers), and
results do not depend on how trials are split between workers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.config.trial import DesignConfig, TrialConfig
from sim.core import rng
from sim.trial import analyses, conditional, estimation, gs_maxcombo, safety, weighted
from sim.trial.accrual import DAYS_PER_MONTH, intensity, randomised_times
from sim.trial.boundaries import CALENDAR_DIGITS, efficacy_bounds
from sim.trial.ordinal import MRS_CATEGORIES, proportional_odds
from sim.trial.phase2 import Plan, run_phase2
from sim.trial.pool import Outcomes, Pool
from sim.trial.randomise import block_ids, permuted_blocks
from sim.trial.rerandomise import rerandomised
from sim.trial.rmst import rmst_difference

# binary endpoints with a historical value (single-arm designs can use them)
HISTORICAL = ("survival_1y", "csf_clearance_12w", "no_iris")
# death or disability (mRS >= trial.disability_mrs) at 12 months: two arms only
BINARY = (*HISTORICAL, "death_or_disability")
ENDPOINTS = (*BINARY, "time_to_death", "mrs_12m")
SCENARIOS = ("alternative", "null")
DAYS_PER_YEAR = 365.25
# days added to an event-driven analysis date (a death's calendar day) so that the
# analyses, which test death_day <= day - entry, count that death despite rounding
SAME_DAY = 1e-6
_ENROLMENT = "trial/enrolment"  # random stream (sim.core.rng) of a trial's enrolment
_EXTENSION = "trial/ssr_extension"  # ... of the extra patients of a re-estimated trial
# ... of the re-randomisation test's shuffles (the same for both scenarios and every
# design of a trial: common random numbers)
_RERANDOMISATION = "trial/rerandomisation"


@dataclass
class Spec:
    """Everything a worker needs to simulate trials (picklable)."""

    seed: int
    trial: TrialConfig
    pool: Pool


@dataclass
class Enrolled:
    entry: np.ndarray  # randomisation day (from the first site opening)
    pool_index: np.ndarray
    experimental: np.ndarray  # bool
    stratum: np.ndarray  # condition code (index into CONDITIONS)
    dropout: np.ndarray  # days from randomisation to loss to follow-up (inf: never)
    screened: int  # referred patients screened to randomise them
    horizon_days: float  # follow-up the pool's outcomes cover
    # (seed, n, accrual scale index, trial index): keys the re-randomisation stream
    key: tuple[int, ...] = ()


def enrol(spec: Spec, n: int, scale: float, scale_index: int, trial_index: int) -> Enrolled:
    t = spec.trial
    gen = rng.generator(spec.seed, _ENROLMENT, n, scale_index, trial_index)
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    m = intensity(t.accrual, scale, p_rand)
    # randomisation comes `delay` days after referral (diagnosis); the cap is on it
    delay = t.eligibility.randomisation_delay_days
    cap = t.accrual.max_accrual_months * DAYS_PER_MONTH
    entry = randomised_times(gen, m, n, cap - delay) + delay
    k = len(entry)
    idx = gen.integers(len(spec.pool), size=k)
    historical = t.comparator == "historical"
    if historical:
        arm = np.ones(k, dtype=bool)
    else:
        strata = spec.pool.condition[idx] if t.randomisation.stratify else np.zeros(k, int)
        a, c = t.randomisation.allocation
        arm = permuted_blocks(strata, (a, c), t.randomisation.block_size, gen)
    rate = t.followup.dropout_per_year / DAYS_PER_YEAR
    dropout = gen.exponential(1.0 / rate, size=k) if rate > 0 else np.full(k, np.inf)
    failures = int(gen.negative_binomial(k, p_rand)) if 0 < k and p_rand < 1.0 else 0
    cond = spec.pool.condition[idx]
    return Enrolled(
        entry,
        idx,
        arm,
        cond,
        dropout,
        k + failures,
        spec.pool.horizon_days,
        (spec.seed, n, scale_index, trial_index),
    )


def outcomes(spec: Spec, e: Enrolled, scenario: str) -> Outcomes:
    ctl = spec.pool.outcomes["control"].take(e.pool_index)
    if scenario == "null":
        return ctl
    exp = spec.pool.outcomes["experimental"].take(e.pool_index)
    w = e.experimental
    return Outcomes(
        np.where(w, exp.death_day, ctl.death_day),
        np.where(w, exp.iris_day, ctl.iris_day),
        np.where(w, exp.csf_cleared, ctl.csf_cleared),
        np.where(w, exp.mrs, ctl.mrs),
    )


@dataclass
class Endpoint:
    """Per-patient data of one endpoint: when its information arrives, and its value."""

    info_day: np.ndarray  # calendar day the patient adds information (inf: never)
    success: np.ndarray | None  # binary endpoints: the good outcome
    level: np.ndarray | None = None  # ordinal endpoint (mrs_12m): mRS 0-6, lower is better
    settle_day: np.ndarray | None = None  # binary: days from randomisation to the outcome
    window: float | None = None  # binary: days from randomisation to the end of the window


def endpoint_data(name: str, t: TrialConfig, e: Enrolled, o: Outcomes) -> Endpoint:
    if name == "time_to_death":
        seen = o.death_day <= e.dropout
        return Endpoint(np.where(seen, e.entry + o.death_day, np.inf), None)
    if name == "mrs_12m":  # read at the model horizon (validation: 365 days)
        window = e.horizon_days
        known = e.dropout >= np.minimum(o.death_day, window)
        return Endpoint(np.where(known, e.entry + window, np.inf), None, o.mrs)
    if name == "survival_1y":
        window = t.survival_day
        settle = np.minimum(o.death_day, window)
        good = o.death_day > window
    elif name == "death_or_disability":  # alive at 12 months (the horizon), mRS < disability
        window = t.survival_day
        settle = np.minimum(o.death_day, window)
        good = (o.death_day > window) & (o.mrs < t.disability_mrs)
    elif name == "csf_clearance_12w":
        window = t.csf_day
        settle = np.minimum(o.death_day, window)
        good = o.csf_cleared
    else:  # no_iris
        window = t.survival_day
        settle = np.minimum(np.minimum(o.iris_day, o.death_day), window)
        good = ~(o.iris_day <= window)
    known = e.dropout >= settle
    # counted once the whole window has passed, even if settled earlier (by death):
    # counting early deaths of recent patients would select on the outcome
    return Endpoint(
        np.where(known, e.entry + window, np.inf), good, settle_day=settle, window=window
    )


def survival_data(
    d: DesignConfig, e: Enrolled, o: Outcomes, day: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(time, death observed, experimental, stratum or None) of the patients randomised
    by calendar day `day`, followed to loss, the analysis date or the pool's horizon."""
    on = e.entry <= day
    fu = np.minimum(np.minimum(e.dropout, day - e.entry), e.horizon_days)[on]
    death = o.death_day[on]
    event = death <= fu
    strata = e.stratum[on] if d.stratified else None
    return np.minimum(fu, death), event, e.experimental[on], strata


def _rerandomised(
    r: analyses.TestResult,
    t: TrialConfig,
    e: Enrolled,
    day: float,
    time: np.ndarray,
    event: np.ndarray,
    arm: np.ndarray,
    strata: np.ndarray | None,
    pairs: list,
    count: int,
) -> analyses.TestResult:
    """`r` with the re-randomisation p (sim.trial.rerandomise): the arms shuffled within
    the permuted blocks the trial's randomisation filled (its strata, its block size)."""
    if not e.key:  # only `enrol` keys a trial; re-estimated extensions are refused earlier
        raise ValueError("re-randomisation needs a trial made by enrol (its stream key)")
    rand = e.stratum if t.randomisation.stratify else np.zeros(len(e.stratum), int)
    blocks = block_ids(rand, t.randomisation.block_size)[e.entry <= day]
    gen = rng.generator(e.key[0], _RERANDOMISATION, *e.key[1:])
    return rerandomised(r, time, event, arm, blocks, pairs, strata, count, gen)


def _test(
    d: DesignConfig, t: TrialConfig, e: Enrolled, o: Outcomes, ep: Endpoint, day: float
) -> tuple[analyses.TestResult, int, int]:
    """The design's test at calendar day `day`; also patients analysed per arm.

    Log-rank follow-up ends at loss to follow-up, at the analysis date, or at the
    pool's horizon (beyond it the model says nothing: censored there).
    """
    if d.endpoint == "time_to_death":
        time, event, arm, strata = survival_data(d, e, o, day)
        if d.test == "fh":
            pairs = [(d.fh_rho, d.fh_gamma)]
            r = weighted.fleming_harrington(time, event, arm, strata, d.fh_rho, d.fh_gamma)
        elif d.test == "maxcombo":
            pairs = [tuple(p) for p in d.maxcombo_weights]
            r = weighted.maxcombo(time, event, arm, strata, pairs)[0]
        else:
            pairs = [(0.0, 0.0)]
            r = analyses.logrank(time, event, arm, strata, d.logrank_variance)
        if d.p_value == "rerandomisation":
            r = _rerandomised(r, t, e, day, time, event, arm, strata, pairs, d.rerandomisations)
        return r, int(arm.sum()), int((~arm).sum())
    known = ep.info_day <= day
    ok = ep.success
    if d.endpoint == "mrs_12m":  # proportional odds on the arm x (stratum x) mRS table
        ke, kc = known & e.experimental, known & ~e.experimental
        k = MRS_CATEGORIES
        s = int(e.stratum.max()) + 1 if d.stratified and len(e.stratum) else 1

        def table(mask: np.ndarray) -> np.ndarray:
            cell = (e.stratum[mask] if s > 1 else 0) * k + ep.level[mask]
            return np.bincount(cell, minlength=s * k).reshape(s, k)

        r = proportional_odds(table(ke), table(kc))
        return r, int(ke.sum()), int(kc.sum())
    if d.test == "km":  # 1-year survival, censored at loss to follow-up
        window = e.entry + t.survival_day <= day  # whole window passed: as ep.info_day
        fu = np.minimum(e.dropout, t.survival_day)[window]
        death = o.death_day[window]
        arm = e.experimental[window]
        strata = e.stratum[window] if d.stratified else None
        r = analyses.km_difference(np.minimum(fu, death), death <= fu, arm, t.survival_day, strata)
        return r, int(arm.sum()), int((~arm).sum())
    exact = d.test == "fisher"
    if t.comparator == "historical":
        p0 = getattr(t.historical, d.endpoint)
        n = int(known.sum())
        return analyses.one_proportion(int((known & ok).sum()), n, p0, exact), n, 0
    ke, kc = known & e.experimental, known & ~e.experimental
    if d.stratified:
        k = int(e.stratum.max()) + 1 if len(e.stratum) else 1

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(e.stratum[mask], minlength=k)

        r = analyses.two_proportions_stratified(
            count(ke & ok), count(ke), count(kc & ok), count(kc)
        )
        return r, int(ke.sum()), int(kc.sum())
    r = analyses.two_proportions(
        int((ke & ok).sum()), int(ke.sum()), int((kc & ok).sum()), int(kc.sum()), exact
    )
    return r, int(ke.sum()), int(kc.sum())


def looks(
    d: DesignConfig, t: TrialConfig, ep: Endpoint, final_day: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(calendar days, efficacy boundaries, index of the planned look, information
    fractions the boundaries were computed at) of the looks this trial gets (an
    interim that would fall on the final date is dropped)."""
    info = np.sort(ep.info_day[ep.info_day <= final_day])
    total = len(info)
    if total == 0 or d.type_of_design == "none":
        last = np.array([len(d.information_rates) - 1])
        return np.array([final_day]), efficacy_bounds([1.0], t.alpha, "none"), last, np.ones(1)
    if d.timing == "information":
        planned = np.asarray(d.information_rates[:-1], dtype=float)
        days = info[np.ceil(planned * total).astype(int) - 1]
        keep = days < final_day
        fr = [*planned[keep], 1.0]
        index = np.r_[np.flatnonzero(keep), len(planned)]
        days = [*days[keep], final_day]
        bounds = efficacy_bounds(fr, t.alpha, d.type_of_design)
        return np.asarray(days), bounds, index, np.asarray(fr)
    days, fr = [], []
    for m in d.look_months:
        day = m * DAYS_PER_MONTH
        f = round(np.searchsorted(info, day, side="right") / total, CALENDAR_DIGITS)
        if day < final_day and 0.0 < f < 1.0 and (not fr or f > fr[-1]):
            days.append(day)
            fr.append(f)
    bounds = efficacy_bounds([*fr, 1.0], t.alpha, d.type_of_design, digits=CALENDAR_DIGITS)
    fractions = np.asarray([*fr, 1.0])
    return np.asarray([*days, final_day]), bounds, np.arange(len(days) + 1), fractions


def single_arm_exact(
    d: DesignConfig,
    t: TrialConfig,
    ep: Endpoint,
    days: np.ndarray,
    bounds: np.ndarray,
    floors: list[float | None],
    p_alternative: float,
) -> tuple[float, float]:
    """Exact rejection probabilities of a single-arm design given this trial's looks:
    (at p = p0, the historical value: the exact size; at p = p_alternative: the exact
    power), for the numbers of patients analysed at each of its looks (also the looks
    after the one it stopped at), the same boundaries and futility rule."""
    sizes = tuple(int((ep.info_day <= day).sum()) for day in days)
    crit = tuple(float(c) for c in bounds)
    fut = tuple(-math.inf if f is None else float(f) for f in floors)
    p0 = getattr(t.historical, d.endpoint)
    exact = d.test == "fisher"
    size = sum(analyses.one_proportion_crossing(p0, p0, sizes, crit, fut, exact)[0])
    power = sum(analyses.one_proportion_crossing(p_alternative, p0, sizes, crit, fut, exact)[0])
    return size, power


def analysis_day(
    d: DesignConfig, t: TrialConfig, e: Enrolled, ep: Endpoint, target_events: int | None
) -> float:
    """The final analysis's calendar day: min_followup_months after the last
    randomisation, or (analysis: events) the day the target_events-th death is observed;
    a trial that never observes that many (deaths are followed to the pool's horizon)
    is analysed once everyone's follow-up has ended, last randomisation + horizon."""
    if d.analysis != "events" or target_events is None:
        return float(e.entry.max()) + t.followup.min_followup_months * DAYS_PER_MONTH
    deaths = np.sort(ep.info_day[np.isfinite(ep.info_day)])
    if len(deaths) >= target_events:
        return float(deaths[target_events - 1]) + SAME_DAY
    return float(e.entry.max()) + e.horizon_days


def rmst_at(d: DesignConfig, e: Enrolled, o: Outcomes, day: float, critical: float) -> dict:
    """The secondary RMST analysis (rmst_tau_days) at the stopping analysis, against the
    primary's critical z at that look (NaN / False without one)."""
    if d.rmst_tau_days is None:
        return {"rmst_z": math.nan, "rmst_difference": math.nan, "rmst_tau_days": math.nan,
                "rmst_reject": False}  # fmt: skip
    on = e.entry <= day
    fu = np.minimum(np.minimum(e.dropout, day - e.entry), e.horizon_days)[on]
    death = o.death_day[on]
    r, tau = rmst_difference(
        np.minimum(fu, death), death <= fu, e.experimental[on], d.rmst_tau_days
    )
    return {"rmst_z": r.z, "rmst_difference": r.estimate, "rmst_tau_days": tau,
            "rmst_reject": bool(r.z >= critical)}  # fmt: skip


def estimates_at(
    d: DesignConfig,
    t: TrialConfig,
    r: analyses.TestResult,
    k: int,
    fractions: np.ndarray,
    bounds: np.ndarray,
    floors: list,
    stop_safety: bool,
) -> dict[str, float]:
    """Estimation after the stop at look k (1-based) of a log-rank design: the repeated
    confidence interval of the HR at that look and the stage-wise median-unbiased HR
    with its 1 - 2 alpha interval, for the looks, boundaries and futility rule the
    trial had (NaN for other tests, re-estimated trials and safety stops)."""
    ok = d.endpoint == "time_to_death" and d.test == "logrank" and d.ssr == "none"
    info = r.information if ok and not stop_safety else math.nan
    fut = [math.nan if f is None else float(f) for f in floors]
    fut = [-math.inf if math.isnan(f) else f for f in fut]
    return estimation.hazard_ratio_estimates(r.z, info, k, fractions, bounds, fut, t.alpha)


@dataclass
class Extras:
    """What run_design needs beyond the trial for conditional power, re-estimation and
    safety monitoring (sim.trial.sizing / simulate_trials make it per design and n)."""

    n: int | None = None  # the planned maximum n
    theta: float | None = None  # planned drift at n: conditional power under the design
    safety: tuple[np.ndarray, np.ndarray] | None = None  # IRIS rule: (looks, bounds)
    # promising-zone re-estimation: (interim day, extra patients) -> the trial with them
    extend: Callable[[float, int], tuple[Enrolled, Outcomes]] | None = None


def safety_day(t: TrialConfig, e: Enrolled, o: Outcomes, extras: Extras | None) -> float:
    """Calendar day of the first IRIS safety look that crosses its bound (inf: none)."""
    if extras is None or extras.safety is None:
        return math.inf
    s = t.safety
    day, iris = safety.evaluable(
        s.window_days, e.entry, e.dropout, e.experimental, o.iris_day, o.death_day
    )
    return safety.first_stop(day, iris, *extras.safety)[0]


def _subset(e: Enrolled, o: Outcomes, ep: Endpoint, keep: np.ndarray):
    """The patients `keep` of a trial (the CHW statistic's stage-2 analysis)."""
    sub = Enrolled(
        e.entry[keep], e.pool_index[keep], e.experimental[keep], e.stratum[keep],
        e.dropout[keep], e.screened, e.horizon_days,
    )  # fmt: skip
    return (
        sub,
        o.take(keep),
        Endpoint(
            ep.info_day[keep],
            None if ep.success is None else ep.success[keep],
            None if ep.level is None else ep.level[keep],
            None if ep.settle_day is None else ep.settle_day[keep],
            ep.window,
        ),
    )


def _reestimate(
    d: DesignConfig, t: TrialConfig, e: Enrolled, o: Outcomes, extras: Extras,
    z1: float, day1: float, t1: float, c2: float,
):  # fmt: skip
    """Promising-zone re-estimation at the interim of a two-look design and the final
    analysis: (trial, outcomes, endpoint data, final day, test result of the final
    statistic, analysed per arm, information factor, new maximum n, safety stop)."""
    _, f = conditional.promising_zone_factor(
        z1, t1, c2, d.ssr_cp_min, d.ssr_cp_target, d.ssr_max_factor
    )
    n_new = extras.n
    if f > 1.0:
        n_new = min(math.ceil(extras.n * f - 1e-9), math.floor(extras.n * d.ssr_max_factor))
    if n_new > extras.n:
        e, o = extras.extend(day1, n_new - extras.n)
    ep = endpoint_data(d.endpoint, t, e, o)
    final = analysis_day(d, t, e, ep, None)
    stop = safety_day(t, e, o, extras)
    if stop <= final:
        r, n_e, n_c = _test(d, t, e, o, ep, stop)
        return e, o, ep, stop, r, n_e, n_c, f, n_new, True
    r, n_e, n_c = _test(d, t, e, o, ep, final)
    if d.ssr_statistic == "chw":  # stage 2: the patients not in the interim analysis
        later = e.entry + ep.window > day1
        r2, _, _ = _test(d, t, *_subset(e, o, ep, later), final)
        z = math.sqrt(t1) * z1 + math.sqrt(1.0 - t1) * r2.z
        r = analyses.TestResult(z, 0.5 * math.erfc(z / math.sqrt(2.0)), r.estimate,
                                r.experimental, r.control)  # fmt: skip
    return e, o, ep, final, r, n_e, n_c, f, n_new, False


def run_design(
    name: str,
    d: DesignConfig,
    t: TrialConfig,
    e: Enrolled,
    o: Outcomes,
    futility_bounds: np.ndarray | None = None,
    p_alternative: float | None = None,
    target_events: int | None = None,
    extras: Extras | None = None,
) -> dict[str, float | int | str | bool]:
    """Analyse one trial under one design: the row of trials.parquet.

    `futility_bounds`: beta-spending futility z bounds of the planned looks (sizing
    computes them from the planned effect at this n), or None. `p_alternative`
    (single-arm designs): the experimental arm's true value of the endpoint, for the
    exact power given this trial's looks (`single_arm_exact`): the probability that an
    analysed (complete-case) patient has the good outcome. `extras`: conditional power
    under the design effect, the IRIS safety rule and re-estimation (`Extras`).

    Two-arm designs with interim looks record the conditional power at the first
    interim (sim.trial.conditional), under the current trend and the design effect
    (not group-sequential MaxCombo designs, whose z is not a Brownian motion's: NaN).
    Group-sequential MaxCombo designs (test: maxcombo with interim looks) take their
    bounds and stage-wise p-values from sim.trial.gs_maxcombo.
    An IRIS safety stop (sim.trial.safety) ends the trial on its day, without
    rejection, if it comes before (or on) the next efficacy look; `stage` is then the
    number of efficacy looks done. Designs with `ssr: promising_zone` re-estimate n at
    their interim (`_reestimate`)."""
    ep = endpoint_data(d.endpoint, t, e, o)
    final_day = analysis_day(d, t, e, ep, target_events)
    days, bounds, index, fractions = looks(d, t, ep, final_day)
    k = len(days)
    floors = [d.futility_z if futility_bounds is None else futility_bounds[j] for j in index]
    exact_size = exact_power = math.nan
    if t.comparator == "historical" and p_alternative is not None:
        exact_size, exact_power = single_arm_exact(d, t, ep, days, bounds, floors, p_alternative)
    stop_day = safety_day(t, e, o, extras)
    cp_trend = cp_design = ssr_factor = ssr_n = math.nan
    stop_safety = efficacy = futility = False
    seq = None  # group-sequential MaxCombo (sim/trial/gs_maxcombo.py): its own bounds
    if d.test == "maxcombo" and k > 1:
        pairs = [tuple(p) for p in d.maxcombo_weights]
        seq = gs_maxcombo.SequentialMaxCombo(pairs, fractions, t.alpha, d.type_of_design)
        bounds = gs_maxcombo.critical_z(fractions, t.alpha, d.type_of_design)
    for i, (day, c) in enumerate(zip(days, bounds, strict=True)):
        last = i == k - 1
        if stop_day <= day:
            day, stop_safety = stop_day, True
            r, n_e, n_c = _test(d, t, e, o, ep, day)
            break
        if seq is not None:  # z: Phi^-1(1 - stage-wise p); futility on the largest FH z
            time, event, arm, strata = survival_data(d, e, o, day)
            r, z_futility = seq.look(time, event, arm, strata)
            n_e, n_c = int(arm.sum()), int((~arm).sum())
        else:
            r, n_e, n_c = _test(d, t, e, o, ep, day)
            z_futility = r.z
        efficacy = r.z >= c
        floor = floors[i]
        futility = (not last) and floor is not None and z_futility < floor
        if i == 0 and not last and t.comparator == "randomised" and seq is None:
            t1, later = float(fractions[0]), fractions[1:]
            trend = conditional.trend_drift(r.z, t1)
            cp_trend = conditional.conditional_power(r.z, t1, later, bounds[1:], trend)
            if extras is not None and extras.theta is not None:
                cp_design = conditional.conditional_power(r.z, t1, later, bounds[1:], extras.theta)
        if efficacy or futility or last:
            break
        if i == 0 and d.ssr != "none" and extras is not None and extras.extend is not None:
            e, o, ep, day, r, n_e, n_c, ssr_factor, ssr_n, stop_safety = _reestimate(
                d, t, e, o, extras, r.z, day, float(fractions[0]), float(bounds[1])
            )
            i, c, last = 1, bounds[1], True
            efficacy = (not stop_safety) and r.z >= c
            break
    on = e.entry <= day
    deaths = int((o.death_day[on] <= np.minimum(e.dropout, day - e.entry)[on]).sum())
    rm = rmst_at(d, e, o, day, float(c))
    est = estimates_at(d, t, r, i + 1, fractions, bounds, floors, stop_safety)
    return {
        **rm,
        "design": name,
        "stage": i + 1 - stop_safety,  # rpact: the stage at which the trial stopped
        "looks": k,
        "reject": bool(efficacy),
        "stop_efficacy": bool(efficacy and not last),
        "stop_futility": bool(futility),
        "duration_months": day / DAYS_PER_MONTH,
        "accrual_months": float(e.entry[on].max()) / DAYS_PER_MONTH,
        "n_randomised": int(on.sum()),
        "n_analysed_e": n_e,
        "n_analysed_c": n_c,
        "deaths": deaths,
        "z": r.z,
        "p": r.p,
        "critical_z": float(c),
        "estimate": r.estimate,
        "estimate_e": r.experimental,
        "estimate_c": r.control,
        "exact_size": exact_size,  # single arm: exact P(reject | p = p0) at these looks
        "exact_power": exact_power,  # single arm: exact P(reject | p = p_alternative)
        # added later: conditional power at the first interim (two arms; NaN without one)
        "cp_trend": cp_trend,
        "cp_design": cp_design,
        # promising-zone re-estimation: information factor f and new maximum n (NaN: none)
        "ssr_factor": ssr_factor,
        "ssr_n": ssr_n,
        "stop_safety": bool(stop_safety),
        # log-rank designs: repeated CI of the HR at the stopping look, stage-wise
        # median-unbiased HR and its interval (sim/trial/estimation.py; NaN otherwise)
        **est,
    }


def superpopulation(spec: Spec, endpoint: str) -> dict:
    """The pool's true value of an endpoint per arm (and its HR for time to death; for
    mrs_12m the category shares per arm and the proportional-odds common odds ratio)."""
    t, pool = spec.trial, spec.pool
    o_c, o_e = pool.outcomes["control"], pool.outcomes["experimental"]
    m = len(pool)
    if endpoint == "mrs_12m":
        c_e = np.bincount(o_e.mrs, minlength=MRS_CATEGORIES)
        c_c = np.bincount(o_c.mrs, minlength=MRS_CATEGORIES)
        return {"levels_e": c_e / m, "levels_c": c_c / m,
                "odds_ratio": proportional_odds(c_e, c_c).estimate}  # fmt: skip
    if endpoint in BINARY:
        e = Enrolled(
            np.zeros(m), np.arange(m), np.ones(m, bool), pool.condition, np.full(m, np.inf), m, 0.0
        )
        ep_e, ep_c = endpoint_data(endpoint, t, e, o_e), endpoint_data(endpoint, t, e, o_c)
        # complete cases: a patient's outcome is analysed if follow-up lasts until it is
        # settled, probability exp(-dropout rate x settle day); early deaths are kept more
        # often than survivors (docs/trial.md), so the analysed proportion differs
        keep = np.exp(-t.followup.dropout_per_year / DAYS_PER_YEAR * ep_e.settle_day)
        return {
            "p_e": float(ep_e.success.mean()),
            "p_c": float(ep_c.success.mean()),
            "p_e_analysed": float((keep * ep_e.success).sum() / keep.sum()),
        }
    both = Outcomes(
        *(np.concatenate([getattr(o_e, f), getattr(o_c, f)]) for f in Outcomes.__dataclass_fields__)
    )
    time = np.minimum(both.death_day, pool.horizon_days)
    event = np.isfinite(both.death_day)
    arm = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    strata = np.r_[pool.condition, pool.condition]
    return {
        "hr": analyses.logrank(time, event, arm).estimate,
        # added later: stratified by condition (the estimand of stratified analyses; the
        # HR is not collapsible, so it differs from the unstratified one)
        "hr_stratified": analyses.logrank(time, event, arm, strata).estimate,
    }


def safety_rule(t: TrialConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The IRIS safety rule's looks and bounds (None: off)."""
    s = t.safety
    if s.rule == "none":
        return None
    looks = np.asarray(s.looks, dtype=int)
    return looks, safety.boundary(looks, s.threshold, s.cutoff, s.prior_a, s.prior_b)


def _extension(
    spec: Spec, e: Enrolled, scenario: str, n: int, scale: float, scale_index: int,
    trial_index: int, d: DesignConfig,
) -> Callable[[float, int], tuple[Enrolled, Outcomes]]:  # fmt: skip
    """Re-estimation's extra patients: recruitment goes on after the n-th patient (or
    re-opens on the interim day if it had closed) as the same Poisson process, up to
    the accrual cap. Its random numbers come from their own stream keyed like the
    trial's, drawn for the largest possible increase, so every design and scenario of a
    trial sees the same extra patients (common random numbers) and the trial's first n
    patients are those of the designs without re-estimation."""

    def extend(start_day: float, extra: int) -> tuple[Enrolled, Outcomes]:
        t = spec.trial
        most = max(math.floor(n * d.ssr_max_factor) - n, extra)
        gen = rng.generator(spec.seed, _EXTENSION, n, scale_index, trial_index)
        units = np.cumsum(gen.exponential(1.0, most))[:extra]
        idx = gen.integers(len(spec.pool), size=most)[:extra]
        unit_dropout = gen.exponential(1.0, most)[:extra]
        p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
        m = intensity(t.accrual, scale, p_rand)
        delay = t.eligibility.randomisation_delay_days
        cap = t.accrual.max_accrual_months * DAYS_PER_MONTH - delay
        since = max(float(e.entry.max()) if len(e.entry) else 0.0, start_day) - delay
        referral = m.inverse(m.at(since) + units)
        k = int((referral <= cap).sum())
        idx = idx[:k]
        strata = spec.pool.condition[idx] if t.randomisation.stratify else np.zeros(k, int)
        a, c = t.randomisation.allocation
        arm = permuted_blocks(strata, (a, c), t.randomisation.block_size, gen)
        rate = t.followup.dropout_per_year / DAYS_PER_YEAR
        dropout = unit_dropout[:k] / rate if rate > 0 else np.full(k, np.inf)
        more = Enrolled(
            np.r_[e.entry, referral[:k] + delay],
            np.r_[e.pool_index, idx],
            np.r_[e.experimental, arm],
            np.r_[e.stratum, spec.pool.condition[idx]],
            np.r_[e.dropout, dropout],
            e.screened,
            e.horizon_days,
        )
        return more, outcomes(spec, more, scenario)

    return extend


def require_randomised(entry: np.ndarray) -> None:
    """A trial whose accrual cap passes before anyone is randomised has nothing to
    analyse: a clear error instead of empty arrays downstream."""
    if len(entry) == 0:
        raise ValueError(
            "no patient randomised within trial.accrual.max_accrual_months; "
            "raise the accrual rate or the cap"
        )


def simulate_trials(
    spec: Spec,
    n: int,
    scale: float,
    scale_index: int,
    lo: int,
    hi: int,
    futility: dict[str, np.ndarray] | None = None,
    plans: dict[str, Plan] | None = None,
    events: dict[str, int] | None = None,
    drifts: dict[str, float] | None = None,
) -> list[dict]:
    """Trials lo..hi-1 of one (n, accrual scale): every design under both scenarios.

    `futility`: beta-spending futility bounds per design (sim.trial.sizing). `plans`:
    single-arm designs with their own rule and n (sim.trial.phase2), analysed only at
    their n; the other designs only at the grid's n (sizing.n). `events`: the target
    deaths of event-driven designs (analysis: events). `drifts`: the planned drift at n
    of two-arm designs with interim looks (conditional power under the design effect).
    A pure function of its arguments: any worker computes the same rows.
    """
    futility = futility or {}
    plans = plans or {}
    events = events or {}
    drifts = drifts or {}
    t = spec.trial
    rule = safety_rule(t)
    names = [
        name for name in t.designs if (plans[name].n == n if name in plans else n in t.sizing.n)
    ]
    p_alt: dict[str, float] = {}
    if t.comparator == "historical":
        p_alt = {
            name: superpopulation(spec, d.endpoint)["p_e_analysed"] for name, d in t.designs.items()
        }
    rows = []
    for i in range(lo, hi):
        e = enrol(spec, n, scale, scale_index, i)
        require_randomised(e.entry)
        for scenario in SCENARIOS:
            o = outcomes(spec, e, scenario)
            for name in names:
                d = t.designs[name]
                if name in plans:
                    ep = endpoint_data(d.endpoint, t, e, o)
                    row = run_phase2(
                        name,
                        d,
                        plans[name],
                        t,
                        e.entry,
                        e.dropout,
                        o,
                        ep.info_day,
                        ep.success,
                        p_alt[name],
                    )
                else:
                    extend = None
                    if d.ssr != "none":
                        extend = _extension(spec, e, scenario, n, scale, scale_index, i, d)
                    extras = Extras(n, drifts.get(name), rule, extend)
                    row = run_design(
                        name,
                        d,
                        t,
                        e,
                        o,
                        futility.get(name),
                        p_alt.get(name),
                        events.get(name),
                        extras,
                    )
                rows.append(
                    {
                        "n": n,
                        "accrual_scale": scale,
                        "scenario": scenario,
                        "trial": i,
                        "screened": e.screened,
                        # randomised by the accrual process (before any early stop); capped:
                        # the accrual cap came before n
                        "n_enrolled": len(e.entry),
                        "capped": len(e.entry) < n,
                        **row,
                    }
                )
    return rows
