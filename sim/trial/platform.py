"""A multi-arm platform trial with a shared standard-of-care (control) arm.

Experimental arms (strategy names: `trial.platform.arms`, e.g. PD-1 blockade, rhIL-7,
virus-specific T cells) are each compared with the control strategy (`trial.control`)
on 1-year survival. One virtual platform trial, for a maximum of n patients per
experimental arm (the sizing grid's n):

1. **Accrual** as in a two-arm trial (sim.trial.accrual): one Poisson stream of
   randomised patients from the sites, each a random eligible pool patient alive at
   randomisation (sim.trial.pool), cut at the accrual cap.
2. **Arms entering and leaving.** Arm k opens `entry_months` after the trial starts.
   A patient is randomised among the arms open on his randomisation day and the
   control, by permuted blocks (within condition strata when
   `randomisation.stratify`): a block holds `control_ratio` control slots and one
   slot per open arm, `blocks_per_cycle` times over, in random order; when the set of
   open arms changes, every stratum starts a new block. Equal allocation is
   `control_ratio: 1`. A patient arriving while no experimental arm is open is not
   randomised (the platform waits for its next arm); once every arm has left and none
   is still to come, recruitment ends. An arm leaves when it has n patients, or at an
   interim analysis that stops it for efficacy or futility; the others go on.
3. **Looks.** Each arm has its own looks at the design's `information_rates` of its
   own n: look j happens on the day the ceil(t_j n)-th patient of the arm has been
   followed for the endpoint's window (365 days); the final look is
   `min_followup_months` after the arm's last patient (also when the cap left it
   short of n). At each look the arm is compared with controls by the two-proportion
   z test (or CMH over the strata, `stratified: true`) on complete cases whose window
   has passed, as in a two-arm trial. It stops for efficacy when z >= the boundary of
   that look (sim.trial.mams: Dunnett, Magirr-Jaki-Whitehead, Bonferroni or none) and
   for futility when z < `futility_z` at an interim.
4. **Shared control.** `platform.control: concurrent` (the default) compares arm k only
   with controls randomised while arm k was open for randomisation (from its entry
   to the day it left); `all` uses every control randomised so far, including those
   randomised before the arm entered (non-concurrent controls). Both estimates are
   recorded at each arm's deciding analysis, whichever one decides.
5. **Time trend** (`platform.time_trend_per_year`, default 0): background care
   changes with calendar time. A patient randomised y years after the trial started
   has its arm's outcome moved so that the control arm's 1-year survival changes by
   delta = trend x y: if delta > 0, a patient who would die within the year survives
   it with probability q = delta / (1 - S_c); if delta < 0, a patient who would be
   alive at a year dies within it (on a uniform day) with probability q = -delta /
   S_c (S_c: the pool's control 1-year survival; q capped at 1). Every arm's 1-year
   death risk thus moves in the same proportion; under the global null every arm's
   survival drifts by exactly delta. Non-concurrent controls then come from another
   era: with a positive trend they are worse than the concurrent ones and `all`
   over-states a late arm's effect (and inflates type I error).
6. **Scenarios.** Under `alternative` each arm's patients get their arm strategy's
   outcomes (the model's effect); under `null` every patient gets the control
   strategy's (the global null), so the familywise error is simulated. Each trial's
   random numbers (arrivals, pool patients, dropout, trend draws; block orders from a
   second stream) are a function of (seed, stream, n, accrual scale index, trial
   index): both scenarios and every design see the same patients arriving, and the
   numbers do not depend on executor or chunking.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from sim.config.trial import DesignConfig, TrialConfig
from sim.core import rng
from sim.trial import analyses
from sim.trial.accrual import DAYS_PER_MONTH, intensity, randomised_times
from sim.trial.design import DAYS_PER_YEAR, SCENARIOS, require_randomised
from sim.trial.mams import correlation, familywise_error, platform_bounds
from sim.trial.pool import Pool

_STREAM = "trial/platform"  # arrivals, pool patients, dropout, trend draws
_BLOCKS = "trial/platform_blocks"  # the order of slots within permuted blocks
CONTROL = -1  # arm label of a control patient
# patients drawn per trial: enough that the cap, not this, ends recruitment
ARRIVALS_PER_ARM_PATIENT = 3
ARRIVALS_EXTRA = 200
TINY = 1e-12  # guards the trend's division when S_c is 0 or 1
SETTLE_TOLERANCE = 1e-9  # days: a look on the day a patient's window ends includes him


@dataclass
class PlatformSpec:
    """Everything a worker needs (picklable): the pool holds each arm's outcomes."""

    seed: int
    trial: TrialConfig
    pool: Pool
    bounds: dict[str, np.ndarray]  # design -> efficacy z boundaries at the planned looks


