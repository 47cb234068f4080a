"""Published figures as data, and the same figures measured on simulated patients.

A target (`conf/targets/`) names a quantity (1-year survival, IRIS share, an odds
ratio ...), the published value with its uncertainty, the population it comes from
(cohort preset, strategy, condition subgroup) and its source. `Evaluator` simulates
each population once per parameter set and measures every target on it, so the
calibration and the report compare like with like.

Uncertainty of a published figure, on the scale the distance uses:
* an explicit `se` if given (the target's note says why);
* else a 95% CI: (high - low) / 3.92 (on the log scale for odds ratios);
* else a proportion with n patients: binomial, with the add-one (Laplace) estimate
  so that 0/n and n/n still carry uncertainty.
"""

from __future__ import annotations

import copy
import math
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config.paths import get_value, with_values  # noqa: F401  (re-exported)
from sim.config.schema import CONDITIONS, ConfigError, RunConfig, StudyConfig, Target
from sim.outcomes.survival import kaplan_meier, survival_at

PROPORTIONS = ("survival", "iris", "side_effect", "csf_undetectable")
CSF_QUANTITIES = ("csf_jcv_change_log10", "csf_undetectable")
RATIOS = ("odds_ratio", "hazard_ratio")  # compared on the log scale
QUANTITIES: dict[str, str] = {
    "survival": "Kaplan-Meier survival at at_days",
    "iris": "share of patients with PML-IRIS onset by at_days",
    "side_effect": "share of patients with at least one side effect",
    "median_time_to_death_days": "median time from diagnosis to death, among deaths by at_days",
    "csf_jcv_change_log10": "median CSF JCV change (log10) from diagnosis to at_days, alive",
    "csf_undetectable": "share of alive patients sampled at at_days with CSF JCV below the LOD",
    "odds_ratio": "odds ratio of being alive at at_days for an exposure (predictor)",
    "hazard_ratio": "Cox hazard ratio of death by at_days per unit of a baseline covariate",
}
PREDICTORS = ("lymphocyte_rise", "cd4_rise", "csf_jcv_fall")  # seed 000's month-1 changes
# baseline exposures a cohort study reports: name -> (patients column, threshold); the
# exposure is column >= threshold (CD4 at diagnosis: the model's value, without assay noise)
BASELINE_PREDICTORS: dict[str, tuple[str, float]] = {"cd4_at_least_100": ("cd4_0", 100.0)}
# continuous covariates of hazard_ratio targets: name -> (patients column, unit)
COVARIATES: dict[str, tuple[str, float]] = {"cd4_per_100": ("cd4_0", 100.0)}
# adjusted hazard ratios of a multivariable Cox model as Joly 2023 (Brain 146:349) ran it:
# age group (20-40 and 40-60 against > 60; the few under 20 count as 20-40), sex and the
# underlying condition; predictor name -> the model's column whose HR is the target
ADJUSTED_COVARIATES: dict[str, str] = {"age_20_40_vs_over_60": "age_20_40", "female": "female"}
AGE_GROUP_BOUNDS = (40.0, 60.0)  # Joly 2023's groups: < 40, 40-60, > 60 years
ROLES = ("fit", "validation", "input")
Z95 = 1.959963984540054


def on_scale(t: Target, x: float) -> float:
    """The scale distances are measured on: log for odds ratios, natural otherwise."""
    if t.quantity in RATIOS:
        return math.log(x) if x > 0 else -math.inf
    return x


def standard_error(t: Target) -> float:
    """Standard error of the published value on the distance scale (see module doc)."""
    if t.se is not None:
        return float(t.se)
    if t.ci_low is not None and t.ci_high is not None:
        return (on_scale(t, t.ci_high) - on_scale(t, t.ci_low)) / (2.0 * Z95)
    if t.n is not None and t.quantity in PROPORTIONS:
        p = (t.value * t.n + 1.0) / (t.n + 2.0)
        return math.sqrt(p * (1.0 - p) / t.n)
    raise ConfigError(f"targets.items[{t.id}]", "needs se, ci_low/ci_high, or n")


def published_ci(t: Target) -> tuple[float, float]:
    """The published 95% CI, or one built from the standard error."""
    if t.ci_low is not None and t.ci_high is not None:
        return float(t.ci_low), float(t.ci_high)
    se = standard_error(t)
    if t.quantity in RATIOS:
        return t.value * math.exp(-Z95 * se), t.value * math.exp(Z95 * se)
    lo, hi = t.value - Z95 * se, t.value + Z95 * se
    if t.quantity in PROPORTIONS:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return lo, hi


# --------------------------------------------------------------------- measuring


