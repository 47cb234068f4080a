"""The clinical course of a group (sim/model/course.py), driven as the engines drive it.

Checked against what the course must be whatever the model's numbers: a patient's
course does not depend on the others in its group (each patient run alone gives the
same events, labs and state, as `sim.engine.reference` relies on); the log has one
diagnosis per patient at day 0, a visit for exactly the patients alive at it, the end
of follow-up for exactly the survivors; the labs are the visits' rows; the side-effect
counters are the side-effect rows of the log; a group in which everyone has died is
left alone; the lever levels before the horizon are the mean of the therapy's ramp over
the last short step, computed here by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.core import rng
from sim.model import cohort
from sim.model.course import Course
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog

HORIZON = 365.0


def _setup(strategy: str, n: int, *overrides: str):
    cfg = load_config([f"strategy={strategy}", "cohort=mixed_seed000", f"cohort.n={n}", *overrides])
    key = rng.run_key(cfg.seed)
    cat = Catalog.build(cfg.therapies)
    comp = compile_strategy(cfg.strategy[strategy], cfg.model, cat)
    pts = cohort.build(key, cfg.cohort, cfg.model, np.arange(n))
    return cfg, key, cat, comp, pts


def _follow(course: Course, cfg, horizon: float = HORIZON) -> Course:
    """The batch engine's calls: advance to each visit, hold it; advance to the end, close."""
    for day in sorted(d for d in cfg.monitoring.visit_days if d <= horizon):
        course.advance(day)
        course.visit(day)
    course.advance(horizon)
    course.close(horizon)
    return course


def _run(strategy: str, n: int, *overrides: str, patients=None):
    cfg, key, cat, comp, pts = _setup(strategy, n, *overrides)
    if patients is not None:
        pts = patients(pts)
    course = Course(pts, comp, cat, cfg.model, cfg.monitoring, key)
    return _follow(course, cfg), cfg, key, cat, comp, pts


_RUNS: dict[tuple, tuple] = {}


def _cached(strategy: str, *overrides: str):
    if (strategy, *overrides) not in _RUNS:
        _RUNS[(strategy, *overrides)] = _run(strategy, 400, *overrides)
    return _RUNS[(strategy, *overrides)]


@pytest.fixture(scope="module")
def pd1_run():
    # pd1 on the mixed cohort: side effects (severe and not), IRIS, deaths
    return _cached("pd1")


def _labs(course: Course) -> pd.DataFrame:
    return pd.concat([pd.DataFrame(x) for x in course.labs], ignore_index=True)


def test_one_diagnosis_per_patient_at_day_zero(pd1_run):
    course, *_ = pd1_run
    ev = course.log.to_frame()
    dx = ev[ev["event"] == "diagnosis"]
    assert sorted(dx["patient_id"]) == list(range(400))
    assert (dx["time_days"] == 0.0).all()


def test_visits_and_end_of_follow_up_are_logged_for_exactly_the_living(pd1_run):
    course, cfg, *_ = pd1_run
    ev = course.log.to_frame()
    death = ev[ev["event"] == "death"].set_index("patient_id")["time_days"]
    died = np.full(400, np.inf)
    died[death.index.to_numpy()] = death.to_numpy()
    assert 20 < len(death) < 380  # some die, most do not
    np.testing.assert_array_equal(course.state.alive, ~np.isfinite(died))
    labs = _labs(course)
    for day in cfg.monitoring.visit_days:
        seen = ev[(ev["event"] == "visit") & (ev["time_days"] == day)]["patient_id"]
        expected = np.flatnonzero(died > day)
        np.testing.assert_array_equal(np.sort(seen.to_numpy()), expected)
        np.testing.assert_array_equal(
            np.sort(labs.loc[labs["day"] == day, "patient_id"].to_numpy()), expected
        )
    assert len(labs) == (ev["event"] == "visit").sum()
    end = ev[ev["event"] == "end_of_follow_up"]
    assert (end["time_days"] == HORIZON).all()
    np.testing.assert_array_equal(np.sort(end["patient_id"]), np.flatnonzero(~np.isfinite(died)))
    assert course.t == HORIZON


def test_the_labs_hold_a_csf_load_only_where_it_is_detectable(pd1_run):
    course, *_ = pd1_run
    labs = _labs(course)
    expected = {"patient_id", "day", "cd4", "lymphocytes", "csf_jcv_log10"}
    assert expected | {"csf_jcv_detectable", "lesion_burden"} == set(labs.columns)
    assert labs["csf_jcv_log10"].dtype == np.float64  # NaN, not None, where undetectable
    detectable = labs["csf_jcv_detectable"] == 1.0
    assert detectable.any() and (~detectable).any()
    assert labs.loc[detectable, "csf_jcv_log10"].notna().all()
    assert labs.loc[~detectable, "csf_jcv_log10"].isna().all()
    assert (labs["cd4"] > 0).all() and (labs["lymphocytes"] > 0).all()


