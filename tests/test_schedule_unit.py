"""Therapy courses at unit level (sim.model.schedule).

Each test drives a real `Schedule` on a small catalog made here, the way
`sim.model.course` does (doses of the step, then `record`), and checks it against what
the module docstring says, worked out by hand for a few patients: the event log listed
event by event from the course times (start, doses at start + j * interval, end =
min(stop, start + course_days), side effects at start + onset), the side-effect draws
recomputed from their documented random stream (`side_effect/<therapy>/<side effect>`,
slot = course number - 1), and cached levels against the uncached formula
(`sim.model.therapies.activity`). Written for issue 17's mutation survivors
(docs/mutation/sim.model.schedule.txt).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.schema import SideEffect, TherapyConfig
from sim.core import rng
from sim.model import schedule as schedule_module
from sim.model.events import EventLog
from sim.model.levers import lever_levels
from sim.model.schedule import Schedule, side_effect_stream
from sim.model.therapies import Catalog, activity

INF = np.inf
KEY = np.uint64(20261205)

THERAPIES = {
    # 3 doses 4 days apart, a 10-day course, a 2-day onset ramp
    "pulse": TherapyConfig(
        label="P",
        levers={"antiviral": 0.5},
        onset_days=2.0,
        n_doses=3,
        dose_interval_days=4.0,
        course_days=10.0,
    ),
    # open-ended, two side effects: one severe, one that stops the course
    "itchy": TherapyConfig(
        label="I",
        levers={"t_cell_function": 0.4},
        onset_days=1.0,
        course_days=None,
        side_effects=[
            # a side effect of probability 0 comes first: it must not hide the others
            SideEffect(name="never", probability=0.0, onset_days=1.0),
            SideEffect(name="rash", probability=0.5, onset_days=3.0, severe=True),
            SideEffect(name="quit", probability=0.3, onset_days=5.0, stops_therapy=True),
        ],
    ),
    # two severe side effects that always occur, on the same day; doses at 0 and 3
    "zap": TherapyConfig(
        label="Z",
        levers={"antiviral": 0.1},
        n_doses=2,
        dose_interval_days=3.0,
        course_days=None,
        side_effects=[
            SideEffect(name="burn", probability=1.0, onset_days=2.0, severe=True),
            SideEffect(name="shock", probability=1.0, onset_days=2.0, severe=True),
        ],
    ),
}


@pytest.fixture(scope="module")
def cat():
    return Catalog.build(THERAPIES)


def _schedule(cat, n, start=None, stop=None, applies=None):
    """Schedule of n patients; start/stop: {therapy: per-patient times} (default inf)."""
    k = len(cat.names)
    s0, s1 = np.full((k, n), INF), np.full((k, n), INF)
    for name, v in (start or {}).items():
        s0[cat.index(name)] = v
    for name, v in (stop or {}).items():
        s1[cat.index(name)] = v
    ap = np.ones((k, n), dtype=bool) if applies is None else applies
    return Schedule(cat, s0, s1, list(range(k)), ap)


def _log(cat):
    return EventLog(therapies=cat.names, side_effects=cat.side_effect_names)


def _walk(sch, edges, pid, log, alive=None, before_death=None):
    """Step through `edges` as sim.model.course does: the step's doses, then record.
    Returns the per-step side-effect counts record gave back."""
    n = len(pid)
    alive = np.ones(n, dtype=bool) if alive is None else alive
    before_death = np.full(n, INF) if before_death is None else before_death
    counts = []
    for t, t1 in zip(edges[:-1], edges[1:], strict=True):
        _, doses = lever_levels(t, t1 - t, sch.cat, sch)  # as sim.model.course does
        counts.append(sch.record(t, t1 - t, pid, alive, before_death, doses, KEY, log))
    return counts


def _events(log):
    """The log as sorted (patient, time, event, therapy, course) tuples."""
    ev = log.to_frame()
    return sorted(
        zip(
            ev.patient_id.tolist(),
            ev.time_days.tolist(),
            ev.event.astype(str).tolist(),
            ev.therapy.astype(str).tolist(),
            ev.course.tolist(),
            strict=True,
        )
    )


def _pulse_events(pid, start, end, course=1, before=INF):
    """The pulse course's events listed by hand: start, doses at start + 4j (j < 3,
    before the end), end."""
    out = [(pid, start, "therapy_start", "pulse", course)]
    out += [(pid, start + 4.0 * j, "dose", "pulse", course) for j in range(3)
            if start + 4.0 * j < end]  # fmt: skip
    out.append((pid, end, "therapy_stop", "pulse", course))
    return [e for e in out if e[1] < before]


# --------------------------------------------------------------------------- the log


@pytest.mark.parametrize(
    "edges",
    [
        [0.0, 1.0, 3.0, 8.0, 16.0, 40.0],  # short and long steps
        [0.0, 40.0],  # one step holding every event, three doses of one course
        [0.0, 0.5, 1.0, 1.5, 2.0] + [2.0 + 0.5 * i for i in range(1, 77)],  # half days
    ],
)
def test_the_log_lists_each_courses_start_doses_and_end(cat, edges):
    # p0: from 0, runs its 10 days; p1: from 3, stopped at 6 (its dose at 7 is not
    # given); p2: never on it
    pid = np.array([7, 8, 9])
    sch = _schedule(cat, 3, start={"pulse": [0.0, 3.0, INF]}, stop={"pulse": [INF, 6.0, INF]})
    log = _log(cat)
    _walk(sch, edges, pid, log)
    want = _pulse_events(7, 0.0, 10.0) + _pulse_events(8, 3.0, 6.0)
    assert _events(log) == sorted(want)


def test_nothing_is_logged_after_a_death_or_for_the_dead(cat):
    pid = np.array([7, 8, 9])
    sch = _schedule(cat, 3, start={"pulse": [0.0, 3.0, 2.0]})
    log = _log(cat)
    # one 40-day step: p0 dies at 5, p1 was dead at its start, p2 dies at 12, the
    # end of its course (an event counts only if it comes before the death)
    _walk(
        sch,
        [0.0, 40.0],
        pid,
        log,
        alive=np.array([True, False, True]),
        before_death=np.array([5.0, INF, 12.0]),
    )
    want = _pulse_events(7, 0.0, 10.0, before=5.0) + _pulse_events(9, 2.0, 12.0, before=12.0)
    assert _events(log) == sorted(want)
    assert (9, 12.0, "therapy_stop", "pulse", 1) not in _events(log)


def test_a_course_stopped_as_it_begins_is_a_start_and_a_stop_and_a_cancelled_one_nothing(cat):
    pid = np.array([1, 2, 3])
    sch = _schedule(cat, 3)
    k = cat.index("pulse")
    everyone = np.ones(3, dtype=bool)
    assert sch.begin(k, np.array([5.0, 5.0, 5.0]), everyone).all()
    # p0 stopped exactly at its start; p1 before its start (cancelled); p2 runs
    assert sch.halt(k, np.array([5.0, 4.0, INF]), np.array([True, True, False])).tolist() == [
        True,
        True,
        False,
    ]
    assert sch.start[k].tolist() == [5.0, INF, 5.0]
    assert sch.stop[k].tolist() == [5.0, INF, INF]
    assert sch.end[k].tolist() == [5.0, INF, 15.0]
    log = _log(cat)
    _walk(sch, [0.0, 4.0, 5.0, 6.0, 30.0], pid, log)
    want = [(1, 5.0, "therapy_start", "pulse", 1), (1, 5.0, "therapy_stop", "pulse", 1)]
    want += _pulse_events(3, 5.0, 15.0)
    assert _events(log) == sorted(want)
    # p1, whose course was cancelled, has never had one: a start is a first course
    assert sch.begin(k, np.full(3, 20.0), np.array([False, True, False])).tolist() == [
        False,
        True,
        False,
    ]
    assert sch.start[k].tolist() == [5.0, 20.0, 5.0]
    assert len(sch.used) == len(cat.names)  # no second-course row needed


def test_side_effects_are_the_documented_draws_and_one_that_stops_ends_the_course(cat):
    n = 400
    pid = np.arange(5000, 5000 + n)
    k = cat.index("itchy")
    sch = _schedule(cat, n, start={"itchy": np.zeros(n)})
    log = _log(cat)
    edges = [0.0, 1.0, 2.0, 4.0, 6.0, 10.0, 30.0]
    counts = _walk(sch, edges, pid, log)
    # the draws, from their named streams, slot 0 (first course)
    rash = rng.uniform(KEY, "side_effect/itchy/rash", pid, 0) < 0.5
    quit_ = rng.uniform(KEY, "side_effect/itchy/quit", pid, 0) < 0.3
    assert 150 < rash.sum() < 250 and 80 < quit_.sum() < 160  # both kinds occur
    ev = log.to_frame()
    se = ev[ev.event == "side_effect"]
    got_rash = se[se.side_effect == "rash"]
    got_quit = se[se.side_effect == "quit"]
    assert sorted(got_rash.patient_id) == sorted(pid[rash])
    assert sorted(got_quit.patient_id) == sorted(pid[quit_])
    assert (got_rash.time_days == 3.0).all() and (got_quit.time_days == 5.0).all()
    assert got_rash.severe.all() and not got_quit.severe.any()
    assert (se.therapy == "itchy").all() and (se.course == 1).all()
    assert (se.side_effect != "never").all()
    # a quit ends the course at its onset (day 5); the others are still on it
    stops = ev[ev.event == "therapy_stop"]
    assert sorted(stops.patient_id) == sorted(pid[quit_])
    assert (stops.time_days == 5.0).all()
    assert sch.end[k].tolist() == np.where(quit_, 5.0, INF).tolist()
    # record's counts per step: the rash in [2, 4) (all severe), the quit in [4, 6)
    assert [c is None for c in counts] == [True, True, False, False, True, True]
    assert counts[2][0].tolist() == rash.astype(int).tolist()
    assert counts[2][1].tolist() == rash.astype(int).tolist()
    assert counts[3][0].tolist() == quit_.astype(int).tolist()
    assert counts[3][1].tolist() == [0] * n
    # a second course (for those who quit) draws slot 1 of the same streams
    again = sch.begin(k, np.full(n, 40.0), np.ones(n, dtype=bool))
    assert again.tolist() == quit_.tolist()
    log2 = _log(cat)
    _walk(sch, [40.0, 41.0, 44.0, 50.0], pid, log2)
    rash2 = quit_ & (rng.uniform(KEY, "side_effect/itchy/rash", pid, 1) < 0.5)
    quit2 = quit_ & (rng.uniform(KEY, "side_effect/itchy/quit", pid, 1) < 0.3)
    ev2 = log2.to_frame()
    se2 = ev2[ev2.event == "side_effect"]
    assert sorted(se2[se2.side_effect == "rash"].patient_id) == sorted(pid[rash2])
    assert sorted(se2[se2.side_effect == "quit"].patient_id) == sorted(pid[quit2])
    assert (se2.course == 2).all()
    starts2 = ev2[ev2.event == "therapy_start"]
    assert sorted(starts2.patient_id) == sorted(pid[quit_]) and (starts2.course == 2).all()
    assert (rash2 != (quit_ & rash)).any()  # not the first course's draws again


def test_two_side_effects_of_one_course_in_one_step_count_twice(cat):
    # one step over both onsets (3 and 5): record returns the sum per patient
    n = 400
    pid = np.arange(n)
    sch = _schedule(cat, n, start={"itchy": np.zeros(n)})
    counts = _walk(sch, [0.0, 1.0, 10.0], pid, _log(cat))
    rash = rng.uniform(KEY, side_effect_stream("itchy", "rash"), pid, 0) < 0.5
    quit_ = rng.uniform(KEY, side_effect_stream("itchy", "quit"), pid, 0) < 0.3
    assert counts[0] is None
    assert counts[1][0].tolist() == (rash.astype(int) + quit_.astype(int)).tolist()
    assert counts[1][1].tolist() == rash.astype(int).tolist()
    assert (rash & quit_).any()


def test_side_effect_stream_name():
    assert side_effect_stream("art", "nausea") == "side_effect/art/nausea"


# ----------------------------------------------------------------- starts and stops


def test_begin_and_halt_at_the_exact_end_of_a_course(cat):
    k = cat.index("pulse")
    sch = _schedule(cat, 2, start={"pulse": [0.0, 0.0]})
    both = np.ones(2, dtype=bool)
    # the course ends at 10: a stop at 10 changes nothing, a start at 10 is a restart
    assert not sch.halt(k, np.full(2, 10.0), both).any()
    assert sch.begin(k, np.array([10.0, 9.5]), both).tolist() == [True, False]
    (row,) = [r for r in sch.used if sch.course_no[r] == 1]
    assert sch.therapy[row] == k
    assert sch.start[row].tolist() == [10.0, INF]
    assert sch.end[row].tolist() == [20.0, INF]
    # p1 (still on its first course at 9.5) stopped at 9.5, then started at 9.5
    assert sch.halt(k, np.array([9.5, 9.5]), both).tolist() == [True, True]
    assert sch.end[k].tolist() == [10.0, 9.5]
    assert sch.start[row].tolist() == [INF, INF]  # p0's course 2 (from 10) cancelled
    assert sch.begin(k, np.array([9.5, 9.5]), both).tolist() == [False, True]


def test_a_start_during_a_course_or_before_a_planned_one_changes_nothing(cat):
    k = cat.index("pulse")
    sch = _schedule(cat, 2, start={"pulse": [0.0, 50.0]})
    both = np.ones(2, dtype=bool)
    assert not sch.begin(k, np.array([5.0, 20.0]), both).any()
    assert sch.start[k].tolist() == [0.0, 50.0] and sch.end[k].tolist() == [10.0, 60.0]
    assert len(sch.used) == len(cat.names)


def test_a_second_stop_moves_a_course_end_only_earlier(cat):
    k = cat.index("pulse")
    sch = _schedule(cat, 1, start={"pulse": [0.0]})
    r = k
    one = np.ones(1, dtype=bool)
    sch.halt_course(r, np.array([6.0]), one)
    assert sch.end[r].tolist() == [6.0]
    sch.halt_course(r, np.array([8.0]), one)  # already stopped by then: nothing
    assert sch.stop[r].tolist() == [6.0] and sch.end[r].tolist() == [6.0]
    sch.halt_course(r, np.array([4.0]), one)
    assert sch.stop[r].tolist() == [4.0] and sch.end[r].tolist() == [4.0]
    sch.halt_course(r, np.array([3.0]), np.zeros(1, dtype=bool))  # not this patient
    assert sch.end[r].tolist() == [4.0]


def test_patients_on_different_courses_restart_in_one_call(cat):
    """Latest courses differ per patient (p0 on course 2, p1 on course 1): one begin
    gives each the course after its own latest."""
    k = cat.index("pulse")
    sch = _schedule(cat, 3, start={"pulse": [0.0, 0.0, INF]})
    everyone = np.ones(3, dtype=bool)
    p0 = np.array([True, False, False])
    assert sch.begin(k, np.full(3, 10.0), p0).tolist() == [True, False, False]
    assert sch.begin(k, np.full(3, 30.0), everyone).all()
    rows = {sch.course_no[r]: r for r in sch.used if sch.therapy[r] == k}
    assert sorted(rows) == [0, 1, 2]
    assert sch.start[rows[0]].tolist() == [0.0, 0.0, 30.0]
    assert sch.start[rows[1]].tolist() == [10.0, 30.0, INF]
    assert sch.start[rows[2]].tolist() == [30.0, INF, INF]
    assert sch.end[rows[2]].tolist() == [40.0, INF, INF]
    # a stop ends each patient's own latest course
    assert sch.halt(k, np.full(3, 35.0), everyone).all()
    assert sch.end[rows[2]].tolist() == [35.0, INF, INF]
    assert sch.end[rows[1]].tolist() == [20.0, 35.0, INF]
    assert sch.end[rows[0]].tolist() == [10.0, 10.0, 35.0]


def test_rows_are_visited_in_therapy_then_course_order(cat):
    ki, kp = cat.index("itchy"), cat.index("pulse")
    assert (ki, kp) == (0, 1)
    sch = _schedule(cat, 1, start={"pulse": [0.0], "itchy": [0.0]}, stop={"itchy": [1.0]})
    one = np.ones(1, dtype=bool)
    assert sch.begin(kp, np.array([20.0]), one).all()  # row 3: pulse course 2
    assert sch.begin(ki, np.array([20.0]), one).all()  # row 4: itchy course 2
    assert sch.therapy == [0, 1, 2, 1, 0] and sch.course_no == [0, 0, 0, 1, 1]
    assert sch.used == [0, 4, 1, 3, 2]
    # a restart leaves the first course as it was
    assert sch.start[0].tolist() == [0.0] and sch.end[0].tolist() == [1.0]
    assert sch.start[4].tolist() == [20.0] and sch.start[3].tolist() == [20.0]


def test_at_most_max_courses_of_one_therapy(cat, monkeypatch):
    monkeypatch.setattr(schedule_module, "MAX_COURSES", 3)
    k = cat.index("pulse")
    sch = _schedule(cat, 1)
    one = np.ones(1, dtype=bool)
    for c in range(3):
        assert sch.begin(k, np.array([100.0 * c]), one).all()
    with pytest.raises(RuntimeError, match=r"'pulse'.*course 4.*at most 3 courses"):
        sch.begin(k, np.array([300.0]), one)


# --------------------------------------------------------------- levels and doses


def test_levels_are_the_uncached_formula_through_starts_stops_and_steps(cat):
    """Schedule.activity caches levels between change points; caching must never change
    a value: compare with therapies.activity on the current course times at every step,
    while courses start, stop and restart between steps, and the therapy applies to
    some patients only."""
    n = 6
    applies = np.ones((3, n), dtype=bool)
    applies[:, 5] = False
    sch = _schedule(
        cat,
        n,
        start={"pulse": [0.0, 2.0, 3.0, INF, 7.5, 0.0], "itchy": [1.0, INF, 0.0, 4.0, 9.0, 0.0]},
        stop={"pulse": [INF, 5.0, INF, INF, INF, INF]},
        applies=applies,
    )
    gen = np.random.default_rng(17)
    t, checked = 0.0, 0
    actions = {30: ("halt", 0), 45: ("begin", 0), 60: ("begin", 1), 70: ("halt", 1)}
    for i in range(120):
        dt = float(gen.choice([0.25, 0.5, 1.0, 2.0, 7.0]))
        if i in actions:
            what, k = actions[i]
            who = gen.random(n) < 0.6
            getattr(sch, what)(k, np.full(n, t), who)
        for r in sch.used:
            k = sch.therapy[r]
            want = activity(t, dt, sch.start[r], sch.end[r], float(cat.onset[k]))
            want = want * applies[k]
            got = sch.activity(r, t, dt)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=f"{t} {r}")
            checked += 1
        t += dt
    assert checked >= 240 and len(sch.used) > 2


def test_a_level_cached_up_to_an_end_is_not_used_after_it(cat):
    """A step that ends exactly where a course ends: its level (1, the ramp done) may be
    cached until that end, never beyond it; the next steps have level 0, and a step
    ending exactly at a start still has 0 (the level counts from the start on)."""
    k = cat.index("itchy")  # onset 1 day, open-ended
    sch = _schedule(cat, 2, start={"itchy": [0.0, INF]}, stop={"itchy": [5.0, INF]})
    assert sch.activity(k, 2.0, 3.0).tolist() == [1.0, 0.0]
    assert sch.activity(k, 5.0, 1.0).tolist() == [0.0, 0.0]
    assert sch.activity(k, 6.0, 4.0).tolist() == [0.0, 0.0]


def test_doses_of_a_step_and_none_when_there_are_none(cat):
    k = cat.index("pulse")
    applies = np.ones((3, 3), dtype=bool)
    applies[k, 2] = False  # p2: pulse does not act in its condition
    sch = _schedule(cat, 3, start={"pulse": [0.0, 1.0, 0.0]}, applies=applies)
    assert sch.doses(k, 0.0, 1.0).tolist() == [1.0, 0.0, 0.0]
    assert sch.doses(k, 0.0, 2.0).tolist() == [1.0, 1.0, 0.0]
    assert sch.doses(k, 0.0, 12.0).tolist() == [3.0, 3.0, 0.0]
    assert sch.doses(k, 2.0, 2.0) is None  # 2..4: no dose
    assert sch.doses(k, 8.0, 0.5).tolist() == [1.0, 0.0, 0.0]  # p0's last dose at 8
    assert sch.doses(k, 9.0, 0.5).tolist() == [0.0, 1.0, 0.0]  # p1's last dose at 9
    assert sch.doses(k, 9.5, 30.0) is None  # after every last dose
    # only p2 has a dose in [0, 0.5), and it does not apply: None
    sch2 = _schedule(cat, 3, start={"pulse": [INF, INF, 0.0]}, applies=applies)
    assert sch2.doses(k, 0.0, 0.5) is None


def test_an_open_ended_course_gets_its_n_doses_and_no_more(cat):
    """Dose j is given at start + 3j for j < n_doses = 2 (therapies.doses_in_step): a
    course with no end (zap: course_days None) still stops dosing after its second dose,
    in a long step holding both doses and later dose times, and in a step in which
    another patient's course is dosing (p1, from day 20)."""
    k = cat.index("zap")
    sch = _schedule(cat, 2, start={"zap": [0.0, 20.0]})
    assert sch.doses(k, 0.0, 40.0).tolist() == [2.0, 2.0]  # days 0, 3 and 20, 23
    assert sch.doses(k, 5.0, 25.0).tolist() == [0.0, 2.0]  # p0 is done dosing by day 5
    assert sch.doses(k, 21.0, 1.0) is None  # between p1's doses
    assert sch.doses(k, 23.0, 1.0).tolist() == [0.0, 1.0]