def arm_names(t: TrialConfig) -> list[str]:
    return list(t.platform.arms)


def plan_bounds(t: TrialConfig) -> dict[str, np.ndarray]:
    """Each design's efficacy boundaries for K = the number of arms."""
    k = len(t.platform.arms)
    rho = correlation(t.platform.control_ratio)
    return {
        name: platform_bounds(
            d.multiplicity, d.type_of_design, d.information_rates, t.alpha, k, rho
        )
        for name, d in t.designs.items()
    }


def planned_fwer(t: TrialConfig, bounds: dict[str, np.ndarray]) -> dict[str, float]:
    """Familywise error of each design's boundaries under the planning assumptions."""
    k = len(t.platform.arms)
    rho = correlation(t.platform.control_ratio)
    return {
        name: familywise_error(bounds[name], k, d.information_rates, rho)
        for name, d in t.designs.items()
    }


@dataclass
class Arrivals:
    """A trial's candidate patients in arrival order (shared by scenarios and designs)."""

    entry: np.ndarray  # randomisation day
    pool_index: np.ndarray
    stratum: np.ndarray
    dropout: np.ndarray  # days from randomisation to loss to follow-up
    u_trend: np.ndarray  # uniforms of the time trend
    u_day: np.ndarray  # uniforms: day of a death the trend adds


def arrivals(spec: PlatformSpec, n: int, scale: float, scale_index: int, trial: int) -> Arrivals:
    t = spec.trial
    gen = rng.generator(spec.seed, _STREAM, n, scale_index, trial)
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    m = intensity(t.accrual, scale, p_rand)
    delay = t.eligibility.randomisation_delay_days
    cap = t.accrual.max_accrual_months * DAYS_PER_MONTH
    most = ARRIVALS_PER_ARM_PATIENT * (t.platform.control_ratio + 1) * len(t.platform.arms) * n
    entry = randomised_times(gen, m, most + ARRIVALS_EXTRA, cap - delay) + delay
    k = len(entry)
    idx = gen.integers(len(spec.pool), size=k)
    rate = t.followup.dropout_per_year / DAYS_PER_YEAR
    dropout = gen.exponential(1.0 / rate, size=k) if rate > 0 else np.full(k, np.inf)
    u_trend, u_day = gen.random(k), gen.random(k)
    strata = spec.pool.condition[idx] if t.randomisation.stratify else np.zeros(k, int)
    return Arrivals(entry, idx, strata, dropout, u_trend, u_day)


def control_survival(spec: PlatformSpec) -> float:
    """The pool's control 1-year survival (S_c of the time trend)."""
    return float((spec.pool.outcomes["control"].death_day > spec.trial.survival_day).mean())


