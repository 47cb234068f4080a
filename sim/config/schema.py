"""Structured configs: the typed schema behind every YAML file in `conf/`.

Hydra merges the YAML files onto these dataclasses, so a wrong type or an unknown
key fails when the config is composed. Range checks that types cannot express
(probabilities in [0, 1], positive sizes, known names) live in `validate()`, which
raises `ConfigError` naming the key and what is allowed.

The values written here equal the defaults of the YAML files under `conf/` (where
each number's source is given) for the sections that have one default file: model
(model/default.yaml), monitoring, engine and output (config.yaml), cohort
(cohort/custom.yaml), executor (executor/inprocess.yaml), calibration and study;
tests/test_config.py checks it. Per-item sections (conditions, therapies, strategies,
economics sets, trial designs) have several equally valid files: their values here are
neutral fallbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from sim.config.economics import EconomicsConfig
from sim.config.errors import ConfigError  # noqa: F401  (re-exported)
from sim.config.trial import TrialConfig

CONDITIONS: tuple[str, ...] = (
    "hiv",
    "hematologic_malignancy",
    "primary_immunodeficiency",
    "solid_organ_transplant",
    "chronic_inflammatory",
    "natalizumab_ms",
)


# ----------------------------------------------------------------------------- model


@dataclass
class Dist:
    """A baseline distribution: normal, lognormal (median, gsd) or beta, truncated."""

    kind: str = "normal"  # normal | lognormal | beta
    mean: float = 0.0  # normal: mean; lognormal: median; beta: mean
    sd: float = 1.0  # normal: sd; lognormal: geometric sd (>1); beta: sd
    low: float = float("-inf")
    high: float = float("inf")


@dataclass
class ConditionParams:
    label: str = MISSING
    age: Dist = field(default_factory=Dist)
    female_fraction: float = 0.5
    cd4: Dist = field(default_factory=Dist)  # blood CD4+ T cells / uL at diagnosis
    cd4_fraction: Dist = field(default_factory=Dist)  # CD4 share of blood lymphocytes
    csf_jcv_log10: Dist = field(default_factory=Dist)  # CSF JCV DNA, log10 copies/mL
    lesion_burden: Dist = field(default_factory=Dist)  # brain damage D at diagnosis, 0..1
    # detection lag (model.lesion_burden_model = detection_lag): symptom onset -> diagnosis
    diagnostic_delay_days: Dist = field(
        default_factory=lambda: Dist(kind="lognormal", mean=74.0, sd=2.6, low=0.0)
    )
    surveillance_fraction: float = 0.0  # share found by MRI surveillance before symptoms
    surveillance_delay_days: Dist = field(  # suspect MRI -> diagnosis
        default_factory=lambda: Dist(kind="lognormal", mean=12.0, sd=4.5, low=0.0)
    )
    cd4_ceiling: float = 500.0  # CD4 set point once the cause is removed (cells/uL)
    ceiling_gsd: float = 1.3  # between-patient spread of the ceiling (geometric sd)
    recovery_half_life_days: float = 120.0  # half-time of CD4 approach to its set point
    recovery_gsd: float = 1.4
    t_cell_function: float = 0.6  # JCV-specific T-cell function, 0..1 (exhaustion < 1)
    natalizumab_at_diagnosis: bool = False
    excess_mortality_per_year: float = 0.0  # death hazard of the underlying disease
    soc_therapies: list[str] = field(default_factory=list)


@dataclass
class ModelConfig:
    name: str = "default"
    dt_days: float = 7.0  # longest model step (days)
    dt_first_days: float = 1.0  # first step after a calendar point (sim/model/timegrid.py)
    # JC virus
    viral_net_growth_log10_per_day: float = 0.00387298
    viral_growth_gsd: float = 1.4
    viral_growth_parametrisation: str = "net"
    viral_growth_coupling: float = 1.0
    viral_gross_growth_log10_per_day: float = 0.025
    viral_kill_log10_per_day: float = 0.5
    viral_kill_gsd: float = 1.3
    jcv_max_log10: float = 8.0
    jcv_min_log10: float = 0.0
    # JCV-specific effector response
    effector_rate_per_day: float = 0.07
    cd4_half_saturation: float = 200.0
    cd4_new_lymphocyte_share: float = 0.5
    t_cell_function_logit_sd: float = 0.5
    transferred_effector_half_life_days: float = 30.0
    cytokine_response_gsd: float = 1.8
    cd4_max: float = 2000.0
    # brain damage and death
    damage_rate_per_day: float = 0.00707107
    damage_gsd: float = 1.3
    viral_activity_floor_log10: float = 2.0
    viral_activity_ref_log10: float = 6.0
    death_hazard_max_per_day: float = 0.05
    death_damage_half: float = 0.625
    death_damage_hill: float = 10.0
    death_activity_weight: float = 0.0
    # lesion burden at diagnosis: drawn per condition, or grown over the diagnostic delay
    lesion_burden_model: str = "drawn"  # drawn | detection_lag
    lesion_burden_at_onset: Dist = field(
        default_factory=lambda: Dist(kind="beta", mean=0.13, sd=0.06, low=0.0, high=0.95)
    )
    surveillance_burden_ratio: float = 0.26
    frailty_gsd: float = 1.5
    frailty_age_log_hr_per_decade: float = 0.0
    frailty_female_log_hr: float = 0.0
    recovery_age_log_rr_per_decade: float = 0.0
    t_cell_function_age_logit_per_decade: float = 0.0
    t_cell_function_female_logit: float = 0.0
    # IRIS
    iris_rate_ref: float = 0.01
    iris_rate_exponent: float = 1.5
    iris_cytokine_weight: float = 0.3
    iris_hazard_scale: float = 0.05
    iris_susceptibility_gsd: float = 1.5
    iris_damage_rate_per_day: float = 0.000707107
    iris_death_hazard_per_day: float = 0.002
    iris_duration_days: float = 60.0
    iris_duration_gsd: float = 1.5
    iris_diagnosis_delay_days: float = 7.0
    # natalizumab washout
    natalizumab_half_life_days: float = 11.0
    natalizumab_half_block: float = 0.04
    natalizumab_hill: float = 2.0
    natalizumab_desaturation_half_life_days: float = 0.25
    # residual disability
    mrs_cutpoints: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.35, 0.5, 0.7])
    conditions: dict[str, ConditionParams] = field(default_factory=dict)


# ----------------------------------------------------------------------------- cohort


@dataclass
class CohortConfig:
    name: str = "custom"
    n: int = 5000
    # condition -> weight (normalised); conditions left out get 0
    mix: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------- therapy


@dataclass
class SideEffect:
    name: str = MISSING
    probability: float = 0.0
    onset_days: float = 7.0
    severe: bool = False
    stops_therapy: bool = False
    source: str = ""


@dataclass
class TherapyConfig:
    label: str = MISSING
    applies_to: list[str] = field(default_factory=lambda: ["all"])
    levers: dict[str, float] = field(default_factory=dict)
    onset_days: float = 0.0
    n_doses: int = 1
    dose_interval_days: float = 0.0
    course_days: float | None = None  # None: until stopped or end of follow-up
    # the level falls linearly to 0 over the last taper_days of the planned course
    # (0: full level to the end); needs course_days >= onset_days + taper_days
    taper_days: float = 0.0
    dose_unit: str = ""
    side_effects: list[SideEffect] = field(default_factory=list)
    evidence: str = ""


# --------------------------------------------------------------------------- strategy


@dataclass
class TherapyStart:
    therapy: str = MISSING
    start_day: float = 0.0
    stop_day: float | None = None


@dataclass
class RuleConfig:
    name: str = MISSING
    trigger: str = "visit"  # visit | iris_diagnosis
    at_day: float | None = None  # the visit day the rule is read at; None = every visit
    marker: str = "always"
    op: str = ">"
    threshold: float = 0.0
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    delay_days: float = 0.0


@dataclass
class StrategyConfig:
    name: str = MISSING
    description: str = ""
    standard_of_care: bool = True
    therapies: list[TherapyStart] = field(default_factory=list)
    rules: list[RuleConfig] = field(default_factory=list)


# ------------------------------------------------------------------------- monitoring


@dataclass
class MonitoringConfig:
    visit_days: list[float] = field(
        default_factory=lambda: [0.0, 14.0, 28.0, 56.0, 84.0, 126.0, 182.0, 273.0, 365.0]
    )
    csf_days: list[float] = field(default_factory=lambda: [0.0, 28.0, 84.0, 182.0])
    mri_days: list[float] = field(default_factory=lambda: [0.0, 28.0, 84.0, 182.0, 365.0])
    cd4_cv: float = 0.15
    lymphocyte_cv: float = 0.12
    csf_jcv_sd_log10: float = 0.25
    csf_jcv_lod_copies: float = 10.0
    mri_sd: float = 0.02
    month1_day: float = 28.0


# ----------------------------------------------------------------------------- engine


@dataclass
class EngineConfig:
    kind: str = "batch"  # batch | reference
    chunk_size: int = 20000


@dataclass
class ExecutorConfig:
    kind: str = "auto"  # auto | inprocess | processes | dask (conf/executor/auto.yaml)
    workers: int = 2  # local worker processes (processes; dask LocalCluster; auto)
    address: str | None = None  # dask scheduler, e.g. tcp://host:8786; None = LocalCluster
    # auto: an outer loop (the uncertainty draws) of at least this many simulated
    # patient-strategies runs on `workers` local processes; everything else here
    min_parallel_patients: int = 200000


@dataclass
class OutputConfig:
    write_patients: bool = True
    write_events: bool = True
    write_labs: bool = True
    partitioned: bool = False  # per-chunk Parquet parts in a directory (large runs)
    plots: bool = True
    print_summary: bool = True
    progress: bool = True
    survival_day: float = 365.0
    report: bool = True  # report.html: figures, tables, config and provenance in one file


# ---------------------------------------------------------------- targets and studies


@dataclass
class TargetPopulation:
    """Which simulated patients a published figure is compared with."""

    cohort: str = "mixed_seed000"  # cohort preset (conf/cohort/)
    strategy: str = "soc"  # strategy (conf/strategy/)
    condition: str = "all"  # subgroup: one of CONDITIONS, or all
    mix: dict[str, float] = field(default_factory=dict)  # replaces the preset's mix if given


@dataclass
class Target:
    """One published figure: value, its uncertainty, population and source."""

    id: str = MISSING
    quantity: str = MISSING  # see sim.evidence.targets.QUANTITIES
    value: float = MISSING
    ci_low: float | None = None  # 95% CI as published
    ci_high: float | None = None
    n: int | None = None  # patients behind a proportion (binomial error if no CI)
    se: float | None = None  # explicit standard error (say why in `note`)
    at_days: float = 365.0  # time point of survival figures
    predictor: str | None = None  # odds_ratio: see sim.evidence.targets (PREDICTORS, BASELINE_)
    therapy: str | None = None  # side_effect: count only this therapy's side effects
    lod_copies: float | None = None  # csf_undetectable: the study assay's LOD (default: the run's)
    population: TargetPopulation = field(default_factory=TargetPopulation)
    role: str = "validation"  # fit | validation | input (a model input, shown not tested)
    # fit targets whose Monte Carlo error at the calibration's n is large against their
    # published SE (a regression coefficient) simulate their population at n x this
    sim_n_factor: float = 1.0
    source: str = MISSING
    note: str = ""


@dataclass
class TargetsConfig:
    name: str = "default"
    items: list[Target] = field(default_factory=list)


@dataclass
class CalibParam:
    """A model value to fit: dotted key under `model` (or `therapies.<t>.levers.<l>`)."""

    key: str = MISSING
    low: float = MISSING
    high: float = MISSING
    log: bool = True  # search on the log scale


@dataclass
class CalibrationConfig:
    name: str = "default"
    params: list[CalibParam] = field(default_factory=list)
    fit: list[str] = field(default_factory=list)  # target ids; empty = every role: fit target
    n_per_scenario: int = 2000  # patients per simulated population and evaluation
    max_evals: int = 900  # optimiser budget (objective evaluations)
    restarts: int = 2  # Nelder-Mead restarts from the best point so far
    ensemble_draws: int = 300  # parameter sets screened for the ensemble
    ensemble_waves: int = 3  # history-matching waves (later waves zoom on kept sets)
    ensemble_cutoff: float = 3.0  # keep sets with every fit target's implausibility below
    ensemble_width: float = 0.25  # half-width of the screening box, share of each range
    output_model: str = "calibrated"  # writes conf/model/<output_model>.yaml
    install: bool = False  # also install the fit as conf/model/<output_model> (sim.app.install)


@dataclass
class StudyConfig:
    """A virtual retrospective study: many small replicate studies and one large one."""

    name: str = "seed000"
    study_n: int = 64  # patients per replicate study, split by cohort.mix
    replicates: int = 400  # replicate studies (their pooled patients are the large-n study)
    lymphocyte_rise: float = 1.5  # month-1 ratio counted as a rise
    cd4_rise: float = 1.5
    csf_jcv_fall_log10: float = 1.0
    csf_month1_available: float = 0.53  # share of patients with a month-1 lumbar puncture
    targets: list[str] = field(default_factory=list)  # target ids shown in the table


@dataclass
class GSAConfig:
    """Global sensitivity analysis of the model's outputs (task=gsa, sim/evidence/gsa.py)."""

    name: str = "default"
    method: str = "sobol"  # sobol (S1 and ST, SALib) | prcc (Latin hypercube + partial ranks)
    base_samples: int = 64  # sobol: N (a power of 2), N x (D + 2) evaluations; prcc: n
    n_per_condition: int = 200  # patients per condition in each evaluation (the same throughout)
    conditions: list[str] = field(default_factory=list)  # empty: every condition
    ranges: str = "assumption_ranges"  # conf/ranges/<ranges>.yaml: ASSUMPTION ranges
    fitted: str = "ensemble_range"  # fitted values: ensemble_range | ensemble_member | none
    only: list[str] = field(default_factory=list)  # restrict to these keys (empty: all)
    resamples: int = 200  # bootstrap resamples of the Sobol intervals
    fixable_below: float = 0.05  # ST upper bound under which a parameter may stay fixed
    batch: int = 8  # evaluations per task sent to the executor


