"""The therapy catalog and the course arithmetic at unit level (sim.model.therapies).

Each test checks one function against an independent reference: the catalog against the
configs it was built from, read field by field; `activity` against the ramp's integral
worked out by hand (triangle and rectangle areas); `doses_in_step` against the dose times
listed one by one (start + j * interval, j < n_doses) and counted in the step. Written
for issue 17's mutation survivors (docs/mutation/sim.model.therapies.txt).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from sim.config.schema import CONDITIONS, SideEffect, TherapyConfig
from sim.model.therapies import (
    LEVERS,
    Catalog,
    activity,
    course_activity,
    course_doses,
    doses_in_step,
)

INF = np.inf


def _therapies() -> dict[str, TherapyConfig]:
    """Three therapies, given out of name order, covering each kind of field."""
    return {
        "zeta": TherapyConfig(
            label="Z",
            applies_to=["all"],
            levers={"antiviral": 0.5, "iris_hazard": 0.0},  # a zero lever is not moved
            onset_days=3.0,
            n_doses=4,
            dose_interval_days=7.0,
            course_days=28.0,
            side_effects=[
                SideEffect(name="rash", probability=0.2, onset_days=5.0, severe=True),
                SideEffect(name="fever", probability=0.1, onset_days=2.0, stops_therapy=True),
            ],
        ),
        "alpha": TherapyConfig(
            label="A",
            applies_to=["hiv", "natalizumab_ms"],
            levers={"effector_transfer_per_dose": 0.25},
            onset_days=0.0,
            n_doses=1,
            dose_interval_days=0.0,
            course_days=None,
            side_effects=[SideEffect(name="fever", probability=0.3, onset_days=1.0)],
        ),
        "mid": TherapyConfig(
            label="M",
            applies_to=["solid_organ_transplant"],
            levers={"drug_removal_per_dose": 0.5, "natalizumab_stop": 1.0},
            onset_days=1.5,
            n_doses=2,
            dose_interval_days=2.0,
            course_days=10.0,
            side_effects=[],
        ),
    }


# ---------------------------------------------------------------------------- Catalog


def test_catalog_holds_each_therapys_config_in_name_order():
    cfgs = _therapies()
    cat = Catalog.build(cfgs)
    assert cat.names == ("alpha", "mid", "zeta")
    assert all(a is cfgs[n] for a, n in zip(cat.configs, cat.names, strict=True))
    assert [cat.index(n) for n in ("alpha", "mid", "zeta")] == [0, 1, 2]
    # applies_to: "all" is every condition; otherwise exactly the listed ones
    assert cat.applies.dtype == bool and cat.applies.shape == (3, len(CONDITIONS))
    want = np.zeros((3, len(CONDITIONS)), dtype=bool)
    want[0, [CONDITIONS.index("hiv"), CONDITIONS.index("natalizumab_ms")]] = True
    want[1, CONDITIONS.index("solid_organ_transplant")] = True
    want[2, :] = True
    assert (cat.applies == want).all()
    assert cat.onset.tolist() == [0.0, 1.5, 3.0]
    assert cat.course.tolist() == [INF, 10.0, 28.0]  # None: open-ended
    assert cat.n_doses.tolist() == [1.0, 2.0, 4.0]
    assert cat.interval.tolist() == [0.0, 2.0, 7.0]
    # every lever has a magnitude per therapy, 0 where the therapy does not name it
    assert set(cat.magnitude) == set(LEVERS)
    for lv in LEVERS:
        assert cat.magnitude[lv].tolist() == [cfgs[n].levers.get(lv, 0.0) for n in cat.names]
    # the levers each therapy moves: nonzero ones, in LEVERS order
    assert cat.levers == (
        ("effector_transfer_per_dose",),
        ("natalizumab_stop", "drug_removal_per_dose"),
        ("antiviral",),
    )
    # a per-dose lever: alpha (effector transfer) and mid (drug removal), not zeta
    assert cat.per_dose.tolist() == [True, True, False]


def test_catalog_side_effect_arrays_follow_each_therapys_list():
    cat = Catalog.build(_therapies())
    # S = the longest side-effect list (zeta: 2); missing ones are probability 0
    assert cat.se_prob.shape == (3, 2)
    assert cat.se_prob.tolist() == [[0.3, 0.0], [0.0, 0.0], [0.2, 0.1]]
    assert cat.se_onset.tolist() == [[1.0, 0.0], [0.0, 0.0], [5.0, 2.0]]
    assert cat.se_stops.tolist() == [[False, False], [False, False], [False, True]]
    assert cat.se_severe.tolist() == [[False, False], [False, False], [True, False]]
    # the catalog's side-effect names: sorted, a name shared by two therapies once
    assert cat.side_effect_names == ("fever", "rash")


def test_the_order_of_the_configs_changes_nothing():
    cfgs = _therapies()
    a = Catalog.build(cfgs)
    b = Catalog.build(dict(reversed(list(cfgs.items()))))
    assert a.names == b.names and a.levers == b.levers
    for f in ("applies", "onset", "course", "n_doses", "interval", "se_prob", "se_onset"):
        assert (getattr(a, f) == getattr(b, f)).all(), f


# --------------------------------------------------------------------------- activity


def test_activity_is_the_ramp_integral_worked_out_by_hand():
    """Course from 10 to 30, onset 4: the level is (tau - 10) / 4 on [10, 14), 1 on
    [14, 30), 0 elsewhere. Means over 4-day steps, from triangle and rectangle areas."""
    start, end = np.array([10.0]), np.array([30.0])
    cases = {
        0.0: 0.0,  # before the start
        6.0: 0.0,  # ends exactly at the start
        8.0: (0.5 * 2 * (2 / 4)) / 4,  # [10, 12): triangle of base 2, height 0.5
        10.0: (0.5 * 4 * 1.0) / 4,  # the whole ramp: triangle of base 4, height 1
        12.0: (0.5 * 2 * (0.5 + 1.0) + 2 * 1.0) / 4,  # trapezoid 0.5..1 on [12, 14), then 1
        13.0: (0.5 * 1 * (0.75 + 1.0) + 3 * 1.0) / 4,
        20.0: 1.0,  # on full effect
        28.0: 2.0 / 4,  # [28, 30) at 1, then off
        30.0: 0.0,  # starts exactly at the end
        40.0: 0.0,
    }
    for t, want in cases.items():
        got = activity(t, 4.0, start, end, 4.0)
        assert got.shape == (1,)
        assert got[0] == pytest.approx(want, abs=1e-12), t


def test_activity_of_a_course_stopped_during_its_ramp():
    # course 10..12, onset 4: the level reaches 0.5 at 12 and drops to 0
    got = activity(8.0, 8.0, np.array([10.0]), np.array([12.0]), 4.0)
    assert got[0] == pytest.approx((0.5 * 2 * 0.5) / 8, abs=1e-12)


@pytest.mark.parametrize("onset", [0.5, 1.0])
def test_activity_with_a_short_onset_still_ramps(onset):
    # course from 10, open-ended; step [10, 12): triangle of base onset, then level 1
    got = activity(10.0, 2.0, np.array([10.0]), np.array([INF]), onset)
    assert got[0] == pytest.approx((0.5 * onset + (2.0 - onset)) / 2.0, abs=1e-12)
    # a step inside the ramp: [10, 10 + onset / 2), level from 0 to 1/2
    got = activity(10.0, onset / 2, np.array([10.0]), np.array([INF]), onset)
    assert got[0] == pytest.approx(0.25, abs=1e-12)


def test_activity_with_no_onset_is_the_covered_share_of_the_step():
    start = np.array([10.0, 10.0, 0.0, 10.0])
    end = np.array([INF, 11.0, 5.0, 10.0])
    got = activity(8.0, 4.0, start, end, 0.0)
    # [10, 12) of [8, 12); [10, 11); over before the step; stopped as it began
    np.testing.assert_allclose(got, [0.5, 0.25, 0.0, 0.0], atol=1e-12)


def test_activity_is_zero_for_no_course_a_cancelled_one_and_a_zero_length_one():
    start = np.array([INF, INF, 5.0, 5.0])
    end = np.array([INF, 3.0, 5.0, 3.0])
    for onset in (0.0, 2.0):
        assert activity(4.0, 4.0, start, end, onset).tolist() == [0.0] * 4


def test_activity_over_a_step_that_began_before_the_course_and_a_negative_time():
    # the mean divides by the whole step; a course that began before t (start -6,
    # onset 4) is fully on over [0, 2)
    got = activity(0.0, 2.0, np.array([-6.0, -3.0]), np.array([INF, INF]), 4.0)
    # second: level (tau + 3) / 4 from 0.75 at 0 to 1 at 1, then 1: trapezoid + rectangle
    np.testing.assert_allclose(got, [1.0, (0.5 * (0.75 + 1.0) * 1 + 1.0) / 2], atol=1e-12)


def test_activity_hands_the_compiled_loop_float64_for_integer_days(monkeypatch):
    """`course_activity` is compiled for float64 arrays (numba cannot type its loop over
    (start, ramp end, end) for int64 ones): `activity` casts what it is given, so whole
    days as integers give the hand-computed levels."""
    from sim.model import therapies

    seen = []
    real = therapies.course_activity
    monkeypatch.setattr(therapies, "course_activity", lambda *a: seen.append(a) or real(*a))
    # course 10..30, onset 4 and course 10..11, onset 4, over [8, 12)
    got = activity(8, 4, np.array([10, 10]), np.array([30, 11]), 4)
    np.testing.assert_allclose(got, [(0.5 * 2 * 0.5) / 4, (0.5 * 1 * 0.25) / 4], atol=1e-12)
    assert [a.dtype for a in seen[0][2:4]] == [np.float64, np.float64]


def _course(t, dt, start, end, onset, applies):
    return course_activity(
        t, dt, np.array(start, float), np.array(end, float), onset, np.array(applies, float)
    )


def test_course_activity_says_until_when_the_level_holds():
    """Step [10, 15), onset 3. The level is `activity` x applies; it holds beyond the step
    when no patient ramps in it and no start, end of ramp or end falls strictly inside
    it, and then until the earliest of those at or after 15 (listed by hand)."""
    # on full effect since 3, ends at 30 | starts at 20 (ramp to 23) | no course
    start, end, applies = [0.0, 20.0, INF], [30.0, INF, INF], [0.5, 2.0, 1.0]
    level, holds, until = _course(10.0, 5.0, start, end, 3.0, applies)
    np.testing.assert_allclose(
        level, activity(10.0, 5.0, *map(np.array, (start, end)), 3.0) * applies
    )
    assert level.tolist() == [0.5, 0.0, 0.0] and holds and until == 20.0
    # an end exactly at the step's end holds up to it; a ramp ending exactly at the
    # step's start is over (level 1 throughout)
    level, holds, until = _course(10.0, 5.0, [7.0, 0.0], [INF, 15.0], 3.0, [1.0, 1.0])
    assert level.tolist() == [1.0, 1.0] and holds and until == 15.0
    # a start exactly at the step's end ramps only after it: holds up to it
    assert _course(10.0, 5.0, [15.0], [INF], 3.0, [1.0])[1:] == (True, 15.0)
    # nothing ahead: holds for ever
    assert _course(10.0, 5.0, [0.0], [INF], 3.0, [1.0])[1:] == (True, INF)
    # a start inside the step; an end inside it; a ramp running through it
    for s, e in ((12.0, INF), (0.0, 12.0), (8.0, INF)):
        level, holds, until = _course(10.0, 5.0, [0.0, s], [INF, e], 3.0, [1.0, 1.0])
        assert not holds, (s, e)
        assert level[1] == pytest.approx(activity(10.0, 5.0, np.array([s]), np.array([e]), 3.0)[0])
    # with no onset a start at the step's start is no ramp: holds, until the end at 40
    assert _course(10.0, 5.0, [10.0], [40.0], 0.0, [1.0])[1:] == (True, 40.0)
    # ... but with an onset the ramp runs in the step
    assert not _course(10.0, 5.0, [10.0], [40.0], 3.0, [1.0])[1]


# ---------------------------------------------------------------------- doses_in_step


def _doses_by_hand(t, dt, start, end, n_doses, interval):
    """Count the dose times start + j * interval (j < n_doses) in [t, t + dt) and
    before the course's end, one by one."""
    out = []
    for s, e in zip(start, end, strict=True):
        if not np.isfinite(s):
            out.append(0.0)
            continue
        times = [s + j * interval for j in range(int(n_doses))] if interval > 0 else [s]
        out.append(float(sum(t <= x < t + dt and x < e for x in times)))
    return out


