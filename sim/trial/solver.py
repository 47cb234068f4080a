"""Analytic sample sizes: the n the textbook formula gives for a design, from the effect
the model implies (the pool's arm values), used to centre the sizing grid
(`trial.sizing.grid: auto`), written beside the simulated answer, and traced over patient
mixes and effect sizes (`trial.sensitivity`, sensitivity.csv).

In plain words: for the design's endpoint and one-sided alpha, find the total number of
randomised patients whose power is `sizing.target_power` under the effect the pool shows,

* binary endpoints, two arms: the pooled two-proportion z test (Fleiss et al. 2003,
  eq. 4.14), N = (z_a sqrt(V0) + z_b sqrt(V1))^2 / (p_e - p_c)^2 with V0 the null
  (pooled) and V1 the alternative variance of one patient's contribution at the
  allocation r, V0 = pbar (1 - pbar) (1 / r + 1 / (1 - r)), V1 = p_e (1 - p_e) / r +
  p_c (1 - p_c) / (1 - r); for a stratified analysis (CMH, stratified KM) the same
  with the Mantel-Haenszel difference and variances summed over the condition strata
  (`stratified_variances`), which is smaller when the condition is prognostic;
* time to death: Schoenfeld's (1983) deaths D = (z_a + z_b)^2 / (r (1 - r) log(HR)^2),
  and the patients who yield them, D / P(a patient's death is observed) (deaths within
  the model horizon, before loss to follow-up and, for an analysis at a minimum
  follow-up shorter than the horizon, before the analysis date under the expected
  accrual);
* mRS at 12 months: Whitehead's (1993) N = 3 (z_a + z_b)^2 / (r (1 - r) log(OR)^2
  (1 - sum pbar_k^3));
* single arm (historical p0): the smallest n whose exact binomial power at the design's
  looks (ceil(t_k n) evaluable patients, the design's test, boundaries and futility
  rule; sim.trial.analyses.one_proportion_crossing) reaches the target (A'Hern 2001:
  power is not monotone in n, a larger n can fall short); designs with their own rule
  (Simon, exact one stage, predictive) keep their planned n.

Group-sequential designs: the drift theta (expected final z) at which the boundaries of
sim.trial.boundaries (and the futility rule: futility_z, or beta spending under theta
itself) are crossed with the target probability replaces z_a + z_b; for the proportion
tests the boundaries are scaled by sqrt(V0 / V1) as in analytic power. The ratio of the
group-sequential to the fixed n is the inflation factor (Jennison & Turnbull 2000, s.2.5).

The formulas count patients with an outcome; `n_dropout` divides by the probability
that a patient's outcome is known before loss to follow-up (exponential dropout, the
endpoint's settle day). A stratified log-rank analysis uses Schoenfeld's formula within
the condition strata (`stratified_logrank_n`: the death-weighted mean of the strata's
log hazard ratios); the mRS formula is unstratified even for a stratified analysis (the
pool's overall odds ratio), so with a prognostic condition the stratified simulation
needs fewer patients than it says (docs/trial.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.stats import norm

from sim.config.trial import DesignConfig, TrialConfig
from sim.trial import analyses
from sim.trial.accrual import DAYS_PER_MONTH, intensity
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds, futility_bounds
from sim.trial.ordinal import MRS_CATEGORIES, proportional_odds, shifted

DRIFT_MAX = 40.0  # expected final z searched up to this (far beyond any useful power)
SINGLE_ARM_N_MAX = 2000  # single-arm search limit (patients): NaN beyond


@dataclass(frozen=True)
class ArmValues:
    """What the formulas need of the arms (from the pool, possibly reweighted to another
    patient mix and with a scaled effect)."""

    endpoint: str
    p_e: float = math.nan  # binary: success probability per arm
    p_c: float = math.nan
    hazard_ratio: float = math.nan  # time to death (one-step log-rank)
    death_e: float = math.nan  # time to death: P(death observed), no dropout
    death_c: float = math.nan
    death_e_dropout: float = math.nan  # ... before loss to follow-up
    death_c_dropout: float = math.nan
    levels_c: tuple[float, ...] = ()  # mrs_12m: control's category shares
    odds_ratio: float = math.nan  # mrs_12m: common odds ratio of a better mRS
    p_known: float = 1.0  # P(outcome known before loss to follow-up), both arms
    # per condition stratum, for the stratified analyses' formulas: binary (share of
    # eligible patients, p_e, p_c); time to death (share, P(death observed) without and
    # with dropout, both arms, log HR within the stratum)
    strata: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Solution:
    n: float  # randomised patients, no dropout (rounded up; NaN: no finite answer)
    n_dropout: float  # ... with the trial's dropout
    events: float  # time to death: deaths needed (rounded up); NaN otherwise
    inflation: float  # group-sequential / fixed n (1 for a fixed design)


NO_SOLUTION = Solution(math.nan, math.nan, math.nan, math.nan)


def required_drift(
    fractions, critical, power: float, futility_z: float | None = None, beta_spending=None
) -> float:
    """The drift theta (expected z at full information) at which a design with these
    looks and efficacy bounds rejects with probability `power`. Futility: a fixed
    futility_z at every interim, or beta spending (kind, beta) with bounds computed
    under theta itself (sim.trial.boundaries.futility_bounds); both non-binding, so
    they only lower the power."""
    fr = np.asarray(fractions, dtype=float)
    c = np.asarray(critical, dtype=float)
    if len(fr) == 1:
        return float(c[0] + norm.isf(1.0 - power))

    def fut(theta: float):
        if beta_spending is not None:
            kind, beta = beta_spending
            return futility_bounds(fr, c, theta, beta, kind)
        if futility_z is not None:
            return np.r_[np.full(len(fr) - 1, futility_z), -np.inf]
        return None

    def gap(theta: float) -> float:
        return float(crossing_probabilities(fr, c, theta, fut(theta))[0].sum()) - power

    return float(optimize.brentq(gap, -5.0, DRIFT_MAX, xtol=1e-10))


def _looks(d: DesignConfig, alpha: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(fractions, efficacy bounds) of a design's planned looks (None: calendar looks,
    whose fractions are not known in advance)."""
    if d.type_of_design == "none":
        return np.ones(1), efficacy_bounds([1.0], alpha, "none")
    if d.timing != "information":
        return None
    fr = np.asarray(d.information_rates, dtype=float)
    return fr, efficacy_bounds(fr, alpha, d.type_of_design)


