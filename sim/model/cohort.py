"""Virtual patients: baseline characteristics and per-patient dynamic parameters.

A patient is a row of arrays. Its condition comes from the cohort mix; its baseline
(age, sex, CD4, lymphocytes, CSF JCV load, lesion burden) from the condition's
distributions in `conf/model/`; its dynamic parameters (viral growth and killing,
immune-recovery speed and ceiling, damage rate, frailty, IRIS susceptibility,
responsiveness to cytokines) from
population values times log-normal random effects, so a cohort spreads the way real
cohorts do. Age and sex can act through frailty (how well a patient survives the same
brain damage) and immune-recovery speed, centred on the condition's mean age and female
share; the defaults switch them off (conf/model/default.yaml says why). Every
draw comes from `sim.core.rng`, keyed by patient index, so patient i is the same person
in every chunk, engine and strategy.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
from scipy.special import betaincinv, log_ndtr, ndtr, ndtri_exp

from sim.config.schema import CONDITIONS, CohortConfig, Dist, ModelConfig
from sim.core import rng
from sim.model.immunity import effector_target, saturation_target

# Names of the patients' random streams (sim.core.rng): one per variable, so adding,
# removing or reordering a variable never changes another's numbers.
_BASELINE = "baseline/"  # + the distribution's name in the condition's parameters
_SEX = "baseline/female"
_EFFECT = "random_effect/"  # + the dynamic parameter's name
_THRESHOLD = "threshold/"  # + the event: Exp(1) threshold of its cumulative hazard
_RANK, _JITTER = "condition/rank", "condition/jitter"
_DECADE = 10.0  # years: the unit of the age effect


@dataclass
class Patients:
    """Per-patient arrays; all of length n."""

    patient_id: np.ndarray
    condition: np.ndarray  # int index into CONDITIONS
    age: np.ndarray
    female: np.ndarray
    cd4_0: np.ndarray
    lymph_0: np.ndarray
    jcv_0: np.ndarray
    lesion_0: np.ndarray
    cd4_ceiling: np.ndarray
    recovery_rate: np.ndarray  # 1/day
    growth: np.ndarray  # gross JCV replication, log10/day
    kill: np.ndarray  # log10/day per effector unit
    t_cell_function: np.ndarray
    damage_rate: np.ndarray
    frailty: np.ndarray
    iris_susceptibility: np.ndarray
    cytokine_response: np.ndarray  # multiplies cytokine-driven T-cell expansion
    excess_hazard: np.ndarray  # 1/day
    natalizumab: np.ndarray  # bool
    death_threshold: np.ndarray  # Exp(1)
    iris_threshold: np.ndarray  # Exp(1)
    iris_duration: np.ndarray  # days

    def __len__(self) -> int:
        return len(self.patient_id)

    def take(self, idx: np.ndarray) -> Patients:
        return Patients(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def mix_weights(cohort: CohortConfig) -> np.ndarray:
    """Normalised condition weights in CONDITIONS order."""
    w = np.array([float(cohort.mix.get(c, 0.0)) for c in CONDITIONS])
    return w / w.sum()


def assign_conditions(key: np.uint64, cohort: CohortConfig, idx: np.ndarray) -> np.ndarray:
    """Condition of each patient.

    Stratified assignment: patient i gets the quantile (rank_i + u_i) / n of the mix,
    where rank is a seeded permutation. Condition counts then match the mix up to
    rounding (as a study with a fixed mix does), and still depend only on the
    patient index, not on chunking.
    """
    n = cohort.n
    cdf = np.cumsum(mix_weights(cohort))
    cdf[-1] = 1.0
    rank = _ranks(int(key), n)
    jitter = rng.uniform(key, _JITTER, idx)
    q = (rank[idx] + jitter) / n
    return np.searchsorted(cdf, q, side="right").astype(np.int8)


@lru_cache(maxsize=2)
def _ranks(key: int, n: int) -> np.ndarray:
    """A seeded random permutation of 0..n-1 (computed once per run, not per chunk)."""
    u_rank = rng.uniform(np.uint64(key), _RANK, np.arange(n))
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(u_rank, kind="stable")] = np.arange(n)
    return rank


_BETA_MEMO: OrderedDict[tuple, np.ndarray] = OrderedDict()
_BETA_MEMO_SIZE = 64  # entries, one per beta variable, condition and chunk (~10 MB at most)


def _beta_of_normal(a: float, b: float, z: np.ndarray) -> np.ndarray:
    """betaincinv(a, b, ndtr(z)): the Beta(a, b) quantiles of the normal numbers z,
    remembered for the last few (a, b, z).

    The inversion costs ~1 us a number, most of the time it takes to draw a cohort. A
    calibration, a global sensitivity analysis or a posterior's draws redraw the same
    patients (same seed: the same z) under other model parameters, so the same
    baseline draws come back at every evaluation. The key is (a, b) and a 128-bit
    digest of z's bytes; a hit returns a copy of the numbers computed before."""
    z = np.ascontiguousarray(z, dtype=np.float64)
    key = (a, b, hashlib.blake2b(z, digest_size=16).digest())
    x = _BETA_MEMO.get(key)
    if x is None:
        x = betaincinv(a, b, ndtr(z))  # = scipy.stats.beta.ppf(norm.cdf(z)), bit for bit
        _BETA_MEMO[key] = x
        if len(_BETA_MEMO) > _BETA_MEMO_SIZE:
            _BETA_MEMO.popitem(last=False)
    else:
        _BETA_MEMO.move_to_end(key)
    return x.copy()