def test_has_event_finds_starts_ends_and_side_effects_in_its_window(cat):
    k = cat.index("pulse")
    sch = _schedule(cat, 2, start={"pulse": [2.0, 5.0]})  # ends 12, 15
    windows = [(0.0, 2.0, False), (0.0, 2.5, True), (2.5, 5.0, False), (5.0, 5.5, True),
               (5.5, 12.0, False), (12.0, 12.5, True), (12.5, 15.0, False),
               (15.0, 16.0, True), (16.0, 100.0, False)]  # fmt: skip
    for t, t1, want in windows:
        assert sch.has_event(k, t, t1) == want, (t, t1)
    # a side effect added later is found, also before the row's cached next time
    sch2 = _schedule(cat, 2, start={"pulse": [2.0, 5.0]})
    assert not sch2.has_event(k, 0.0, 1.0)  # caches the next time (2)
    sch2.add_side_effect(k, 0, np.array([1.5, INF]), np.array([True, False]))
    assert sch2.has_event(k, 1.0, 2.0)
    assert sch2.se_time[k, 0].tolist() == [1.5, INF]
    # a stop changes the row's next time
    sch3 = _schedule(cat, 2, start={"pulse": [2.0, 5.0]})
    assert not sch3.has_event(k, 5.5, 6.0)  # next: the end at 12
    sch3.halt_course(k, np.array([7.0, 7.0]), np.array([True, False]))
    assert sch3.has_event(k, 6.5, 7.5)
    # a row with nothing left never has an event
    sch4 = _schedule(cat, 1)
    assert not sch4.has_event(k, 0.0, INF)


