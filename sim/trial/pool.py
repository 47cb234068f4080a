"""The patient pool that virtual trials draw from (the "superpopulation").

Simulating every trial's patients afresh would cost n x trials x designs model runs.
Instead the model runs once: `pool_per_arm` referred patients (the cohort's condition
mix) under the control and the experimental strategy, with common random numbers, so
pool patient j is the same person under both. A trial randomises pool patients drawn
uniformly with replacement among the eligible ones and reads each patient's outcome
under the arm it was given. This treats the pool as the population the trial samples
from; with a pool much larger than a trial (20,000 vs a few hundred) drawing the same
pool patient twice in a trial is rare and the pool's sampling error is small against
the trial's own (docs/trial.md, "the superpopulation approximation").

Randomisation comes `eligibility.randomisation_delay_days` after PML diagnosis (the
model's day 0). The pool run starts the trial strategies' therapies then and follows
patients for horizon_days after it; a referred patient who dies before randomisation
is not randomised (excluded from the eligible pool, so accrual is thinned as well).

Outcomes kept per patient and strategy (days from randomisation): death day (inf if
alive at the horizon), IRIS onset day (inf if none), and CSF JCV clearance at the CSF
endpoint day after randomisation (alive with JCV below the PCR detection limit).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from sim.config.schema import CONDITIONS, RunConfig, StrategyConfig
from sim.core import rng
from sim.engine.run import simulate
from sim.model.disability import mrs_level

DEAD_MRS = 6  # the mRS of a dead patient (sim/engine/tables.py)
_PIT_STREAM = "trial/pit_tie_break"  # random stream (per pool patient): ties in the HR transform


@dataclass
class Outcomes:
    death_day: np.ndarray  # inf: alive at the horizon
    iris_day: np.ndarray  # inf: no IRIS within the horizon
    csf_cleared: np.ndarray  # bool
    mrs: np.ndarray  # mRS 0-6 at the horizon (6: dead), the model's disability level

    def take(self, idx: np.ndarray) -> Outcomes:
        return Outcomes(
            self.death_day[idx], self.iris_day[idx], self.csf_cleared[idx], self.mrs[idx]
        )


@dataclass
class Pool:
    """Eligible pool patients (arrays indexed 0..m-1) and their outcomes per arm."""

    condition: np.ndarray  # int code into CONDITIONS
    outcomes: dict[str, Outcomes]  # "control", "experimental" (platform: each arm's name)
    p_eligible: float  # share of referred (pool) patients who are eligible
    eligible_mask: np.ndarray  # over the whole referral pool (SimPy reference screening)
    horizon_days: float  # follow-up after randomisation the outcomes cover
    p_died_before_randomisation: float = 0.0  # share of referred patients (any eligibility)
    # referred (pool) patients per condition (index into CONDITIONS), eligible or not: the
    # referral mix the pool was drawn from (sim.trial.sensitivity reweights it)
    referred_by_condition: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.condition)


def eligible(patients: pd.DataFrame, cfg: RunConfig) -> np.ndarray:
    el = cfg.trial.eligibility
    cond = patients["condition"].astype(str).to_numpy()
    ok = np.ones(len(patients), dtype=bool)
    if "all" not in el.conditions:
        ok &= np.isin(cond, el.conditions)
    cd4 = patients["cd4_0"].to_numpy()
    ok &= (cd4 >= el.cd4_min) & (cd4 <= el.cd4_max)
    mrs0 = mrs_level(patients["lesion_burden_0"].to_numpy(), cfg.model.mrs_cutpoints)
    ok &= mrs0 <= el.max_baseline_mrs
    return ok


def delayed(strategy: StrategyConfig, delay_days: float) -> StrategyConfig:
    """The strategy as a trial arm: its therapies start (and stop) delay_days later, at
    randomisation; standard of care and rules keep their days from diagnosis."""
    if delay_days == 0.0:
        return strategy
    therapies = [
        replace(
            th,
            start_day=th.start_day + delay_days,
            stop_day=None if th.stop_day is None else th.stop_day + delay_days,
        )
        for th in strategy.therapies
    ]
    return replace(strategy, therapies=therapies)


def pool_strategies(t) -> list[str]:
    """The strategies the pool is simulated under: the control first, then the
    experimental strategy (two arms) or every platform arm (trial.platform.arms)."""
    if t.platform.arms:
        return [t.control, *(a for a in t.platform.arms if a != t.control)]
    # an assumed effect is a transform of the control outcomes: only control is simulated
    both = t.effect.kind == "model" and t.control != t.experimental
    return [t.control, t.experimental] if both else [t.control]


def pool_config(cfg: RunConfig) -> RunConfig:
    """The pool run: the cohort preset's mix, pool_per_arm patients, the trial's strategies
    (therapies from randomisation, `eligibility.randomisation_delay_days` after
    diagnosis), followed for horizon_days after randomisation; with a delay the CSF
    endpoint's lumbar puncture (csf_day after randomisation) is added to the visits."""
    t = cfg.trial
    delay = t.eligibility.randomisation_delay_days
    names = pool_strategies(t)
    out = copy.copy(cfg)
    out.cohort = replace(cfg.cohort, n=t.pool_per_arm)
    out.strategy = {s: delayed(cfg.strategy[s], delay) for s in names}
    out.horizon_days = cfg.horizon_days + delay
    if delay > 0.0:  # the endpoint's lumbar puncture: csf_day after randomisation
        lp = t.csf_day + delay
        mon = cfg.monitoring
        out.monitoring = replace(
            mon,
            visit_days=sorted({*mon.visit_days, lp}),
            csf_days=sorted({*mon.csf_days, lp}),
        )
    return out