def month1_exposures(patients: pd.DataFrame, study: StudyConfig) -> pd.DataFrame:
    """The three month-1 changes seed 000 analysed, as 0/1 (NaN where not measured)."""

    def flag(values: pd.Series, hit: pd.Series) -> np.ndarray:
        return np.where(values.isna(), np.nan, hit.astype(float))

    lymph = patients["lymphocytes_ratio_1m"]
    cd4 = patients["cd4_ratio_1m"]
    csf = patients["csf_jcv_change_1m_log10"]
    out = pd.DataFrame(
        {
            "lymphocyte_rise": flag(lymph, lymph > study.lymphocyte_rise),
            "cd4_rise": flag(cd4, cd4 > study.cd4_rise),
            "csf_jcv_fall": flag(csf, csf < -study.csf_jcv_fall_log10),
        },
        index=patients.index,
    )
    if "csf_month1_measured" in patients:
        out.loc[~patients["csf_month1_measured"].astype(bool), "csf_jcv_fall"] = np.nan
    return out


def exposure(patients: pd.DataFrame, study: StudyConfig, predictor: str) -> np.ndarray:
    """0/1 exposure of each patient: a month-1 change or a baseline threshold."""
    if predictor in BASELINE_PREDICTORS:
        column, threshold = BASELINE_PREDICTORS[predictor]
        return (patients[column] >= threshold).to_numpy(float)
    return month1_exposures(patients, study)[predictor].to_numpy()


def add_therapy_side_effects(
    patients: pd.DataFrame, events: pd.DataFrame, therapies: Iterable[str]
) -> pd.DataFrame:
    """Columns side_effect_<therapy>: had a side effect of that therapy (the event log's
    `therapy` field of its side_effect events).

    A study reports the side effects of the drug it studies, not those of the
    background therapy (ART in HIV), so such targets name their therapy.
    """
    out = patients
    wanted = sorted(set(therapies))
    if not wanted:  # most populations: no target reads a therapy's side effects
        return out
    key = ["strategy", "patient_id"]
    who = pd.MultiIndex.from_frame(patients[key])
    se = events[events["event"] == "side_effect"]
    for th in wanted:
        hit = se.loc[se["therapy"].astype(object) == th, key]
        col = who.isin(pd.MultiIndex.from_frame(hit)) if len(hit) else np.zeros(len(out), bool)
        out = out.assign(**{f"side_effect_{th}": np.asarray(col, dtype=bool)})
    return out


def add_csf_change(
    patients: pd.DataFrame, labs: pd.DataFrame, days: Iterable[float], lod_copies: float
) -> pd.DataFrame:
    """Columns csf_jcv_change_<day>: measured CSF JCV change (log10) since day 0.

    Undetectable values count as the detection limit (a conservative fall), as in
    the month-1 changes; NaN where the patient has no sample on that day.
    """
    out = patients
    floor = np.log10(lod_copies)
    csf = labs.dropna(subset=["csf_jcv_detectable"])
    value = csf["csf_jcv_log10"].fillna(floor)
    key = ["strategy", "patient_id"]
    base = csf.assign(v=value)[csf["day"] == 0.0].set_index(key)["v"]
    for day in sorted(set(days)):
        later = csf.assign(v=value)[np.isclose(csf["day"], day)].set_index(key)["v"]
        change = (later - base).dropna()
        idx = pd.MultiIndex.from_frame(out[key])
        out = out.assign(**{f"csf_jcv_change_{day:g}": change.reindex(idx).to_numpy()})
    return out


def undetectable_column(t: Target) -> str:
    return f"csf_undetectable_{t.id}"


def add_csf_undetectable(
    patients: pd.DataFrame, labs: pd.DataFrame, t: Target, run_lod: float
) -> pd.DataFrame:
    """Column csf_undetectable_<target id>: 1.0 if the CSF sample of the target's day
    is below the target's LOD (the run's if it names none), 0.0 if above, NaN without
    a sample.

    A study's assay may be less sensitive than the run's (older PCR): a sample the
    run's assay detects but below the study's LOD counts as undetectable there. A
    study LOD below the run's cannot be resolved (ConfigError).
    """
    lod_copies = run_lod if t.lod_copies is None else t.lod_copies
    if lod_copies < run_lod:
        raise ConfigError(
            f"targets.items[{t.id}].lod_copies",
            f"{lod_copies:g} is below the run's assay limit monitoring.csf_jcv_lod_copies"
            f" = {run_lod:g}; allowed: >= {run_lod:g}",
        )
    day = t.at_days
    csf = labs.dropna(subset=["csf_jcv_detectable"])
    csf = csf[np.isclose(csf["day"], day)]
    below = (~csf["csf_jcv_detectable"].astype(bool)) | (
        csf["csf_jcv_log10"].fillna(-np.inf) < np.log10(lod_copies)
    )
    key = ["strategy", "patient_id"]
    value = pd.Series(below.to_numpy(float), index=pd.MultiIndex.from_frame(csf[key]))
    idx = pd.MultiIndex.from_frame(patients[key])
    return patients.assign(**{undetectable_column(t): value.reindex(idx).to_numpy()})


