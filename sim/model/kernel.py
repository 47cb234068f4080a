"""The compiled step of the dynamics: one pass over the patients per call, each taken
through one or more consecutive model steps.

`sim.model.dynamics.step` is the model step; this module is how it is computed. The
whole step of one patient (natalizumab washout, CD4, effector response, JC virus,
damage, IRIS and death hazards, the events of the step) is done in one loop body, so
the intermediate values live in registers instead of in a dozen temporary arrays per
step. The loop is compiled by numba (a JIT compiler for numerical Python) once and
cached on disk (`cache=True`); the first call in a fresh environment compiles it
(docs/scale.md gives the seconds).

Reproducibility: no `fastmath`, no parallel reductions; `error_model="numpy"`, so a
division by zero gives inf or NaN as it did in numpy instead of raising. Each value is
computed with the same operations in the same order as numpy computed it element by
element, and numba calls the C library's exp, log and pow, which are the kernels
numpy uses when its SIMD kernels are disabled (`experiments/golden.py` runs that way),
so the golden baseline stays bit for bit what the vectorised numpy step gave.

Patients dead at the start of a step are skipped (a quarter of the patient-steps
of a year under il7): their state stays as it was at the end of the step in which
they died, which is all that is read of it (death time, damage at death).

Quiet stretches (no dose, no course change, no rule to act between steps) are run as
one call of several steps (`sim.model.course.Course.advance`): a call costs Python
and numba's argument checks (~20 us) whatever the number of patients, as much as the
step itself for a few hundred patients (PSA draws, calibration populations).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sim.core.jit import njit


class Levers(NamedTuple):
    """The lever levels the dynamics read, per patient (read-only float64 arrays)."""

    drug_removal_per_dose: np.ndarray
    natalizumab_stop: np.ndarray
    immune_restoration: np.ndarray
    lymphocyte_expansion_per_day: np.ndarray
    t_cell_function: np.ndarray
    effector_suppression: np.ndarray
    effector_transfer_per_dose: np.ndarray
    antiviral: np.ndarray
    iris_hazard: np.ndarray
    iris_resolution_speedup: np.ndarray
    iris_inflammation: np.ndarray


# IRIS status codes of State.iris
NAIVE, ACTIVE, RESOLVED = 0, 1, 2


class Params(NamedTuple):
    """The per-patient parameters the step reads (float64 arrays)."""

    cd4_0: np.ndarray
    cd4_ceiling: np.ndarray
    recovery_rate: np.ndarray
    cytokine_response: np.ndarray
    t_cell_function: np.ndarray
    kill: np.ndarray
    growth: np.ndarray
    damage_rate: np.ndarray
    iris_susceptibility: np.ndarray
    iris_threshold: np.ndarray
    iris_duration: np.ndarray
    excess_hazard: np.ndarray
    frailty: np.ndarray
    death_threshold: np.ndarray


class Arrays(NamedTuple):
    """The per-patient state the step updates in place (`sim.model.dynamics.State`)."""

    cd4: np.ndarray
    effector: np.ndarray
    cd4_restored: np.ndarray
    effector_restored: np.ndarray
    transferred: np.ndarray
    jcv: np.ndarray
    damage: np.ndarray
    natalizumab: np.ndarray
    saturation: np.ndarray
    iris: np.ndarray  # int8
    iris_onset: np.ndarray
    iris_remaining: np.ndarray
    iris_dx: np.ndarray
    h_death: np.ndarray
    h_iris: np.ndarray
    alive: np.ndarray  # bool
    death_time: np.ndarray
    damage_at_death: np.ndarray
    death_shape: np.ndarray  # D^p / (D^p + D50^p) of the damage, NaN: not yet computed
    recovery_factor: np.ndarray  # exp(-recovery rate x dt) for dt = recovery_dt
    recovery_dt: np.ndarray  # the step length of recovery_factor (NaN: none yet)


class Constants(NamedTuple):
    """Model constants and the step's own factors (floats), prepared by `dynamics.step`."""

    t: float
    dt: float
    washout: float  # -ln 2 / natalizumab half-life * dt: exponent at full stop
    half_block: float
    ntz_hill: float
    sat_relax: float  # exp(-k_desaturation dt)
    cd4_max: float
    cd4_half: float
    e_relax: float  # exp(-k_E dt)
    e_mean: float  # mean of exp(-k_E s) over the step
    cytokine_weight: float
    t_decay: float  # exp(-k_transfer dt)
    t_mean: float  # mean of exp(-k_transfer s) over the step
    jcv_min: float
    jcv_max: float
    activity_floor: float
    activity_span: float
    iris_scale: float  # hazard scale x the Jensen factor of the step
    iris_ref: float
    iris_q: float
    iris_damage_rate: float
    death_hill: float
    death_half_pow: float  # death_damage_half ** hill
    death_max: float
    iris_death: float
    dx_delay: float
    death_activity: float  # share of the damage death hazard that needs active virus