def trend_moves(spec: PlatformSpec, a: Arrivals) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate patient, what the time trend does whatever his arm (module
    docstring, point 5): (rescued: a death within the year becomes survival; the day
    of a death added within the year, inf for none)."""
    t = spec.trial
    trend = t.platform.time_trend_per_year
    m = len(a.entry)
    if trend == 0.0:
        return np.zeros(m, bool), np.full(m, np.inf)
    s_c = control_survival(spec)
    delta = trend * a.entry / DAYS_PER_YEAR
    q_up = np.clip(delta / max(1.0 - s_c, TINY), 0.0, 1.0)
    q_down = np.clip(-delta / max(s_c, TINY), 0.0, 1.0)
    rescued = (delta > 0) & (a.u_trend < q_up)
    killed = (delta < 0) & (a.u_trend < q_down)
    return rescued, np.where(killed, a.u_day * t.survival_day, np.inf)


def trended(death: np.ndarray, rescued: np.ndarray, added: np.ndarray, window: float):
    """Death days under the trend (`trend_moves`), elementwise."""
    return np.where(death <= window, np.where(rescued, np.inf, death), np.minimum(death, added))


class _Blocks:
    """Permuted blocks per stratum over the currently open arms."""

    def __init__(self, gen: np.random.Generator, control_ratio: int, cycles: int) -> None:
        self.gen, self.ratio, self.cycles = gen, control_ratio, cycles
        self.queue: dict[int, list[int]] = {}
        self.key: dict[int, tuple[int, ...]] = {}

    def draw(self, stratum: int, open_arms: tuple[int, ...]) -> int:
        q = self.queue.get(stratum)
        if not q or self.key[stratum] != open_arms:
            block = np.array(([CONTROL] * self.ratio + list(open_arms)) * self.cycles)
            q = list(self.gen.permutation(block)[::-1])  # pop() takes from the end
            self.queue[stratum], self.key[stratum] = q, open_arms
        return int(q.pop())


@dataclass
class ArmResult:
    reject: bool = False
    stop_efficacy: bool = False
    stop_futility: bool = False
    stage: int = 0  # look at which the arm was decided (0: never analysed)
    day: float = math.nan  # day of the deciding analysis
    z: float = math.nan
    critical_z: float = math.nan
    estimate: float = math.nan  # with the configured controls
    estimate_concurrent: float = math.nan
    estimate_all: float = math.nan
    n_e: int = 0  # analysed at the deciding look
    n_c: int = 0


def _compare(
    d: DesignConfig, ok_e: np.ndarray, ok_c: np.ndarray, good: np.ndarray, strata: np.ndarray
) -> analyses.TestResult:
    if d.stratified:
        k = int(strata.max()) + 1 if len(strata) else 1

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(strata[mask], minlength=k)

        return analyses.two_proportions_stratified(
            count(ok_e & good), count(ok_e), count(ok_c & good), count(ok_c)
        )
    return analyses.two_proportions(
        int((ok_e & good).sum()), int(ok_e.sum()), int((ok_c & good).sum()), int(ok_c.sum())
    )


def run_platform(
    spec: PlatformSpec, name: str, a: Arrivals, n: int, scenario: str, blocks_gen_key: tuple
) -> tuple[list[ArmResult], dict]:
    """One platform trial under one design and scenario: per arm results and the
    trial's totals (patients per arm and control, duration)."""
    t = spec.trial
    d = t.designs[name]
    pf = t.platform
    names = arm_names(t)
    k_arms = len(names)
    bounds = spec.bounds[name]
    looks = len(d.information_rates)
    need = [math.ceil(f * n) for f in d.information_rates[:-1]]
    window = t.survival_day
    final_wait = t.followup.min_followup_months * DAYS_PER_MONTH
    entry_day = np.array([pf.arms[x].entry_months * DAYS_PER_MONTH for x in names])
    blocks = _Blocks(rng.generator(spec.seed, _BLOCKS, *blocks_gen_key), pf.control_ratio,
                     pf.blocks_per_cycle)  # fmt: skip

    m = len(a.entry)
    label = np.full(m, -2)  # -2: not randomised
    count = np.zeros(k_arms, int)
    recruiting = np.ones(k_arms, bool)  # not yet full or stopped
    close_day = np.full(k_arms, np.inf)
    final_day = np.full(k_arms, np.inf)
    res = [ArmResult() for _ in range(k_arms)]
    decided = np.zeros(k_arms, bool)
    events: list[tuple[float, int, int]] = []  # (day, arm, look index)

    # each candidate's death day under the control and under each arm (row k + 1), moved
    # by the time trend by randomisation day (the same draws in every scenario and arm)
    out_c = spec.pool.outcomes["control"]
    sources = [out_c] + [
        spec.pool.outcomes[x] if scenario == "alternative" else out_c for x in names
    ]
    rescued, added = trend_moves(spec, a)
    under = [trended(o.death_day[a.pool_index], rescued, added, window).tolist() for o in sources]

    def analyse(k: int, day: float, j: int, last: bool) -> None:
        upto = a.entry[: last_index[0] + 1]
        lab = label[: last_index[0] + 1]
        death = death_day[: last_index[0] + 1]
        seen = upto + window <= day + SETTLE_TOLERANCE
        settle = np.minimum(death, window)
        known = seen & (a.dropout[: len(upto)] >= settle)
        good = death > window
        ok_e = known & (lab == k)
        ctl = known & (lab == CONTROL)
        conc = ctl & (upto >= entry_day[k]) & (upto <= close_day[k])
        strata = a.stratum[: len(upto)]
        r_conc = _compare(d, ok_e, conc, good, strata)
        r_all = _compare(d, ok_e, ctl, good, strata)
        r = r_conc if pf.control == "concurrent" else r_all
        c = float(bounds[j])
        efficacy = r.z >= c
        futility = (not last) and d.futility_z is not None and r.z < d.futility_z
        if efficacy or futility or last:
            decided[k] = True
            if recruiting[k]:
                recruiting[k] = False
                close_day[k] = day
            ok_c = conc if pf.control == "concurrent" else ctl
            res[k] = ArmResult(
                reject=bool(efficacy),
                stop_efficacy=bool(efficacy and not last),
                stop_futility=bool(futility),
                stage=j + 1,
                day=day,
                z=r.z,
                critical_z=c,
                estimate=r.estimate,
                estimate_concurrent=r_conc.estimate,
                estimate_all=r_all.estimate,
                n_e=int(ok_e.sum()),
                n_c=int(ok_c.sum()),
            )

    def process(until: float) -> None:
        while events and events[0][0] <= until:
            day, k, j = heapq.heappop(events)
            if decided[k]:
                continue
            last = j == looks - 1
            if not last and day >= final_day[k]:
                continue  # the final analysis comes no later: no separate interim
            analyse(k, day, j, last)

    death_day = np.full(m, np.inf)
    last_index = [-1]
    entries, strata_list, opens = a.entry.tolist(), a.stratum.tolist(), entry_day.tolist()
    for i in range(m):
        day = entries[i]
        if events and events[0][0] <= day:
            process(day)
        open_now = tuple(k for k in range(k_arms) if recruiting[k] and opens[k] <= day)
        if not open_now:
            if any(recruiting[k] and opens[k] > day for k in range(k_arms)):
                continue  # no arm open yet: the platform waits for the next one
            break
        lab = blocks.draw(strata_list[i], open_now)
        label[i] = lab
        last_index[0] = i
        death_day[i] = under[lab + 1][i]
        if lab == CONTROL:
            continue
        count[lab] += 1
        c = count[lab]
        for j, need_j in enumerate(need):
            if c == need_j:
                heapq.heappush(events, (day + window, lab, j))
        if c == n:
            recruiting[lab] = False
            close_day[lab] = day
            final_day[lab] = day + final_wait
            heapq.heappush(events, (final_day[lab], lab, looks - 1))
    # the cap (or the last arrival): arms still recruiting close with what they have
    cap_cut = recruiting & (count > 0)
    last_day = float(a.entry[last_index[0]]) if last_index[0] >= 0 else 0.0
    for k in np.flatnonzero(cap_cut):
        recruiting[k] = False
        close_day[k] = last_day
        last_entry = float(a.entry[: last_index[0] + 1][label[: last_index[0] + 1] == k].max())
        final_day[k] = last_entry + final_wait
        heapq.heappush(events, (final_day[k], int(k), looks - 1))
    process(math.inf)
    lab = label[: last_index[0] + 1]
    days = [r.day for r in res if np.isfinite(r.day)]
    totals = {
        "n_total": int((lab >= CONTROL).sum()),
        "n_control": int((lab == CONTROL).sum()),
        "duration_months": (max(days) if days else 0.0) / DAYS_PER_MONTH,
        "capped": cap_cut,
        "count": count,
        "label": lab,  # per randomised candidate: -1 control, k arm k, -2 not randomised
        "entry": a.entry[: len(lab)],
    }
    return res, totals