def _design_drift(d: DesignConfig, alpha: float, power: float, scale: float = 1.0) -> float:
    """Required drift with the design's bounds and futility rule, bounds (and futility)
    multiplied by `scale` (null SD / alternative SD of the proportion tests)."""
    looks = _looks(d, alpha)
    if looks is None:
        return math.nan
    fr, c = looks
    if len(fr) == 1:
        return float(c[0] * scale + norm.isf(1.0 - power))
    bs = (d.type_beta_spending, d.beta) if d.type_beta_spending != "none" else None
    fz = None if d.futility_z is None else d.futility_z * scale
    # beta spending is computed on the scaled bounds (the futility bounds follow them)
    return required_drift(fr, c * scale, power, fz, bs)


def two_proportion_n(
    p_e: float, p_c: float, alpha: float, power: float, share_e: float, drift: float | None = None
) -> float:
    """Total patients (unrounded) of the one-sided pooled two-proportion z test with
    power `power` (Fleiss et al. 2003, eq. 4.14, no continuity correction); `drift`:
    the required drift on the alternative-SD scale (group-sequential), else z_a + z_b
    scaled as in the fixed-design formula."""
    delta = p_e - p_c
    if not delta > 0.0:
        return math.nan
    r = share_e
    pbar = r * p_e + (1 - r) * p_c
    v0 = pbar * (1 - pbar) * (1 / r + 1 / (1 - r))
    v1 = p_e * (1 - p_e) / r + p_c * (1 - p_c) / (1 - r)
    if drift is None:
        return (norm.isf(alpha) * math.sqrt(v0) + norm.isf(1 - power) * math.sqrt(v1)) ** 2 / (
            delta * delta
        )
    return drift * drift * v1 / (delta * delta)