@dataclass
class MrsMapConfig:
    """Each posterior draw's own damage -> mRS cut points (sim/evidence/mrs_map.py)."""

    counts: list[float] = field(default_factory=lambda: [0.5, 8.0, 6.0, 5.0, 5.0, 0.5])
    cohort: str = "hiv"  # the cohort preset the map is fitted on
    strategy: str = "soc"
    n: int = 4000  # patients per draw; 0: no per-draw map (the draws keep the model's)
    seed: int = 20101101  # the map's own seed: the same patients for every draw


@dataclass
class PosteriorConfig:
    """Bayesian calibration (task=posterior, sim/evidence/posterior.py)."""

    name: str = "default"
    waves: int = 3  # simulator waves, each followed by emulation and history matching
    design_per_wave: int = 400  # simulator runs per wave
    n_per_scenario: int = 1000  # patients per target population and run
    cutoff: float = 3.0  # implausibility cut-off of history matching
    candidates: int = 20000  # points screened by the emulators to choose a wave's runs
    walkers: int = 96  # emcee walkers
    moves: str = "de"  # emcee proposal: stretch | de (differential evolution + snooker)
    steps: int = 30000  # MCMC steps per walker
    burn: int = 3000  # steps discarded as burn-in
    draws: int = 500  # posterior draws kept
    ppc_draws: int = 40  # posterior draws re-simulated for the predictive check
    batch: int = 10  # runs per executor task (results do not depend on it)
    install: bool = False  # also copy the draws to conf/model/<model>_posterior.csv
    ranges: str = "assumption_ranges"  # conf/ranges/<ranges>.yaml: priors of `assumptions`
    assumptions: list[str] = field(default_factory=list)  # ASSUMPTION keys calibrated too
    hyper_points: int = 300  # emulator hyperparameters from at most this many runs (0: all)
    variance_points: int = 600  # emulator variance conditioned on the latest runs only (0: all)
    mrs_map: MrsMapConfig = field(default_factory=MrsMapConfig)


