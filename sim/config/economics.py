"""Structured configs of the health-economic evaluation (`conf/economics/`).

Kept apart from `sim/config/schema.py` so the economics stage reads as one unit: prices and
utilities (input data), the lifetime extension, discounting, and the two uncertainty
analyses (probabilistic and one-way). Values here are schema fallbacks only; the
defaults a user runs with, and their sources, are in the YAML files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

MRS_LEVELS = 6  # modified Rankin 0..5 for survivors (6 = dead)


@dataclass
class TherapyCost:
    """What one therapy costs: per dose or session given, and per day on treatment."""

    per_dose: float = 0.0  # acquisition + administration of one dose / session / infusion
    per_day: float = 0.0  # continuous regimens (oral drugs, care packages) per day on therapy
    source: str = ""


@dataclass
class CostsConfig:
    therapies: dict[str, TherapyCost] = field(default_factory=dict)
    hospital_day: float = 0.0  # inpatient bed day
    admission_days: float = 0.0  # diagnostic / initial admission at PML diagnosis
    iris_hospital_days: float = 0.0  # extra inpatient days per diagnosed IRIS episode
    iris_management: float = 0.0  # per diagnosed IRIS episode, beyond bed days and drugs
    visit: float = 0.0  # outpatient review incl. blood CD4 count
    mri: float = 0.0  # brain MRI with contrast
    lumbar_puncture: float = 0.0  # incl. CSF JCV PCR
    side_effect: float = 0.0  # managing a non-severe side effect
    severe_side_effect: float = 0.0  # managing a severe side effect (admission)
    death: float = 0.0  # end-of-life care, once at every death (follow-up or lifetime)
    long_term_care_per_year: list[float] = field(default_factory=lambda: [0.0] * MRS_LEVELS)
    condition_care_per_year: dict[str, float] = field(default_factory=dict)
    # yearly condition care between discharge and the horizon where it differs from
    # condition_care_per_year (e.g. minus drugs the event log already costs)
    condition_care_acute_per_year: dict[str, float] = field(default_factory=dict)
    # share of long-term and condition care costed between discharge and the horizon
    # (0 = care starts at the horizon, as before issue 15)
    post_discharge_care_share: float = 1.0


@dataclass
class UtilitiesConfig:
    by_mrs: list[float] = field(default_factory=lambda: [1.0] * MRS_LEVELS)  # mRS 0..5
    iris_decrement: float = 0.0  # subtracted while IRIS is active (diagnosis to resolution)
    severe_side_effect_qaly_loss: float = 0.0  # once per severe side effect
    source: str = ""  # where by_mrs comes from (instrument, value set), for the report
    # after the horizon, scale utilities by the general-population norm at each age over
    # that at diagnosis (economics.severity.population_utility; NICE DSU TSD 12)
    age_adjusted: bool = False


@dataclass
class Gompertz:
    """Background hazard a * exp(b * age) per year."""

    a: float = 1e-4
    b: float = 0.09


@dataclass
class LifetimeConfig:
    enabled: bool = True  # False: QALYs and costs stop at the follow-up horizon
    max_age: float = 100.0  # everybody alive is assumed dead by this age
    background_male: Gompertz = field(default_factory=Gompertz)
    background_female: Gompertz = field(default_factory=Gompertz)
    excess_mortality_per_year: dict[str, float] = field(default_factory=dict)  # by condition
    # by residual mRS 0..5, multiplying the background (general-population) hazard
    mrs_mortality_hr: list[float] = field(default_factory=lambda: [1.0] * MRS_LEVELS)


@dataclass
class DiscountConfig:
    costs: float = 0.035  # annual rate, applied continuously: exp(-ln(1+r) t)
    qalys: float = 0.035
    guideline: str = ""


@dataclass
class PSAParam:
    """One uncertain input: a dotted config key and its distribution.

    kind: beta (mean, sd) | gamma (mean, sd) | lognormal (mean = median, sd = gsd) |
    normal (mean, sd; optional low/high truncation) | uniform (low, high) |
    dirichlet (keys + counts: one draw sets all keys) | fixed (mean).
    """

    key: str = ""  # e.g. economics.costs.hospital_day, therapies.vst.levers.x
    kind: str = MISSING
    mean: float = 0.0
    sd: float = 0.0
    low: float = float("-inf")
    high: float = float("inf")
    keys: list[str] = field(default_factory=list)  # dirichlet: the keys it sets
    counts: list[float] = field(default_factory=list)  # dirichlet: concentration per key
    group: str = ""  # EVPPI group label ("" = none)
    source: str = ""


@dataclass
class Correlation:
    """Spearman (rank) correlation between two PSA inputs, realised by a Gaussian copula
    with Pearson correlation 2 sin(pi rho / 6)."""

    a: str = MISSING
    b: str = MISSING
    rho: float = 0.0
    source: str = ""


@dataclass
class PSAConfig:
    draws: int = 0  # outer loop: parameter sets (0 = no PSA)
    n_patients: int = 1000  # inner loop: patients per draw and strategy
    ensemble: str = ""  # model name whose calibrated ensemble is resampled ("" = none)
    params: list[PSAParam] = field(default_factory=list)
    correlations: list[Correlation] = field(default_factory=list)
    wtp_max: float = 100000.0  # CEAC / EVPI grid: 0 .. wtp_max
    wtp_points: int = 41
    evppi: bool = True  # regression EVPPI for each parameter group
    # permutations of each group's parameter rows for the EVPPI noise floor (0 = none)
    evppi_permutations: int = 50
    # make each draw's utilities non-increasing with mRS (sampling.order_utilities)
    ordered_utilities: bool = True


@dataclass
class DSAParam:
    key: str = MISSING
    low: float = MISSING
    high: float = MISSING
    label: str = ""
    unit: str = ""  # of low / high, for the tornado and report (e.g. "GBP per dose")


@dataclass
class DSAConfig:
    params: list[DSAParam] = field(default_factory=list)  # empty = no one-way analysis
    strategy: str = ""  # the strategy compared ("" = the optimal one at economics.wtp)
    comparator: str = ""  # "" = the strategy's nearest frontier neighbour (closest NMB)


@dataclass
class ThresholdPriceItem:
    """A therapy whose threshold (value-based) price is sought: the price per dose (or
    per day) at which `strategy` has the same NMB as `comparator` at each WTP."""

    therapy: str = MISSING  # a priced therapy (economics.costs.therapies)
    strategy: str = MISSING  # the strategy that gives it
    comparator: str = ""  # "" = the reference strategy (the first of `strategy`)
    per: str = "dose"  # dose | day: which price of the therapy is solved for


@dataclass
class PriceAxis:
    """One axis of the two-way price analysis: a therapy's price per dose (or day)."""

    therapy: str = MISSING
    per: str = "dose"  # dose | day
    low: float = 0.0
    high: float = MISSING