def stratified_variances(strata, share_e: float) -> tuple[float, float, float]:
    """(risk difference, V0, V1) per patient of the Cochran-Mantel-Haenszel test over
    strata with shares pi_s, randomised r : 1 - r within each (stratified blocks):
    Mantel-Haenszel weights n_e,s n_c,s / N_s = r (1 - r) pi_s N give the difference
    sum pi_s (p_e,s - p_c,s), null variance V0 = sum pi_s pbar_s (1 - pbar_s) (1 / r +
    1 / (1 - r)) and alternative variance V1 = sum pi_s (p_e,s q_e,s / r + p_c,s q_c,s /
    (1 - r)) (so that N = (z_a sqrt(V0) + z_b sqrt(V1))^2 / difference^2; one stratum:
    the unstratified formula)."""
    r = share_e
    pi = np.array([x[0] for x in strata], dtype=float)
    pe = np.array([x[1] for x in strata], dtype=float)
    pc = np.array([x[2] for x in strata], dtype=float)
    pi = pi / pi.sum()
    pbar = r * pe + (1 - r) * pc
    v0 = float((pi * pbar * (1 - pbar)).sum() * (1 / r + 1 / (1 - r)))
    v1 = float((pi * (pe * (1 - pe) / r + pc * (1 - pc) / (1 - r))).sum())
    return float((pi * (pe - pc)).sum()), v0, v1


def stratified_logrank_n(theta: float, deaths: float, weighted: float, share_e: float):
    """(patients, deaths) of the stratified log-rank test with drift theta: per
    randomised patient, stratum s contributes pi_s d_s deaths (d_s: P(death observed))
    with log hazard ratio b_s, so O - E sums r (1 - r) N pi_s d_s b_s and its variance
    r (1 - r) N pi_s d_s (Schoenfeld 1983 within strata):
    N = theta^2 sum pi_s d_s / (r (1 - r) (sum pi_s d_s b_s)^2), deaths = N sum pi_s d_s.
    `deaths` = sum pi_s d_s, `weighted` = sum pi_s d_s b_s. One stratum: Schoenfeld."""
    r = share_e
    n = theta * theta * deaths / (r * (1 - r) * weighted * weighted)
    return n, n * deaths


def null_to_alternative_sd(p_e: float, p_c: float, share_e: float) -> float:
    """sqrt(V0 / V1) of the two-proportion test (independent of n)."""
    r = share_e
    pbar = r * p_e + (1 - r) * p_c
    v0 = pbar * (1 - pbar) * (1 / r + 1 / (1 - r))
    v1 = p_e * (1 - p_e) / r + p_c * (1 - p_c) / (1 - r)
    return math.sqrt(v0 / v1) if v1 > 0 else 1.0


def single_arm_n(
    p1: float,
    p0: float,
    alpha: float,
    power: float,
    d: DesignConfig,
    n_max: int = SINGLE_ARM_N_MAX,
) -> float:
    """Smallest n whose exact power at p1 reaches `power` for the design's looks (ceil
    of fractions x n evaluable patients), bounds and futility rule (NaN if none <= n_max)."""
    if not p1 > p0:
        return math.nan
    looks = _looks(d, alpha)
    if looks is None:
        return math.nan
    fr, c = looks
    exact = d.test == "fisher"
    crit = tuple(float(x) for x in c)
    fut = None
    if d.futility_z is not None:
        fut = (*(float(d.futility_z),) * (len(fr) - 1), -math.inf)
    for n in range(1, n_max + 1):
        sizes = tuple(int(math.ceil(f * n - 1e-9)) for f in fr)
        if sizes[0] < 1:
            continue
        up, _ = analyses.one_proportion_crossing(p1, p0, sizes, crit, fut, exact)
        if sum(up) >= power:
            return float(n)
    return math.nan


