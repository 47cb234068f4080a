"""Single-arm phase II designs with their own rule and sample size: Simon's optimal and
minimax two-stage designs (sim.trial.simon) and the exact one-stage design
(sim.trial.one_stage), planned for size <= alpha at p0 (the historical value of the
endpoint) and power >= 1 - beta at p1 (a config value, or the model's: the pool's
experimental-arm value), and simulated in calendar time.

In a simulated trial, accrual runs to the design's n (or the accrual cap). Stage 1 is
analysed on the day the n1-th patient's outcome becomes known (the endpoint's whole
window has passed; patients lost to follow-up before their outcome is settled are not
evaluable and do not count); the trial stops for futility if at most r1 of them
responded. Accrual is not paused while stage 1's outcomes are awaited (patients
randomised by the stopping date count in expected_n, as for every design). The final
analysis, `min_followup_months` after the last randomisation, rejects H0 if more than
r of the evaluable patients responded. With dropout or a cap, fewer than n1 / n
patients may be evaluable: the rule (r1, r) is kept, and the per-trial exact size and
power are computed at the evaluable numbers (a trial with fewer than n1 evaluable
patients by its final analysis has no interim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sim.config.errors import ConfigError
from sim.config.trial import DesignConfig, TrialConfig
from sim.trial import analyses
from sim.trial.accrual import DAYS_PER_MONTH
from sim.trial.one_stage import one_stage
from sim.trial.pool import Outcomes
from sim.trial.predictive import futility_cut, interim_size
from sim.trial.simon import characteristics, reject_probability, simon

DESIGNS = ("group_sequential", "simon_optimal", "simon_minimax", "exact_one_stage", "predictive")
NO_FUTILITY = -1  # r1 of a one-stage design: never stop after "stage 1"
# the Simon search takes time ~ n_max^4 (about 40 s of one core at 170): a bound on n_max
MAX_SEARCH_N = 300


@dataclass(frozen=True)
class Plan:
    """A single-arm design's rule and its exact operating characteristics."""

    design: str  # simon_optimal | simon_minimax | exact_one_stage | predictive
    r1: int  # stop after stage 1 if responses <= r1 (NO_FUTILITY: one stage)
    n1: int  # stage-1 size (= n for one stage)
    r: int  # reject H0 if responses > r
    n: int
    p0: float
    p1: float
    size: float  # exact P(reject | p0)
    power: float  # exact P(reject | p1)
    en_h0: float  # expected number treated under p0 (Simon's EN(p0))
    en_h1: float
    pet_h0: float  # probability of early termination under p0
    pet_h1: float

    @property
    def rule(self) -> str:
        final = f"reject if > {self.r}/{self.n}"
        return final if self.r1 == NO_FUTILITY else f"stop if <= {self.r1}/{self.n1}; {final}"


@lru_cache(maxsize=16)
def _simon(p0: float, p1: float, alpha: float, beta: float, n_max: int):
    return simon(p0, p1, alpha, beta, n_max)


def plan(key: str, d: DesignConfig, t: TrialConfig, p_model: float) -> Plan:
    """The design `d` (config key `key`) for the trial's alpha and historical p0, with
    p1 = d.p1 or the model's value p_model. ConfigError if no design exists."""
    p0 = getattr(t.historical, d.endpoint)
    p1 = p_model if d.p1 is None else d.p1
    if not p0 < p1 < 1.0:
        src = f"{key}.p1" if d.p1 is not None else f"{key}.p1 (None: the model's {d.endpoint})"
        raise ConfigError(
            src, f"must be in (p0 = trial.historical.{d.endpoint} = {p0}, 1), got {p1:.4f}"
        )
    if d.design == "exact_one_stage":
        found = one_stage(p0, p1, t.alpha, d.beta, d.n_max)
        r1, n1, r, n = (NO_FUTILITY, found.n, found.r, found.n) if found else (0, 0, 0, 0)
    elif d.design == "predictive":  # the one-stage design, monitored by predictive probability
        found = one_stage(p0, p1, t.alpha, d.beta, d.n_max)
        r1, n1, r, n = (0, 0, 0, 0)
        if found:
            r, n = found.r, found.n
            n1 = interim_size(n, d.pp_fraction)
            r1 = futility_cut(n1, r, n, d.pp_prior_a, d.pp_prior_b, d.pp_threshold)
            n1 = n if r1 == NO_FUTILITY else n1
    else:
        kind = d.design.removeprefix("simon_")
        s = _simon(p0, p1, t.alpha, d.beta, d.n_max).get(kind)
        found = s
        r1, n1, r, n = (s.r1, s.n1, s.r, s.n) if s else (0, 0, 0, 0)
    if not found:
        raise ConfigError(
            f"{key}.n_max",
            f"no {d.design} design with n <= {d.n_max} has size <= {t.alpha} at p0 = {p0} and "
            f"power >= {1 - d.beta:g} at p1 = {p1:.4f}; raise n_max (or beta, or p1)",
        )
    c0, c1 = characteristics(r1, n1, r, n, p0), characteristics(r1, n1, r, n, p1)
    return Plan(d.design, r1, n1, r, n, p0, p1, c0.reject, c1.reject, c0.en, c1.en, c0.pet, c1.pet)