@dataclass
class TwoWayConfig:
    """Two-way sensitivity analysis of two therapy prices: the optimal strategy (highest
    NMB) on a grid of both, at each threshold (twoway.csv, twoway.png)."""

    axes: list[PriceAxis] = field(default_factory=list)  # two axes; [] = none
    points: int = 41  # grid points per axis


@dataclass
class SeverityStep:
    """A severity modifier step: QALY weight when the absolute or proportional QALY
    shortfall reaches its bound."""

    absolute: float = MISSING  # QALYs lost against the general population
    proportional: float = MISSING  # share of the general population's QALYs lost
    weight: float = MISSING


@dataclass
class PopulationUtility:
    """General-population utility by age and sex: b0 + male x b_male + age x b_age +
    age^2 x b_age2."""

    intercept: float = 0.9508566
    male: float = 0.0212126
    age: float = -0.0002587
    age2: float = -0.0000332


@dataclass
class SeverityConfig:
    """Severity modifier: the QALY shortfall of patients under current care against the
    general population of the same age and sex (expected discounted QALYs), and the QALY
    weight it earns (severity.csv)."""

    enabled: bool = True
    current_strategy: str = ""  # "" = the reference strategy (the first of `strategy`)
    steps: list[SeverityStep] = field(default_factory=list)  # by increasing weight
    population_utility: PopulationUtility = field(default_factory=PopulationUtility)


@dataclass
class BudgetImpactConfig:
    """Budget impact over one budget year per entry of `uptake` (ISPOR good practice,
    Sullivan 2014: undiscounted cash flows by year, an incident population, uptake)."""

    population: float = 67600000.0  # people covered by the budget holder
    incidence_per_100k: float = 0.11  # new PML diagnoses per 100,000 person-years
    # share of each year's incident patients who get `new_strategy` (the rest `current`)
    uptake: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])
    new_strategy: str = ""  # "" = the optimal strategy at economics.wtp
    current_strategy: str = ""  # "" = the reference strategy (the first of `strategy`)


@dataclass
class EVSIConfig:
    """Expected value of sample information of a two-arm trial, and the expected net
    benefit of sampling (ENBS) over a grid of sample sizes. The trial is the run's
    `trial` config (conf/trial/, as sized by `+experiment=trial_sizing`) unless the
    arms or sizes are given here."""

    enabled: bool = False  # needs economics.psa.draws > 0; `+experiment=evsi` sets it
    experimental: str = ""  # "" = trial.experimental
    control: str = ""  # "" = trial.control
    n: list[int] = field(default_factory=list)  # total randomised; [] = trial.sizing.n
    fixed_cost: float = 1000000.0  # set-up, coordination, analysis
    cost_per_patient: float = 15000.0  # per randomised patient (both arms)
    decision_years: float = 10.0  # years the decision informs future patients
    # only patients diagnosed after the trial reports benefit from its information
    # (accrual time of n + minimum follow-up + reporting_months); False: no delay
    accrual_delay: bool = True
    reporting_months: float = 6.0  # last patient's follow-up to the published result
    eligibility_patients: int = 2000  # referral-pool patients simulated for the eligible share
    # patients per year the decision applies to: population x incidence (budget_impact)