def simulate_platform_trials(
    spec: PlatformSpec, n: int, scale: float, scale_index: int, lo: int, hi: int
) -> list[dict]:
    """Trials lo..hi-1 of one (n, accrual scale): every design under both scenarios,
    one row per trial x design x scenario x arm. A pure function of its arguments."""
    t = spec.trial
    names = arm_names(t)
    rows = []
    for i in range(lo, hi):
        a = arrivals(spec, n, scale, scale_index, i)
        require_randomised(a.entry)
        for scenario in SCENARIOS:
            for name in t.designs:
                res, tot = run_platform(spec, name, a, n, scenario, (n, scale_index, i))
                rejected = sum(r.reject for r in res)
                for k, (arm, r) in enumerate(zip(names, res, strict=True)):
                    rows.append(
                        {
                            "n": n,
                            "accrual_scale": scale,
                            "scenario": scenario,
                            "trial": i,
                            "design": name,
                            "arm": arm,
                            "reject": r.reject,
                            "any_reject": rejected > 0,
                            "stop_efficacy": r.stop_efficacy,
                            "stop_futility": r.stop_futility,
                            "stage": r.stage,
                            "looks": len(t.designs[name].information_rates),
                            "n_randomised": int(tot["count"][k]),
                            "n_analysed_e": r.n_e,
                            "n_analysed_c": r.n_c,
                            "capped": bool(tot["capped"][k]),
                            "arm_duration_months": r.day / DAYS_PER_MONTH,
                            "duration_months": tot["duration_months"],
                            "n_total": tot["n_total"],
                            "n_control": tot["n_control"],
                            "z": r.z,
                            "critical_z": r.critical_z,
                            "estimate": r.estimate,
                            "estimate_concurrent": r.estimate_concurrent,
                            "estimate_all": r.estimate_all,
                        }
                    )
    return rows