def test_the_catalogs_first_therapy_stops_like_any_other(cat):
    # itchy is catalog index 0, so its first course is row 0
    k = cat.index("itchy")
    assert k == 0
    sch = _schedule(cat, 2, start={"itchy": [0.0, 0.0]})
    assert sch.halt(k, np.array([4.0, 4.0]), np.array([True, False])).tolist() == [True, False]
    assert sch.end[0].tolist() == [4.0, INF]


def test_an_event_at_the_death_time_is_not_logged(cat):
    """'every event counts only if it comes before the patient's death': a start, a
    dose, a stop or a side effect at the very time of death is not logged."""
    pid = np.array([1, 2, 3])
    # p0: dose at 4 = death; p1: start at 3 = death; p2 (zap): its two certain side
    # effects at 2 = death
    sch = _schedule(cat, 3, start={"pulse": [0.0, 3.0, INF], "zap": [INF, INF, 0.0]})
    log = _log(cat)
    counts = _walk(sch, [0.0, 1.0, 8.0], pid, log, before_death=np.array([4.0, 3.0, 2.0]))
    assert _events(log) == [
        (1, 0.0, "dose", "pulse", 1),
        (1, 0.0, "therapy_start", "pulse", 1),
        (3, 0.0, "dose", "zap", 1),
        (3, 0.0, "therapy_start", "zap", 1),
    ]
    assert counts == [None, None]