@dataclass
class SocietalConfig:
    """Inputs of the societal perspective (economics.perspective = societal): patients'
    lost paid work (human capital or friction cost) and unpaid carers' time valued at a
    replacement cost or at the carer's foregone earnings (sim/economics/societal.py). All
    zero: no inputs in this set."""

    weekly_earnings: float = 0.0  # gross weekly earnings of a worker (currency per week)
    retirement_age: float = 66.0  # no paid work is lost from this age on
    # general-population employment rate by age band: rates[k] from employment_ages[k]
    # to the next band's lower bound (the last band to retirement_age); 0 below the first
    employment_ages: list[float] = field(default_factory=lambda: [16.0])
    employment_rates: list[float] = field(default_factory=lambda: [0.0])
    # share of the employment rate a survivor at each residual mRS 0..5 works at
    return_to_work_by_mrs: list[float] = field(default_factory=lambda: [0.0] * MRS_LEVELS)
    productivity_method: str = "human_capital"  # human_capital | friction
    friction_days: float = 0.0  # friction method: working days lost per absence, from diagnosis
    informal_care_hours_per_week: list[float] = field(default_factory=lambda: [0.0] * MRS_LEVELS)
    informal_care_hour_cost: float = 0.0  # replacement cost of an hour of unpaid care
    # how an hour of unpaid care is valued: replacement (informal_care_hour_cost, a paid
    # carer's hour) | opportunity (carer_hour_earnings, what the carer would have earned)
    informal_care_method: str = "replacement"
    carer_hour_earnings: float = 0.0  # opportunity method: a carer's gross hourly earnings


@dataclass
class Scenario:
    """A named alternative to the base case: dotted config keys and their values
    (numbers or booleans; `*` for every entry of a mapping, e.g.
    economics.costs.condition_care_per_year.*). Economics keys re-cost the base-case
    patients; any other key re-simulates them (same seed)."""

    name: str = MISSING
    label: str = ""
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class InflationConfig:
    """Published cost inflation indices: per index, the annual % increase on the
    previous financial year ("2016/17": 2.09); sim/economics/inflation.py chains them."""

    base_year: str = ""  # financial year every price of the config is expressed in
    source: str = ""  # the indices' publication, for the report
    indices: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class PriceSource:
    """A sourced price: its value in its source and price year; `index` carries it to
    economics.inflation.base_year (`current`: a price taken as current, factor 1)."""

    key: str = MISSING  # the config value it sets, e.g. economics.costs.hospital_day
    value: float = MISSING
    year: str = MISSING  # financial year, e.g. "2016/17"
    index: str = MISSING  # a name in economics.inflation.indices, or "current"
    source: str = ""


@dataclass
class EconomicsConfig:
    name: str = "default"
    currency: str = MISSING
    price_year: str = MISSING  # the prices' year, e.g. "2023/24" (the inflation base year)
    # healthcare: the payer's costs; societal: plus productivity and informal care (societal)
    perspective: str = "healthcare"
    perspective_label: str = ""  # the perspective in words, for the report
    wtp: float = 30000.0  # willingness to pay per QALY for NMB and the base-case decision
    # further thresholds the report gives the decision at (e.g. NICE's 20,000 and 30,000)
    wtp_thresholds: list[float] = field(default_factory=list)
    discount: DiscountConfig = field(default_factory=DiscountConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    utilities: UtilitiesConfig = field(default_factory=UtilitiesConfig)
    lifetime: LifetimeConfig = field(default_factory=LifetimeConfig)
    psa: PSAConfig = field(default_factory=PSAConfig)
    dsa: DSAConfig = field(default_factory=DSAConfig)
    # price per dose / day at which each listed therapy's strategy becomes cost-effective
    threshold_prices: list[ThresholdPriceItem] = field(default_factory=list)
    two_way: TwoWayConfig = field(default_factory=TwoWayConfig)
    budget_impact: BudgetImpactConfig = field(default_factory=BudgetImpactConfig)
    severity: SeverityConfig = field(default_factory=SeverityConfig)
    evsi: EVSIConfig = field(default_factory=EVSIConfig)
    societal: SocietalConfig = field(default_factory=SocietalConfig)
    # named scenarios run beside the base case (scenarios.csv)
    scenarios: list[Scenario] = field(default_factory=list)
    inflation: InflationConfig = field(default_factory=InflationConfig)
    # sourced prices with their price years (the config holds their base-year values)
    prices: list[PriceSource] = field(default_factory=list)