# ---------------------------------------------------------------- sizing and outputs

# columns appended to sim.trial.sizing.OC_COLUMNS in a platform run (one row per design
# x n x accrual scale x arm; the two-arm columns keep their names and meaning per arm)
PLATFORM_COLUMNS = [
    "arm",
    "entry_months",
    "multiplicity",
    "control_mode",
    "time_trend_per_year",
    "critical_z_looks",  # the arm's efficacy boundaries at the planned looks
    "fwer",  # simulated: P(at least one arm rejected | global null)
    "fwer_se",
    "fwer_planned",  # the boundaries' familywise error under the planning assumptions
    "power_any",  # P(at least one arm rejected | the model's effects)
    "expected_n_total",  # every patient randomised (arms and control), H1
    "expected_n_total_h0",
    "expected_n_control",
    "expected_n_control_h0",
    "expected_arm_duration_months",  # months to this arm's deciding analysis, H1
    "true_difference",  # the pool's 1-year survival difference, arm - control (no trend)
    "estimate_mean",  # mean estimate at the deciding look, configured controls, H1
    "estimate_concurrent_mean",
    "estimate_all_mean",
    "estimate_concurrent_mean_h0",  # bias under the global null (true difference 0)
    "estimate_all_mean_h0",
    "estimate_concurrent_mean_h0_se",
    "estimate_all_mean_h0_se",
]