@dataclass
class UncertaintyConfig:
    """Parameter uncertainty in a simulation's summary (sim/outcomes/uncertainty.py)."""

    name: str = "none"  # none: one parameter set (Monte Carlo error only) | posterior
    source: str = "posterior"  # conf/model/<model>_<source>.csv: posterior | ensemble
    draws: int = 200  # outer parameter draws
    n_per_draw: int = 500  # inner patients per draw and strategy (new patients each draw)
    level: float = 0.95  # uncertainty interval level


@dataclass
class RunConfig:
    seed: int = 20220401
    horizon_days: float = 365.0
    cohort: CohortConfig = field(default_factory=CohortConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    therapies: dict[str, TherapyConfig] = field(default_factory=dict)
    strategy: dict[str, StrategyConfig] = field(default_factory=dict)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    task: str = "simulate"  # simulate | study | calibrate | economics | trial | gsa | posterior
    targets: TargetsConfig = field(default_factory=TargetsConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    economics: EconomicsConfig = field(default_factory=EconomicsConfig)
    trial: TrialConfig = field(default_factory=TrialConfig)  # task=trial (sim/trial/)
    gsa: GSAConfig = field(default_factory=GSAConfig)  # task=gsa (sim/evidence/gsa.py)
    posterior: PosteriorConfig = field(default_factory=PosteriorConfig)  # task=posterior
    uncertainty: UncertaintyConfig = field(default_factory=UncertaintyConfig)


def register() -> None:
    """Register the schema so `conf/config.yaml` can extend it (`- schema` in defaults)."""
    cs = ConfigStore.instance()
    cs.store(name="schema", node=RunConfig)
