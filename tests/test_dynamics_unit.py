"""The within-host dynamics at unit level (sim.model.dynamics), one step at a time.

Each test builds one to six patients by hand, runs one model step (or one helper of
it) and checks the result against an independent route: numerical quadrature (scipy)
of the quantity's definition, the exact solution of the linear ODE over the step, or
the scheme documented in docs/model.md ("State and equations", "Time step") worked
out in scalar arithmetic for these patients. Events are checked through a twin
patient: two patients alike but for their Exp(1) threshold, so the one that crosses
must do so where the other's cumulative hazard says (linear interpolation).

Tolerances: 1e-9 relative where the expected value is a closed form (floating-point
rounding only; the largest numbers are a few thousand), quad's own error estimate
(< 1e-10 here) for quadratures. Written for issue 17's mutation survivors
(docs/mutation/sim.model.dynamics.txt).
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import repeat

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from sim.config.schema import ModelConfig, TherapyConfig
from sim.model import dynamics as dyn
from sim.model import kernel
from sim.model.cohort import Patients
from sim.model.dynamics import State, step
from sim.model.events import EventLog
from sim.model.levers import LeverMemo, lever_levels
from sim.model.schedule import Schedule
from sim.model.therapies import LEVERS, Catalog

M = ModelConfig()
RTOL = 1e-9
LN2 = math.log(2.0)
INF = np.inf


def _patients(n: int = 1, **values) -> Patients:
    """n patients with these values (scalars or one per patient); the rest as below."""
    base = dict(
        condition=0,
        age=60.0,
        female=False,
        cd4_0=100.0,
        lymph_0=400.0,
        jcv_0=1.0,  # below the viral-activity floor (2 log10): no viral damage
        lesion_0=0.3,
        cd4_ceiling=500.0,
        recovery_rate=0.02,
        growth=0.05,
        kill=0.3,
        t_cell_function=0.6,
        damage_rate=0.006,
        frailty=1.0,
        iris_susceptibility=1.0,
        cytokine_response=1.0,
        excess_hazard=1e-4,
        natalizumab=False,
        death_threshold=50.0,  # Exp(1) thresholds out of reach unless a test lowers them
        iris_threshold=50.0,
        iris_duration=60.0,
    )
    base.update(values)
    cols = {k: np.array(np.broadcast_to(v, (n,))) for k, v in base.items()}
    cols["condition"] = cols["condition"].astype(np.int8)
    return Patients(patient_id=np.arange(100, 100 + n), **cols)


def _step(p, st, m=M, t=0.0, dt=1.0, **levers):
    """One step under these lever levels (the rest 0); returns its outcome and events."""
    n = len(p)
    lv = {k: np.zeros(n) for k in LEVERS}
    for k, v in levers.items():
        assert k in LEVERS, k
        lv[k] = np.array(np.broadcast_to(np.asarray(v, dtype=float), (n,)))
    log = EventLog()
    out = step(t=t, dt=dt, patients=p, state=st, levers=lv, model=m, log=log)
    return out, log.to_frame()


def _times(ev, event: str) -> dict[int, float]:
    e = ev[ev["event"] == event]
    assert e["patient_id"].is_unique
    return dict(zip(e["patient_id"].tolist(), e["time_days"].tolist(), strict=True))


def _hill(d: float, m: ModelConfig = M) -> float:
    """The death hazard's damage shape D^p / (D^p + D50^p)."""
    return d**m.death_damage_hill / (
        d**m.death_damage_hill + m.death_damage_half**m.death_damage_hill
    )


def _relaxing(target: float, start: float, rate: float):
    """x(s) = target + (start - target) exp(-rate s): the solution of x' = rate (target - x)."""
    return lambda s: target + (start - target) * math.exp(-rate * s)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("rate, dt", [(0.07, 7.0), (0.07, 1.0), (LN2 / 30.0, 0.5), (2.0, 3.0)])
def test_relax_mean_is_the_mean_of_the_exponential_over_the_step(rate, dt):
    mean, err = quad(lambda s: math.exp(-rate * s), 0.0, dt)
    assert err < 1e-12
    assert dyn._relax_mean(rate, dt, math.exp(-rate * dt)) == pytest.approx(mean / dt, rel=RTOL)


def test_relax_mean_without_decay_is_one():
    """Rate 0 (nothing decays) and rates so small that 1 - exp(-x) cancels: the mean of
    exp(-rate s) is 1 - x/2 + ..., i.e. 1 to well within 1e-9."""
    assert dyn._relax_mean(0.0, 7.0, 1.0) == 1.0
    for x in (1e-16, 1e-13, 1e-12):
        assert dyn._relax_mean(x, 1.0, math.exp(-x)) == pytest.approx(1.0, abs=1e-9)


CASES = [  # (v0, v1) against a floor of 2: above, below, crossing either way, flat, touching
    (5.0, 3.0),
    (3.0, 5.0),
    (1.0, 1.5),
    (1.9, 2.3),
    (2.3, 1.9),
    (0.5, 6.5),
    (7.5, 0.0),
    (2.0, 2.0),
    (4.0, 4.0),
    (1.0, 1.0),
    (2.0, 3.5),
    (3.5, 2.0),
    (1.2, 2.0),
    (2.0, 1.2),
    (2.5, 2.9),
]


def test_positive_part_mean_integrates_along_the_linear_path():
    floor = 2.0
    expected = []
    for v0, v1 in CASES:
        kink = [(floor - v0) / (v1 - v0)] if v1 != v0 and min(v0, v1) < floor < max(v0, v1) else []
        val, err = quad(
            lambda s, a=v0, b=v1: max(a + (b - a) * s - floor, 0.0), 0.0, 1.0, points=kink or None
        )
        assert err < 1e-12
        expected.append(val)
    got = [kernel.positive_part_mean(v0, v1, floor) for v0, v1 in CASES]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("q, x", [(1.5, 0.49), (1.5, 0.07), (2.0, 3.0), (0.5, 1.2), (1.0, 0.7)])
def test_power_mean_factor_is_the_jensen_correction(q, x):
    """Mean of (e^{-s})^q over [0, x] over (mean of e^{-s})^q, both by quadrature."""
    num, e1 = quad(lambda s: math.exp(-s) ** q, 0.0, x)
    den, e2 = quad(lambda s: math.exp(-s), 0.0, x)
    assert max(e1, e2) < 1e-12
    assert dyn._power_mean_factor(q, x) == pytest.approx((num / x) / (den / x) ** q, rel=RTOL)


def test_power_mean_factor_of_a_vanishing_step_is_one():
    assert dyn._power_mean_factor(1.5, 0.0) == 1.0
    assert dyn._power_mean_factor(2.0, 1e-12) == 1.0


