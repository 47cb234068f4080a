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
from sim.model import kernel
from sim.model.cohort import Patients
from sim.model.events import Event, EventLog
from sim.model.immunity import effector_target, saturation_target

LN2 = float(np.log(2.0))


@dataclass
class State:
    """Time-varying per-patient state (a dead patient's stays as it was at death)."""

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
    # the damage term of the death hazard at the current damage (NaN: to be computed),
    # kept because each step starts where the previous one ended
    death_shape: np.ndarray
    recovery_factor: np.ndarray  # exp(-recovery rate x dt) for the last step length dt
    recovery_dt: np.ndarray  # that step length (NaN before the first step)

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
            death_shape=np.full(n, np.nan),
            recovery_factor=np.full(n, np.nan),
            recovery_dt=np.full(n, np.nan),
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
    """Advance every living patient from t to t + dt under these lever levels (a dead
    patient's state stays as it was at death) and log the natural-history events of the
    step: IRIS onset, diagnosis and resolution, death. Therapies enter only through
    `levers`; their courses, the rules and their events are the clinic's
    (`sim.model.course`).

    Within the step the lever levels are constant (their means over the step). The
    linear parts are solved exactly; the effector response enters the viral kinetics
    through its exact mean over the step, the viral load moves linearly so viral
    activity and damage growth are integrated exactly along it, and the death hazard
    is integrated by the trapezoid rule between the damage at both ends. The step can
    therefore be long (a week) without biasing survival or IRIS (docs/model.md,
    "Time step"; the accuracy test holds it against a 10x finer step).
    """
    return Stepper(patients, state, model)(t, dt, levers, log)


class Stepper:
    """`step` for one group of patients over many steps: what does not change between
    steps is prepared once (the patients' parameters, the state's arrays, which the
    kernel updates in place, and the model constants of each step length), so a step
    costs the kernel and little else. The same numbers as `step`, which uses it."""

    def __init__(self, patients: Patients, state: State, model: ModelConfig) -> None:
        self.patients, self.state, self.model = patients, state, model
        self._params = _params(patients)
        self._arrays = kernel.Arrays(*(getattr(state, f) for f in kernel.Arrays._fields))
        self._constants: dict[float, tuple[float, ...]] = {}  # dt -> Constants after t
        self._levels: dict[str, np.ndarray] | None = None  # the last levels and their
        self._levers: kernel.Levers | None = None  # kernel form (reused while the same)
        # the kernel's per-step results, overwritten every step: a step's outcome is read
        # within the step only (`sim.model.course.Course.advance`)
        self._out = kernel.Outcome.empty(len(state.alive))

    def __call__(
        self, t: float, dt: float, levers: dict[str, np.ndarray], log: EventLog
    ) -> StepOutcome:
        return self.span([(t, dt)], levers, log)

    def span(
        self, steps: list[tuple[float, float]], levers: dict[str, np.ndarray], log: EventLog
    ) -> StepOutcome:
        """Consecutive steps (t, dt) under the same lever levels in one compiled call: the
        same numbers as one call per step (`kernel.step_kernel`); the outcome is the
        span's (alive at its start, death time and IRIS diagnoses within it)."""
        state = self.state
        rows = []
        for t, dt in steps:
            rest = self._constants.get(dt)
            if rest is None:
                rest = self._constants[dt] = _constants(0.0, dt, self.model)[1:]
            rows.append((float(t), *rest))
        if levers is not self._levels:
            self._levels, self._levers = levers, _levers(levers)
        out = self._out
        table = np.array(rows, dtype=np.float64)
        counts = kernel.step_kernel(table, self._params, self._arrays, self._levers, out)
        n_onset, n_dx, n_res, n_dies = counts
        pid = self.patients.patient_id
        if n_onset:
            log.add(pid[out.onset], out.t_onset[out.onset], Event.IRIS_ONSET)
        if n_dx:
            log.add(pid[out.diagnosed], state.iris_dx[out.diagnosed], Event.IRIS_DIAGNOSIS)
        if n_res:
            log.add(pid[out.resolved], out.t_resolved[out.resolved], Event.IRIS_RESOLVED)
        if n_dies:
            log.add(pid[out.dies], out.t_death[out.dies], Event.DEATH)
        return StepOutcome(alive=out.alive, before_death=out.before_death, diagnosed=out.diagnosed)


def _constants(t: float, dt: float, m: ModelConfig) -> kernel.Constants:
    """The model constants and the factors of a step of length dt (floats)."""
    k_e = m.effector_rate_per_day
    relax_e = float(np.exp(-k_e * dt))
    k_t = LN2 / m.transferred_effector_half_life_days
    decay_t = float(np.exp(-k_t * dt))
    c = kernel.Constants(
        t=float(t),
        dt=float(dt),
        washout=-LN2 / m.natalizumab_half_life_days * dt,
        half_block=m.natalizumab_half_block,
        ntz_hill=m.natalizumab_hill,
        sat_relax=float(np.exp(-LN2 / m.natalizumab_desaturation_half_life_days * dt)),
        cd4_max=m.cd4_max,
        cd4_half=m.cd4_half_saturation,
        e_relax=relax_e,
        e_mean=_relax_mean(k_e, dt, relax_e),
        cytokine_weight=m.iris_cytokine_weight,
        t_decay=decay_t,
        t_mean=_relax_mean(k_t, dt, decay_t),
        jcv_min=m.jcv_min_log10,
        jcv_max=m.jcv_max_log10,
        activity_floor=m.viral_activity_floor_log10,
        activity_span=m.viral_activity_ref_log10 - m.viral_activity_floor_log10,
        iris_scale=m.iris_hazard_scale * _power_mean_factor(m.iris_rate_exponent, k_e * dt),
        iris_ref=m.iris_rate_ref,
        iris_q=m.iris_rate_exponent,
        iris_damage_rate=m.iris_damage_rate_per_day,
        death_hill=m.death_damage_hill,
        death_half_pow=m.death_damage_half**m.death_damage_hill,
        death_max=m.death_hazard_max_per_day,
        iris_death=m.iris_death_hazard_per_day,
        dx_delay=m.iris_diagnosis_delay_days,
        death_activity=m.death_activity_weight,
    )
    return kernel.Constants(*(float(x) for x in c))


def _params(p: Patients) -> kernel.Params:
    """The patients' parameters as the kernel reads them (float64, contiguous; no copy
    when they are already)."""
    return kernel.Params(
        *(np.ascontiguousarray(getattr(p, f), dtype=np.float64) for f in kernel.Params._fields)
    )


def _levers(levers: dict[str, np.ndarray]) -> kernel.Levers:
    """The levels the kernel reads, as read-only float64 arrays (views, no copies: the
    shared zeros of levers no course moves are read-only already, and one type of
    array keeps the kernel to one compiled version)."""

    def readonly(x: np.ndarray) -> np.ndarray:
        flags = getattr(x, "flags", None)
        if flags is not None and not flags.writeable and flags.c_contiguous:
            if x.dtype == np.float64:  # already as the kernel reads it (`lever_levels`)
                return x
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.flags.writeable:
            x = x.view()
            x.flags.writeable = False
        return x

    return kernel.Levers(*[readonly(levers[name]) for name in kernel.Levers._fields])