@njit(cache=True, error_model="numpy")
def step_constants(steps: np.ndarray, k: int) -> Constants:
    """Row k of a steps array (`Stepper.span`) as `Constants`, the fields in order."""
    r = steps[k]
    return Constants(
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
        r[13], r[14], r[15], r[16], r[17], r[18], r[19], r[20], r[21], r[22], r[23],
        r[24], r[25], r[26],
    )  # fmt: skip


class Outcome(NamedTuple):
    """Per-patient results of the step (written by the kernel)."""

    alive: np.ndarray  # bool: alive at the start of the step
    before_death: np.ndarray  # death time in the step, inf otherwise
    diagnosed: np.ndarray  # bool: IRIS diagnosed in the step, alive then
    onset: np.ndarray  # bool: IRIS began in the step, before any death
    t_onset: np.ndarray
    resolved: np.ndarray  # bool: IRIS resolved in the step, before any death
    t_resolved: np.ndarray
    dies: np.ndarray  # bool
    t_death: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Outcome:
        return cls(
            alive=np.empty(n, dtype=np.bool_),
            before_death=np.empty(n),
            diagnosed=np.empty(n, dtype=np.bool_),
            onset=np.empty(n, dtype=np.bool_),
            t_onset=np.empty(n),
            resolved=np.empty(n, dtype=np.bool_),
            t_resolved=np.empty(n),
            dies=np.empty(n, dtype=np.bool_),
            t_death=np.empty(n),
        )


@njit(cache=True, error_model="numpy")
def npy_power(x: float, q: float) -> float:
    """x ** q as numpy computes an array to a scalar power: exactly for q = 2 and 0.5
    (a product, a square root), by the C library's pow otherwise."""
    if q == 2.0:
        return x * x
    if q == 0.5:
        return math.sqrt(x)
    if q == 1.0:
        return x
    return x**q


@njit(cache=True, error_model="numpy")
def positive_part_mean(v0: float, v1: float, floor: float) -> float:
    """Mean of max(v(s) - floor, 0) over a step along which v moves linearly v0 -> v1."""
    lo = min(v0, v1) - floor
    hi = max(v0, v1) - floor
    if lo >= 0.0:
        return 0.5 * (lo + hi)
    if hi > 0.0:
        # crossing the floor: a triangle of height hi over the share hi / (hi - lo)
        return hi * hi / (2.0 * max(hi - lo, 1e-300))
    return 0.0


@njit(cache=True, error_model="numpy")
def crossing(t: float, dt: float, h_old: float, h_new: float, thr: float) -> tuple[bool, float]:
    """Whether a cumulative hazard crosses its threshold in the step, and when (linear in
    t; t itself when it does not)."""
    if h_old < thr and h_new >= thr:
        return True, t + dt * ((thr - h_old) / (h_new - h_old))
    return False, t + dt * 0.0