def observed_death_share(
    death_day: np.ndarray,
    weights: np.ndarray,
    horizon: float,
    dropout_per_day: float,
    followup_days=None,
) -> float:
    """P(a patient's death is observed): death within the horizon, before loss to
    follow-up (exponential, rate dropout_per_day: probability exp(-rate x death day)) and
    before `followup_days` (a callable giving P(follow-up >= day) for an array of days,
    or None: everyone followed to the horizon). Weighted mean over pool patients."""
    dead = np.isfinite(death_day) & (death_day <= horizon)
    t = np.where(dead, death_day, 0.0)
    p = np.where(dead, np.exp(-dropout_per_day * t), 0.0)
    if followup_days is not None:
        p = p * followup_days(t)
    return float((weights * p).sum())


def weighted_hazard_ratio(
    time: np.ndarray, event: np.ndarray, experimental: np.ndarray, weights: np.ndarray
) -> float:
    """One-step log-rank hazard ratio exp((O - E) / V) with case weights (V without the
    ties correction: sum over death times of d w_e w_c / w^2 at risk); with equal weights
    and no tied death times it is sim.trial.analyses.logrank's estimate."""
    order = np.argsort(time, kind="stable")
    t, ev, ex, w = time[order], event[order], experimental[order], weights[order]
    # at risk just before each time: the weight of everyone with time >= it
    at_e = np.cumsum((w * ex)[::-1])[::-1]
    at_all = np.cumsum(w[::-1])[::-1]
    # group tied times: use the first index of each distinct time for the risk sets
    uniq, first = np.unique(t, return_index=True)
    d_all = np.bincount(np.searchsorted(uniq, t), weights=w * ev, minlength=len(uniq))
    d_e = np.bincount(np.searchsorted(uniq, t), weights=w * ev * ex, minlength=len(uniq))
    y_e, y = at_e[first], at_all[first]
    y_c = y - y_e
    ok = (d_all > 0) & (y > 0)
    o_minus_e = float((d_e - d_all * y_e / np.where(y > 0, y, 1))[ok].sum())
    v = float((d_all * y_e * y_c / np.where(y > 0, y * y, 1))[ok].sum())
    return math.exp(o_minus_e / v) if v > 0 else math.nan