def make_spec(seed: int, t: TrialConfig, pool: Pool) -> PlatformSpec:
    return PlatformSpec(seed, t, pool, plan_bounds(t))


def simulate_platform_grid(spec: PlatformSpec, executor, on_chunk=None):
    """All platform trials of the grid (sizing.n = maximum patients per arm)."""
    import pandas as pd

    from sim.engine.executors import ordered_map

    sz = spec.trial.sizing
    tasks = [
        (spec, n, scale, si, lo, min(lo + sz.chunk_trials, sz.trials))
        for si, scale in enumerate(sz.accrual_scale)
        for n in sz.n
        for lo in range(0, sz.trials, sz.chunk_trials)
    ]
    rows: list[dict] = []
    # `auto`: the grid's size in trial patients, per arm (a lower bound: several arms)
    work = len(sz.accrual_scale) * sz.trials * sum(sz.n)
    with ordered_map(executor, outer_patients=work) as run:
        for task, part in zip(tasks, run(simulate_platform_trials, tasks), strict=True):
            rows.extend(part)
            if on_chunk is not None:
                on_chunk(task[5] - task[4])
    return pd.DataFrame(rows)


def true_values(spec: PlatformSpec) -> dict[str, float]:
    """The pool's 1-year survival per arm ("control" too), without a time trend."""
    day = spec.trial.survival_day
    return {k: float((o.death_day > day).mean()) for k, o in spec.pool.outcomes.items()}


def analytic_arm_power(
    spec: PlatformSpec, design: str, arm: str, alt, truth: dict[str, float]
) -> float:
    """Closed-form power of one arm against its controls at the simulated mean analysed
    sizes of its final looks (unstratified two proportions, normal approximation; the
    boundaries' crossing probabilities with the design's futility rule; no trend)."""
    from sim.trial.boundaries import crossing_probabilities

    d = spec.trial.designs[design]
    final = alt[alt["stage"] == alt["looks"]]
    final = final if len(final) else alt[alt["stage"] > 0]
    if final.empty:
        return math.nan
    n_e, n_c = float(final["n_analysed_e"].mean()), float(final["n_analysed_c"].mean())
    p_e, p_c = truth[arm], truth["control"]
    if min(n_e, n_c) <= 0 or not 0.0 < p_e < 1.0 or not 0.0 < p_c < 1.0:
        return math.nan
    drift = analyses.drift_two_proportions(p_e, p_c, n_e, n_c)
    pbar = (n_e * p_e + n_c * p_c) / (n_e + n_c)
    null_var = pbar * (1 - pbar) * (1 / n_e + 1 / n_c)
    ratio = math.sqrt(null_var / (p_e * (1 - p_e) / n_e + p_c * (1 - p_c) / n_c))
    fr = np.asarray(d.information_rates, dtype=float)
    bounds = spec.bounds[design] * ratio
    fut = None
    if d.futility_z is not None and len(fr) > 1:
        fut = np.r_[np.full(len(fr) - 1, d.futility_z), -np.inf] * ratio
    return float(crossing_probabilities(fr, bounds, drift, fut)[0].sum())