def _draw(d: Dist, z: np.ndarray) -> np.ndarray:
    """Map standard-normal numbers z to the distribution d by inversion, then truncate."""
    if d.kind == "normal":
        x = d.mean + d.sd * z
    elif d.kind == "lognormal":
        x = d.mean * np.exp(np.log(d.sd) * z)
    elif d.kind == "beta":
        var = d.sd**2
        common = d.mean * (1.0 - d.mean) / var - 1.0
        a, b = d.mean * common, (1.0 - d.mean) * common
        x = _beta_of_normal(a, b, z)
    else:  # validated earlier; kept for safety
        raise ValueError(f"unknown distribution kind {d.kind!r}")
    return np.clip(x, d.low, d.high)


GROWTH_KINDS = ("net", "gross")
LESION_MODELS = ("drawn", "detection_lag")


def _detection_lag_burden(
    model: ModelConfig,
    params: list,
    cond: np.ndarray,
    jcv: np.ndarray,
    damage_rate: np.ndarray,
    zb,
    ub,
) -> np.ndarray:
    """Brain damage at diagnosis, grown over the time it took to make the diagnosis.

    A PML lesion does not wait for the diagnosis. Most patients are investigated once
    symptoms appear and are diagnosed a median of weeks to months later (the condition's
    `diagnostic_delay_days`); a few, under MRI surveillance (natalizumab), are found
    before symptoms, with a smaller lesion (`surveillance_burden_ratio` of the onset
    burden) and a shorter work-up (`surveillance_delay_days`). During the delay the
    virus damages the brain by the same law as after diagnosis, at the patient's own
    damage rate and the viral activity of their CSF load at diagnosis:
    D0 = 1 - (1 - D_start) exp(-damage_rate x activity x delay).
    So a slower diagnosis, a higher viral load or a faster-damaging virus each mean a
    larger lesion at diagnosis, and conditions differ through their delays and
    surveillance rather than through one assumed burden each.
    """
    onset = _draw(model.lesion_burden_at_onset, zb("lesion_burden_at_onset"))
    surveilled = ub("surveillance") < _per_condition(
        cond, [p.surveillance_fraction for p in params]
    )
    delay, d_start = np.empty(len(cond)), onset.copy()
    z_sym, z_sur = zb("diagnostic_delay_days"), zb("surveillance_delay_days")
    for ci, p in enumerate(params):
        m = cond == ci
        delay[m] = np.where(
            surveilled[m],
            _draw(p.surveillance_delay_days, z_sur[m]),
            _draw(p.diagnostic_delay_days, z_sym[m]),
        )
    d_start[surveilled] *= model.surveillance_burden_ratio
    span = model.viral_activity_ref_log10 - model.viral_activity_floor_log10
    activity = np.maximum(jcv - model.viral_activity_floor_log10, 0.0) / span
    grown = 1.0 - (1.0 - d_start) * np.exp(-damage_rate * activity * delay)
    return np.clip(grown, model.lesion_burden_at_onset.low, model.lesion_burden_at_onset.high)