def test_crossing_finds_where_and_when_the_cumulative_hazard_reaches_its_threshold():
    h_old = np.array([0.2, 0.2, 0.2, 1.0, 0.0, 0.5, 1.3])
    h_new = np.array([0.7, 0.4, 1.0, 1.5, 0.0, 0.5, 1.9])
    thr = np.array([0.3, 0.5, 1.0, 1.0, 0.0, 0.6, 1.6])
    hit, when = (
        np.array(x)
        for x in zip(
            *map(kernel.crossing, repeat(10.0), repeat(4.0), h_old, h_new, thr), strict=True
        )
    )
    # 0: a fifth of the way; 1: stays below; 2: reaches it at the very end; 3: was at it
    # already (crossed in an earlier step); 4: nothing accrues; 5: below, flat; 6: halfway
    assert hit.tolist() == [True, False, True, False, False, False, True]
    np.testing.assert_allclose(when[hit], [10.0 + 4.0 * 0.1 / 0.5, 14.0, 12.0], rtol=RTOL)
    assert when.dtype == np.float64 and np.all((when >= 10.0) & (when <= 14.0))
    np.testing.assert_array_equal(when[~hit], 10.0)  # no crossing: t itself (docstring)


# ----------------------------------------------------------------------------- State


def test_initial_state_is_the_equilibrium_at_diagnosis():
    m = replace(M, natalizumab_half_block=0.8)  # saturation well away from 0 and 1
    p = _patients(
        3,
        natalizumab=[True, False, True],
        cd4_0=[80.0, 300.0, 150.0],
        t_cell_function=[0.5, 0.7, 0.9],
        jcv_0=[4.0, 5.0, 6.0],
        lesion_0=[0.1, 0.2, 0.4],
    )
    st = State.initial(p, m)
    x = (1.0 / 0.8) ** 2
    sat = np.array([x / (1 + x), 0.0, x / (1 + x)])
    np.testing.assert_allclose(st.natalizumab, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(st.saturation, sat, rtol=RTOL)
    e0 = p.t_cell_function * p.cd4_0 / (p.cd4_0 + 200.0) * (1.0 - sat)
    np.testing.assert_allclose(st.effector, e0, rtol=RTOL)
    np.testing.assert_allclose(st.effector_restored, e0, rtol=RTOL)
    for name, baseline in (
        ("cd4", p.cd4_0),
        ("cd4_restored", p.cd4_0),
        ("jcv", p.jcv_0),
        ("damage", p.lesion_0),
    ):
        value = getattr(st, name)
        np.testing.assert_array_equal(value, baseline)
        assert not np.shares_memory(value, baseline), name  # the state never writes into p
    assert not np.shares_memory(st.effector, st.effector_restored)
    assert not np.shares_memory(st.cd4, st.cd4_restored)
    for name in ("transferred", "iris_remaining", "h_death", "h_iris"):
        value = getattr(st, name)
        assert value.shape == (3,) and not value.any(), name
    for name in ("iris_dx", "death_time"):
        np.testing.assert_array_equal(getattr(st, name), [INF] * 3)
    for name in ("iris_onset", "damage_at_death"):  # NaN: none yet
        value = getattr(st, name)
        assert value.shape == (3,) and np.isnan(value).all(), name
    assert st.iris.tolist() == [0, 0, 0]
    assert st.alive.dtype == bool and st.alive.all() and st.alive.shape == (3,)
    for name in ("side_effects", "severe_side_effects"):  # counts
        assert getattr(st, name).tolist() == [0, 0, 0], name
    # each array is the state's own: writing one leaves the others alone
    arrays = [v for v in vars(st).values() if isinstance(v, np.ndarray)]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)


def test_lymphocytes_add_the_restored_cd4_gain_and_scale_with_the_cytokine_surplus():
    """L = (L0 + (C_r - C0) / share) x C / C_r (docs/model.md), by hand."""
    m = replace(M, cd4_new_lymphocyte_share=0.4)
    p = _patients(3, cd4_0=100.0, lymph_0=400.0)
    st = State.initial(p, m)
    st.cd4_restored = np.array([100.0, 300.0, 300.0])
    st.cd4 = np.array([100.0, 300.0, 600.0])
    # at baseline: L0; restored +200 CD4 = +500 lymphocytes; cytokines doubling CD4 double L
    np.testing.assert_allclose(st.lymphocytes(p, m), [400.0, 900.0, 1800.0], rtol=RTOL)


# ---------------------------------------------------------------------- lever levels


def _catalog():
    t = {
        # continuous, from day 0 (patient 0 and 1)
        "a_cont": TherapyConfig(
            label="a",
            levers={
                "lymphocyte_expansion_per_day": 0.1,
                "iris_hazard": 0.4,
                "immune_restoration": 0.2,
            },
        ),
        # continuous, starts at day 3.5 (patient 0): covers half of the step [2, 5)
        "b_cont": TherapyConfig(
            label="b",
            levers={
                "lymphocyte_expansion_per_day": 0.2,
                "iris_hazard": 0.5,
                "immune_restoration": 0.6,
            },
        ),
        # plasma exchange, sessions every 2 days from day 0: two (days 2, 4) in [2, 5)
        "c_plex": TherapyConfig(
            label="c", levers={"drug_removal_per_dose": 0.5}, n_doses=5, dose_interval_days=2.0
        ),
        # T-cell infusions daily from day 0, four: two (days 2, 3) in [2, 5)
        "d_vst": TherapyConfig(
            label="d", levers={"effector_transfer_per_dose": 0.8}, n_doses=4, dose_interval_days=1.0
        ),
        # a continuous drug taken twice a day: six doses (2, 2.5, ..., 4.5) in [2, 5)
        "e_daily": TherapyConfig(
            label="e", levers={"antiviral": 0.3}, n_doses=10, dose_interval_days=0.5
        ),
        # one infusion (no interval) on day 3
        "f_single": TherapyConfig(label="f", levers={"effector_transfer_per_dose": 1.0}),
        # sessions from day 20: none in the step
        "g_late": TherapyConfig(
            label="g", levers={"drug_removal_per_dose": 0.3}, n_doses=2, dose_interval_days=7.0
        ),
    }
    return Catalog.build(t)