def alive_at(patients: pd.DataFrame, day: float) -> np.ndarray:
    """1 if alive at `day` (all patients are followed to the horizon or death)."""
    return ((~patients["died"]) | (patients["time_days"] > day)).to_numpy(float)


def odds_ratio(alive: np.ndarray, exposed: np.ndarray) -> tuple[float, float, float, float]:
    """Logistic regression of survival on one 0/1 exposure: OR, 95% CI, Wald p.

    statsmodels' Logit, as the paper ran. A 2x2 table with an empty cell has no
    finite maximum-likelihood OR; then all four values are NaN (the replicate
    counts as not estimable, as it would in a real study).
    """
    import statsmodels.api as sm

    ok = ~np.isnan(exposed)
    y, x = alive[ok], exposed[ok]
    cells = [np.sum((y == a) & (x == b)) for a in (0, 1) for b in (0, 1)]
    if min(cells) == 0:
        return (math.nan,) * 4
    fit = sm.Logit(y, sm.add_constant(x, has_constant="add")).fit(disp=0, method="newton")
    beta, se = float(fit.params[1]), float(fit.bse[1])
    return (
        math.exp(beta),
        math.exp(beta - Z95 * se),
        math.exp(beta + Z95 * se),
        float(fit.pvalues[1]),
    )


def _cox_fit(
    patients: pd.DataFrame, x: pd.DataFrame, at_days: float
) -> dict[str, tuple[float, float, float]]:
    """HR of death by at_days for every column of the covariates x (Cox, Breslow ties:
    sim.outcomes.cox) with its Wald 95% CI; empty without deaths, with everyone dead, or
    when the model cannot be estimated (a covariate constant in every risk set at a
    death: singular information). A calibration's far corners make such populations;
    NaN leaves that run out of the target's fit instead of stopping the calibration."""
    from sim.outcomes.cox import cox_breslow

    time = np.minimum(patients["time_days"].to_numpy(float), at_days)
    died = patients["died"].to_numpy(bool) & (patients["time_days"].to_numpy() <= at_days)
    if died.sum() == 0 or died.all() or x.shape[1] == 0:
        return {}
    try:
        params, bse = cox_breslow(time, died, x.to_numpy())
    except np.linalg.LinAlgError:
        return {}
    out = {}
    for j, column in enumerate(x.columns):
        beta, se = float(params[j]), float(bse[j])
        if math.isfinite(beta) and math.isfinite(se):
            # a separated covariate (a condition without deaths, say) has a huge beta and
            # SE: its interval is unbounded, inf, not an overflow that stops the fit of
            # the covariates the targets read
            out[column] = (_exp(beta), _exp(beta - Z95 * se), _exp(beta + Z95 * se))
    return out


_LOG_MAX = math.log(sys.float_info.max)  # exp of anything larger overflows


def _exp(v: float) -> float:
    return math.exp(v) if v < _LOG_MAX else math.inf


def _cox_hr(
    patients: pd.DataFrame, x: pd.DataFrame, column: str, at_days: float
) -> tuple[float, float, float]:
    """`column`'s HR and 95% CI from _cox_fit; NaN where that has none, or without that
    covariate (it did not vary)."""
    if column not in x:
        return (math.nan,) * 3
    return _cox_fit(patients, x, at_days).get(column, (math.nan,) * 3)


def hazard_ratio(
    patients: pd.DataFrame, covariate: str, at_days: float
) -> tuple[float, float, float]:
    """Cox proportional-hazards HR of death by at_days per unit of a baseline covariate:
    HR and its Wald 95% CI; NaN without deaths."""
    column, unit = COVARIATES[covariate]
    x = pd.DataFrame({covariate: patients[column].to_numpy(float) / unit})
    return _cox_hr(patients, x, covariate, at_days)


def adjusted_design(patients: pd.DataFrame) -> pd.DataFrame:
    """Joly 2023's covariates for every patient: age group indicators (> 60 is the
    reference), female, and one indicator per condition but the first present (columns
    that do not vary in the population are left out: they have no HR)."""
    age = patients["age"].to_numpy(float)
    young, old = AGE_GROUP_BOUNDS
    x = pd.DataFrame(
        {
            "age_20_40": (age < young).astype(float),
            "age_40_60": ((age >= young) & (age <= old)).astype(float),
            "female": patients["female"].to_numpy(float),
        }
    )
    conditions = patients["condition"].astype(str).to_numpy()
    for c in sorted(set(conditions))[1:]:
        x[f"condition_{c}"] = (conditions == c).astype(float)
    return x.loc[:, x.nunique() > 1]


def adjusted_hazard_ratio(
    patients: pd.DataFrame, predictor: str, at_days: float
) -> tuple[float, float, float]:
    """HR of death by at_days for one covariate of the adjusted Cox model (Joly's
    covariates, adjusted_design) with its Wald 95% CI; NaN as _cox_hr."""
    return adjusted_hazard_ratios(patients, at_days)[predictor]