def arm_values(spec, endpoint: str, weights: np.ndarray | None = None) -> ArmValues:
    """The arms' values for an endpoint from the pool (equal weights: the pool as is;
    otherwise per-patient weights summing to 1, e.g. another patient mix)."""
    from sim.trial.design import BINARY, DAYS_PER_YEAR, Enrolled, endpoint_data

    t, pool = spec.trial, spec.pool
    o_c, o_e = pool.outcomes["control"], pool.outcomes["experimental"]
    m = len(pool)
    w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, dtype=float)
    eta = t.followup.dropout_per_year / DAYS_PER_YEAR
    a, c = t.randomisation.allocation
    r = 1.0 if t.comparator == "historical" else a / (a + c)
    if endpoint in BINARY:
        e = Enrolled(
            np.zeros(m), np.arange(m), np.ones(m, bool), pool.condition, np.full(m, np.inf), m, 0.0
        )
        ep_e, ep_c = endpoint_data(endpoint, t, e, o_e), endpoint_data(endpoint, t, e, o_c)
        keep_e = float((w * np.exp(-eta * ep_e.settle_day)).sum())
        keep_c = float((w * np.exp(-eta * ep_c.settle_day)).sum())
        strata = []
        for s in np.unique(pool.condition):
            ws = np.where(pool.condition == s, w, 0.0)
            tot = ws.sum()
            if tot > 0:
                strata.append((float(tot), float((ws * ep_e.success).sum() / tot),
                               float((ws * ep_c.success).sum() / tot)))  # fmt: skip
        return ArmValues(
            endpoint,
            p_e=float((w * ep_e.success).sum()),
            p_c=float((w * ep_c.success).sum()),
            p_known=r * keep_e + (1 - r) * keep_c,
            strata=tuple(strata),
        )
    if endpoint == "mrs_12m":
        h = pool.horizon_days
        c_e = np.bincount(o_e.mrs, weights=w, minlength=MRS_CATEGORIES)
        c_c = np.bincount(o_c.mrs, weights=w, minlength=MRS_CATEGORIES)
        keep_e = float((w * np.exp(-eta * np.minimum(o_e.death_day, h))).sum())
        keep_c = float((w * np.exp(-eta * np.minimum(o_c.death_day, h))).sum())
        return ArmValues(
            endpoint,
            levels_c=tuple(float(x) for x in c_c / c_c.sum()),
            odds_ratio=proportional_odds(c_e * m, c_c * m).estimate,
            p_known=r * keep_e + (1 - r) * keep_c,
        )
    h = pool.horizon_days
    time = np.minimum(np.r_[o_e.death_day, o_c.death_day], h)
    event = np.isfinite(np.r_[o_e.death_day, o_c.death_day])
    arm = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    if weights is None:
        hr = analyses.logrank(time, event, arm).estimate
    else:
        hr = weighted_hazard_ratio(time, event, arm, np.r_[w, w])
    strata = []
    for s in np.unique(pool.condition):
        ws = np.where(pool.condition == s, w, 0.0)
        tot = ws.sum()
        if not tot > 0:
            continue
        shares = [
            r * observed_death_share(o_e.death_day, ws / tot, h, x)
            + (1 - r) * observed_death_share(o_c.death_day, ws / tot, h, x)
            for x in (0.0, eta)
        ]
        hr_s = weighted_hazard_ratio(time, event, arm, np.r_[ws, ws])
        if math.isfinite(hr_s) and hr_s > 0:
            strata.append((float(tot), shares[0], shares[1], math.log(hr_s)))
    return ArmValues(
        endpoint,
        hazard_ratio=hr,
        strata=tuple(strata),
        death_e=observed_death_share(o_e.death_day, w, h, 0.0),
        death_c=observed_death_share(o_c.death_day, w, h, 0.0),
        death_e_dropout=observed_death_share(o_e.death_day, w, h, eta),
        death_c_dropout=observed_death_share(o_c.death_day, w, h, eta),
    )


def scaled(v: ArmValues, multiplier: float) -> ArmValues:
    """The same arms with the effect multiplied: risk difference (binary), log hazard
    ratio (time to death; the experimental arm's death probabilities follow S_e^(HR'/HR),
    i.e. proportional hazards relative to its own curve) or log odds ratio (mRS)."""
    if multiplier == 1.0:
        return v
    if v.endpoint == "mrs_12m":
        return ArmValues(v.endpoint, levels_c=v.levels_c, odds_ratio=v.odds_ratio**multiplier,
                         p_known=v.p_known)  # fmt: skip
    if v.endpoint == "time_to_death":
        hr = v.hazard_ratio**multiplier
        k = math.log(hr) / math.log(v.hazard_ratio) if v.hazard_ratio != 1.0 else 1.0
        d_e = 1.0 - (1.0 - v.death_e) ** k
        ratio = d_e / v.death_e if v.death_e > 0 else 1.0
        # strata: log HRs scaled, their death shares kept (an approximation)
        strata = tuple((pi, d0, d1, multiplier * b) for pi, d0, d1, b in v.strata)
        return ArmValues(v.endpoint, hazard_ratio=hr, death_e=d_e, death_c=v.death_c,
                         death_e_dropout=v.death_e_dropout * ratio,
                         death_c_dropout=v.death_c_dropout, p_known=v.p_known,
                         strata=strata)  # fmt: skip
    eps = 1e-9

    def move(p_e: float, p_c: float) -> float:
        return min(max(p_c + multiplier * (p_e - p_c), eps), 1.0 - eps)

    strata = tuple((pi, move(pe, pc), pc) for pi, pe, pc in v.strata)
    return ArmValues(v.endpoint, p_e=move(v.p_e, v.p_c), p_c=v.p_c, p_known=v.p_known,
                     strata=strata)  # fmt: skip