def test_two_severe_side_effects_in_one_step_count_twice_as_severe(cat):
    pid = np.array([4, 5])
    sch = _schedule(cat, 2, start={"zap": [0.0, INF]})
    counts = _walk(sch, [0.0, 1.0, 3.0], pid, _log(cat))
    assert counts[0] is None
    assert counts[1][0].tolist() == [2, 0] and counts[1][1].tolist() == [2, 0]


def test_a_side_effect_occurs_when_the_draw_is_below_its_probability_strictly():
    """The draw u hits when u < probability: with the probability set to one patient's
    own draw (from the documented stream, slot 0), that patient has no side effect."""
    pid = np.array([41, 42, 43, 44])
    u = rng.uniform(KEY, side_effect_stream("edge", "hit"), pid, 0)
    edge = TherapyConfig(
        label="E",
        levers={"antiviral": 0.1},
        side_effects=[SideEffect(name="hit", probability=float(u[1]), onset_days=1.0)],
    )
    cat = Catalog.build({"edge": edge})
    sch = _schedule(cat, 4, start={"edge": np.zeros(4)})
    log = _log(cat)
    _walk(sch, [0.0, 0.5, 2.0], pid, log)
    hit = [e[0] for e in _events(log) if e[2] == "side_effect"]
    assert hit == pid[u < u[1]].tolist()
    assert 42 not in hit