def adjusted_hazard_ratios(
    patients: pd.DataFrame, at_days: float
) -> dict[str, tuple[float, float, float]]:
    """Every predictor's adjusted HR (as adjusted_hazard_ratio) from one Cox fit: the
    Joly targets share their population and model, so the calibration fits it once."""
    fit = _cox_fit(patients, adjusted_design(patients), at_days)
    nan = (math.nan,) * 3
    return {k: fit.get(column, nan) for k, column in ADJUSTED_COVARIATES.items()}


def csf_samples(t: Target, p: pd.DataFrame) -> pd.Series:
    """A CSF target's per-patient values: patients alive at at_days with a sample then."""
    column = (
        undetectable_column(t)
        if t.quantity == "csf_undetectable"
        else f"csf_jcv_change_{t.at_days:g}"
    )
    return p.loc[alive_at(p, t.at_days) > 0, column].dropna()


def target_patients(t: Target, patients: pd.DataFrame) -> pd.DataFrame:
    """The simulated patients a target is measured on: its condition's, or all."""
    c = t.population.condition
    return patients if c == "all" else patients[patients["condition"] == c]


def measure(t: Target, patients: pd.DataFrame, study: StudyConfig) -> float:
    """The target's quantity on simulated patients of one strategy."""
    p = target_patients(t, patients)
    if len(p) == 0:
        return math.nan
    q = t.quantity
    if q == "survival":
        km = kaplan_meier(p["time_days"].to_numpy(), p["died"].to_numpy())
        return float(survival_at(km, t.at_days)[0])
    if q == "iris":  # IRIS onset by at_days
        return float((p["iris"] & (p["iris_onset_days"] <= t.at_days)).mean())
    if q == "side_effect":
        return float(p[f"side_effect_{t.therapy}" if t.therapy else "side_effect"].mean())
    if q == "median_time_to_death_days":  # among deaths by at_days
        dead = p.loc[p["died"] & (p["time_days"] <= t.at_days), "time_days"]
        return float(dead.median()) if len(dead) else math.nan
    if q == "csf_jcv_change_log10":
        change = csf_samples(t, p)
        return float(change.median()) if len(change) else math.nan
    if q == "csf_undetectable":
        sampled = csf_samples(t, p)
        return float(sampled.mean()) if len(sampled) else math.nan
    if q == "hazard_ratio" and t.predictor in ADJUSTED_COVARIATES:
        return adjusted_hazard_ratio(p, t.predictor, t.at_days)[0]
    if q == "hazard_ratio":
        return hazard_ratio(p, t.predictor, t.at_days)[0]
    if q == "odds_ratio":
        return odds_ratio(alive_at(p, t.at_days), exposure(p, study, t.predictor))[0]
    raise ConfigError(f"targets.items[{t.id}].quantity", f"unknown quantity {q!r}")


def simulated_n(t: Target, n: int) -> int:
    """Patients simulated for target t when an evaluation's base size is n."""
    return max(1, round(n * t.sim_n_factor))


def mc_standard_error(t: Target, value: float, n: int) -> float:
    """Rough Monte Carlo error of a simulated value when the evaluation's base size is n
    (the target's population is simulated at `simulated_n`; distance scale)."""
    n = simulated_n(t, n)
    if t.quantity in PROPORTIONS:
        return math.sqrt(max(value * (1.0 - value), 0.25 / n) / n)
    if t.quantity == "odds_ratio":
        return 4.0 / math.sqrt(n)  # sqrt(sum 1/cells) with ~n/4 per cell, an upper bound
    if t.quantity == "hazard_ratio" and t.predictor in ADJUSTED_COVARIATES:
        # 1 / sqrt(deaths x var(indicator)): deaths >= n/3 and a group of >= 1/8 of patients
        return 1.0 / math.sqrt(n / 3.0 * (1 / 8) * (7 / 8))
    if t.quantity == "hazard_ratio":  # 1 / sqrt(deaths x var(covariate)), both >= n/4 and 1
        return 2.0 / math.sqrt(n)
    if t.quantity == "median_time_to_death_days":
        return 1.253 * value / math.sqrt(n)  # median of a roughly exponential sample
    if t.quantity == "csf_jcv_change_log10":
        return 1.253 / math.sqrt(n)  # median of changes with sd ~1 log10
    return 0.0


# ------------------------------------------------------------------ parameters


# ------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Scenario:
    """One simulated population: a cohort preset (and mix) under one strategy."""

    cohort: str
    strategy: str
    mix: tuple[tuple[str, float], ...]

    def overrides(self) -> list[str]:
        ov = [f"cohort={self.cohort}", f"strategy={self.strategy}"]
        if self.mix:
            body = ", ".join(f"{c}: {w}" for c, w in self.mix)
            ov.append(("+" if self.cohort == "custom" else "") + f"cohort.mix={{{body}}}")
        return ov


