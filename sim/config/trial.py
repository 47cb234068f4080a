"""Structured config of a virtual trial (`conf/trial/`): the schema behind `cfg.trial`.

The values here are fallbacks for the schema; the defaults a user runs with, and
their sources, are in `conf/trial/*.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EligibilityConfig:
    """Who, among referred PML patients, can be randomised."""

    conditions: list[str] = field(default_factory=lambda: ["all"])  # or a list of CONDITIONS
    cd4_min: float = 0.0  # baseline blood CD4 (cells/uL), inclusive bounds
    cd4_max: float = float("inf")
    max_baseline_mrs: int = 5  # baseline disability (mRS from lesion burden), inclusive
    screen_fail: float = 0.0  # share of eligible patients who do not consent / fail screening
    # days from PML diagnosis (referral) to randomisation: screening, consent, the
    # baseline work-up. Patients who die before it are not randomised; the trial's
    # therapies start at randomisation and outcomes are counted from it.
    randomisation_delay_days: float = 14.0


@dataclass
class AccrualConfig:
    """Sites opening over time, each with a piecewise-constant Poisson arrival rate."""

    sites: int = 1
    ramp_up_months: float = 0.0  # site k of S opens at k / (S - 1) x ramp_up_months
    # referred PML patients per site and month; rate_per_site_month[j] holds from
    # rate_change_months[j - 1] (months since the site opened) to rate_change_months[j]
    rate_per_site_month: list[float] = field(default_factory=lambda: [1.0])
    rate_change_months: list[float] = field(default_factory=list)
    max_accrual_months: float = 120.0  # recruitment stops here even if n is not reached


@dataclass
class RandomisationConfig:
    allocation: list[int] = field(default_factory=lambda: [1, 1])  # experimental : control
    block_size: int = 4  # permuted blocks; a multiple of sum(allocation)
    stratify: bool = True  # separate block sequences per condition


@dataclass
class FollowUpConfig:
    min_followup_months: float = 12.0  # final analysis: last patient randomised + this
    dropout_per_year: float = 0.0  # loss to follow-up hazard (exponential)


@dataclass
class EffectConfig:
    """Where the experimental arm's outcomes come from.

    model: the experimental strategy's simulated outcomes (the effect follows from the
    mechanism and the patient mix). assumed: the control strategy's outcomes with
    death times transformed to an assumed hazard ratio (proportional hazards), to
    compare with textbook designs; other outcomes are the control's.
    """

    kind: str = "model"  # model | assumed
    hazard_ratio: float = 0.7


@dataclass
class HistoricalControlConfig:
    """Single-arm designs: the historical control's value of each binary endpoint."""

    survival_1y: float = 0.5
    csf_clearance_12w: float = 0.2
    no_iris: float = 0.8