def _outcomes(p: pd.DataFrame, labs: pd.DataFrame, csf_day: float, delay: float) -> Outcomes:
    """Outcomes in days from randomisation (`delay` days after diagnosis); an IRIS that
    began before randomisation counts from day 0. CSF is read at the lumbar puncture
    csf_day after randomisation."""
    death = np.where(p["died"].to_numpy(), p["time_days"].to_numpy(), np.inf) - delay
    iris = p["iris_onset_days"].to_numpy(dtype=float)
    iris = np.where(p["iris"].to_numpy() & np.isfinite(iris), np.maximum(iris - delay, 0.0), np.inf)
    at = labs[labs["day"] == csf_day + delay].set_index("patient_id")["csf_jcv_detectable"]
    detectable = at.reindex(p["patient_id"].to_numpy())
    cleared = (detectable == False).to_numpy() & (death > csf_day)  # noqa: E712 (NaN = no sample)
    return Outcomes(death, iris, cleared, p["mrs"].to_numpy().astype(int))


def build_pool(cfg: RunConfig) -> Pool:
    """Simulate the referral pool under both strategies; keep the eligible patients."""
    t = cfg.trial
    delay = t.eligibility.randomisation_delay_days
    pcfg = pool_config(cfg)
    patients, _, labs = simulate(pcfg)
    per: dict[str, Outcomes] = {}
    first = None
    for s in pcfg.strategy:
        p = patients[patients["strategy"] == s].sort_values("patient_id", kind="stable")
        lb = labs[labs["strategy"] == s]
        per[s] = _outcomes(p, lb, t.csf_day, delay)
        first = p if first is None else first
    # before randomisation every patient gets the control arm's care: a patient who dies
    # then is never randomised (the referral is screened, nobody is enrolled)
    alive = per[t.control].death_day > 0.0
    mask = eligible(first, cfg) & alive
    if not mask.any():
        raise ValueError(
            "no simulated patient meets trial.eligibility and is alive at "
            "trial.eligibility.randomisation_delay_days; widen the criteria"
        )
    idx = np.flatnonzero(mask)
    control = per[t.control].take(idx)
    if t.platform.arms:  # a platform trial: every arm's own outcomes (effect.kind: model)
        arms = {a: per[a].take(idx) for a in t.platform.arms}
    elif t.effect.kind == "assumed":
        pid = first["patient_id"].to_numpy()[idx]
        exp = assumed_effect(control, t.effect.hazard_ratio, cfg.seed, pid, cfg.horizon_days)
        arms = {"experimental": exp}
    else:
        arms = {"experimental": per[t.experimental].take(idx)}
    cond = pd.Categorical(first["condition"].astype(str), categories=CONDITIONS).codes
    return Pool(
        condition=np.asarray(cond)[idx],
        outcomes={"control": control, **arms},
        p_eligible=float(mask.mean()),
        eligible_mask=mask,
        horizon_days=cfg.horizon_days,
        p_died_before_randomisation=float((~alive).mean()),
        referred_by_condition=np.bincount(np.asarray(cond), minlength=len(CONDITIONS)),
    )


def assumed_effect(
    control: Outcomes, hazard_ratio: float, seed: int, patient_id: np.ndarray, horizon: float
) -> Outcomes:
    """Control outcomes with death times moved to proportional hazards: S_E = S_C^HR.

    Each patient's death time T is mapped through the pool's empirical survival
    function: U = S_C(T) (uniform, ties broken at random; patients alive at the horizon
    get U uniform on (0, S_C(horizon))), then T_E = S_C^-1(U^(1/HR)), interpolating
    linearly between ordered death times. The mapping is monotone, so a patient who
    dies early under control also dies early under the experimental arm.
    """
    m = len(control.death_day)
    v = rng.uniform(rng.run_key(seed), _PIT_STREAM, patient_id)
    order = np.lexsort((v, control.death_day))  # by death day, random among ties
    rank = np.empty(m)
    rank[order] = np.arange(m)
    u = (m - rank - v) / m  # empirical S_C at T, spread uniformly within its step
    alive = ~np.isfinite(control.death_day)
    s_h = alive.mean()
    u = np.where(alive, v * s_h, u)
    target = u ** (1.0 / hazard_ratio)
    sorted_death = np.sort(control.death_day[~alive])
    # S_C is 1 - k/m just after the k-th death; invert on that grid
    k = (1.0 - target) * m
    grid = np.concatenate([[0.0], sorted_death])
    steps = np.arange(len(grid), dtype=float)
    dead = target > s_h
    death = np.where(dead, np.interp(k, steps, grid), np.inf)
    death = np.where(dead, np.minimum(death, horizon), death)
    # the mRS of a survivor is the control's (mrs_12m needs effect.kind: model)
    mrs = np.where(np.isfinite(death), DEAD_MRS, control.mrs)
    return Outcomes(death, control.iris_day.copy(), control.csf_cleared.copy(), mrs)