def scenario_of(t: Target) -> Scenario:
    pop = t.population
    return Scenario(pop.cohort, pop.strategy, tuple(sorted(pop.mix.items())))


class Evaluator:
    """Simulate every population the targets need and measure each target.

    The model, therapy catalog, monitoring and seed come from `base` (the run's own
    config, so `model=...` overrides carry through); the cohort preset and strategy
    come from each target's population. The same seed is used for every parameter
    set: common random numbers make the distance a smooth function of parameters.
    """

    def __init__(self, base: RunConfig, targets: Iterable[Target], n: int) -> None:
        from sim.config.load import load
        from sim.model.validate import validate_model

        self.base = base
        self.targets = list(targets)
        self.n = n
        self.scenarios: dict[Scenario, RunConfig] = {}
        for t in self.targets:
            sc = scenario_of(t)
            if sc in self.scenarios:
                continue
            cfg = load(sc.overrides())
            validate_model(cfg)  # the population's cohort preset and strategy
            cfg.model, cfg.therapies = base.model, base.therapies
            cfg.monitoring, cfg.seed, cfg.engine = base.monitoring, base.seed, base.engine
            # lumbar punctures on the days the population's CSF figures were measured
            # (extra samples change no dynamics and no other random number)
            mine = [x for x in self.targets if scenario_of(x) == sc]
            extra = {x.at_days for x in mine if x.quantity in CSF_QUANTITIES}
            if not extra <= set(cfg.monitoring.csf_days):
                cfg.monitoring = copy.copy(base.monitoring)
                cfg.monitoring.csf_days = sorted({*base.monitoring.csf_days, *extra})
            cfg.cohort.n = max(simulated_n(x, n) for x in mine)
            # follow long enough for this population's targets; each target reads its
            # own window (at_days), so a longer follow-up does not change it
            days = [x.at_days for x in self.targets if scenario_of(x) == sc]
            cfg.horizon_days = max(base.horizon_days, *days)
            cfg.output.progress = False
            self.scenarios[sc] = cfg

    def simulate(self, values: dict[str, float] | None = None) -> dict[Scenario, pd.DataFrame]:
        from sim.engine.run import simulate

        tuned = with_values(self.base, values) if values else None
        out = {}
        for sc, cfg in self.scenarios.items():
            run = cfg
            if tuned is not None:
                run = copy.copy(cfg)
                run.model, run.therapies = tuned.model, tuned.therapies
            patients, events, labs = simulate(run)
            mine = [t for t in self.targets if scenario_of(t) == sc]
            therapies = [t.therapy for t in mine if t.therapy]
            patients = add_therapy_side_effects(patients, events, therapies)
            days = [t.at_days for t in mine if t.quantity == "csf_jcv_change_log10"]
            lod = run.monitoring.csf_jcv_lod_copies
            if days:
                patients = add_csf_change(patients, labs, days, lod)
            for t in mine:
                if t.quantity == "csf_undetectable":
                    patients = add_csf_undetectable(patients, labs, t, lod)
            out[sc] = patients
        return out

    def evaluate(self, values: dict[str, float] | None = None) -> dict[str, float]:
        """Every target's simulated value (as `measure`), the adjusted Cox model fitted
        once per population and horizon for all the targets that read it."""
        sims = self.simulate(values)
        fits: dict[tuple, dict[str, tuple[float, float, float]]] = {}
        out = {}
        for t in self.targets:
            p = sims[scenario_of(t)]
            if t.quantity == "hazard_ratio" and t.predictor in ADJUSTED_COVARIATES:
                key = (scenario_of(t), t.population.condition, t.at_days)
                if key not in fits:
                    fits[key] = adjusted_hazard_ratios(target_patients(t, p), t.at_days)
                out[t.id] = fits[key][t.predictor][0]
            else:
                out[t.id] = measure(t, p, self.base.study)
        return out


# ----------------------------------------------------- validation checks with MC error
#
# A validation target is checked by simulating its population at the smallest n whose
# Monte Carlo standard error is at most MC_FRACTION of the published standard error
# (so Monte Carlo adds at most sqrt(1 + 0.25^2) - 1 = 3% to the combined uncertainty).
# n is planned from a conservative guess (below), checked on the simulated patients,
# and doubled until the check holds. Verdict: `miss` when the model's Monte Carlo 95%
# interval and the published 95% CI are disjoint, `hit` otherwise; n is also doubled
# (up to n_max) while the verdict is undecided, i.e. the MC interval straddles a bound
# of the published CI, so a model just outside a CI is not called a hit for want of n.

MC_FRACTION = 0.25
N_GRID = (250, 500, 1000, 2000, 4000, 8000, 16000)
_OR_SE_PER_ROOT_N = 6.0  # planning: sqrt(sum 1/cells) x sqrt(n) with the smallest cell ~3% of n