@dataclass
class DesignConfig:
    """One analysis plan: endpoint, test and group-sequential looks (rpact vocabulary)."""

    # survival_1y | time_to_death | csf_clearance_12w | no_iris | mrs_12m |
    # death_or_disability (two arms: alive at 12 months with mRS < trial.disability_mrs)
    endpoint: str = "survival_1y"
    # z (= chi-square) | fisher on complete cases (binary endpoints); km: Kaplan-Meier
    # difference at survival_day (survival_1y, uses patients lost to follow-up);
    # time_to_death: logrank, fh (Fleming-Harrington weighted log-rank) or maxcombo
    # (the largest of several FH statistics; sim/trial/weighted.py)
    test: str = "z"
    type_of_design: str = "none"  # none | asOF | asP (Lan-DeMets spending) | OF | P (classical)
    information_rates: list[float] = field(default_factory=lambda: [1.0])  # last must be 1
    timing: str = "information"  # information | calendar
    look_months: list[float] = field(default_factory=list)  # calendar timing: interim dates
    futility_z: float | None = None  # interim looks: stop for futility if z < futility_z
    # or futility bounds by beta spending under the planned (pool's) effect: bsOF | bsP
    type_beta_spending: str = "none"
    # 1 - planned power: of beta spending, and of the single-arm design searches below
    beta: float = 0.2
    stratified: bool = False  # CMH / stratified log-rank over the condition strata
    # log-rank only: hypergeometric (Mantel-Haenszel) or permutation variance of the
    # log-rank scores (a small-sample option, docs/trial.md)
    logrank_variance: str = "hypergeometric"
    # time_to_death tests (logrank, fh, maxcombo) at one look: asymptotic (normal or
    # multivariate-normal p) or rerandomisation: p from `rerandomisations` shuffles of
    # the arms within the trial's permuted blocks, exact size at any n
    # (sim/trial/rerandomise.py, docs/trial.md)
    p_value: str = "asymptotic"
    rerandomisations: int = 999  # ASSUMPTION: MC se of p near 0.025 about 0.005
    # test: fh: the weights S(t-)^fh_rho (1 - S(t-))^fh_gamma (pooled Kaplan-Meier)
    fh_rho: float = 0.0
    fh_gamma: float = 0.0
    # test: maxcombo: the [rho, gamma] pairs of its FH statistics (Lin et al. 2020);
    # elements typed Any so that integers ([[0, 1]]) are accepted (checked in validate)
    maxcombo_weights: list[Any] = field(
        default_factory=lambda: [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    )
    # single arm (comparator: historical), binary endpoint: the design's own rule and n,
    # found by exact binomial search for size <= alpha at p0 = historical value and
    # power >= 1 - beta at p1 (sim/trial/phase2.py): simon_optimal | simon_minimax
    # (Simon 1989) | exact_one_stage | predictive (exact one stage with predictive-
    # probability futility monitoring); group_sequential: the looks above over sizing.n
    design: str = "group_sequential"
    # time_to_death: the final analysis at min_followup_months after the last
    # randomisation (followup) or when target_events deaths have been observed
    # (events: event-driven; interim looks at information_rates x target_events)
    analysis: str = "followup"
    target_events: int | None = None  # events: None = Schoenfeld's for the pool's HR and beta
    rmst_tau_days: float | None = None  # time_to_death: also an RMST difference up to this day
    p1: float | None = None  # response rate to power for (None: the model's, the pool's)
    n_max: int = 150  # largest n the design search tries
    # design: predictive (sim/trial/predictive.py): the exact one-stage design monitored
    # at an interim after pp_fraction of its n, stopping for futility when the
    # beta-binomial predictive probability of final success is below pp_threshold
    pp_fraction: float = 0.5
    pp_threshold: float = 0.05
    pp_prior_a: float = 1.0  # Beta(a, b) prior on the response rate
    pp_prior_b: float = 1.0
    # platform trials (trial.platform.arms; sim/trial/mams.py): familywise error control
    # over the arms. dunnett: Dunnett (one look) or Magirr-Jaki-Whitehead generalised
    # Dunnett (OF / P shapes); bonferroni: alpha / arms to each arm's own boundaries;
    # none: alpha per arm (unadjusted). Two-arm trials (one comparison) ignore it.
    multiplicity: str = "dunnett"
    # two-look two-arm binary designs (sim/trial/conditional.py): promising-zone sample-size
    # re-estimation at the interim (Mehta & Pocock 2011): none | promising_zone. When the
    # conditional power under the current trend is in [ssr_cp_min, ssr_cp_target), the
    # maximum n is raised to reach ssr_cp_target, at most ssr_max_factor x n; the final
    # test is the Cui-Hung-Wang weighted statistic (chw) or the naive pooled one (naive)
    ssr: str = "none"
    ssr_cp_min: float = 0.1
    ssr_cp_target: float = 0.8
    ssr_max_factor: float = 2.0
    ssr_statistic: str = "chw"


@dataclass
class SizingConfig:
    n: list[int] = field(default_factory=lambda: [100])  # maximum sample sizes (randomised)
    trials: int = 1000  # simulated trials per design x n x accrual scale x scenario
    accrual_scale: list[float] = field(default_factory=lambda: [1.0])  # x every site rate
    target_power: float = 0.8
    # an n is recruitable if at least this share of trials randomise n patients within
    # accrual.max_accrual_months (Poisson accrual); the others are flagged in
    # operating_characteristics.csv and never reported as the smallest n reaching target
    min_p_recruited: float = 0.9
    chunk_trials: int = 250  # trials per executor task; results do not depend on it
    # list: the n above; auto: centred on the analytic n (sim/trial/solver.py) of
    # auto_design (None: the first design with one), auto_factors x that n rounded to the
    # allocation block (the n above are then not used)
    grid: str = "list"
    auto_factors: list[float] = field(default_factory=lambda: [0.6, 0.8, 1.0, 1.25, 1.6])
    auto_design: str | None = None


@dataclass
class SensitivityConfig:
    """sensitivity.csv (sim/trial/sensitivity.py): analytic n of every design against
    the patient mix (the pool reweighted by condition) and the effect size."""

    enabled: bool = False
    # x the model's effect: risk difference (binary), log HR, log odds ratio (mRS)
    effect_multipliers: list[float] = field(default_factory=lambda: [0.75, 1.0, 1.25])
    shift_condition: str = "hiv"  # the condition whose referral share is shifted
    shift: float = 0.1  # +- this much of the referral mix (absolute share)


@dataclass
class BorrowingConfig:
    """Bayesian borrowing of a historical control for a two-arm binary endpoint
    (sim/trial/borrowing.py): exact operating characteristics of the decision
    P(p_e > p_c | data) >= threshold over the true control rate (prior-data conflict),
    written to borrowing.csv; prior none: off."""

    prior: str = "none"  # none | power | robust_map (and none, for comparison)
    endpoint: str = "survival_1y"  # a binary endpoint
    historical_n: int = 100  # historical control patients
    historical_x: int = 40  # ... with the good outcome
    vague_a: float = 1.0  # the vague Beta(a, b) prior (both arms; robust component)
    vague_b: float = 1.0
    power_delta: float = 0.5  # power prior: weight of a historical patient
    map_weight: float = 0.8  # robust MAP: weight of the informative component
    threshold: float = 0.975  # reject H0 if P(p_e > p_c | data) >= threshold
    # true control rates at which type I error and power are traced (the conflict curve)
    control_rates: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5])