# dose times and step edges are multiples of 0.5: exact in floating point
STARTS = np.array([0.0, 2.5, 7.0, 10.0, -7.0, INF])
ENDS = [INF, 0.0, 3.5, 7.0, 14.0, 21.0, 30.5]


@pytest.mark.parametrize(
    ("n_doses", "interval"), [(1, 0.0), (3, 7.0), (4, 3.5), (1, 7.0), (3, 1.0), (5, 0.5)]
)
def test_doses_in_a_step_are_the_dose_times_counted_one_by_one(n_doses, interval):
    checked = 0
    for t, dt, e in itertools.product(
        np.arange(-7.0, 35.0, 0.5), (0.5, 1.0, 3.5, 7.0, 14.0, 40.0), ENDS
    ):
        end = np.full_like(STARTS, e)
        got = doses_in_step(t, dt, STARTS, end, float(n_doses), interval)
        want = _doses_by_hand(t, dt, STARTS, end, n_doses, interval)
        assert got.tolist() == want, (t, dt, e)
        checked += 1
    assert checked > 1000


def test_a_single_dose_at_the_very_start_of_a_step_is_given():
    # a therapy with no interval gives its one dose at its start; start == t counts
    got = doses_in_step(5.0, 1.0, np.array([5.0, 6.0, 4.0]), np.full(3, INF), 1.0, 0.0)
    assert got.tolist() == [1.0, 0.0, 0.0]