def run_phase2(
    name: str,
    d: DesignConfig,
    pl: Plan,
    t: TrialConfig,
    entry: np.ndarray,
    dropout: np.ndarray,
    o: Outcomes,
    info_day: np.ndarray,
    success: np.ndarray,
    p_alternative: float,
) -> dict[str, float | int | str | bool]:
    """Analyse one trial under a planned single-arm design: the row of trials.parquet
    (the keys of sim.trial.design.run_design). `info_day`/`success`: the endpoint's
    day of information and value per patient (sim.trial.design.endpoint_data)."""
    final_day = float(entry.max()) + t.followup.min_followup_months * DAYS_PER_MONTH
    known = np.sort(info_day[info_day <= final_day])
    days = [final_day]
    if pl.r1 != NO_FUTILITY and len(known) >= pl.n1 and known[pl.n1 - 1] < final_day:
        days = [float(known[pl.n1 - 1]), final_day]
    sizes = [int((info_day <= day).sum()) for day in days]
    if len(days) == 2:
        exact = (
            reject_probability(pl.r1, sizes[0], pl.r, sizes[1], pl.p0),
            reject_probability(pl.r1, sizes[0], pl.r, sizes[1], p_alternative),
        )
    else:
        exact = (
            reject_probability(NO_FUTILITY, sizes[0], pl.r, sizes[0], pl.p0),
            reject_probability(NO_FUTILITY, sizes[0], pl.r, sizes[0], p_alternative),
        )
    for i, day in enumerate(days):
        x = int((success & (info_day <= day)).sum())
        last = i == len(days) - 1
        futility = not last and x <= pl.r1
        efficacy = last and x > pl.r
        if futility or last:
            break
    r = analyses.one_proportion(x, sizes[i], pl.p0, exact=True)
    on = entry <= day
    deaths = int((o.death_day[on] <= np.minimum(dropout, day - entry)[on]).sum())
    return {
        "rmst_z": math.nan,  # no secondary RMST analysis in single-arm designs
        "rmst_difference": math.nan,
        "rmst_tau_days": math.nan,
        "rmst_reject": False,
        "design": name,
        "stage": i + 1,
        "looks": len(days),
        "reject": bool(efficacy),
        "stop_efficacy": False,  # Simon's designs stop early for futility only
        "stop_futility": bool(futility),
        "duration_months": day / DAYS_PER_MONTH,
        "accrual_months": float(entry[on].max()) / DAYS_PER_MONTH,
        "n_randomised": int(on.sum()),
        "n_analysed_e": sizes[i],
        "n_analysed_c": 0,
        "deaths": deaths,
        "z": r.z,
        "p": r.p,
        "critical_z": math.nan,  # the rule is on counts (responses > r), not on z
        "estimate": r.estimate,
        "estimate_e": r.experimental,
        "estimate_c": r.control,
        "exact_size": float(exact[0]),
        "exact_power": float(exact[1]),
        "cp_trend": math.nan,  # conditional power, re-estimation: two-arm designs only
        "cp_design": math.nan,
        "ssr_factor": math.nan,
        "ssr_n": math.nan,
        "stop_safety": False,  # designs with their own rule are not safety-monitored
    }