def _replication(model: ModelConfig, killing0: np.ndarray, effect, rng_normal) -> np.ndarray:
    """Each patient's gross JCV replication (log10/day), by `model.viral_growth_parametrisation`.

    `killing0` is the killing replication is matched to. With
    `model.viral_growth_coupling` = 1 it is the patient's own killing at diagnosis, so
    every diagnosed patient sits at the same distance from control whatever their CD4
    count: a higher count only means a faster virus (issue 12: baseline CD4 then has
    no effect on survival). With coupling w < 1 it is w x the patient's own killing +
    (1 - w) x that of the condition's typical patient (median CD4 and T-cell
    function): the virus is matched to the condition, not to the person, so a patient
    diagnosed with more CD4 cells or better T-cell function than typical progresses
    more slowly and is controlled sooner. w is fitted to the HR of death per 100 CD4
    cells (Khanna 2009).

    * ``net``: every diagnosed patient is progressing at the same small net rate (a
      draw around `viral_net_growth_log10_per_day`); gross replication is that plus the
      killing at diagnosis. Growth and killing then nearly cancel, so any rise in the
      effector response turns growth into decline (the knife edge of issue 12).
    * ``gross``: gross replication is a log-normal draw around
      `viral_gross_growth_log10_per_day`, the growth seen without effective immunity
      (+0.7 log10 in 4 weeks), conditioned on the patient progressing at diagnosis
      (replication above the killing at diagnosis: a patient already controlling JCV is
      not diagnosed with progressive PML). The net rate at diagnosis is what the
      patient's own effector response leaves of it, so it differs between patients
      (low CD4, exhausted T cells or natalizumab: faster progression) and control needs
      an effector response above replication / kill rate, an absolute level, not just
      a rise. The conditioning is exact inversion of the truncated log-normal with the
      patient's own random number, so it keeps common random numbers.
    """
    if model.viral_growth_parametrisation == "gross":
        sigma = np.log(model.viral_growth_gsd)
        z = rng_normal("viral_gross_growth")
        log_r = np.log(model.viral_gross_growth_log10_per_day)
        if sigma == 0.0:
            return np.maximum(np.exp(log_r + 0.0 * z), killing0)
        with np.errstate(divide="ignore"):
            a = (np.log(killing0) - log_r) / sigma  # truncation point, standard scale
        # the upper tail above a at the patient's quantile, in log space so a patient
        # far in the tail keeps full precision: P(Z > z') = P(Z > a) P(Z > z)
        z_cond = -ndtri_exp(log_ndtr(-a) + log_ndtr(-z))
        return np.maximum(np.exp(log_r + sigma * z_cond), killing0)
    net0 = model.viral_net_growth_log10_per_day * effect(model.viral_growth_gsd, "viral_net_growth")
    return net0 + killing0


def _per_condition(cond: np.ndarray, values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)[cond]