def _ceil(x: float) -> float:
    return float(math.ceil(x - 1e-9)) if math.isfinite(x) else math.nan


def _admin_followup(t: TrialConfig, d: DesignConfig, n: float, p_rand: float, horizon: float):
    """P(follow-up >= day) at an analysis min_followup_months after the last
    randomisation, under the expected accrual of n patients (None when the minimum
    follow-up covers the horizon, or for event-driven analyses: everyone is followed to
    the horizon)."""
    f = t.followup.min_followup_months * DAYS_PER_MONTH
    if d.analysis == "events" or f >= horizon or not math.isfinite(n):
        return None
    m = intensity(t.accrual, 1.0, p_rand)
    last = float(m.inverse(n))
    return lambda day: np.clip(m.at(np.maximum(last + f - day, 0.0)) / n, 0.0, 1.0)


def solve(
    t: TrialConfig,
    d: DesignConfig,
    v: ArmValues,
    p_rand: float = 1.0,
    death_fn=None,
    horizon: float = math.inf,
) -> Solution:
    """The analytic n of design d for arm values v at target power sizing.target_power.

    death_fn(followup) -> (P(death observed) per arm with dropout): for an analysis at
    a minimum follow-up shorter than the horizon (time to death); None: v's values."""
    power = t.sizing.target_power
    a, c = t.randomisation.allocation
    r = a / (a + c)
    if d.design != "group_sequential":
        return NO_SOLUTION  # own rule and n (sim.trial.phase2): the plan's n
    if t.comparator == "historical":
        n = single_arm_n(v.p_e, getattr(t.historical, d.endpoint), t.alpha, power, d)
        fixed = single_arm_n(
            v.p_e, getattr(t.historical, d.endpoint), t.alpha, power,
            DesignConfig(endpoint=d.endpoint, test=d.test),
        )  # fmt: skip
        return Solution(n, _ceil(n / v.p_known), math.nan, n / fixed)
    if d.endpoint == "mrs_12m":
        if not v.odds_ratio > 1.0:
            return NO_SOLUTION
        theta = _design_drift(d, t.alpha, power)
        z = norm.isf(t.alpha) + norm.isf(1 - power)
        pbar = r * np.asarray(shifted(np.asarray(v.levels_c), v.odds_ratio))
        pbar = pbar + (1 - r) * np.asarray(v.levels_c)
        info_per_patient = r * (1 - r) * (1 - (pbar**3).sum()) / 3 * math.log(v.odds_ratio) ** 2
        n = theta * theta / info_per_patient
        return Solution(_ceil(n), _ceil(n / v.p_known), math.nan, (theta / z) ** 2)
    if d.endpoint == "time_to_death" and d.stratified and v.strata:
        theta = _design_drift(d, t.alpha, power)
        z = norm.isf(t.alpha) + norm.isf(1 - power)
        out = []
        for col in (1, 2):  # without, with dropout
            a_ = sum(x[0] * x[col] for x in v.strata)
            b_ = sum(x[0] * x[col] * x[3] for x in v.strata)
            if not b_ < 0.0:
                return NO_SOLUTION
            out.append(stratified_logrank_n(theta, a_, b_, r))
        (n, events), (n_drop, _) = out
        return Solution(_ceil(n), _ceil(n_drop), _ceil(events), (theta / z) ** 2)
    if d.endpoint == "time_to_death":
        if not 0.0 < v.hazard_ratio < 1.0:
            return NO_SOLUTION
        theta = _design_drift(d, t.alpha, power)
        z = norm.isf(t.alpha) + norm.isf(1 - power)
        events = theta * theta / (r * (1 - r) * math.log(v.hazard_ratio) ** 2)
        p = r * v.death_e + (1 - r) * v.death_c
        p_drop = r * v.death_e_dropout + (1 - r) * v.death_c_dropout
        n, n_drop = events / p, events / p_drop
        if death_fn is not None:  # administrative censoring: iterate n <-> accrual time
            for _ in range(50):
                fu = _admin_followup(t, d, n_drop, p_rand, horizon)
                if fu is None:
                    break
                p_e, p_c = death_fn(fu)
                new = events / (r * p_e + (1 - r) * p_c)
                if abs(new - n_drop) < 1e-6:
                    break
                n_drop = new
        return Solution(_ceil(n), _ceil(n_drop), _ceil(events), (theta / z) ** 2)
    if d.stratified and v.strata:  # Cochran-Mantel-Haenszel / stratified KM
        delta, v0, v1 = stratified_variances(v.strata, r)
    else:
        delta, v0, v1 = stratified_variances(((1.0, v.p_e, v.p_c),), r)
    if not delta > 0.0:
        return NO_SOLUTION
    ratio = math.sqrt(v0 / v1)
    theta = _design_drift(d, t.alpha, power, ratio)
    fixed = (norm.isf(t.alpha) * ratio + norm.isf(1 - power)) ** 2 * v1 / delta**2
    n = theta * theta * v1 / delta**2
    return Solution(_ceil(n), _ceil(n / v.p_known), math.nan, n / fixed)