def planned_mc_se(t: Target, n: int) -> float:
    """A conservative guess of the Monte Carlo se from n patients, before simulating."""
    if t.quantity in PROPORTIONS:
        return math.sqrt(0.25 / n)  # the worst case p = 0.5
    if t.quantity == "odds_ratio":
        return _OR_SE_PER_ROOT_N / math.sqrt(n)
    if t.quantity == "hazard_ratio":
        return mc_standard_error(t, t.value, n)
    if t.quantity == "median_time_to_death_days":  # deaths ~ n / 2, median up to 1.5 x published
        return mc_standard_error(t, 1.5 * t.value, n // 2)
    return mc_standard_error(t, t.value, n)


def planning_n(t: Target, fraction: float = MC_FRACTION) -> int:
    """Smallest n of N_GRID whose planned Monte Carlo se is <= fraction x published se."""
    want = fraction * standard_error(t)
    return next((n for n in N_GRID if planned_mc_se(t, n) <= want), N_GRID[-1])


def measure_with_error(
    t: Target, patients: pd.DataFrame, study: StudyConfig
) -> tuple[float, float, float, float]:
    """(value, Monte Carlo se on the distance scale, MC 95% low, MC 95% high)."""
    p = patients
    if t.population.condition != "all":
        p = p[p["condition"] == t.population.condition]
    if t.quantity in RATIOS:  # the estimate and its CI from one fit
        if t.quantity == "odds_ratio":
            exposed = exposure(p, study, t.predictor)
            value, lo, hi, _ = odds_ratio(alive_at(p, t.at_days), exposed)
        elif t.predictor in ADJUSTED_COVARIATES:  # Joly's multivariable Cox model
            value, lo, hi = adjusted_hazard_ratio(p, t.predictor, t.at_days)
        else:
            value, lo, hi = hazard_ratio(p, t.predictor, t.at_days)
        if not math.isfinite(value):
            return value, math.nan, math.nan, math.nan
        return value, (math.log(hi) - math.log(lo)) / (2.0 * Z95), lo, hi
    value = measure(t, patients, study)
    if not math.isfinite(value):
        return value, math.nan, math.nan, math.nan
    if t.quantity == "median_time_to_death_days":
        k = int((p["died"] & (p["time_days"] <= t.at_days)).sum())
    elif t.quantity in CSF_QUANTITIES:
        k = len(csf_samples(t, p))
    else:
        k = len(p)
    se = mc_standard_error(t, value, max(k, 1))
    return value, se, value - Z95 * se, value + Z95 * se


def validation_verdict(t: Target, mc_low: float, mc_high: float) -> tuple[str, bool]:
    """(verdict, decided). miss: the model's MC 95% interval and the published 95% CI are
    disjoint; hit otherwise. decided: the MC interval is wholly inside or wholly outside
    the published CI (a larger n cannot change the verdict but by chance)."""
    if not (math.isfinite(mc_low) and math.isfinite(mc_high)):
        return "not estimable", True
    lo, hi = published_ci(t)
    if mc_high < lo or mc_low > hi:
        return "miss", True
    return "hit", lo <= mc_low and mc_high <= hi


def check_validation(
    base: RunConfig,
    targets: Iterable[Target],
    fraction: float = MC_FRACTION,
    n_max: int = N_GRID[-1],
) -> pd.DataFrame:
    """Every target against the model with its Monte Carlo error (rules above).

    Per population: n starts at the largest planning_n of its targets and doubles
    while a target's MC se exceeds fraction x its published se or its verdict is
    undecided, up to n_max. One row per target: published (CI), simulated value, MC se
    and 95% interval, n, mc_ok, verdict, decided.
    """
    targets = list(targets)
    rows = {}
    for sc in dict.fromkeys(scenario_of(t) for t in targets):
        mine = [t for t in targets if scenario_of(t) == sc]
        n = min(max(planning_n(t, fraction) for t in mine), n_max)
        while True:
            patients = Evaluator(base, mine, n).simulate()[sc]
            got = {}
            for t in mine:
                value, se, lo, hi = measure_with_error(t, patients, base.study)
                ok = se <= fraction * standard_error(t)
                got[t.id] = (value, se, lo, hi, ok, *validation_verdict(t, lo, hi))
            if n >= n_max or all(g[4] and g[6] for g in got.values()):
                break
            n = min(2 * n, n_max)
        for t in mine:
            value, se, lo, hi, ok, verdict, decided = got[t.id]
            plo, phi = published_ci(t)
            rows[t.id] = {
                "target_id": t.id,
                "role": t.role,
                "quantity": t.quantity,
                "published": t.value,
                "published_low": plo,
                "published_high": phi,
                "simulated": value,
                "mc_se": se,
                "mc_low": lo,
                "mc_high": hi,
                "n": n,
                "mc_ok": ok,
                "verdict": verdict,
                "decided": decided,
            }
    return pd.DataFrame([rows[t.id] for t in targets])


def check_targets(items: list[Target]) -> None:
    """Names, ranges and uncertainty of every target (ConfigError on the first problem)."""
    seen: set[str] = set()
    for i, t in enumerate(items):
        key = f"targets.items[{i}]"
        if t.id in seen:
            raise ConfigError(f"{key}.id", f"duplicate target id {t.id!r}")
        seen.add(t.id)
        if t.quantity not in QUANTITIES:
            raise ConfigError(
                f"{key}.quantity", f"unknown {t.quantity!r}; allowed: {', '.join(QUANTITIES)}"
            )
        if t.role not in ROLES:
            raise ConfigError(f"{key}.role", f"unknown {t.role!r}; allowed: {', '.join(ROLES)}")
        if t.population.condition not in (*CONDITIONS, "all"):
            raise ConfigError(
                f"{key}.population.condition",
                f"unknown {t.population.condition!r}; allowed: all, {', '.join(CONDITIONS)}",
            )
        if t.quantity == "odds_ratio":
            allowed = (*PREDICTORS, *BASELINE_PREDICTORS)
            if t.predictor not in allowed:
                raise ConfigError(f"{key}.predictor", f"allowed: {', '.join(allowed)}")
            if t.value <= 0:
                raise ConfigError(f"{key}.value", f"an odds ratio must be > 0, got {t.value}")
        elif t.quantity == "hazard_ratio":
            allowed = (*COVARIATES, *ADJUSTED_COVARIATES)
            if t.predictor not in allowed:
                raise ConfigError(f"{key}.predictor", f"allowed: {', '.join(allowed)}")
            if t.value <= 0:
                raise ConfigError(f"{key}.value", f"a hazard ratio must be > 0, got {t.value}")
        elif t.quantity in PROPORTIONS and not 0.0 <= t.value <= 1.0:
            raise ConfigError(f"{key}.value", f"a proportion must be in [0, 1], got {t.value}")
        if t.lod_copies is not None and (t.quantity != "csf_undetectable" or not t.lod_copies > 0):
            raise ConfigError(
                f"{key}.lod_copies", "only csf_undetectable targets name an LOD; must be > 0"
            )
        if t.therapy is not None and t.quantity != "side_effect":
            raise ConfigError(f"{key}.therapy", "only side_effect targets name a therapy")
        if (t.ci_low is None) != (t.ci_high is None):
            raise ConfigError(f"{key}.ci_low", "give both ci_low and ci_high, or neither")
        if t.ci_low is not None and not t.ci_low <= t.value <= t.ci_high:
            raise ConfigError(f"{key}.ci_low", f"CI [{t.ci_low}, {t.ci_high}] must hold {t.value}")
        if not t.sim_n_factor >= 1.0 or (t.sim_n_factor != 1.0 and t.role != "fit"):
            raise ConfigError(
                f"{key}.sim_n_factor", f"must be >= 1, and 1 unless role: fit; got {t.sim_n_factor}"
            )
        if t.se is not None and t.se <= 0:
            raise ConfigError(f"{key}.se", f"must be > 0, got {t.se}")
        if t.n is not None and t.n < 1:
            raise ConfigError(f"{key}.n", f"must be >= 1, got {t.n}")
        if not t.source.strip():
            raise ConfigError(f"{key}.source", "every target needs its source")
        standard_error(t)


# ------------------------------------------------- validation figures informing inputs
#
# The protocol (docs/validation.md): a figure marked validation never informs a
# parameter, a therapy lever or the starting point of a fit. Configs carry their
# sources as comments, so the check reads the YAML text: a parameter's comment (or a
# side effect's `source:`) that cites the study of a validation target counts when it
#   * quotes one of that target's figures (its value as printed, e.g. 51.9% or 0.547,
#     or a k/n count from its source, e.g. 6/9), or
#   * names the target's quantity (survival, IRIS, ...) and the study is cited by no
#     fit or input target (the whole study is held out).
# A comment that points to its file's header ("coarse fit, header") is read together
# with that header. Descriptive `evidence:` strings are not parameters and are not read.

_QUANTITY_WORDS = {
    "survival": r"surviv|alive|death|died|mortality|fatal",
    "median_time_to_death_days": r"death|died",
    "iris": r"\bIRIS\b",
    "csf_jcv_change_log10": r"copies|clearance|\bcleared\b|log10 (?:fall|decline|change)",
    "csf_undetectable": r"copies|clearance|\bcleared\b|undetectable",
    "odds_ratio": r"\bOR\b|odds",
    "hazard_ratio": r"\ba?HR\b|hazard ratio",
}
_LEAD_CITATION = re.compile(
    r"([A-Z][\w'-]*(?: [A-Z][a-z][\w'-]*)*)(?: [A-Z]{1,3})?(?: et al\.)?,?[^;(]*?"
    r"\b((?:19|20)\d{2})\b"
)


def citation_keys(source: str) -> set[str]:
    """Keys a config comment would cite a target's source by: 'seed 003', 'Boumaza 2023'
    (first author and year), 'Ann Neurol 2021' (journal and year when no author)."""
    keys = {f"seed {m}" for m in re.findall(r"\bseed (\d{3})\b", source)}
    m = _LEAD_CITATION.match(source.strip())
    if m and not source.strip().lower().startswith("seed"):
        keys.add(f"{m.group(1)} {m.group(2)}")
    return keys


def _key_pattern(key: str) -> re.Pattern[str]:
    """'Tan 2011' also matches 'Tan IL 2011' and 'Tan et al. 2011'."""
    *name, year = key.split()
    head = re.escape(" ".join(name))
    return re.compile(rf"\b{head}(?: [A-Z]{{1,3}})?(?: et al\.?)?,? {year}\b")


def figures(t: Target) -> set[str]:
    """A target's figures as a config comment would quote them."""
    out = set(re.findall(r"\b\d+/\d+\b", t.source))
    v = t.value
    if t.quantity in PROPORTIONS and 0.0 < v < 1.0:
        out |= {f"{100 * v:.1f}%", f"{100 * v:g}%"}
        if len(f"{v:g}") > 3:
            out.add(f"{v:g}")
    elif t.quantity == "odds_ratio":
        out.add(f"OR {v:g}")
    elif t.quantity == "hazard_ratio":
        out |= {f"HR {v:g}", f"aHR {v:g}"}
    elif t.quantity == "median_time_to_death_days":
        out |= {f"{v:g} d", f"{v:g} days"}
    return out


@dataclass(frozen=True)
class Citation:
    """A config value whose source comment cites a validation target."""

    file: str  # relative to the config folder
    line: int
    key: str  # YAML key path, e.g. pembrolizumab.levers or rhil7.side_effects[flu]
    target_id: str
    cited: str  # the citation key found, e.g. 'Boumaza 2023'
    why: str  # 'figure 51.9%' or 'held-out study, quantity survival'
    text: str  # the comment read

    @property
    def where(self) -> str:
        return f"{self.file}:{self.key}"


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of a YAML line; '#' inside quotes is not a comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i], line[i + 1 :].strip()
    return line, ""