def test_no_floating_point_warnings_for_patients_without_a_course():
    """A patient with no course has start = end = inf: the arithmetic meets inf - inf,
    and a therapy with no onset must not divide by it; both must stay silent (a run
    would otherwise print a warning per step)."""
    start = np.array([INF, 0.0])
    end = np.array([INF, INF])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = doses_in_step(0.0, 7.0, start, end, 3.0, 7.0)
        a = activity(0.0, 7.0, start, end, 3.0)
        a0 = activity(0.0, 7.0, start, end, 0.0)  # no onset ramp: nothing to divide by
        d0 = doses_in_step(0.0, 7.0, start, end, 1.0, 0.0)
    assert d.tolist() == [0.0, 1.0] and d0.tolist() == [0.0, 1.0]
    assert a.tolist() == [0.0, pytest.approx(0.5 * 3 / 7 + 4 / 7)]
    assert a0.tolist() == [0.0, 1.0]


def _doses_numpy(t, dt, start, end, n_doses, interval):
    """The vectorised numpy count the compiled loop replaced (kept here as its reference)."""
    if interval <= 0.0:
        return ((start >= t) & (start < t + dt) & (start < end)).astype(float)
    with np.errstate(invalid="ignore"):
        j_lo = np.clip(np.ceil((t - start) / interval), 0.0, n_doses)
        j_hi = np.clip(np.ceil((t + dt - start) / interval), 0.0, n_doses)
        j_end = np.clip(np.ceil((end - start) / interval), 0.0, n_doses)
    j_hi = np.minimum(j_hi, j_end)
    return np.where(np.isfinite(start), np.maximum(j_hi - j_lo, 0.0), 0.0)