def test_lever_levels_combine_the_courses_of_a_step():
    cat = _catalog()
    k = {name: cat.index(name) for name in cat.names}
    start = np.full((len(cat.names), 2), INF)
    start[k["a_cont"]] = [0.0, 0.0]
    start[k["b_cont"], 0] = 3.5
    start[k["c_plex"], 0] = 0.0
    start[k["d_vst"], 0] = 0.0
    start[k["e_daily"], 0] = 0.0
    start[k["f_single"], 0] = 3.0
    start[k["g_late"], 0] = 20.0
    sch = Schedule(
        cat,
        start,
        np.full_like(start, INF),
        list(range(len(cat.names))),
        np.ones_like(start, dtype=bool),
    )
    levels, doses = lever_levels(2.0, 3.0, cat, sch)
    assert set(levels) == set(LEVERS)
    expected = {
        "lymphocyte_expansion_per_day": [0.1 + 0.2 * 0.5, 0.1],  # sum
        "iris_hazard": [1 - (1 - 0.4) * (1 - 0.5 * 0.5), 0.4],  # independent shares
        "immune_restoration": [max(0.2, 0.6 * 0.5), 0.2],  # max
        "drug_removal_per_dose": [1 - (1 - 0.5) ** 2, 0.0],  # sessions compound
        "effector_transfer_per_dose": [0.8 * 2 + 1.0, 0.0],  # infusions add up
        "antiviral": [0.3, 0.0],
    }
    for lv in LEVERS:
        np.testing.assert_allclose(levels[lv], expected.get(lv, [0.0, 0.0]), rtol=RTOL, err_msg=lv)
    # the doses of each course with a dose interval (logged one event each), only if any
    assert sorted(doses) == sorted([k["c_plex"], k["d_vst"], k["e_daily"]])
    for name, n in (("c_plex", 2), ("d_vst", 2), ("e_daily", 6)):
        np.testing.assert_array_equal(doses[k[name]], [n, 0], err_msg=name)


def test_a_therapys_continuous_lever_acts_between_its_doses():
    """A therapy may move a per-dose lever and a continuous one (the module docstring of
    sim.model.levers): the per-dose lever acts only in a step with a dose, the continuous
    one at the course's mean activity in every step, with or without a dose. Here the
    per-dose lever comes first in LEVERS' order, so a step without a dose must not skip
    the levers after it. Patient 1 starts on day 8.5 (half of the step [8, 9))."""
    cat = Catalog.build(
        {
            "vst_av": TherapyConfig(
                label="infusions with an antiviral",
                levers={"effector_transfer_per_dose": 0.8, "antiviral": 0.3},
                n_doses=3,
                dose_interval_days=7.0,
            )
        }
    )
    assert cat.levers[0] == ("effector_transfer_per_dose", "antiviral")
    start = np.array([[0.0, 8.5]])
    sch = Schedule(cat, start, np.full_like(start, INF), [0], np.ones_like(start, dtype=bool))
    # [2, 5): no dose for either patient; patient 0 on the drug all along, 1 not yet
    levels, doses = lever_levels(2.0, 3.0, cat, sch)
    np.testing.assert_allclose(levels["antiviral"], [0.3, 0.0], rtol=RTOL)
    np.testing.assert_array_equal(levels["effector_transfer_per_dose"], [0.0, 0.0])
    assert doses == {}
    # [7, 8): patient 0's second infusion; [8, 9): patient 1's first, on for half the step
    levels, doses = lever_levels(7.0, 1.0, cat, sch)
    np.testing.assert_allclose(levels["effector_transfer_per_dose"], [0.8, 0.0], rtol=RTOL)
    np.testing.assert_allclose(levels["antiviral"], [0.3, 0.0], rtol=RTOL)
    np.testing.assert_array_equal(doses[0], [1, 0])
    levels, doses = lever_levels(8.0, 1.0, cat, sch)
    np.testing.assert_allclose(levels["effector_transfer_per_dose"], [0.0, 0.8], rtol=RTOL)
    np.testing.assert_allclose(levels["antiviral"], [0.3, 0.3 * 0.5], rtol=RTOL)
    np.testing.assert_array_equal(doses[0], [0, 1])


def test_a_lever_memo_reuses_a_quiet_steps_levels_and_only_those():
    """LeverMemo (sim.model.levers): a step with no dose whose courses are the rows of the
    previous step with the same cached activity arrays gets the previous levels back (the
    very same dict); a step with a dose, after a dose, or after a course started or ended
    gets its own, and so does the first step of a fresh memo, even with no course at all.
    Each step's levels are checked against the hand values: immune restoration 0.6 from
    day 0 (patient 1 stops on day 20), lymphocyte expansion 0.2 from day 12 (patient 0),
    plasma-exchange sessions removing 0.5 on days 0 and 7 (patient 0)."""
    cat = Catalog.build(
        {
            "a": TherapyConfig(label="a", levers={"immune_restoration": 0.6}),
            "b": TherapyConfig(label="b", levers={"lymphocyte_expansion_per_day": 0.2}),
            "plex": TherapyConfig(
                label="p", levers={"drug_removal_per_dose": 0.5}, n_doses=2, dose_interval_days=7.0
            ),
        }
    )
    a, b, plex = (cat.index(x) for x in ("a", "b", "plex"))
    start = np.full((3, 2), INF)
    start[a] = [0.0, 0.0]
    start[b, 0] = 12.0
    start[plex, 0] = 0.0
    stop = np.full_like(start, INF)
    stop[a, 1] = 20.0
    sch = Schedule(cat, start, stop, [0, 1, 2], np.ones_like(start, dtype=bool))
    memo = LeverMemo()
    steps = [  # t, dt, reused?, immune_restoration, lymphocyte expansion, removal, doses
        (1.0, 1.0, False, [0.6, 0.6], [0.0, 0.0], [0.0, 0.0], {}),
        (2.0, 1.0, True, [0.6, 0.6], [0.0, 0.0], [0.0, 0.0], {}),
        (3.0, 2.0, True, [0.6, 0.6], [0.0, 0.0], [0.0, 0.0], {}),
        (7.0, 1.0, False, [0.6, 0.6], [0.0, 0.0], [0.5, 0.0], {plex: [1, 0]}),
        (8.0, 1.0, False, [0.6, 0.6], [0.0, 0.0], [0.0, 0.0], {}),  # after the session
        (9.0, 1.0, True, [0.6, 0.6], [0.0, 0.0], [0.0, 0.0], {}),
        (12.0, 1.0, False, [0.6, 0.6], [0.2, 0.0], [0.0, 0.0], {}),  # b starts
        (13.0, 1.0, True, [0.6, 0.6], [0.2, 0.0], [0.0, 0.0], {}),
        (20.0, 1.0, False, [0.6, 0.0], [0.2, 0.0], [0.0, 0.0], {}),  # a ends for 1
        (21.0, 3.0, True, [0.6, 0.0], [0.2, 0.0], [0.0, 0.0], {}),
    ]
    last = None
    for t, dt, reused, restoration, expansion, removal, want_doses in steps:
        levels, doses = lever_levels(t, dt, cat, sch, memo=memo)
        assert (levels is last) == reused, t
        np.testing.assert_allclose(levels["immune_restoration"], restoration, rtol=RTOL)
        np.testing.assert_allclose(levels["lymphocyte_expansion_per_day"], expansion, rtol=RTOL)
        np.testing.assert_allclose(levels["drug_removal_per_dose"], removal, rtol=RTOL)
        assert sorted(doses) == sorted(want_doses), t
        for r, d in want_doses.items():
            np.testing.assert_array_equal(doses[r], d)
        last = levels
    # a strategy with no course at all (no rows): every lever at zero, then reused
    empty = Schedule(cat, start, stop, [], np.ones_like(start, dtype=bool))
    memo = LeverMemo()
    first, doses = lever_levels(0.0, 1.0, cat, empty, memo=memo)
    assert set(first) == set(LEVERS) and doses == {}
    for lv in LEVERS:
        np.testing.assert_array_equal(first[lv], [0.0, 0.0], err_msg=lv)
    assert lever_levels(1.0, 1.0, cat, empty, memo=memo)[0] is first


