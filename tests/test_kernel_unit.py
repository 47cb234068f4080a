"""The compiled step kernel (sim.model.kernel) where tests/test_dynamics_unit.py does not
reach: its power helper, the numbers of events it returns, and the two places where a
comparison with 0 decides a branch (viral activity, effector rise) at the value 1.

Each expectation comes from an independent route: numpy's own array power, events
planted by construction (a patient whose death threshold is tiny dies, an active episode
with fewer days left than the step resolves), and the model's equations (docs/model.md,
"State and equations") worked out in scalar arithmetic. Tolerances: 1e-9 relative
(rounding only) unless stated.
Written for issue 17's surviving kernel mutants (docs/mutation/sim.model.kernel.txt).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_dynamics_unit import RTOL, _hill, _patients, _rising, _step

from sim.config.schema import ModelConfig
from sim.model import kernel
from sim.model.dynamics import State

M = ModelConfig()
ULP = np.finfo(float).eps


@pytest.mark.parametrize("q", [2.0, 0.5, 1.0])
def test_npy_power_is_numpys_array_power_exactly_for_its_special_exponents(q):
    """numpy takes an array to the power 2, 0.5 or 1 by a product, a square root or a
    copy (exact); the kernel must give the same bits (docstring of npy_power)."""
    x = np.array([0.0, 1e-3, 0.3, 0.7, 1.0, 1.7, 123.4, 5e5])
    expected = x**q
    got = np.array([kernel.npy_power(float(v), q) for v in x])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("q", [3.0, 1.5, 10.0, 0.25])
def test_npy_power_is_the_power_for_other_exponents(q):
    """Any other exponent: x ** q (the C library's pow), to a few ulp of numpy's power
    (numpy may use its own SIMD kernel); 3 is not squared."""
    x = np.array([1e-3, 0.3, 0.7, 1.0, 1.7, 123.4])
    got = np.array([kernel.npy_power(float(v), q) for v in x])
    np.testing.assert_allclose(got, np.power(x, q), rtol=8 * ULP)
    np.testing.assert_allclose(got, [math.pow(v, q) for v in x], rtol=8 * ULP)


def test_the_kernel_returns_the_numbers_of_events_of_the_step(monkeypatch):
    """step_kernel returns the numbers of IRIS onsets, diagnoses, resolutions and deaths
    of the step (dynamics.step logs an event kind only when its number is not 0).
    Planted: 3 onsets (twins of a reference patient, thresholds at 20, 50 and 80% of its
    IRIS hazard over the step), 2 diagnoses (diagnosis times inside the step), 4
    resolutions (active episodes with 0.5 to 3 days left of a 4-day step), 5 deaths
    (death thresholds 1e-9); 2 quiet patients. The next step has no event at all."""
    m = replace(M, iris_diagnosis_delay_days=30.0)  # onsets are diagnosed in a later step
    t, dt = 20.0, 4.0
    ref = State.initial(_rising(1), m)
    _step(_rising(1), ref, m, t=t, dt=dt, t_cell_function=0.5)
    h = ref.h_iris[0]
    assert 0.1 < h < 50.0
    group = np.repeat(np.arange(5), [3, 2, 4, 5, 2])  # onset, dx, resolve, die, quiet
    n = len(group)
    iris_thr = np.full(n, 50.0)
    iris_thr[group == 0] = np.array([0.2, 0.5, 0.8]) * h
    death_thr = np.where(group == 3, 1e-9, 50.0)
    p = _rising(
        n,
        iris_susceptibility=np.where(group == 0, 40.0, 1.0),
        iris_threshold=iris_thr,
        death_threshold=death_thr,
    )
    st = State.initial(p, m)
    st.iris_dx[group == 1] = [t + 1.0, t + 3.5]
    st.iris[group == 2] = kernel.ACTIVE
    st.iris_remaining[group == 2] = [0.5, 1.0, 2.0, 3.0]
    boost = np.where(group == 0, 0.5, 0.0)  # only the onset group's response rises

    returned = []
    step_kernel = kernel.step_kernel

    def spy(*args):
        counts = step_kernel(*args)
        returned.append(tuple(int(c) for c in counts))
        return counts

    monkeypatch.setattr(kernel, "step_kernel", spy)
    _, ev = _step(p, st, m, t=t, dt=dt, t_cell_function=boost)
    assert returned == [(3, 2, 4, 5)]
    logged = {k: v for k, v in ev["event"].astype(str).value_counts().items() if v}
    assert logged == {"iris_onset": 3, "iris_diagnosis": 2, "iris_resolved": 4, "death": 5}
    _, ev = _step(p, st, m, t=t + dt, dt=dt, t_cell_function=boost)
    assert returned[1] == (0, 0, 0, 0) and len(ev) == 0


def test_a_virus_held_at_the_reference_load_damages_at_the_full_rate():
    """Viral activity is 1 at the reference load (docs/model.md): a load held there all
    step (here the cap is the reference, and replication outruns killing) grows damage
    as D = 1 - (1 - D0) exp(-delta dt). A load at the floor has activity 0: no damage."""
    m = replace(M, jcv_max_log10=M.viral_activity_ref_log10)
    p = _patients(
        2,
        jcv_0=[m.viral_activity_ref_log10, m.viral_activity_floor_log10],
        growth=[0.5, 0.0],
        kill=[0.01, 0.0],
        lesion_0=0.3,
        damage_rate=0.02,
    )
    st = State.initial(p, m)
    dt = 7.0
    _step(p, st, m, t=0.0, dt=dt)
    np.testing.assert_array_equal(st.jcv, p.jcv_0)  # both held all step
    assert st.damage[0] == pytest.approx(1.0 - (1.0 - 0.3) * math.exp(-0.02 * dt), rel=RTOL)
    base = p.excess_hazard + M.death_hazard_max_per_day * 0.5 * np.array(
        [_hill(0.3) + _hill(st.damage[0]), 2.0 * _hill(0.3)]
    )
    np.testing.assert_allclose(st.h_death, base * dt, rtol=RTOL)


@pytest.mark.parametrize("dt", [0.25, 0.5, 1.0, 2.0])
def test_iris_hazard_of_a_response_that_reaches_its_target_within_the_step(dt):
    """A response so fast (k_E dt = 500 or more) that it reaches its target E* within the
    step rises at R = E* / dt from E = 0: with T-cell function 1, CD4 at the half-saturation
    and full brain access E* = 1/2, so R = 2, 1, 1/2, 1/4 per day. The hazard is
    lambda = s J(q, k_E dt) susc (R / rho)^q D (1 - blockade) (docs/model.md; J, the mean
    of the rise's power over its power of the mean, in its limit for k_E dt -> inf), for
    every R, 1 per day included."""
    k = 2000.0
    m = replace(M, effector_rate_per_day=k)
    p = _patients(
        1,
        cd4_0=m.cd4_half_saturation,
        cd4_ceiling=m.cd4_half_saturation,
        t_cell_function=0.5,
        iris_susceptibility=1.5,
        lesion_0=0.4,
    )
    st = State.initial(p, m)
    st.effector[:] = 0.0
    st.effector_restored[:] = 0.0
    _step(p, st, m, t=0.0, dt=dt, t_cell_function=1.0, iris_hazard=0.2)
    np.testing.assert_array_equal(st.effector, [0.5])  # reached, exactly
    np.testing.assert_array_equal(st.effector_restored, [0.5])
    rise = 0.5 / dt
    q, x = m.iris_rate_exponent, k * dt
    # J = mean of e^{-q s} over [0, x] / (mean of e^{-s})^q = x^(q - 1) / q once e^{-x} is
    # below the last bit (x >= 500 here)
    jensen = x ** (q - 1.0) / q
    lam = m.iris_hazard_scale * jensen * 1.5 * (rise / m.iris_rate_ref) ** q * 0.4 * (1 - 0.2)
    assert st.h_iris[0] == pytest.approx(lam * dt, rel=RTOL)