def platform_oc(spec: PlatformSpec, trials):
    """One row per design x n x accrual scale x arm: OC_COLUMNS + PLATFORM_COLUMNS."""
    import pandas as pd

    from sim.trial.sizing import (
        ESTIMATION_COLUMNS,
        INTERIM_SAFETY_COLUMNS,
        OC_COLUMNS,
        SOLVER_COLUMNS,
        _se,
        recruitment,
        simulated_columns,
    )

    t = spec.trial
    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    truth = true_values(spec)
    fwer_plan = planned_fwer(t, spec.bounds)
    rows = []
    keys = ["design", "n", "accrual_scale"]
    for (design, n, scale), g in trials.groupby(keys, sort=False):
        d = t.designs[design]
        by_cap, _ = recruitment(spec, int(n), scale)
        per_trial = g.drop_duplicates(["scenario", "trial"])
        alt_t = per_trial[per_trial["scenario"] == "alternative"]
        null_t = per_trial[per_trial["scenario"] == "null"]
        fwer = float(null_t["any_reject"].mean())
        for arm, ga in g.groupby("arm", sort=False):
            alt, null = ga[ga["scenario"] == "alternative"], ga[ga["scenario"] == "null"]
            p_rec = 1.0 - float(alt["capped"].mean())
            sd_conc = float(null["estimate_concurrent"].std())
            sd_all = float(null["estimate_all"].std())
            m_conc = int(null["estimate_concurrent"].notna().sum())
            m_all = int(null["estimate_all"].notna().sum())
            rows.append(
                {
                    **simulated_columns(t, design, int(n), scale, p_rand, alt, null),
                    "early_stop": float((alt["stop_efficacy"] | alt["stop_futility"]).mean()),
                    "expected_events": math.nan,
                    "analytic_power": analytic_arm_power(spec, design, arm, alt, truth),
                    "assurance": math.nan,
                    "assurance_se": math.nan,
                    "target_power": t.sizing.target_power,
                    "type1_error_exact": math.nan,
                    "p_stop_efficacy_h0": float(null["stop_efficacy"].mean()),
                    "p_stop_futility_h0": float(null["stop_futility"].mean()),
                    "early_stop_h0": float((null["stop_efficacy"] | null["stop_futility"]).mean()),
                    "expected_n_by_cap": by_cap,
                    # simulated: the share of H1 trials whose cap did not cut this arm short
                    "p_recruited": p_rec,
                    "capped_fraction": 1.0 - p_rec,
                    "recruitable": p_rec >= t.sizing.min_p_recruited,
                    "design_rule": "",
                    **{
                        f"planned_{x}": math.nan
                        for x in ("p1", "size", "power", "en_h0", "en_h1", "pet_h0", "pet_h1")
                    },
                    "target_events": math.nan,
                    "p_events_reached": math.nan,
                    "rmst_power": math.nan,
                    "rmst_type1_error": math.nan,
                    "rmst_difference": math.nan,
                    "arm": arm,
                    "entry_months": t.platform.arms[arm].entry_months,
                    "multiplicity": d.multiplicity,
                    "control_mode": t.platform.control,
                    "time_trend_per_year": t.platform.time_trend_per_year,
                    "critical_z_looks": ";".join(f"{c:.4f}" for c in spec.bounds[design]),
                    "fwer": fwer,
                    "fwer_se": _se(fwer, len(null_t)),
                    "fwer_planned": fwer_plan[design],
                    "power_any": float(alt_t["any_reject"].mean()),
                    "expected_n_total": float(alt_t["n_total"].mean()),
                    "expected_n_total_h0": float(null_t["n_total"].mean()),
                    "expected_n_control": float(alt_t["n_control"].mean()),
                    "expected_n_control_h0": float(null_t["n_control"].mean()),
                    "expected_arm_duration_months": float(alt["arm_duration_months"].mean()),
                    "true_difference": truth[arm] - truth["control"],
                    "estimate_mean": float(alt["estimate"].mean()),
                    "estimate_concurrent_mean": float(alt["estimate_concurrent"].mean()),
                    "estimate_all_mean": float(alt["estimate_all"].mean()),
                    "estimate_concurrent_mean_h0": float(null["estimate_concurrent"].mean()),
                    "estimate_all_mean_h0": float(null["estimate_all"].mean()),
                    "estimate_concurrent_mean_h0_se": sd_conc / math.sqrt(max(m_conc, 1)),
                    "estimate_all_mean_h0_se": sd_all / math.sqrt(max(m_all, 1)),
                }
            )
    oc = pd.DataFrame(rows)
    for col in INTERIM_SAFETY_COLUMNS + SOLVER_COLUMNS:  # CP, SSR, safety, solver: not here
        oc[col] = math.nan
    for col in ESTIMATION_COLUMNS:  # estimation after a log-rank stop: no log-rank arms here
        oc[col] = math.nan
    # no death targets and no historical control in platform trials
    oc["events_reachable"] = True
    oc["historical_p0"] = oc["control_rate_pool"] = math.nan
    oc["control_above_p0"] = False
    oc["smallest_n_reaching_target"] = False
    for _, g in oc.groupby(["design", "accrual_scale", "arm"], sort=False):
        hit = g[(g["power"] >= t.sizing.target_power) & g["recruitable"]].sort_values("n")
        if len(hit):
            oc.loc[hit.index[0], "smallest_n_reaching_target"] = True
    return oc[OC_COLUMNS + PLATFORM_COLUMNS]