def test_doses_of_a_lone_patient_at_its_last_dose_time(cat):
    # the quick check for 'no dose in this step' must keep a last dose exactly at t
    k = cat.index("pulse")
    sch = _schedule(cat, 1, start={"pulse": [0.0]})  # doses at 0, 4, 8
    assert sch.doses(k, 8.0, 1.0).tolist() == [1.0]
    assert sch.doses(k, 7.0, 1.0) is None
    assert sch.doses(k, 8.5, 1.0) is None


def test_doses_of_a_course_begun_after_the_rows_doses_were_looked_up(cat):
    # p0's pulse from day 0 (doses 0, 4, 8); the row's dose window is looked up, then p1
    # begins the same first course on day 20: its doses at 20, 24, 28 are given
    k = cat.index("pulse")
    sch = _schedule(cat, 2, start={"pulse": [0.0, INF]})
    assert sch.doses(k, 0.0, 1.0).tolist() == [1.0, 0.0]
    assert sch.doses(k, 20.0, 1.0) is None  # nobody's dose on day 20 yet
    assert sch.begin(k, np.array([20.0, 20.0]), np.array([False, True])).tolist() == [False, True]
    assert sch.doses(k, 20.0, 1.0).tolist() == [0.0, 1.0]
    assert sch.doses(k, 21.0, 8.0).tolist() == [0.0, 2.0]