def test_the_kernel_reads_float64_parameters_and_read_only_float64_levels_without_copies():
    """dynamics._params and _levers (their docstrings): every parameter and lever level
    reaches the kernel as a contiguous float64 array, the levels read-only; float64 input
    is passed on without a copy (the levels as read-only views, so the caller's own arrays
    stay writeable), other dtypes are converted."""
    p = _patients(3, cd4_0=np.array([50, 100, 200]))  # integer CD4 counts
    assert p.cd4_0.dtype.kind == "i"
    params = dyn._params(p)
    assert params._fields == kernel.Params._fields
    for f in kernel.Params._fields:
        x, src = getattr(params, f), getattr(p, f)
        assert x.dtype == np.float64 and x.flags.c_contiguous, f
        np.testing.assert_array_equal(x, src.astype(float), err_msg=f)
        assert np.shares_memory(x, src) == (src.dtype == np.float64), f
    levels = {name: np.full(3, 0.05 * i) for i, name in enumerate(LEVERS)}
    shared = np.zeros(3)
    shared.flags.writeable = False  # like the shared zeros of levers no course moves
    levels["antiviral"] = shared
    levels["iris_hazard"] = np.array([0, 1, 0])  # integer: converted
    lv = dyn._levers(levels)
    assert lv._fields == kernel.Levers._fields
    for f in kernel.Levers._fields:
        x, src = getattr(lv, f), levels[f]
        assert x.dtype == np.float64 and x.flags.c_contiguous and not x.flags.writeable, f
        np.testing.assert_array_equal(x, src, err_msg=f)
        assert np.shares_memory(x, src) == (src.dtype == np.float64), f
    assert all(levels[f].flags.writeable for f in kernel.Levers._fields if f != "antiviral")


# --------------------------------------------------------------------------- step


def test_natalizumab_sessions_and_washout_then_the_receptor_lags_behind():
    """Sessions at the start of the step remove their share; while stopped the level
    halves every 11 days (the stop lever's mean level scales the washout). With no
    washout in the step the level is constant after the sessions, so the saturation
    solves dS/dt = ln2 / T_d (S_inf - S) exactly: S_inf + (S0 - S_inf) 2^(-dt / T_d)."""
    m = replace(M, natalizumab_half_block=0.8)  # saturation well away from 0 and 1
    p = _patients(3, natalizumab=True)
    st = State.initial(p, m)
    s0 = st.saturation.copy()
    dt = 3.0
    removal, stop = np.array([0.5, 0.0, 0.75]), np.array([0.0, 1.0, 0.6])
    _step(p, st, m, dt=dt, drug_removal_per_dose=removal, natalizumab_stop=stop)
    level = (1.0 - removal) * 0.5 ** (dt * stop / m.natalizumab_half_life_days)
    np.testing.assert_allclose(st.natalizumab, level, rtol=RTOL)
    x = (level / 0.8) ** 2
    s_inf = x / (1.0 + x)
    lag = 0.5 ** (dt / m.natalizumab_desaturation_half_life_days)
    assert st.saturation[0] == pytest.approx(s_inf[0] + (s0[0] - s_inf[0]) * lag, rel=RTOL)
    # washing out within the step: on its way down, between the end-of-step equilibrium
    # and where it started
    assert np.all((st.saturation[1:] > s_inf[1:]) & (st.saturation[1:] < s0[1:]))


def _effector(p, m, function, cd4, access, suppression=0.0):
    return function * cd4 / (cd4 + m.cd4_half_saturation) * access * (1.0 - suppression)


def test_the_effector_response_relaxes_exactly_towards_its_target():
    """With CD4 at its set point and the brain access constant, the target E* is fixed
    over the step and E(dt) = E* + (E0 - E*) exp(-k_E dt) exactly. A natalizumab
    patient whose drug level does not change keeps its saturation S0: access 1 - S0."""
    m = replace(M, natalizumab_half_block=0.8)
    nat = np.array([False, True, True, False])
    p = _patients(4, natalizumab=nat, t_cell_function=[0.6, 0.5, 0.7, 0.4])
    st = State.initial(p, m)
    s0 = st.saturation.copy()
    e0 = st.effector.copy()
    boost, suppression = np.array([0.5, 0.5, 0.3, 0.0]), np.array([0.0, 0.0, 0.4, 0.4])
    dt = 7.0
    _step(p, st, m, dt=dt, t_cell_function=boost, effector_suppression=suppression)
    np.testing.assert_allclose(st.saturation, s0, rtol=RTOL)
    f = p.t_cell_function + boost * (1.0 - p.t_cell_function)
    target = _effector(p, m, f, p.cd4_0, 1.0 - s0, suppression)
    e1 = target + (e0 - target) * math.exp(-m.effector_rate_per_day * dt)
    np.testing.assert_allclose(st.effector, e1, rtol=RTOL)
    np.testing.assert_allclose(st.effector_restored, e1, rtol=RTOL)
    assert st.effector[3] < e0[3]  # suppressed: the response falls