def design_solution(spec, name: str, v: ArmValues | None = None, weights=None) -> Solution:
    """The analytic n of one design of the spec from the pool (or given arm values)."""
    t = spec.trial
    d = t.designs[name]
    if d.timing == "calendar" and d.type_of_design != "none":
        return NO_SOLUTION
    if d.design != "group_sequential":  # its own rule: the planned n (sizing.phase2_plans)
        from sim.trial.design import superpopulation
        from sim.trial.phase2 import plan

        p = plan(f"trial.designs.{name}", d, t, superpopulation(spec, d.endpoint)["p_e"])
        return Solution(float(p.n), math.nan, math.nan, math.nan)
    v = arm_values(spec, d.endpoint, weights) if v is None else v
    death_fn = None
    if d.endpoint == "time_to_death":
        from sim.trial.design import DAYS_PER_YEAR

        pool = spec.pool
        m = len(pool)
        w = np.full(m, 1.0 / m) if weights is None else np.asarray(weights)
        eta = t.followup.dropout_per_year / DAYS_PER_YEAR
        h = pool.horizon_days

        def death_fn(fu):
            return tuple(
                observed_death_share(pool.outcomes[arm].death_day, w, h, eta, fu)
                for arm in ("experimental", "control")
            )

    p_rand = spec.pool.p_eligible * (1.0 - t.eligibility.screen_fail)
    return solve(t, d, v, p_rand, death_fn, spec.pool.horizon_days)


def round_to_block(n: float, block: int) -> int:
    """n rounded to the nearest whole number of allocation blocks (at least one)."""
    return max(block, int(round(n / block)) * block)


def auto_grid(spec) -> list[int]:
    """The sizing grid centred on the analytic n (with dropout) of `sizing.auto_design`
    (default: the first design with an analytic answer): auto_factors x that n, rounded
    to the allocation block (two arms: randomisation.block_size; single arm: 1),
    distinct and sorted."""
    t = spec.trial
    sz = t.sizing
    names = [sz.auto_design] if sz.auto_design else list(t.designs)
    block = t.randomisation.block_size if t.comparator == "randomised" else 1
    for name in names:
        s = design_solution(spec, name)
        n = s.n_dropout if math.isfinite(s.n_dropout) else s.n
        if math.isfinite(n):
            return sorted({max(round_to_block(f * n, block), 2) for f in sz.auto_factors})
    from sim.config.errors import ConfigError

    raise ConfigError(
        "trial.sizing.grid",
        "auto: no design has an analytic sample size for the model's effect (no benefit, "
        f"or calendar looks: designs {', '.join(names)}); give the grid as trial.sizing.n",
    )