def test_the_side_effect_counters_are_the_side_effect_rows_of_the_log(pd1_run):
    course, *_ = pd1_run
    ev = course.log.to_frame()
    se = ev[ev["event"] == "side_effect"]
    every = np.bincount(se["patient_id"], minlength=400)
    severe = np.bincount(se.loc[se["severe"], "patient_id"], minlength=400)
    assert severe.sum() > 0 and (every - severe).sum() > 0  # both kinds happened
    np.testing.assert_array_equal(course.state.side_effects, every)
    np.testing.assert_array_equal(course.state.severe_side_effects, severe)


# pd1: side effects; steroids_reactive: an IRIS rule; il2_mefloquine: a visit rule
@pytest.mark.parametrize("strategy", ["pd1", "steroids_reactive", "il2_mefloquine"])
def test_a_patient_runs_the_same_alone_as_in_its_group(strategy):
    group, cfg, key, cat, comp, pts = _cached(strategy)
    ev = group.log.to_frame()
    labs = _labs(group)
    # patients with a side effect, an IRIS diagnosis, a death, a rule firing, and others
    picks = set()
    for event in ("side_effect", "iris_diagnosis", "death", "rule_fired", "dose"):
        picks |= set(ev.loc[ev["event"] == event, "patient_id"].head(2))
    picks |= {0, 1, 399}
    if strategy != "pd1":
        assert (ev["event"] == "rule_fired").any()
    for i in sorted(picks):
        alone = _follow(
            Course(pts.take(np.array([i])), comp, cat, cfg.model, cfg.monitoring, key), cfg
        )
        mine = ev[ev["patient_id"] == i].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone.log.to_frame(), mine, check_categorical=False)
        pd.testing.assert_frame_equal(
            _labs(alone), labs[labs["patient_id"] == i].reset_index(drop=True)
        )
        # what the course records; the physical state too while the patient lives (a
        # group keeps stepping its dead, a patient alone stops at death)
        names = ["alive", "death_time", "iris", "side_effects", "severe_side_effects"]
        if group.state.alive[i]:
            names += ["cd4", "effector", "jcv", "damage", "natalizumab", "h_death", "h_iris"]
        for name in names:
            np.testing.assert_array_equal(
                getattr(alone.state, name), getattr(group.state, name)[[i]], err_msg=name
            )


# a diagnosis delay shorter than a step puts onset and diagnosis in the same step
@pytest.mark.parametrize("delay", [None, 1.0])
def test_an_iris_rule_starts_steroids_at_the_diagnosis_of_each_patient_alive_then(delay):
    extra = () if delay is None else (f"model.iris_diagnosis_delay_days={delay}",)
    course, *_ = _cached("steroids_reactive", *extra)
    ev = course.log.to_frame()
    dx = ev[ev["event"] == "iris_diagnosis"].set_index("patient_id")["time_days"]
    fired = ev[ev["event"] == "rule_fired"].set_index("patient_id")["time_days"]
    start = ev[(ev["event"] == "therapy_start") & (ev["therapy"] == "corticosteroids")]
    first = start.groupby("patient_id")["time_days"].min()
    assert len(dx) > 20 and dx.index.is_unique
    pd.testing.assert_series_equal(fired.sort_index(), dx.sort_index(), check_names=False)
    pd.testing.assert_series_equal(first.sort_index(), dx.sort_index(), check_names=False)


def test_an_iris_rule_acts_within_the_step_of_the_diagnosis(monkeypatch):
    """Steroids started by the IRIS rule at a diagnosis inside a step act in that very
    step: the step's level is the mean of their onset ramp (and of the taper, if the
    step reaches it) from the diagnosis to the step's end (computed here by hand), and
    zero in the steps before."""
    from sim.model import course as course_module

    seen = []
    real = course_module.lever_levels

    def spy(t, dt, cat, sch, zeros=None, memo=None):
        levels, doses = real(t, dt, cat, sch, zeros, memo)
        seen.append((t, dt, levels["iris_resolution_speedup"].copy()))
        return levels, doses

    monkeypatch.setattr(course_module, "lever_levels", spy)
    course, cfg, *_ = _run("steroids_reactive", 200)
    steroids = cfg.therapies["corticosteroids"]
    level, onset = steroids.levers["iris_resolution_speedup"], steroids.onset_days
    full_until = steroids.course_days - steroids.taper_days  # then the taper: 1 -> 0
    ev = course.log.to_frame()
    dx = ev[ev["event"] == "iris_diagnosis"].set_index("patient_id")["time_days"]
    assert len(dx) > 10
    for pid, d in dx.items():
        inside = [(t, h, lv[pid]) for t, h, lv in seen if t < d < t + h]
        assert len(inside) == 1, (pid, d)
        t, h, got = inside[0]
        x = t + h - d  # time on steroids within the step
        ramp = x**2 / (2 * onset) if x <= onset else onset / 2 + (x - onset)
        if x > full_until:  # the level has begun to fall: less the triangle above it
            ramp -= (x - full_until) ** 2 / (2 * steroids.taper_days)
        assert got == pytest.approx(level * ramp / h, rel=1e-9), (pid, d, t, h)
        assert all(lv[pid] == 0.0 for t, h, lv in seen if t + h <= d)