def platform_markdown(oc, spec: PlatformSpec) -> str:
    """sizing.md of a platform run: per design and n, each arm's power and stopping,
    the familywise error, patients and duration; the shared-control bias."""
    t = spec.trial
    pf = t.platform
    arms = ", ".join(f"{a} (from month {c.entry_months:g})" for a, c in pf.arms.items())
    truth = true_values(spec)
    lines = [
        f"# Platform trial sizing: {t.name}",
        "",
        f"Arms {arms} against a shared {t.control} control ({truth['control']:.3f} 1-year "
        f"survival in the pool), {pf.control_ratio} control per patient of each open arm "
        f"in permuted blocks; each arm compared with {pf.control} controls; one-sided "
        f"familywise alpha {t.alpha}; time trend {pf.time_trend_per_year:+g} per year in "
        f"control 1-year survival; {int(oc['n_trials'].iloc[0])} simulated trials per cell "
        "and scenario (H1: the model's effects; H0: every arm = control). n = maximum "
        "patients per experimental arm.",
        "",
        "| design | n | boundaries | arm | true diff | power (SE) | analytic | P(stop eff / fut) "
        "| type I error | FWER (SE) | planned FWER | expected n arm / total | duration "
        "(months) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in oc.to_dict("records"):
        lines.append(
            f"| {r['design']} | {r['n']} | {r['critical_z_looks']} | {r['arm']} "
            f"| {r['true_difference']:+.3f} | {r['power']:.3f} ({r['power_se']:.3f}) "
            f"| {r['analytic_power']:.3f} | {r['p_stop_efficacy']:.2f} / "
            f"{r['p_stop_futility']:.2f} | {r['type1_error']:.3f} "
            f"| {r['fwer']:.3f} ({r['fwer_se']:.3f}) | {r['fwer_planned']:.3f} "
            f"| {r['expected_n']:.1f} / {r['expected_n_total']:.1f} "
            f"| {r['expected_duration_months']:.1f} |"
        )
    lines += [
        "",
        "**Shared control under the global null** (mean estimated difference in 1-year "
        "survival at each arm's deciding analysis; the truth is 0): concurrent controls "
        "vs all controls (including those randomised before the arm entered).",
        "",
        "| design | n | arm | entry month | concurrent (SE) | all (SE) |",
        "|---|---|---|---|---|---|",
    ]
    for r in oc.to_dict("records"):
        lines.append(
            f"| {r['design']} | {r['n']} | {r['arm']} | {r['entry_months']:g} "
            f"| {r['estimate_concurrent_mean_h0']:+.4f} ({r['estimate_concurrent_mean_h0_se']:.4f})"
            f" | {r['estimate_all_mean_h0']:+.4f} ({r['estimate_all_mean_h0_se']:.4f}) |"
        )
    lines += [
        "",
        "FWER: the share of global-null trials rejecting at least one arm; planned FWER: "
        "the boundaries' familywise error with every arm concurrent and followed to its "
        "last look (sim/trial/mams.py). Full table: operating_characteristics.csv.",
    ]
    return "\n".join(lines) + "\n"
