r"""Within-host dynamics: immune recovery, JC virus, brain damage, IRIS and death.

Time t is in days since PML diagnosis. The state of a patient is advanced in steps
of `dt` (default one day); within a step the linear parts are solved exactly
(exponential approach to a set point), and event times (death, IRIS onset and
resolution) are found exactly by inverting the piecewise-linear cumulative hazard.
All arrays are vectorised over patients; the reference engine runs the very same
kernel on one patient at a time. This module is the physics: therapies enter only as
lever levels (from their courses, `sim.model.schedule`); what the clinic decides and
does, and the therapy events, live in `sim.model.rules` and `sim.model.schedule`.

In plain words
--------------
* **Immune capacity** is the blood CD4 count C. Removing the cause (ART, stopping
  the immunosuppressant) moves its set point from the baseline C0 towards a
  condition-specific ceiling; C approaches the set point exponentially with a
  patient-specific half-time. Cytokines (rhIL-7, IL-2) expand T cells on top of that
  while the course runs (logistically, up to a homeostatic maximum), at a rate
  scaled by the patient's responsiveness (IL-7
  receptor expression and thymic/marrow reserve differ between patients, so some
  barely respond); afterwards the surplus decays back to the set point.
* **Natalizumab** (MS patients) keeps T cells out of the brain. Once stopped its
  level N halves every `natalizumab_half_life_days`; each plasma-exchange session
  removes a share of it. Its receptor (alpha4-integrin) saturation S follows the
  level with a lag, towards (N/N50)^h / (1 + (N/N50)^h), because desaturation needs
  new, unbound cells (Khatri 2009); brain access is A = 1 - S.
* **The JCV-specific effector response** E approaches its target
  E* = f * C / (C + C50) * A * (1 - steroid suppression) at rate k_E (priming takes
  weeks). f is the patient's T-cell function (exhaustion < 1); PD-1 blockade closes
  part of the gap 1 - f. Adoptively transferred virus-specific T cells add a
  separate pool that decays with its own half-life (they kill virus but, being
  given in measured doses, are not counted in the rise that triggers IRIS).
* **JC virus** in CSF, on the log10 scale V, replicates at rate r and is killed in
  proportion to the effector response:
  dV/dt = r (1 - antiviral) - kappa * (E + E_vst), bounded to [V_min, V_max].
  Every diagnosed patient is progressing, so r is set from the patient's *net*
  progression rate at diagnosis (a positive draw) plus the killing at diagnosis:
  r = net0 + kappa * E(0). Whatever raises E later slows and then reverses growth.
* **Brain damage** D (0..1, lesion burden) grows with viral activity
  a(V) = max(V - V_floor, 0) / (V_ref - V_floor) and with IRIS inflammation:
  dD/dt = (delta * a(V) + delta_iris * I) (1 - D).
* **IRIS** starts with hazard
  lambda = s * susceptibility * (R / rho)^q * (a(V) + D) * (1 - blockade):
  a fast rise R of the immune response against much antigen. R counts the rise
  that restored immunity gives (CD4 set point, brain access, T-cell function) in
  full, and the extra rise from cytokine-expanded cells with weight w < 1: IL-7
  mostly expands naive and central-memory cells (Sereti 2009), and IRIS is rarer
  after rhIL-7 (8%, seed 000) than after ART (12-23%) or natalizumab removal (~all).
  While active, its inflammation I (reduced by steroids / maraviroc) adds damage and death hazard;
  it resolves after a patient-specific duration (faster on steroids).
* **Death** has hazard h = excess(condition) + frailty * h_max * D^p / (D^p + D50^p)
  + h_iris * I.

Survivors' residual disability is their damage D, reduced by supportive care.
See docs/model.md for the full equation list and parameter sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.schema import ModelConfig
from sim.model.cohort import Patients
from sim.model.events import Event, EventLog
from sim.model.immunity import effector_target, saturation_target

LN2 = float(np.log(2.0))


@dataclass
class State:
    """Time-varying per-patient state."""

    cd4: np.ndarray
    effector: np.ndarray
    cd4_restored: np.ndarray  # CD4 without the cytokine-expanded surplus
    effector_restored: np.ndarray  # effector response that CD4 alone would give
    transferred: np.ndarray  # adoptively transferred effector pool
    jcv: np.ndarray  # log10 copies/mL in CSF
    damage: np.ndarray
    natalizumab: np.ndarray  # relative level, 1 = on drug
    saturation: np.ndarray  # alpha4-integrin saturation, 0..1
    iris: np.ndarray  # 0 never, 1 active, 2 resolved
    iris_onset: np.ndarray
    iris_remaining: np.ndarray  # days of IRIS left (at speed 1)
    iris_dx: np.ndarray  # time IRIS is diagnosed
    h_death: np.ndarray  # cumulative hazards
    h_iris: np.ndarray
    alive: np.ndarray
    death_time: np.ndarray
    damage_at_death: np.ndarray
    side_effects: np.ndarray  # count
    severe_side_effects: np.ndarray

    @classmethod
    def initial(cls, p: Patients, m: ModelConfig) -> State:
        """State at diagnosis: the effector response is in equilibrium with the
        immune status at diagnosis (it only changes once something changes)."""
        n = len(p)
        inf = np.full(n, np.inf)
        zero = np.zeros(n)
        nat = p.natalizumab.astype(float)
        sat = saturation_target(nat, m)
        e0 = effector_target(p.t_cell_function, p.cd4_0, 1.0 - sat, m)
        return cls(
            cd4=p.cd4_0.copy(),
            effector=e0,
            cd4_restored=p.cd4_0.copy(),
            effector_restored=e0.copy(),
            transferred=zero.copy(),
            jcv=p.jcv_0.copy(),
            damage=p.lesion_0.copy(),
            natalizumab=nat,
            saturation=sat,
            iris=np.zeros(n, dtype=np.int8),
            iris_onset=np.full(n, np.nan),
            iris_remaining=zero.copy(),
            iris_dx=inf.copy(),
            h_death=zero.copy(),
            h_iris=zero.copy(),
            alive=np.ones(n, dtype=bool),
            death_time=inf.copy(),
            damage_at_death=np.full(n, np.nan),
            side_effects=np.zeros(n, dtype=np.int16),
            severe_side_effects=np.zeros(n, dtype=np.int16),
        )

    def lymphocytes(self, p: Patients, model: ModelConfig) -> np.ndarray:
        """Blood lymphocytes.

        Restored immunity adds mostly CD4 cells: the CD4 gain diluted by the CD4 share
        of new cells. Cytokines expand T cells of both kinds, so the cytokine surplus
        (CD4 over restored CD4) multiplies all lymphocytes: in Miskin 2016, rhIL-7 took
        lymphocytes 168 -> 595 (x3.5) and CD4 87 -> 301 (x3.5) alike.
        """
        restored = p.lymph_0 + (self.cd4_restored - p.cd4_0) / model.cd4_new_lymphocyte_share
        return restored * (self.cd4 / self.cd4_restored)


def _crossing(t: float, dt: float, h_old: np.ndarray, h_new: np.ndarray, thr: np.ndarray):
    """Where a cumulative hazard crosses its threshold in the step, and when (linear in t)."""
    hit = (h_old < thr) & (h_new >= thr)
    frac = np.where(hit, (thr - h_old) / np.where(hit, h_new - h_old, 1.0), 0.0)
    return hit, t + dt * frac


@dataclass(frozen=True)
class StepOutcome:
    """What the clinic needs to know about a step of the dynamics."""

    alive: np.ndarray  # alive at the start of the step
    before_death: np.ndarray  # death time within the step, inf otherwise
    diagnosed: np.ndarray  # IRIS diagnosed in the step (alive at the diagnosis)


def _relax_mean(rate: float, dt: float, relax: float) -> float:
    """Mean over the step of exp(-rate * s), s in [0, dt): (1 - relax) / (rate * dt)."""
    x = rate * dt
    return (1.0 - relax) / x if x > 1e-12 else 1.0


def _positive_part_mean(v0: np.ndarray, v1: np.ndarray, floor: float) -> np.ndarray:
    """Mean of max(v(s) - floor, 0) over a step along which v moves linearly v0 -> v1."""
    lo = np.minimum(v0, v1) - floor
    hi = np.maximum(v0, v1) - floor
    # crossing the floor: a triangle of height hi over the share hi / (hi - lo) of the step
    cross = hi * hi / (2.0 * np.maximum(hi - lo, 1e-300))
    return np.where(lo >= 0.0, 0.5 * (lo + hi), np.where(hi > 0.0, cross, 0.0))


def _power_mean_factor(q: float, x: float) -> float:
    """Mean of (e^{-s})^q over s in [0, x] divided by (mean of e^{-s})^q.

    The effector response rises as e^{-k s} inside a step; the IRIS hazard is a power q
    of that rise. Evaluating the power at the step's mean rise would understate the
    hazard by Jensen's inequality for long steps; this factor makes it exact for a
    response relaxing towards a fixed target (and is 1 for short steps)."""
    if x < 1e-9:
        return 1.0
    return float(((1.0 - np.exp(-q * x)) / (q * x)) / ((1.0 - np.exp(-x)) / x) ** q)


def step(
    *,
    t: float,
    dt: float,
    patients: Patients,
    state: State,
    levers: dict[str, np.ndarray],
    model: ModelConfig,
    log: EventLog,
) -> StepOutcome:
    """Advance every patient from t to t + dt under these lever levels (dead patients'
    state is not used) and log the natural-history events of the step: IRIS onset,
    diagnosis and resolution, death. Therapies enter only through `levers`; their
    courses, the rules and their events are the clinic's (`sim.model.course`).

    Within the step the lever levels are constant (their means over the step). The
    linear parts are solved exactly; the effector response enters the viral kinetics
    through its exact mean over the step, the viral load moves linearly so viral
    activity and damage growth are integrated exactly along it, and the death hazard
    is integrated by the trapezoid rule between the damage at both ends. The step can
    therefore be long (a week) without biasing survival or IRIS (docs/model.md,
    "Time step"; the accuracy test holds it against a 10x finer step).
    """
    p, st, lv, m = patients, state, levers, model
    pid = p.patient_id
    alive_at_start = st.alive.copy()

    # natalizumab: per-session removal, then washout once stopped
    st.natalizumab *= 1.0 - lv["drug_removal_per_dose"]
    st.natalizumab *= np.exp(-LN2 / m.natalizumab_half_life_days * dt * lv["natalizumab_stop"])
    sat_target = saturation_target(st.natalizumab, m)
    relax = np.exp(-LN2 / m.natalizumab_desaturation_half_life_days * dt)
    sat_end = sat_target + (st.saturation - sat_target) * relax
    access = 1.0 - 0.5 * (st.saturation + sat_end)  # mean brain access over the step
    st.saturation = sat_end

    # CD4: exponential approach to the set point, times cytokine expansion
    set_point = p.cd4_0 + lv["immune_restoration"] * (p.cd4_ceiling - p.cd4_0)
    approach = np.exp(-p.recovery_rate * dt)
    cd4 = set_point + (st.cd4 - set_point) * approach
    # cytokine expansion is logistic: it slows as CD4 nears the homeostatic maximum
    g = lv["lymphocyte_expansion_per_day"] * p.cytokine_response
    if g.any():  # most steps have no cytokine running: skip the arithmetic
        k = m.cd4_max
        cd4 = np.where(g > 0.0, k / (1.0 + (k / cd4 - 1.0) * np.exp(-g * dt)), cd4)
    restored = set_point + (st.cd4_restored - set_point) * approach
    cd4_mid = 0.5 * (st.cd4 + cd4)
    restored_mid = 0.5 * (st.cd4_restored + restored)
    st.cd4, st.cd4_restored = cd4, restored

    # JCV-specific effector response: relaxes towards its target at the step's mid-point
    function = p.t_cell_function + lv["t_cell_function"] * (1.0 - p.t_cell_function)
    reach = access * (1.0 - lv["effector_suppression"])
    k_e = m.effector_rate_per_day
    relax_e = float(np.exp(-k_e * dt))
    mean_e = _relax_mean(k_e, dt, relax_e)
    target = effector_target(function, cd4_mid, reach, m)
    target_r = effector_target(function, restored_mid, reach, m)
    e_mean = target + (st.effector - target) * mean_e
    e_new = target + (st.effector - target) * relax_e
    e_r = target_r + (st.effector_restored - target_r) * relax_e
    # the rise that triggers IRIS: restored immunity in full, cytokine-expanded cells
    # with weight w (they are mostly naive / central-memory cells, Sereti 2009)
    w = m.iris_cytokine_weight
    rise = (
        (1.0 - w) * np.maximum(e_r - st.effector_restored, 0.0)
        + w * np.maximum(e_new - st.effector, 0.0)
    ) / dt
    st.effector, st.effector_restored = e_new, e_r
    # transferred cells arrive at the start of the step and decay within it
    k_t = LN2 / m.transferred_effector_half_life_days
    decay_t = float(np.exp(-k_t * dt))
    given = st.transferred + lv["effector_transfer_per_dose"] * (1.0 - lv["effector_suppression"])
    transferred_mean = given * _relax_mean(k_t, dt, decay_t)
    st.transferred = given * decay_t
    killing = p.kill * (e_mean + transferred_mean * access)

    # JC virus moves linearly over the step; viral activity is its exact mean along it
    v0 = st.jcv
    growth = p.growth * (1.0 - lv["antiviral"])
    v1 = np.clip(v0 + (growth - killing) * dt, m.jcv_min_log10, m.jcv_max_log10)
    span = m.viral_activity_ref_log10 - m.viral_activity_floor_log10
    activity_v = _positive_part_mean(v0, v1, m.viral_activity_floor_log10) / span
    st.jcv = v1

    # damage from viral activity alone (IRIS inflammation is added below)
    d0 = st.damage
    d_viral = 1.0 - (1.0 - d0) * np.exp(-p.damage_rate * activity_v * dt)

    # IRIS onset: hazard from the rise and the antigen (viral activity + lesions)
    antigen = activity_v + 0.5 * (d0 + d_viral)
    lam = (
        m.iris_hazard_scale
        * _power_mean_factor(m.iris_rate_exponent, k_e * dt)
        * p.iris_susceptibility
        * (rise / m.iris_rate_ref) ** m.iris_rate_exponent
        * antigen
        * (1.0 - lv["iris_hazard"])
    )
    naive = (st.iris == 0) & st.alive
    h_new = st.h_iris + np.where(naive, lam * dt, 0.0)
    onset, t_onset = _crossing(t, dt, st.h_iris, h_new, p.iris_threshold)
    onset &= naive
    st.h_iris = h_new

    # IRIS inflammation: its mean over the step (share of the step the episode is active)
    active = (st.iris == 1) & st.alive
    speed = 1.0 + lv["iris_resolution_speedup"]
    remaining = st.iris_remaining - np.where(active, speed * dt, 0.0)
    # (an episode shorter than the rest of its onset step has remaining < 0: share 0)
    share_active = np.where(active, np.clip(st.iris_remaining / (speed * dt), 0.0, 1.0), 0.0)
    share = np.where(onset, (t + dt - t_onset) / dt, share_active)
    inflammation = share * (1.0 - lv["iris_inflammation"])
    has_inflammation = inflammation > 0.0
    if has_inflammation.any():
        damage = np.where(
            has_inflammation,
            1.0 - (1.0 - d_viral) * np.exp(-m.iris_damage_rate_per_day * inflammation * dt),
            d_viral,
        )
    else:
        damage = d_viral

    # death hazard: trapezoid between the damage at both ends of the step
    hill = m.death_damage_hill
    half = m.death_damage_half**hill
    p0, p1 = d0**hill, damage**hill
    shape = 0.5 * (p0 / (p0 + half) + p1 / (p1 + half))
    h = (
        p.excess_hazard
        + p.frailty * m.death_hazard_max_per_day * shape
        + m.iris_death_hazard_per_day * inflammation
    )
    h_new = st.h_death + h * dt
    dies, t_death = _crossing(t, dt, st.h_death, h_new, p.death_threshold)
    dies &= st.alive
    st.h_death = h_new
    # an event in this step counts only if it comes before the patient's death
    before_death = np.where(dies, t_death, np.inf)

    onset &= t_onset < before_death
    if onset.any():
        st.iris[onset] = 1
        st.iris_onset[onset] = t_onset[onset]
        # the episode has already run from its onset to the end of this step
        ran = np.broadcast_to(speed, onset.shape)[onset] * (t + dt - t_onset[onset])
        st.iris_remaining[onset] = p.iris_duration[onset] - ran
        st.iris_dx[onset] = t_onset[onset] + m.iris_diagnosis_delay_days
        log.add(pid[onset], t_onset[onset], Event.IRIS_ONSET)
    dx_now = (st.iris_dx >= t) & (st.iris_dx < t + dt) & st.alive & (st.iris_dx < before_death)
    if dx_now.any():
        log.add(pid[dx_now], st.iris_dx[dx_now], Event.IRIS_DIAGNOSIS)

    # IRIS resolution (episodes active since the start of the step)
    t_res = t + dt * (st.iris_remaining / np.where(active, speed * dt, 1.0))
    resolved = active & (remaining <= 0.0) & (t_res < before_death)
    if resolved.any():
        st.iris[resolved] = 2
        log.add(pid[resolved], t_res[resolved], Event.IRIS_RESOLVED)
    st.iris_remaining = np.where(active, remaining, st.iris_remaining)

    # deaths are booked last; damage at death interpolated to the death time
    if dies.any():
        frac = (t_death[dies] - t) / dt
        st.alive[dies] = False
        st.death_time[dies] = t_death[dies]
        st.damage_at_death[dies] = d0[dies] + (damage[dies] - d0[dies]) * frac
        log.add(pid[dies], t_death[dies], Event.DEATH)
    st.damage = damage
    return StepOutcome(alive=alive_at_start, before_death=before_death, diagnosed=dx_now)