@njit(cache=True, error_model="numpy")
def step_kernel(
    steps: np.ndarray, p: Params, s: Arrays, lv: Levers, out: Outcome
) -> tuple[int, int, int, int]:
    """One or more consecutive model steps for every patient (the equations:
    `sim.model.dynamics`); row k of `steps` is step k's `Constants`.

    Patients are independent within a step, so each patient is taken through all the
    steps in turn with the same operations in the same order as one call per step: the
    numbers are the same either way. `out` then describes the whole span: alive at its
    start, the death time in it (inf otherwise), and each IRIS onset, diagnosis and
    resolution in it (each happens once per patient at most).

    Returns the numbers of IRIS onsets, diagnoses, resolutions and
    deaths in the span."""
    n_steps = steps.shape[0]
    # the arrays as locals: read from the tuples once, not at every access
    lv_drug_removal_per_dose = lv.drug_removal_per_dose
    lv_natalizumab_stop = lv.natalizumab_stop
    lv_immune_restoration = lv.immune_restoration
    lv_lymphocyte_expansion_per_day = lv.lymphocyte_expansion_per_day
    lv_t_cell_function = lv.t_cell_function
    lv_effector_suppression = lv.effector_suppression
    lv_effector_transfer_per_dose = lv.effector_transfer_per_dose
    lv_antiviral = lv.antiviral
    lv_iris_hazard = lv.iris_hazard
    lv_iris_resolution_speedup = lv.iris_resolution_speedup
    lv_iris_inflammation = lv.iris_inflammation
    p_cd4_0 = p.cd4_0
    p_cd4_ceiling = p.cd4_ceiling
    p_recovery_rate = p.recovery_rate
    p_cytokine_response = p.cytokine_response
    p_t_cell_function = p.t_cell_function
    p_kill = p.kill
    p_growth = p.growth
    p_damage_rate = p.damage_rate
    p_iris_susceptibility = p.iris_susceptibility
    p_iris_threshold = p.iris_threshold
    p_iris_duration = p.iris_duration
    p_excess_hazard = p.excess_hazard
    p_frailty = p.frailty
    p_death_threshold = p.death_threshold
    s_cd4 = s.cd4
    s_effector = s.effector
    s_cd4_restored = s.cd4_restored
    s_effector_restored = s.effector_restored
    s_transferred = s.transferred
    s_jcv = s.jcv
    s_damage = s.damage
    s_natalizumab = s.natalizumab
    s_saturation = s.saturation
    s_iris = s.iris
    s_iris_onset = s.iris_onset
    s_iris_remaining = s.iris_remaining
    s_iris_dx = s.iris_dx
    s_h_death = s.h_death
    s_h_iris = s.h_iris
    s_alive = s.alive
    s_death_time = s.death_time
    s_damage_at_death = s.damage_at_death
    s_death_shape = s.death_shape
    s_recovery_factor = s.recovery_factor
    s_recovery_dt = s.recovery_dt
    out_alive = out.alive
    out_before_death = out.before_death
    out_diagnosed = out.diagnosed
    out_onset = out.onset
    out_t_onset = out.t_onset
    out_resolved = out.resolved
    out_t_resolved = out.t_resolved
    out_dies = out.dies
    out_t_death = out.t_death
    n_onset = n_dx = n_res = n_dies = 0
    for i in range(s_alive.shape[0]):
        alive = s_alive[i]
        out_alive[i] = alive
        out_before_death[i] = np.inf
        out_diagnosed[i] = False
        out_onset[i] = False
        out_resolved[i] = False
        out_dies[i] = False
        if not alive:
            continue
        for k in range(n_steps):
            if not s_alive[i]:  # died in an earlier step of this call
                break
            c = step_constants(steps, k)
            t, dt = c.t, c.dt
            t1 = t + dt

            # natalizumab: per-session removal, then washout once stopped
            # (exp(0) = 1 and 0 * x = 0 exactly: the shortcuts change no value)
            ntz = s_natalizumab[i] * (1.0 - lv_drug_removal_per_dose[i])
            stop = lv_natalizumab_stop[i]
            if ntz != 0.0 and stop != 0.0:
                ntz = ntz * math.exp(c.washout * stop)
            s_natalizumab[i] = ntz
            sat_target = 0.0
            if ntz != 0.0 or c.ntz_hill <= 0.0:
                x = npy_power(ntz / c.half_block, c.ntz_hill)
                sat_target = x / (1.0 + x)
            sat0 = s_saturation[i]
            sat1 = sat_target + (sat0 - sat_target) * c.sat_relax
            access = 1.0 - 0.5 * (sat0 + sat1)  # mean brain access over the step
            s_saturation[i] = sat1

            # CD4: exponential approach to the set point, times logistic cytokine expansion
            c0 = p_cd4_0[i]
            set_point = c0 + lv_immune_restoration[i] * (p_cd4_ceiling[i] - c0)
            if s_recovery_dt[i] != dt:  # kept from the last step of the same length
                s_recovery_factor[i] = math.exp(-p_recovery_rate[i] * dt)
                s_recovery_dt[i] = dt
            approach = s_recovery_factor[i]
            cd4_0 = s_cd4[i]
            cd4 = set_point + (cd4_0 - set_point) * approach
            g = lv_lymphocyte_expansion_per_day[i] * p_cytokine_response[i]
            if g > 0.0:
                cd4 = c.cd4_max / (1.0 + (c.cd4_max / cd4 - 1.0) * math.exp(-g * dt))
            restored_0 = s_cd4_restored[i]
            restored = set_point + (restored_0 - set_point) * approach
            cd4_mid = 0.5 * (cd4_0 + cd4)
            restored_mid = 0.5 * (restored_0 + restored)
            s_cd4[i] = cd4
            s_cd4_restored[i] = restored

            # effector response relaxes towards its target at the step's mid-point
            f0 = p_t_cell_function[i]
            function = f0 + lv_t_cell_function[i] * (1.0 - f0)
            spared = 1.0 - lv_effector_suppression[i]
            reach = access * spared
            target = function * cd4_mid / (cd4_mid + c.cd4_half) * reach
            target_r = function * restored_mid / (restored_mid + c.cd4_half) * reach
            e0 = s_effector[i]
            er0 = s_effector_restored[i]
            e_mean = target + (e0 - target) * c.e_mean
            e_new = target + (e0 - target) * c.e_relax
            e_r = target_r + (er0 - target_r) * c.e_relax
            w = c.cytokine_weight
            rise = ((1.0 - w) * max(e_r - er0, 0.0) + w * max(e_new - e0, 0.0)) / dt
            s_effector[i] = e_new
            s_effector_restored[i] = e_r
            given = s_transferred[i] + lv_effector_transfer_per_dose[i] * spared
            transferred_mean = given * c.t_mean
            s_transferred[i] = given * c.t_decay
            killing = p_kill[i] * (e_mean + transferred_mean * access)

            # JC virus moves linearly; viral activity is its exact mean along the step
            v0 = s_jcv[i]
            growth = p_growth[i] * (1.0 - lv_antiviral[i])
            v1 = min(max(v0 + (growth - killing) * dt, c.jcv_min), c.jcv_max)
            activity = positive_part_mean(v0, v1, c.activity_floor) / c.activity_span
            s_jcv[i] = v1

            d0 = s_damage[i]
            viral_growth = 1.0 if activity == 0.0 else math.exp(-p_damage_rate[i] * activity * dt)
            d_viral = 1.0 - (1.0 - d0) * viral_growth

            # IRIS onset: hazard from the rise and the antigen (viral activity + lesions)
            antigen = activity + 0.5 * (d0 + d_viral)
            status = s_iris[i]
            naive = status == NAIVE and alive
            h_old = s_h_iris[i]
            h_new = h_old + 0.0
            # (no rise: the power is 0 for q > 0, so is the hazard)
            if naive and (rise != 0.0 or c.iris_q <= 0.0):
                lam = (
                    c.iris_scale
                    * p_iris_susceptibility[i]
                    * npy_power(rise / c.iris_ref, c.iris_q)
                    * antigen
                    * (1.0 - lv_iris_hazard[i])
                )
                h_new = h_old + lam * dt
            onset, t_onset = crossing(t, dt, h_old, h_new, p_iris_threshold[i])
            onset = onset and naive
            s_h_iris[i] = h_new

            # IRIS inflammation: its mean over the step (share of the step it is active)
            active = status == ACTIVE and alive
            speed = 1.0 + lv_iris_resolution_speedup[i]
            remaining_0 = s_iris_remaining[i]
            remaining = remaining_0 - (speed * dt if active else 0.0)
            if onset:
                share = (t1 - t_onset) / dt
            elif active:
                share = min(max(remaining_0 / (speed * dt), 0.0), 1.0)
            else:
                share = 0.0
            inflammation = share * (1.0 - lv_iris_inflammation[i])
            damage = d_viral
            if inflammation > 0.0:
                damage = 1.0 - (1.0 - d_viral) * math.exp(-c.iris_damage_rate * inflammation * dt)

            # death hazard: trapezoid between the damage at both ends of the step
            # the start's term is the previous step's end term, kept in s.death_shape
            shape0 = s_death_shape[i]
            if shape0 != shape0:  # NaN: not computed yet
                p0 = npy_power(d0, c.death_hill)
                shape0 = p0 / (p0 + c.death_half_pow)
            shape1 = shape0
            if damage != d0:
                p1 = npy_power(damage, c.death_hill)
                shape1 = p1 / (p1 + c.death_half_pow)
            s_death_shape[i] = shape1
            shape = 0.5 * (shape0 + shape1)
            # active disease: the share death_activity of the damage hazard needs replicating
            # virus (the step's mean activity, capped at the reference level)
            active_disease = 1.0 - c.death_activity + c.death_activity * min(activity, 1.0)
            h = (
                p_excess_hazard[i]
                + p_frailty[i] * c.death_max * shape * active_disease
                + c.iris_death * inflammation
            )
            hd_old = s_h_death[i]
            hd_new = hd_old + h * dt
            dies, t_death = crossing(t, dt, hd_old, hd_new, p_death_threshold[i])
            dies = dies and alive
            s_h_death[i] = hd_new
            # an event in this step counts only if it comes before the patient's death
            before_death = t_death if dies else np.inf
            out_before_death[i] = before_death

            if onset and t_onset < before_death:
                s_iris[i] = ACTIVE
                s_iris_onset[i] = t_onset
                # the episode has already run from its onset to the end of this step
                s_iris_remaining[i] = p_iris_duration[i] - speed * (t1 - t_onset)
                s_iris_dx[i] = t_onset + c.dx_delay
                out_onset[i] = True
                out_t_onset[i] = t_onset
                n_onset += 1
            dx = s_iris_dx[i]
            if dx >= t and dx < t1 and alive and dx < before_death:
                out_diagnosed[i] = True
                n_dx += 1

            # IRIS resolution (episodes active since the start of the step)
            if active:
                t_res = t + dt * (remaining_0 / (speed * dt))
                if remaining <= 0.0 and t_res < before_death:
                    s_iris[i] = RESOLVED
                    out_resolved[i] = True
                    out_t_resolved[i] = t_res
                    n_res += 1
                s_iris_remaining[i] = remaining

            # deaths last; damage at death interpolated to the death time
            if dies:
                s_alive[i] = False
                s_death_time[i] = t_death
                s_damage_at_death[i] = d0 + (damage - d0) * ((t_death - t) / dt)
                out_dies[i] = True
                out_t_death[i] = t_death
                n_dies += 1
            s_damage[i] = damage
    return n_onset, n_dx, n_res, n_dies