def test_cd4_relaxes_exactly_and_cytokines_expand_it_logistically():
    """CD4: set point S = C0 + rho (ceiling - C0), C -> S + (C - S) exp(-k dt) (exact),
    then the cytokine expansion's logistic step K / (1 + (K / C - 1) exp(-g r dt)) (each
    part solved exactly, docs/model.md); the restored CD4 follows the first part only.
    The effector's target uses the mid-point CD4 of the step (restored: its own)."""
    p = _patients(
        4,
        cd4_0=[100.0, 100.0, 150.0, 80.0],
        cd4_ceiling=[500.0, 500.0, 400.0, 80.0],
        recovery_rate=[0.02, 0.0, 0.03, 0.01],
        cytokine_response=[1.0, 2.0, 0.5, 1.5],
    )
    st = State.initial(p, M)
    st.cd4 = np.array([100.0, 250.0, 300.0, 80.0])  # patient 2: well into a course
    st.cd4_restored = np.array([100.0, 100.0, 200.0, 80.0])
    st.effector = np.array([0.2, 0.3, 0.4, 0.1])
    st.effector_restored = np.array([0.2, 0.1, 0.3, 0.1])
    before = {
        k: getattr(st, k).copy() for k in ("cd4", "cd4_restored", "effector", "effector_restored")
    }
    rho, g = np.array([0.5, 0.0, 0.0, 1.0]), np.array([0.0, 0.03, 0.05, 0.0])
    dt = 5.0
    _step(p, st, dt=dt, immune_restoration=rho, lymphocyte_expansion_per_day=g)
    s = p.cd4_0 + rho * (p.cd4_ceiling - p.cd4_0)
    approach = np.exp(-p.recovery_rate * dt)
    restored = s + (before["cd4_restored"] - s) * approach
    c = s + (before["cd4"] - s) * approach
    k, rate = M.cd4_max, g * p.cytokine_response
    c = np.where(rate > 0.0, k / (1.0 + (k / c - 1.0) * np.exp(-rate * dt)), c)
    np.testing.assert_allclose(st.cd4_restored, restored, rtol=RTOL)
    np.testing.assert_allclose(st.cd4, c, rtol=RTOL)
    # patient 1 (no pull back): the logistic ODE's closed form from C(0) = 250
    assert st.cd4[1] == pytest.approx(k / (1.0 + (k / 250.0 - 1.0) * math.exp(-0.06 * dt)))
    relax = math.exp(-M.effector_rate_per_day * dt)
    for name, old, new in (
        ("effector", before["cd4"], c),
        ("effector_restored", before["cd4_restored"], restored),
    ):
        target = _effector(p, M, p.t_cell_function, 0.5 * (old + new), 1.0)
        e = target + (before[name] - target) * relax
        np.testing.assert_allclose(getattr(st, name), e, rtol=RTOL, err_msg=name)


def test_jcv_moves_by_the_exact_integral_of_replication_minus_killing():
    """dV/dt = r (1 - a) - kappa (E + A E_v) with E relaxing to a fixed target and the
    transferred cells (given at the start of the step) decaying with their half-life:
    V(dt) = V0 + r (1 - a) dt - kappa (int E + A int E_v), integrals by quadrature;
    bounded to [V_min, V_max]. Damage grows with the viral activity integrated along
    the step's (linear) viral path: D = 1 - (1 - D0) exp(-delta int act)."""
    m = replace(M, natalizumab_half_block=0.8)
    nat = np.array([False, True, False, False, False])
    p = _patients(
        5,
        natalizumab=nat,
        jcv_0=[5.0, 5.0, 7.9, 0.1, 2.5],
        growth=[0.05, 0.08, 0.5, 0.01, 0.02],
        kill=[0.3, 0.4, 0.01, 5.0, 2.0],
        lesion_0=[0.3, 0.2, 0.4, 0.1, 0.5],
        damage_rate=[0.006, 0.01, 0.004, 0.02, 0.03],
    )
    st = State.initial(p, m)
    s0, e0, v0, d0 = st.saturation.copy(), st.effector.copy(), st.jcv.copy(), st.damage.copy()
    st.transferred = np.array([0.5, 0.0, 0.0, 2.0, 0.0])
    t0 = st.transferred.copy()
    boost = np.array([0.5, 0.5, 0.0, 0.9, 0.9])
    antiviral, suppression = (
        np.array([0.2, 0.0, 0.0, 0.0, 0.5]),
        np.array([0.1, 0.0, 0.0, 0.0, 0.2]),
    )
    dose = np.array([1.0, 2.0, 0.0, 0.0, 1.0])
    dt = 7.0
    _step(
        p,
        st,
        m,
        dt=dt,
        t_cell_function=boost,
        antiviral=antiviral,
        effector_suppression=suppression,
        effector_transfer_per_dose=dose,
    )
    access = 1.0 - s0
    f = p.t_cell_function + boost * (1.0 - p.t_cell_function)
    target = _effector(p, m, f, p.cd4_0, access, suppression)
    k_t = LN2 / m.transferred_effector_half_life_days
    given = t0 + dose * (1.0 - suppression)
    np.testing.assert_allclose(st.transferred, given * math.exp(-k_t * dt), rtol=RTOL)
    v1 = []
    for i in range(5):
        int_e, _ = quad(_relaxing(target[i], e0[i], m.effector_rate_per_day), 0.0, dt)
        int_t, _ = quad(lambda s, g0=given[i]: g0 * math.exp(-k_t * s), 0.0, dt)
        v = v0[i] + p.growth[i] * (1 - antiviral[i]) * dt - p.kill[i] * (int_e + access[i] * int_t)
        v1.append(min(max(v, m.jcv_min_log10), m.jcv_max_log10))
    np.testing.assert_allclose(st.jcv, v1, rtol=RTOL)
    assert st.jcv[2] == m.jcv_max_log10 and st.jcv[3] == m.jcv_min_log10  # both bounds reached
    span = m.viral_activity_ref_log10 - m.viral_activity_floor_log10
    for i in range(5):
        path = lambda s, i=i: v0[i] + (st.jcv[i] - v0[i]) * s / dt  # noqa: E731
        act, _ = quad(
            lambda s, f=path: max(f(s) - m.viral_activity_floor_log10, 0.0), 0.0, dt, limit=200
        )
        d = 1.0 - (1.0 - d0[i]) * math.exp(-p.damage_rate[i] * act / span)
        assert st.damage[i] == pytest.approx(d, rel=1e-9), i