def test_a_group_in_which_everyone_has_died_is_left_alone():
    def doomed(pts):
        pts.death_threshold[:] = 1e-12  # the first step's hazard exceeds it
        return pts

    cfg, key, cat, comp, pts = _setup("soc", 30)
    course = Course(doomed(pts), comp, cat, cfg.model, cfg.monitoring, key)
    course.advance(14.0)
    assert not course.state.alive.any() and course.t == 14.0
    n_rows = len(course.log.to_frame())
    course.visit(14.0)
    course.advance(HORIZON)
    course.close(HORIZON)
    assert course.t == HORIZON
    assert course.labs == [] and len(course.log.to_frame()) == n_rows
    ev = course.log.to_frame()
    assert set(ev["event"].astype(str)) <= {"diagnosis", "death", "therapy_start", "dose"}
    assert (ev.loc[ev["event"] == "death", "time_days"] <= cfg.model.dt_first_days).all()


@pytest.mark.parametrize("horizon", [0.5, 15.5, 400.0])
def test_levers_before_the_horizon_are_the_ramp_mean_over_the_last_short_step(horizon):
    """Supportive care (part of every condition's standard of care) reaches its
    disability-recovery level in a linear ramp over its onset: the level reported for
    the horizon is the ramp's mean over [horizon - min(dt_first, horizon), horizon)."""
    cfg, key, cat, comp, pts = _setup("soc", 20)
    course = Course(pts, comp, cat, cfg.model, cfg.monitoring, key)
    care = cfg.therapies["supportive_care"]
    level, onset = care.levers["disability_recovery"], care.onset_days
    dt = min(cfg.model.dt_first_days, horizon)
    a, b = horizon - dt, horizon

    def ramp_integral(x):  # integral of min(s / onset, 1) from 0 to x
        return np.where(x < onset, x**2 / (2 * onset), onset / 2 + (x - onset))

    expected = level * (ramp_integral(b) - ramp_integral(a)) / dt
    got = course.final_levers(horizon)["disability_recovery"]
    np.testing.assert_allclose(got, np.full(20, expected), rtol=1e-12)


def test_levers_no_course_moves_are_a_shared_read_only_zero():
    cfg, key, cat, comp, pts = _setup("soc", 10)
    course = Course(pts, comp, cat, cfg.model, cfg.monitoring, key)
    assert not course._zeros.flags.writeable
    assert (course._zeros == 0.0).all() and len(course._zeros) == 10


@pytest.mark.parametrize(
    "strategy", ["il7", "pd1", "steroids_reactive", "steroids_prophylactic", "vst"]
)
def test_remembered_lever_levels_equal_levels_worked_out_afresh(monkeypatch, strategy):
    """The course reuses a quiet step's levels until a course may change (LeverMemo.until,
    Schedule.unchanged_until, Schedule.version). At every step of a course whose rules
    start and stop therapies, the levels it used equal those computed without a memo,
    and some steps did reuse them (else this would test nothing)."""
    from sim.model import course as course_module

    real = course_module.lever_levels
    reused, steps = [0], [0]

    def check(t, dt, cat, sch, zeros=None, memo=None):
        before = None if memo is None else memo.levels
        levels, doses = real(t, dt, cat, sch, zeros, memo)
        fresh, fresh_doses = real(t, dt, cat, sch)
        for lv in fresh:
            np.testing.assert_array_equal(levels[lv], fresh[lv], err_msg=f"{lv} at {t}")
        assert sorted(doses) == sorted(fresh_doses), t
        steps[0] += 1
        reused[0] += levels is before
        return levels, doses

    monkeypatch.setattr(course_module, "lever_levels", check)
    # every step through lever_levels: quiet spans skip it (they reuse the memo's levels
    # as lever_levels would; tests/test_quiet_span.py holds them equal to single steps)
    monkeypatch.setattr(course_module.Course, "_quiet_span", lambda self, t, until: [])
    course, *_ = _run(strategy, 300)
    assert steps[0] > 50 and 0 < reused[0] < steps[0]