@pytest.mark.parametrize("interval, n_doses", [(0.0, 1.0), (7.0, 4.0), (0.37, 30.0)])
def test_compiled_dose_counts_equal_numpys_bit_for_bit(interval, n_doses):
    """course_doses (one compiled pass) against the numpy count it replaced, on random
    starts and ends (none, open-ended, ending before, at and after dose times) and
    steps of every length, with `applies` and the any-dose flag."""
    rng = np.random.default_rng(11)
    n = 400
    start = np.where(rng.random(n) < 0.2, INF, rng.uniform(0.0, 60.0, n))
    start[:5] = [0.0, 7.0, 14.0, 3.5, 21.0]  # on dose times
    end = np.where(rng.random(n) < 0.3, INF, start + rng.uniform(0.0, 40.0, n))
    end[5:10] = start[5:10]  # ends at its start
    applies = (rng.random(n) < 0.8).astype(float)
    seen_dose = False
    for t in np.concatenate([rng.uniform(0.0, 80.0, 60), [0.0, 7.0, 14.0, 21.0]]):
        for dt in (1e-6, 0.5, 1.0, 7.0, 30.0):
            want = _doses_numpy(t, dt, start, end, n_doses, interval) * applies
            got, given = course_doses(t, dt, start, end, n_doses, interval, applies)
            np.testing.assert_array_equal(got, want)
            assert given == bool(want.any())
            seen_dose = seen_dose or given
    assert seen_dose