def test_iris_hazard_over_a_step_is_the_exact_integral_of_the_rise_to_the_power_q():
    """A response relaxing to a fixed target rises at R(s) = k (E* - E0) exp(-k s); with
    the antigen constant (JCV below the activity floor, lesions fixed) the IRIS
    cumulative hazard over the step is s susc (1 - blockade) D int (R(s) / rho)^q ds,
    by quadrature. Only naive (never had IRIS), living patients accrue it; a falling
    response adds none."""
    p = _patients(5, iris_susceptibility=[2.0, 2.0, 2.0, 2.0, 0.7], lesion_0=0.3)
    st = State.initial(p, M)
    e0 = st.effector.copy()
    st.iris = np.array([0, 2, 0, 1, 0], dtype=np.int8)  # 1: resolved, 3: active
    st.iris_remaining[3] = 100.0
    st.alive[2] = False  # dead
    st.h_iris = np.array([0.0, 0.7, 0.1, 0.2, 0.3])
    h0 = st.h_iris.copy()
    boost = np.array([0.5, 0.5, 0.5, 0.5, 0.0])
    suppression = np.array([0.0, 0.0, 0.0, 0.0, 0.5])  # patient 4: the response falls
    dt, k = 7.0, M.effector_rate_per_day
    _step(
        p,
        st,
        t=14.0,
        dt=dt,
        t_cell_function=boost,
        effector_suppression=suppression,
        iris_hazard=0.25,
    )
    target = _effector(p, M, p.t_cell_function + 0.5 * (1.0 - p.t_cell_function), p.cd4_0, 1.0)
    q = M.iris_rate_exponent
    integral, err = quad(
        lambda s: (k * (target[0] - e0[0]) * math.exp(-k * s) / M.iris_rate_ref) ** q, 0.0, dt
    )
    assert err < 1e-10 * integral
    expected = M.iris_hazard_scale * 2.0 * (1.0 - 0.25) * 0.3 * integral
    assert st.h_iris[0] == pytest.approx(expected, rel=RTOL)
    np.testing.assert_array_equal(st.h_iris[1:], h0[1:])
    assert st.effector[4] < e0[4]


def test_cytokine_expanded_cells_count_with_weight_w_in_the_iris_rise():
    """R = ((1 - w) max(E_r(dt) - E_r(0), 0) + w max(E(dt) - E(0), 0)) / dt, and the hazard
    lambda = s J(q, k dt) susc (R / rho)^q (act + D) (1 - blockade) (docs/model.md) with
    J the Jensen factor, here by quadrature. Patient 0: cytokine only (E_r stays);
    patient 1: restoration and cytokine; patient 2: restoration only."""
    p = _patients(3, iris_susceptibility=1.5, lesion_0=0.4, recovery_rate=0.05)
    st = State.initial(p, M)
    e0 = st.effector.copy()
    rho, g = np.array([0.0, 1.0, 1.0]), np.array([0.05, 0.05, 0.0])
    dt, w, q = 4.0, M.iris_cytokine_weight, M.iris_rate_exponent
    _step(p, st, dt=dt, immune_restoration=rho, lymphocyte_expansion_per_day=g, iris_hazard=0.1)
    x = M.effector_rate_per_day * dt
    num, _ = quad(lambda s: math.exp(-q * s), 0.0, x)
    den, _ = quad(lambda s: math.exp(-s), 0.0, x)
    jensen = (num / x) / (den / x) ** q
    # CD4 and the responses at the end of the step, by hand (as in the CD4 test)
    s = p.cd4_0 + rho * (p.cd4_ceiling - p.cd4_0)
    restored = s + (p.cd4_0 - s) * np.exp(-p.recovery_rate * dt)
    k = M.cd4_max
    cd4 = np.where(g > 0, k / (1.0 + (k / restored - 1.0) * np.exp(-g * dt)), restored)

    def response(c1):  # E(dt), the target at the step's mid-point CD4
        target = _effector(p, M, p.t_cell_function, 0.5 * (p.cd4_0 + c1), 1.0)
        return target + (e0 - target) * math.exp(-x)

    e_r, e = response(restored), response(cd4)
    np.testing.assert_allclose(st.effector_restored, e_r, rtol=RTOL)
    np.testing.assert_allclose(st.effector, e, rtol=RTOL)
    assert e_r[0] == pytest.approx(e0[0], rel=RTOL) and e[0] > e0[0]  # cytokine only
    rise = ((1 - w) * np.maximum(e_r - e0, 0.0) + w * np.maximum(e - e0, 0.0)) / dt
    lam = M.iris_hazard_scale * jensen * 1.5 * (rise / M.iris_rate_ref) ** q * 0.4 * 0.9
    np.testing.assert_allclose(st.h_iris, lam * dt, rtol=RTOL)


def _rising(n, **values):
    """n alike patients whose response rises (T-cell function boosted) with no viral
    activity (JCV below the floor): IRIS hazard, no viral damage."""
    values.setdefault("iris_susceptibility", 40.0)  # an IRIS hazard of order 1 per week
    return _patients(n, **values)


def test_iris_onset_where_the_twin_says_then_its_inflammation_and_diagnosis():
    """Three alike patients but for their IRIS threshold: 50 (no onset; its cumulative
    hazard H over the step), H / 4 and 3 H / 4: onset a quarter and three quarters into
    the step. The episode has run from its onset to the end of the step at speed
    1 + speed-up; it is diagnosed `iris_diagnosis_delay_days` after onset (here 2 days:
    within the step for the first, after it for the second). Its inflammation over the
    rest of the step, x (1 - suppression), adds damage (1 - D) delta_I I dt and death
    hazard h_I I dt, on top of the twin's."""
    m = replace(M, iris_diagnosis_delay_days=2.0, iris_damage_rate_per_day=0.01)
    t, dt = 14.0, 8.0
    levers = dict(t_cell_function=0.5, iris_resolution_speedup=0.5, iris_inflammation=0.4)
    ref = State.initial(_rising(1), m)
    _step(_rising(1), ref, m, t=t, dt=dt, **levers)
    h = ref.h_iris[0]
    assert 0.1 < h < 50.0
    p = _rising(3, iris_threshold=[50.0, 0.25 * h, 0.75 * h], iris_duration=[60.0, 60.0, 3.0])
    st = State.initial(p, m)
    d0 = st.damage.copy()
    out, ev = _step(p, st, m, t=t, dt=dt, **levers)
    onset = np.array([np.nan, t + 0.25 * dt, t + 0.75 * dt])
    assert st.iris.tolist() == [0, 1, 1]
    np.testing.assert_allclose(st.iris_onset, onset, rtol=RTOL)
    np.testing.assert_allclose(st.h_iris, h, rtol=RTOL)
    ran = 1.5 * (t + dt - onset[1:])
    np.testing.assert_allclose(st.iris_remaining, [0.0, 60.0 - ran[0], 3.0 - ran[1]], rtol=RTOL)
    np.testing.assert_allclose(st.iris_dx, [INF, onset[1] + 2.0, onset[2] + 2.0], rtol=RTOL)
    assert _times(ev, "iris_onset") == pytest.approx({101: onset[1], 102: onset[2]}, rel=RTOL)
    assert _times(ev, "iris_diagnosis") == pytest.approx({101: onset[1] + 2.0}, rel=RTOL)
    assert out.diagnosed.tolist() == [False, True, False]
    assert _times(ev, "iris_resolved") == {}  # resolution is booked from the next step on
    share = np.array([0.0, 0.75, 0.25])
    inflammation = share * (1.0 - 0.4)
    damage = 1.0 - (1.0 - d0) * np.exp(-0.01 * inflammation * dt)
    np.testing.assert_allclose(st.damage, damage, rtol=RTOL)
    base = p.excess_hazard + M.death_hazard_max_per_day * 0.5 * np.array(
        [_hill(a) + _hill(b) for a, b in zip(d0, damage, strict=True)]
    )
    h_death = (base + m.iris_death_hazard_per_day * inflammation) * dt
    np.testing.assert_allclose(st.h_death, h_death, rtol=RTOL)