def config_comments(path: Path, root: Path) -> list[tuple[str, int, str, str]]:
    """(file, line, key path, text) for each value's comment or `source:` string."""
    lines = path.read_text().splitlines()
    header = []
    for raw in lines:
        if not raw.startswith("#"):
            break
        header.append(raw.lstrip("# "))
    header_text = " ".join(header)
    rel = path.relative_to(root).as_posix()
    stack: list[tuple[int, str]] = []
    out = []
    for no, raw in enumerate(lines, 1):
        code, comment = _split_comment(raw)
        m = re.match(r"^(\s*)(- )?\{?\s*([A-Za-z_]\w*)\s*:(.*)$", code)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parents = [k for _, k in stack]
        name = re.search(r"\{\s*(?:name|key):\s*([\w.-]+)", code)
        if m.group(2) and name:
            key = ".".join(parents) + f"[{name.group(1)}]"
        else:
            key = ".".join([*parents, m.group(3)])
            if not m.group(4).strip():
                stack.append((indent, m.group(3)))
        texts = [comment] if comment else []
        texts += re.findall(r"\bsource:\s*\"([^\"]*)\"", code)
        for text in texts:
            if re.search(r"\bheader\b", text):
                text = f"{text} [header: {header_text}]"
            out.append((rel, no, key, text))
    return out