def test_doses_of_a_later_therapy_are_logged_when_an_earlier_ones_patients_are_dead(cat):
    # step [0, 1): pulse's only dose is for p0, dead at the start of the step; zap's
    # dose for p1, alive, is still logged
    pid = np.array([1, 2])
    sch = _schedule(cat, 2, start={"pulse": [0.0, INF], "zap": [INF, 0.0]})
    log = _log(cat)
    _walk(sch, [0.0, 1.0], pid, log, alive=np.array([False, True]))
    assert (2, 0.0, "dose", "zap", 1) in _events(log)
    assert [e for e in _events(log) if e[0] == 1] == []


def test_an_event_at_the_end_of_a_step_is_logged_once_in_the_next_step(cat):
    """Steps are [t, t + dt): a start, an end or a side effect exactly at t + dt belongs
    to the next step, also when the same course has another event in this one."""
    pid = np.array([1, 2, 3, 4])
    sch = _schedule(cat, 4, start={"pulse": [0.0, 1.0, INF, INF], "zap": [INF, INF, 0.0, 1.0]})
    log = _log(cat)
    _walk(sch, [float(d) for d in range(21)], pid, log)
    want = _pulse_events(1, 0.0, 10.0) + _pulse_events(2, 1.0, 11.0)
    for p, s in ((3, 0.0), (4, 1.0)):  # zap: doses at s, s + 3; both side effects at s + 2
        want += [(p, s, "therapy_start", "zap", 1), (p, s, "dose", "zap", 1)]
        want += [(p, s + 3.0, "dose", "zap", 1)]
        want += [(p, s + 2.0, "side_effect", "zap", 1)] * 2
    assert _events(log) == sorted(want)