def test_an_active_episode_inflames_for_its_share_of_the_step_and_resolves_in_time():
    """Active episodes with 30, 6.5, 2 and -1 days left at speed 1.5 over a 4-day step (6
    days' worth): the first two stay active all step (half a day left for the second),
    the third resolves 2 / 1.5 days in, the fourth had ended inside its onset step
    (resolved at t - 1 / 1.5, booked now, no inflammation now). A resolved and a naive
    patient have no inflammation."""
    t, dt = 30.0, 4.0
    p = _patients(6, frailty=2.0, lesion_0=0.6)
    st = State.initial(p, M)
    st.iris = np.array([1, 1, 1, 1, 2, 0], dtype=np.int8)
    st.iris_remaining = np.array([30.0, 6.5, 2.0, -1.0, -0.5, 0.0])
    st.iris_onset = np.array([10.0, 12.0, 5.0, 27.0, 1.0, np.nan])
    d0 = st.damage.copy()
    _, ev = _step(p, st, t=t, dt=dt, iris_resolution_speedup=0.5, iris_inflammation=0.4)
    assert st.iris.tolist() == [1, 1, 2, 2, 2, 0]
    np.testing.assert_allclose(st.iris_remaining, [24.0, 0.5, -4.0, -7.0, -0.5, 0.0], rtol=RTOL)
    resolved = {102: t + 2.0 / 1.5, 103: t - 1.0 / 1.5}
    assert _times(ev, "iris_resolved") == pytest.approx(resolved, rel=RTOL)
    assert _times(ev, "iris_onset") == {} and _times(ev, "iris_diagnosis") == {}
    inflammation = np.array([1.0, 1.0, 2.0 / 6.0, 0.0, 0.0, 0.0]) * (1.0 - 0.4)
    damage = 1.0 - (1.0 - d0) * np.exp(-M.iris_damage_rate_per_day * inflammation * dt)
    np.testing.assert_allclose(st.damage, damage, rtol=RTOL)
    shape = 0.5 * np.array([_hill(a) + _hill(b) for a, b in zip(d0, damage, strict=True)])
    h = p.excess_hazard + 2.0 * M.death_hazard_max_per_day * shape
    h += M.iris_death_hazard_per_day * inflammation
    np.testing.assert_allclose(st.h_death, h * dt, rtol=RTOL)


def test_death_where_the_twin_says_with_the_damage_of_that_moment():
    """Twins but for the death threshold (50; H / 2): the second dies halfway through
    the step, with the damage interpolated halfway between the step's ends; the death
    hazard is the trapezoid of excess + frailty h_max D^p / (D^p + D50^p) between the
    damage at both ends. A patient dead before the step stays as it was."""
    t, dt = 7.0, 7.0
    values = dict(jcv_0=6.0, frailty=3.0, lesion_0=0.7, excess_hazard=2e-4, damage_rate=0.05)
    ref = State.initial(_patients(1, **values), M)
    d0 = ref.damage[0]
    _step(_patients(1, **values), ref, t=t, dt=dt)
    h, d1 = ref.h_death[0], ref.damage[0]
    assert d1 > d0
    by_hand = (2e-4 + 3.0 * M.death_hazard_max_per_day * 0.5 * (_hill(d0) + _hill(d1))) * dt
    assert h == pytest.approx(by_hand, rel=RTOL)
    p = _patients(3, death_threshold=[50.0, 0.5 * h, 0.1 * h], **values)
    st = State.initial(p, M)
    st.alive[2] = False  # died in an earlier step (its threshold long crossed)
    st.death_time[2] = 3.0
    st.damage_at_death[2] = 0.75
    out, ev = _step(p, st, t=t, dt=dt)
    assert st.alive.tolist() == [True, False, False]
    np.testing.assert_allclose(st.death_time, [INF, t + 0.5 * dt, 3.0], rtol=RTOL)
    np.testing.assert_allclose(st.damage_at_death, [np.nan, 0.5 * (d0 + d1), 0.75], rtol=RTOL)
    assert _times(ev, "death") == pytest.approx({101: t + 0.5 * dt}, rel=RTOL)
    # the outcome: who was alive at the start of the step, and when each dies in it
    assert out.alive.tolist() == [True, True, False]
    np.testing.assert_allclose(out.before_death, [INF, t + 0.5 * dt, INF], rtol=RTOL)
    np.testing.assert_allclose(st.damage[:2], d1, rtol=RTOL)


def test_events_count_only_if_they_come_before_death():
    """All die halfway through the step. IRIS onset, resolution and diagnosis a quarter
    of the way in happen; three quarters in, or at the very moment of death, they do
    not (docs/model.md: an event counts only if it comes before the patient's death).
    IRIS adds no damage or death hazard here, so every patient's death hazard is alike."""
    m = replace(M, iris_death_hazard_per_day=0.0, iris_damage_rate_per_day=0.0)
    t, dt = 8.0, 4.0
    ref = State.initial(_rising(1), m)
    _step(_rising(1), ref, m, t=t, dt=dt, t_cell_function=0.5)
    hi, hd = ref.h_iris[0], ref.h_death[0]
    frac = np.array([0.25, 0.75, 0.5] * 3)
    n = len(frac)
    iris_thr = np.where(np.arange(n) < 3, frac * hi, 50.0)
    p = _rising(n, iris_threshold=iris_thr, death_threshold=0.5 * hd)
    st = State.initial(p, m)
    st.iris[3:6] = 1  # active, with a quarter, three quarters and half a step left
    st.iris_remaining[3:6] = frac[3:6] * dt
    st.iris_dx[6:9] = t + frac[6:9] * dt
    out, ev = _step(p, st, m, t=t, dt=dt, t_cell_function=0.5)
    assert not st.alive.any()
    np.testing.assert_allclose(st.death_time, t + 0.5 * dt, rtol=RTOL)
    assert st.iris.tolist() == [1, 0, 0, 2, 1, 1, 0, 0, 0]
    assert _times(ev, "iris_onset") == pytest.approx({100: t + 0.25 * dt}, rel=RTOL)
    assert np.isnan(st.iris_onset[1:3]).all() and np.isinf(st.iris_dx[1:3]).all()
    assert _times(ev, "iris_resolved") == pytest.approx({103: t + 0.25 * dt}, rel=RTOL)
    assert _times(ev, "iris_diagnosis") == pytest.approx({106: t + 0.25 * dt}, rel=RTOL)
    assert out.diagnosed.tolist() == [False] * 6 + [True, False, False]