# ---------------------------------------------------------------------- taper
# a course from day 0: onset ramp to day 1, full level to day 5, then a taper to 0 at
# the planned end, day 42 (course 42, taper 37): level(s) = (42 - s) / 37 on [5, 42)
TAPER = {"onset": 1.0, "course": 42.0, "taper": 37.0}


def _tapered(t, dt, end=INF):
    return activity(t, dt, np.array([0.0]), np.array([end]), **TAPER)[0]


@pytest.mark.parametrize(
    "t, dt, end, area",
    [
        (0.0, 1.0, INF, 0.5),  # the onset ramp
        (2.0, 2.0, INF, 2.0),  # full level
        (10.0, 7.0, INF, 7.0 * (42.0 - 13.5) / 37.0),  # inside the taper: its mid-point
        (3.0, 4.0, INF, 2.0 + 2.0 * (1.0 + 35.0 / 37.0) / 2.0),  # into the taper
        (40.0, 4.0, 42.0, 2.0 * (2.0 / 37.0) / 2.0),  # out of it, at the planned end
        (18.0, 4.0, 20.0, 2.0 * (24.0 / 37.0 + 22.0 / 37.0) / 2.0),  # stopped early: at once
        (0.0, 50.0, 42.0, 0.5 + 4.0 + 37.0 / 2.0),  # the whole course in one step
    ],
)
def test_a_tapered_course_has_the_hand_computed_mean_level(t, dt, end, area):
    """The mean level over a step is the area under the level (worked out by hand:
    triangles and trapezoids) divided by the step, whatever the step's length."""
    assert _tapered(t, dt, end) == pytest.approx(area / dt, rel=1e-12)


def test_a_tapered_level_changes_through_the_taper_and_holds_around_it():
    start, end, ones = np.array([0.0]), np.array([INF]), np.ones(1)

    def holds(t, dt):
        return course_activity(t, dt, start, end, 1.0, ones, 42.0, 37.0)[1:]

    assert holds(2.0, 2.0) == (True, 5.0)  # full level until the taper starts
    assert not holds(4.0, 2.0)[0]  # the taper starts inside the step
    assert not holds(20.0, 1.0)[0]  # tapering
    assert holds(50.0, 5.0) == (True, INF)  # over


def test_no_taper_gives_the_old_level_bit_for_bit():
    """taper 0 (every therapy but a tapered one) computes the level exactly as before the
    taper existed: the same as an open-ended course's, for any planned course length."""
    rng = np.random.default_rng(5)
    start = np.where(rng.random(300) < 0.2, INF, rng.uniform(0, 30, 300))
    end = np.where(rng.random(300) < 0.5, INF, start + rng.uniform(0, 30, 300))
    ones = np.ones(300)
    for t, dt in itertools.product([0.0, 3.3, 17.0, 29.9], [0.1, 1.0, 7.0]):
        plain = course_activity(t, dt, start, end, 2.0, ones)
        with_course = course_activity(t, dt, start, end, 2.0, ones, 10.0, 0.0)
        np.testing.assert_array_equal(plain[0], with_course[0])
        assert plain[1:] == with_course[1:]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["therapies.supportive_care.taper_days=3"], "a taper needs a planned course"),
        (["therapies.corticosteroids.taper_days=42"], "must be <= course_days - onset_days"),
        (["therapies.corticosteroids.taper_days=-1"], "taper_days"),
    ],
)
def test_a_taper_that_cannot_fit_its_course_is_a_config_error(overrides, message):
    from sim.api import load_config
    from sim.config.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(["strategy=steroids_prophylactic", *overrides])
