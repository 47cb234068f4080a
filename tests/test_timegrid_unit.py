"""The time grid (sim/model/timegrid.py) on small hand-made catalogs and strategies.

The expected calendar points are written from the rule in the module's docstring
(start, end of onset ramp, doses, end of course, planned stop, onset of a side effect
that stops the therapy; only for therapies moving a lever the dynamics read), for
therapies whose numbers are chosen so that every kind of point lands on its own day.
The expected steps are walked by hand from "dt_first after a point, then the time since
the point, up to dt".
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.config.schema import CONDITIONS, ModelConfig, SideEffect, TherapyConfig
from sim.model.rules import Rule
from sim.model.strategies import Compiled
from sim.model.therapies import Catalog
from sim.model.timegrid import TimeGrid, calendar_points


def _catalog() -> Catalog:
    return Catalog.build(
        {
            # doses at 0, 5, 10 (n_doses 3), onset 2, a course of 30 days, a side
            # effect at 12 that stops it and one at 17 that does not
            "a_dosed": TherapyConfig(
                label="a",
                levers={"immune_restoration": 0.5},
                onset_days=2.0,
                n_doses=3,
                dose_interval_days=5.0,
                course_days=30.0,
                side_effects=[
                    SideEffect(name="stops", probability=0.1, onset_days=12.0, stops_therapy=True),
                    SideEffect(name="mild", probability=0.1, onset_days=17.0),
                ],
            ),
            # open-ended, onset 4, a stopping side effect with probability 0 (never happens)
            "b_open": TherapyConfig(
                label="b",
                levers={"t_cell_function": 0.3},
                onset_days=4.0,
                side_effects=[
                    SideEffect(name="never", probability=0.0, onset_days=9.0, stops_therapy=True)
                ],
            ),
            # moves only a lever read after follow-up: no point at all
            "c_after": TherapyConfig(
                label="c", levers={"disability_recovery": 0.2}, onset_days=3.0, course_days=40.0
            ),
            # moves a dynamics lever and the after-follow-up lever: it has points
            "d_both": TherapyConfig(
                label="d",
                levers={"disability_recovery": 0.2, "natalizumab_stop": 1.0},
                onset_days=6.0,
                course_days=50.0,
            ),
            # doses every half day (a short interval), open-ended
            "e_twice_daily": TherapyConfig(
                label="e",
                levers={"drug_removal_per_dose": 0.3},
                n_doses=4,
                dose_interval_days=0.5,
            ),
        }
    )


def _rule(name, at_day, start=(), stop=(), delay=0.0) -> Rule:
    return Rule(name, at_day, "always", ">", 0.0, tuple(start), tuple(stop), delay)


def _strategy(soc=(), initial=(), visit_rules=()) -> Compiled:
    soc_all = tuple(tuple(soc) if ci == 0 else () for ci in range(len(CONDITIONS)))
    return Compiled("t", soc_all, tuple(initial), tuple(visit_rules), (), ())


A, B, C, D, E = range(5)


def test_the_catalog_order_is_the_one_the_tests_assume():
    assert _catalog().names == ("a_dosed", "b_open", "c_after", "d_both", "e_twice_daily")


def _points(strategy, visits=(), horizon=np.inf) -> list[float]:
    return calendar_points(strategy, _catalog(), list(visits), horizon).tolist()


def test_a_course_started_on_the_calendar_marks_each_change_of_its_levers():
    # a_dosed started at day 100: start, onset end 102, doses 105 and 110 (the one
    # at 100 is the start), the stopping side effect at 112, the end of course at 130;
    # the non-stopping side effect (117) moves nothing
    got = _points(_strategy(initial=[(A, 100.0, np.inf)]))
    assert got == [100.0, 102.0, 105.0, 110.0, 112.0, 130.0]


def test_doses_a_day_or_less_apart_are_points_too():
    assert _points(_strategy(initial=[(E, 50.0, np.inf)])) == [50.0, 50.5, 51.0, 51.5]


def test_a_planned_stop_ends_the_course_early_and_drops_the_later_points():
    got = _points(_strategy(initial=[(A, 100.0, 107.0)]))
    assert got == [100.0, 102.0, 105.0, 107.0]
    # a stop after the end of course changes nothing
    assert _points(_strategy(initial=[(A, 100.0, 200.0)])) == _points(
        _strategy(initial=[(A, 100.0, np.inf)])
    )


def test_an_open_ended_therapy_has_its_start_and_onset_only():
    # the stopping side effect has probability 0: no point at 9
    assert _points(_strategy(initial=[(B, 20.0, np.inf)])) == [20.0, 24.0]
    assert _points(_strategy(initial=[(B, 20.0, 60.0)])) == [20.0, 24.0, 60.0]


def test_a_therapy_moving_only_the_after_follow_up_lever_has_no_point():
    assert _points(_strategy(initial=[(C, 10.0, np.inf)])) == []
    assert _points(_strategy(soc=[C])) == []
    # ... but one that also moves a dynamics lever has its points
    assert _points(_strategy(initial=[(D, 10.0, np.inf)])) == [10.0, 16.0, 60.0]


def test_standard_of_care_starts_at_day_zero_which_is_not_a_point():
    # points are in (0, horizon): day 0 is where every walk starts anyway
    assert _points(_strategy(soc=[A])) == [2.0, 5.0, 10.0, 12.0, 30.0]
    assert _points(_strategy(soc=[B])) == [4.0]


def test_visits_and_the_horizon():
    visits = [0.0, 14.0, 28.0]
    assert _points(_strategy(), visits) == [14.0, 28.0]
    # points at or after the horizon are dropped
    assert _points(_strategy(initial=[(A, 100.0, np.inf)]), visits, horizon=110.0) == [
        14.0,
        28.0,
        100.0,
        102.0,
        105.0,
    ]


def test_a_visit_rule_starts_courses_at_its_day_plus_delay():
    visits = [0.0, 14.0, 28.0]
    once = _rule("once", 14.0, start=[B], delay=3.0)
    assert _points(_strategy(visit_rules=[once]), visits) == [14.0, 17.0, 21.0, 28.0]
    # a rule read at every visit (at_day None) may start a course after each of them
    every = _rule("every", None, start=[B], delay=1.0)
    assert _points(_strategy(visit_rules=[every]), visits) == [
        1.0,
        5.0,
        14.0,
        15.0,
        19.0,
        28.0,
        29.0,
        33.0,
    ]
    assert _points(_strategy(visit_rules=[every]), visits) == sorted(
        {14.0, 28.0} | {v + 1.0 for v in visits} | {v + 5.0 for v in visits}
    )


def test_a_visit_rule_stopping_a_therapy_marks_the_stop_if_the_therapy_moves_dynamics():
    visits = [0.0, 14.0, 28.0]
    stop_b = _rule("stop_b", 28.0, stop=[B], delay=2.0)
    assert _points(_strategy(visit_rules=[stop_b]), visits) == [14.0, 28.0, 30.0]
    stop_c = _rule("stop_c", 28.0, stop=[C], delay=2.0)
    assert _points(_strategy(visit_rules=[stop_c]), visits) == [14.0, 28.0]


def _model(dt: float, first: float) -> ModelConfig:
    return ModelConfig(dt_days=dt, dt_first_days=first)


def _walk(grid: TimeGrid, until: float, start: float = 0.0) -> list[float]:
    t, steps = start, []
    while t < until - 1e-9:
        h = grid.step(t, until, 1e-9)
        assert h > 0.0 and len(steps) < 10_000, (t, h)  # a walk always ends
        steps.append(h)
        t += h
    return steps


def test_steps_restart_short_at_each_point_and_double_up_to_the_longest():
    grid = TimeGrid(np.array([10.0, 40.0]), _model(7.0, 1.0))
    # from 0: 1, then the time since 0 (1, 2, 4), capped at 7 and at the point 10 (2 left)
    steps = _walk(grid, 60.0)
    expected = [1.0, 1.0, 2.0, 4.0, 2.0]  # to 10
    expected += [1.0, 1.0, 2.0, 4.0, 7.0, 7.0, 7.0, 1.0]  # 10 -> 40
    expected += [1.0, 1.0, 2.0, 4.0, 7.0, 5.0]  # 40 -> 60 (the end of the walk)
    np.testing.assert_allclose(steps, expected, rtol=0, atol=1e-12)
    assert np.isclose(sum(steps), 60.0)


def test_a_step_never_crosses_the_end_or_a_point_and_starts_fresh_at_a_point():
    grid = TimeGrid(np.array([10.0, 40.0]), _model(7.0, 1.0))
    assert grid.step(9.5, 60.0, 1e-9) == pytest.approx(0.5)  # the point at 10
    assert grid.step(30.0, 33.0, 1e-9) == pytest.approx(3.0)  # the end
    # at a point (or a rounding error before it), the first short step
    assert grid.step(10.0, 60.0, 1e-9) == pytest.approx(1.0)
    assert grid.step(10.0 - 1e-12, 60.0, 1e-9) == pytest.approx(1.0)
    # ... up to eps before it: t + eps lands on the point exactly (10 - 1e-9 + 1e-9
    # rounds to 10), which still counts as at the point, not a step of eps to reach it
    assert (10.0 - 1e-9) + 1e-9 == 10.0
    assert grid.step(10.0 - 1e-9, 60.0, 1e-9) == pytest.approx(1.0)
    # just after a point the step is the first one, not the time since it
    assert grid.step(10.5, 60.0, 1e-9) == pytest.approx(1.0)
    assert grid.step(13.0, 60.0, 1e-9) == pytest.approx(3.0)
    # after the last point, up to the longest step and then the longest
    assert grid.step(45.0, 100.0, 1e-9) == pytest.approx(5.0)
    assert grid.step(90.0, 100.0, 1e-9) == pytest.approx(7.0)


def test_a_grid_without_points_grows_from_day_zero():
    grid = TimeGrid(np.array([]), _model(7.0, 0.5))
    np.testing.assert_allclose(_walk(grid, 20.0), [0.5, 0.5, 1.0, 2.0, 4.0, 7.0, 5.0])


def test_a_first_step_longer_than_the_longest_is_capped():
    grid = TimeGrid(np.array([10.0]), _model(2.0, 5.0))
    assert grid.first == 2.0 and grid.longest == 2.0
    np.testing.assert_allclose(_walk(grid, 14.0), [2.0] * 7)


def test_build_uses_the_visit_calendar_sorted_and_any_horizon():
    from sim.config.schema import MonitoringConfig

    mon = MonitoringConfig(visit_days=[28.0, 0.0, 14.0, 400.0])
    grid = TimeGrid.build(_strategy(soc=[B]), _catalog(), _model(7.0, 1.0), mon)
    assert grid.points.tolist() == [4.0, 14.0, 28.0, 400.0]
    assert (grid.longest, grid.first) == (7.0, 1.0)