def test_iris_is_diagnosed_in_the_step_its_diagnosis_time_falls_in():
    """Diagnosis times in [t, t + dt) are logged (and returned) in this step; at t + dt it
    belongs to the next one; a patient dead before the step is not diagnosed."""
    t, dt = 10.0, 5.0
    p = _patients(6)
    st = State.initial(p, M)
    st.iris_dx = np.array([t - 1.0, t, t + 3.0, t + dt, INF, t + 1.0])
    st.alive[5] = False
    out, ev = _step(p, st, t=t, dt=dt)
    assert out.diagnosed.tolist() == [False, True, True, False, False, False]
    assert _times(ev, "iris_diagnosis") == {101: t, 102: t + 3.0}


def test_an_episode_that_runs_out_at_the_end_of_the_step_resolves_in_it():
    """Like a death or an onset whose threshold is reached exactly at the end of the step
    (see the crossing test), an episode with exactly one step's worth left resolves in
    this step, at t + dt: at a horizon falling there it counts as resolved."""
    t, dt = 20.0, 4.0
    p = _patients(2)
    st = State.initial(p, M)
    st.iris[:] = 1
    st.iris_remaining = np.array([6.0, 6.0 + 1e-9])  # 6 = speed 1.5 x 4 days
    _, ev = _step(p, st, t=t, dt=dt, iris_resolution_speedup=0.5)
    assert st.iris.tolist() == [2, 1]
    assert _times(ev, "iris_resolved") == {100: t + dt}


def test_a_patients_step_does_not_depend_on_who_shares_its_arrays():
    """Same seed, same numbers, whatever the chunk size (docs/scale.md; the reference
    engine runs this kernel one patient at a time): a patient stepped together with
    others must end bit for bit where it ends stepped alone, even where the kernel skips
    work for a group in which no one needs it (cytokine expansion, IRIS inflammation).
    Half the patients are on a cytokine, some have an active IRIS episode, the CD4
    counts are spread so that rounding would show; exact comparison of every field of
    the state and of the events."""
    n = 24
    spread = np.linspace(0.0, 1.0, n)
    values = dict(
        cd4_0=40.0 + 700.0 * spread,
        cd4_ceiling=900.0 - 100.0 * spread,
        recovery_rate=0.005 + 0.04 * spread[::-1],
        jcv_0=1.0 + 5.0 * spread,
        lesion_0=0.1 + 0.5 * spread,
        t_cell_function=0.2 + 0.7 * spread[::-1],
        cytokine_response=0.5 + 2.0 * spread,
        natalizumab=np.arange(n) % 4 == 1,
    )
    levers = dict(
        lymphocyte_expansion_per_day=np.where(np.arange(n) % 2 == 0, 0.04, 0.0),
        immune_restoration=np.where(np.arange(n) % 3 == 0, 0.7, 0.0),
        iris_inflammation=np.where(np.arange(n) % 5 == 0, 0.5, 0.0),
        natalizumab_stop=(np.arange(n) % 4 == 1).astype(float),
    )

    def run(idx):
        p = _patients(len(idx), **{k: v[idx] for k, v in values.items()})
        p = replace(p, patient_id=100 + idx)
        st = State.initial(p, M)
        st.cd4 = st.cd4 * (1.0 + 0.37 * spread[idx])  # some expanded by an earlier course
        active = idx % 6 == 3
        st.iris[active] = 1
        st.iris_remaining[active] = 12.0
        lv = {k: v[idx] for k, v in levers.items()}
        events = []
        for t, dt in ((0.0, 1.0), (1.0, 2.0), (3.0, 7.0), (10.0, 7.0)):
            events.append(_step(p, st, t=t, dt=dt, **lv)[1])
        return st, pd.concat(events)

    together, ev_together = run(np.arange(n))
    assert np.all(together.iris[np.arange(n) % 6 == 3] == 2)  # inflamed, then resolved
    alone = [run(np.array([i])) for i in range(n)]
    for f in State.__dataclass_fields__:
        mine = np.concatenate([getattr(st, f) for st, _ in alone])
        np.testing.assert_array_equal(getattr(together, f), mine, err_msg=f, strict=True)
    cols = ["patient_id", "time_days", "event"]
    a = ev_together[cols].astype(str).sort_values(cols).reset_index(drop=True)
    b = pd.concat([ev for _, ev in alone])[cols].astype(str)
    pd.testing.assert_frame_equal(a, b.sort_values(cols).reset_index(drop=True))


@pytest.mark.parametrize("a", [0.0, 0.4, 1.0])
def test_the_active_disease_share_of_the_death_hazard_needs_replicating_virus(a):
    """model.death_activity_weight a: the damage term of the death hazard is multiplied
    by (1 - a) + a min(act, 1), act the step's mean viral activity (the exact mean of
    max(V - floor, 0) / (ref - floor) along the linear path, by quadrature here). Three
    patients with the same damage: virus below the floor (act 0: only 1 - a is left),
    crossing the floor within the step, and far above the reference (capped at 1)."""
    t, dt = 7.0, 7.0
    m = replace(M, death_activity_weight=a)
    jcv = np.array([1.0, 2.5, 7.5])
    p = _patients(3, jcv_0=jcv, lesion_0=0.6, frailty=2.0, excess_hazard=2e-4, damage_rate=0.0)
    st = State.initial(p, m)
    v0 = st.jcv.copy()
    d0 = st.damage.copy()
    _step(p, st, m=m, t=t, dt=dt)
    v1 = st.jcv.copy()
    np.testing.assert_allclose(st.damage, d0, rtol=RTOL)  # damage_rate 0: D stays put
    span = m.viral_activity_ref_log10 - m.viral_activity_floor_log10
    for i in range(3):
        act = (
            quad(
                lambda s, i=i: (
                    max(v0[i] + (v1[i] - v0[i]) * s / dt - m.viral_activity_floor_log10, 0) / span
                ),
                0.0,
                dt,
            )[0]
            / dt
        )
        share = (1.0 - a) + a * min(act, 1.0)
        by_hand = (2e-4 + 2.0 * m.death_hazard_max_per_day * _hill(d0[i], m) * share) * dt
        assert st.h_death[i] == pytest.approx(by_hand, rel=1e-8), i
    if a == 1.0:  # controlled virus: the damage no longer kills, only the excess hazard
        assert st.h_death[0] == pytest.approx(2e-4 * dt, rel=RTOL)