def build(key: np.uint64, cohort: CohortConfig, model: ModelConfig, idx: np.ndarray) -> Patients:
    """Draw the patients with global indices `idx` (any subset, any order)."""
    idx = np.asarray(idx, dtype=np.int64)
    cond = assign_conditions(key, cohort, idx)
    n = len(idx)
    params = [model.conditions[c] for c in CONDITIONS]

    def zr(name: str) -> np.ndarray:
        return rng.normal(key, _EFFECT + name, idx)

    def by_condition(attr: str) -> np.ndarray:
        """Baseline variable `attr` drawn from each patient's condition's distribution."""
        z = rng.normal(key, _BASELINE + attr, idx)
        out = np.empty(n)
        for ci, p in enumerate(params):
            m = cond == ci
            if m.any():
                out[m] = _draw(getattr(p, attr), z[m])
        return out

    age = by_condition("age")
    female = rng.uniform(key, _SEX, idx) < _per_condition(cond, [p.female_fraction for p in params])
    cd4 = by_condition("cd4")
    cd4_frac = by_condition("cd4_fraction")
    jcv = by_condition("csf_jcv_log10")
    lesion = by_condition("lesion_burden") if model.lesion_burden_model == "drawn" else None

    def lognormal_effect(gsd: float | np.ndarray, name: str) -> np.ndarray:
        return np.exp(np.log(gsd) * zr(name))

    ceiling_gsd = _per_condition(cond, [p.ceiling_gsd for p in params])
    recovery_gsd = _per_condition(cond, [p.recovery_gsd for p in params])
    ceiling = _per_condition(cond, [p.cd4_ceiling for p in params]) * lognormal_effect(
        ceiling_gsd, "cd4_ceiling"
    )
    half_life = _per_condition(cond, [p.recovery_half_life_days for p in params])
    age_mean = _per_condition(cond, [p.age.mean for p in params])
    # immune-recovery speed may change with age (log rate ratio per decade; 0 by default)
    recovery = (
        np.log(2.0)
        / half_life
        * lognormal_effect(recovery_gsd, "recovery_rate")
        * np.exp(model.recovery_age_log_rr_per_decade * (age - age_mean) / _DECADE)
    )
    # T-cell function: logit-normal around the condition mean
    f_mean = _per_condition(cond, [p.t_cell_function for p in params])
    # ... shifted by age and sex (immunosenescence; 0 by default), centred on the
    # condition's mean age and female share so that the condition's level stays put
    female_share = _per_condition(cond, [p.female_fraction for p in params])
    logit = (
        np.log(f_mean / (1.0 - f_mean))
        + model.t_cell_function_logit_sd * zr("t_cell_function")
        + model.t_cell_function_age_logit_per_decade * (age - age_mean) / _DECADE
        + model.t_cell_function_female_logit * (female - female_share)
    )
    func = 1.0 / (1.0 + np.exp(-logit))

    natalizumab = _per_condition(cond, [float(p.natalizumab_at_diagnosis) for p in params]) > 0
    kill = model.viral_kill_log10_per_day * lognormal_effect(model.viral_kill_gsd, "viral_kill")
    reach = 1.0 - saturation_target(natalizumab.astype(float), model)
    e0 = effector_target(func, cd4, reach, model)
    # the typical diagnosed patient of the condition: median CD4 and T-cell function
    e_typical = effector_target(
        f_mean, _per_condition(cond, [p.cd4.mean for p in params]), reach, model
    )
    w = model.viral_growth_coupling
    growth = _replication(model, kill * (w * e0 + (1.0 - w) * e_typical), lognormal_effect, zr)

    damage_rate = model.damage_rate_per_day * lognormal_effect(model.damage_gsd, "damage_rate")
    if lesion is None:
        lesion = _detection_lag_burden(
            model,
            params,
            cond,
            jcv,
            damage_rate,
            lambda name: rng.normal(key, _BASELINE + name, idx),
            lambda name: rng.uniform(key, _BASELINE + name, idx),
        )

    iris_dur = model.iris_duration_days * lognormal_effect(model.iris_duration_gsd, "iris_duration")
    # age and sex act through frailty (tolerance of brain damage), centred on the
    # condition's mean age and female share so that a condition's level stays put
    frailty = lognormal_effect(model.frailty_gsd, "frailty") * np.exp(
        model.frailty_age_log_hr_per_decade * (age - age_mean) / _DECADE
        + model.frailty_female_log_hr * (female - female_share)
    )
    return Patients(
        patient_id=idx,
        condition=cond,
        age=age,
        female=female,
        cd4_0=cd4,
        lymph_0=cd4 / cd4_frac,
        jcv_0=jcv,
        lesion_0=lesion,
        cd4_ceiling=np.maximum(ceiling, cd4),  # removing a cause never lowers CD4
        recovery_rate=recovery,
        growth=growth,
        kill=kill,
        t_cell_function=func,
        damage_rate=damage_rate,
        frailty=frailty,
        iris_susceptibility=lognormal_effect(model.iris_susceptibility_gsd, "iris_susceptibility"),
        cytokine_response=lognormal_effect(model.cytokine_response_gsd, "cytokine_response"),
        excess_hazard=_per_condition(cond, [p.excess_mortality_per_year for p in params]) / 365.25,
        natalizumab=natalizumab,
        death_threshold=rng.exponential(key, _THRESHOLD + "death", idx),
        iris_threshold=rng.exponential(key, _THRESHOLD + "iris", idx),
        iris_duration=iris_dur,
    )