def validation_citations(targets: Iterable[Target], root: Path | None = None) -> list[Citation]:
    """Config values under `root` (the shipped conf/) whose comments cite a validation
    target (rules above). conf/targets/ (the figures themselves) is not read."""
    from sim.config.load import config_dir

    root = Path(root) if root is not None else config_dir()
    targets = list(targets)
    used = set().union(*(citation_keys(t.source) for t in targets if t.role != "validation"))
    checks = []
    for t in targets:
        if t.role != "validation":
            continue
        words = re.compile(_QUANTITY_WORDS.get(t.quantity, r"(?!)"), re.IGNORECASE)
        figs = sorted(figures(t))
        for key in sorted(citation_keys(t.source)):
            checks.append((t, key, _key_pattern(key), key not in used, words, figs))
    found = []
    for path in sorted(root.rglob("*.yaml")):
        if path.relative_to(root).parts[0] == "targets":
            continue
        for rel, no, ykey, text in config_comments(path, root):
            for t, key, pattern, held_out, words, figs in checks:
                if not pattern.search(text):
                    continue
                hit = [f for f in figs if re.search(rf"(?<![\d.]){re.escape(f)}(?![\d])", text)]
                if hit:
                    why = f"figure {hit[0]}"
                elif held_out and words.search(text):
                    why = f"held-out study, quantity {t.quantity}"
                else:
                    continue
                found.append(Citation(rel, no, ykey, t.id, key, why, text))
    return found