@dataclass
class AssuranceConfig:
    """Assurance: power averaged over parameter draws (sim/trial/assurance.py)."""

    draws: int = 0  # parameter draws (0: no assurance column)
    source: str = "posterior"  # conf/model/<model>_<source>.csv: posterior | ensemble
    pool_per_arm: int = 4000  # simulated patients per strategy and draw


@dataclass
class PlatformArmConfig:
    """One experimental arm of a platform trial (its strategy is the arm's name)."""

    entry_months: float = 0.0  # months after the trial starts (first site opening)


@dataclass
class PlatformConfig:
    """A multi-arm platform trial with a shared control arm (sim/trial/platform.py):
    experimental arms (strategy names, conf/strategy/) entering at their entry_months
    and leaving at an interim (efficacy, futility) or at the maximum n per arm
    (sizing.n); off when `arms` is empty (a two-arm trial)."""

    arms: dict[str, PlatformArmConfig] = field(default_factory=dict)
    # control patients per experimental patient of each open arm in a permuted block
    # (1: equal allocation among the open arms and control)
    control_ratio: int = 1
    blocks_per_cycle: int = 1  # a block holds this many x (control_ratio + open arms) slots
    control: str = "concurrent"  # concurrent | all: the controls each arm is compared with
    # a time trend: the control arm's 1-year survival changes by this much per year of
    # calendar time (every arm's 1-year death risk moves in the same proportion)
    time_trend_per_year: float = 0.0


@dataclass
class SafetyConfig:
    """An IRIS safety boundary on the experimental arm (sim/trial/safety.py): stop the
    trial for harm when P(IRIS rate > threshold | data) > cutoff at a look (beta-binomial,
    Beta(prior_a, prior_b)); looks after `looks` evaluable experimental patients, IRIS
    counted within window_days of randomisation; rule none: off."""

    rule: str = "none"  # none | bayes
    threshold: float = 0.3  # an IRIS rate above this is unacceptable
    cutoff: float = 0.9  # stop if the posterior probability of that exceeds this
    prior_a: float = 1.0
    prior_b: float = 1.0
    looks: list[int] = field(default_factory=lambda: [10, 20, 30, 40, 60, 80])
    window_days: float = 180.0
    # rates at which sizing.md shows the exact stopping probability of the rule
    report_rates: list[float] = field(default_factory=lambda: [0.15, 0.45])


@dataclass
class TrialConfig:
    name: str = "trial"
    experimental: str = "pd1"  # strategy name (conf/strategy/)
    control: str = "soc"  # strategy name; in single-arm designs only the null scenario uses it
    comparator: str = "randomised"  # randomised | historical (single arm)
    alpha: float = 0.025  # one-sided type I error (rpact: alpha, sided = 1)
    survival_day: float = 365.0  # day of the 1-year survival endpoint
    csf_day: float = 84.0  # day of the CSF JCV clearance endpoint (a monitoring.csf_days day)
    pool_per_arm: int = 20000  # simulated patients per strategy that trials draw from
    eligibility: EligibilityConfig = field(default_factory=EligibilityConfig)
    accrual: AccrualConfig = field(default_factory=AccrualConfig)
    randomisation: RandomisationConfig = field(default_factory=RandomisationConfig)
    followup: FollowUpConfig = field(default_factory=FollowUpConfig)
    effect: EffectConfig = field(default_factory=EffectConfig)
    historical: HistoricalControlConfig = field(default_factory=HistoricalControlConfig)
    designs: dict[str, DesignConfig] = field(default_factory=dict)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    borrowing: BorrowingConfig = field(default_factory=BorrowingConfig)
    assurance: AssuranceConfig = field(default_factory=AssuranceConfig)
    platform: PlatformConfig = field(default_factory=PlatformConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    sensitivity: SensitivityConfig = field(default_factory=SensitivityConfig)
    # death_or_disability endpoint: alive at 12 months with mRS below this (mRS >= it, or
    # death, is the bad outcome)
    disability_mrs: int = 4
