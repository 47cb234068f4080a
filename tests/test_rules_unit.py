"""Rules and strategies at unit level (sim.model.rules, sim.model.strategies).

Each test drives `Rules` the way `sim.model.course` does (on_iris before a step,
on_iris + log_iris after it, at_visit at a visit) on a real `Schedule`, and checks the
courses and the event log against what `sim.model.rules`' docstring says should
happen, worked out by hand for two or three patients. Written for issue 17's mutation
survivors (docs/mutation/sim.model.rules.txt, sim.model.strategies.txt).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sim.api import load_config, simulate
from sim.config.schema import CONDITIONS
from sim.model.events import EventLog
from sim.model.rules import Rule, Rules
from sim.model.schedule import Schedule
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog

INF = np.inf


# the log declares the rule names it may record: every name this file gives a rule
RULE_NAMES = ("r", *sorted(set(re.findall(r'_rule\(\s*"(\w+)"', Path(__file__).read_text()))))


@pytest.fixture(scope="module")
def cfg():
    return load_config(
        ["cohort=mixed_seed000", "cohort.n=120", "strategy=[soc,no_treatment]", "seed=3"]
        + ["output.progress=false"]
    )


def _rules(cfg, therapies, n=3, visit=(), iris=()):
    """Rules on an empty schedule of n patients; therapies: catalog names used."""
    cat = Catalog.build(cfg.therapies)
    ks = [cat.index(t) for t in therapies]
    start = np.full((len(cat.names), n), INF)
    sch = Schedule(cat, start, np.full_like(start, INF), ks, np.ones_like(start, dtype=bool))
    log = EventLog(therapies=cat.names, rules=RULE_NAMES)
    rules = Rules(tuple(visit), tuple(iris), sch, np.arange(100, 100 + n), log)
    return rules, sch, log, ks


def _rule(name="r", start=(), stop=(), delay=0.0, at_day=None, marker="always", op=">=",
          threshold=1.0):  # fmt: skip
    return Rule(name, at_day, marker, op, threshold, tuple(start), tuple(stop), delay)


def _fired(log, name=None):
    ev = log.to_frame()
    ev = ev[(ev.event == "rule_fired") & ((ev.detail == name) if name else True)]
    return sorted(
        zip(ev.patient_id.tolist(), ev.time_days.tolist(), ev.detail.tolist(), strict=True)
    )


# ------------------------------------------------------------------------------ Rule


def test_a_rule_on_another_day_fires_for_no_one():
    alive = np.array([True, True, False])
    markers = {"cd4": np.array([50.0, 300.0, 50.0])}
    r = _rule(at_day=28.0, marker="cd4", op="<", threshold=100.0)
    off = r.fires(14.0, markers, alive)
    assert off.dtype == bool and off.shape == (3,) and not off.any()
    # on its day: the living patient below the threshold only
    assert r.fires(28.0, markers, alive).tolist() == [True, False, False]


# ------------------------------------------------------------------------- Rules._act


def test_rule_fired_when_any_one_of_its_actions_changed_the_patient(cfg):
    # start A (patient 0 already on it: no change) and start B (fresh): fired for both
    rules, sch, log, (a, b) = _rules(cfg, ["mirtazapine", "rhil7"], n=2)
    sch.begin(a, np.zeros(2), np.array([True, False]))
    rules.visit_rules = (_rule("two_starts", start=(b, a)),)
    rules.at_visit(14.0, {"always": np.ones(2)}, np.ones(2, dtype=bool))
    assert _fired(log) == [(100, 14.0, "two_starts"), (101, 14.0, "two_starts")]
    # start A (fresh for no one now) then stop B (on for both): fired for both
    rules.visit_rules = (_rule("start_then_stop", start=(a,), stop=(b,)),)
    rules.at_visit(28.0, {"always": np.ones(2)}, np.ones(2, dtype=bool))
    assert sch.end[b].tolist() == [28.0, 28.0]
    assert _fired(log, "start_then_stop") == [
        (100, 28.0, "start_then_stop"),
        (101, 28.0, "start_then_stop"),
    ]
    # start B again (fresh course for both), stop C that no one is on: fired for both
    c = sch.cat.index("corticosteroids")
    rules.visit_rules = (_rule("start_b_stop_c", start=(b,), stop=(c,)),)
    rules.at_visit(56.0, {"always": np.ones(2)}, np.ones(2, dtype=bool))
    assert _fired(log, "start_b_stop_c") == [
        (100, 56.0, "start_b_stop_c"),
        (101, 56.0, "start_b_stop_c"),
    ]


# ---------------------------------------------------------------------- IRIS rules


def _step(rules, t, h, dx, alive):
    """One engine step [t, t + h) as sim.model.course.Course.advance calls the rules."""
    rules.on_iris(t + h, dx, alive)
    diagnosed = (dx >= t) & (dx < t + h) & alive
    rules.on_iris(t + h, dx, alive)
    rules.log_iris(diagnosed, dx)


def test_an_iris_diagnosis_is_acted_on_once(cfg):
    # the IRIS rule stops T; patient 0 is diagnosed on day 10.5, patient 1 on day 40.5.
    # T, stopped at patient 0's diagnosis, is started again on day 30: later steps (and
    # patient 1's diagnosis) must not stop it again. Patient 2, never on T, is diagnosed
    # in the same step as patient 0: the rule changes nothing for it, so no rule_fired
    rules, sch, log, (k,) = _rules(cfg, ["mirtazapine"])
    rules.iris_rules = (_rule("stop_on_iris", stop=(k,)),)
    everyone = np.ones(3, dtype=bool)
    sch.begin(k, np.zeros(3), np.array([True, True, False]))
    dx = np.array([10.5, 40.5, 10.75])
    for t in range(0, 30):
        _step(rules, float(t), 1.0, dx, everyone)
    assert sch.end[k].tolist() == [10.5, INF, INF]
    assert sch.begin(k, np.full(3, 30.0), np.array([True, False, False])).tolist() == [
        True,
        False,
        False,
    ]
    (again,) = [r for r in sch.used if sch.therapy[r] == k and sch.course_no[r] == 1]
    for t in range(30, 60):
        _step(rules, float(t), 1.0, dx, everyone)
    assert sch.start[again].tolist() == [30.0, INF, INF]
    assert sch.end[again].tolist() == [INF, INF, INF]
    assert sch.end[k].tolist() == [10.5, 40.5, INF]
    assert _fired(log) == [(100, 10.5, "stop_on_iris"), (101, 40.5, "stop_on_iris")]


def test_a_diagnosis_on_a_step_boundary_belongs_to_the_next_step(cfg):
    # diagnosed at exactly t = 10: "diagnosed before t1" is false for the step [9, 10),
    # so the step [10, 11) acts on it and logs its rule_fired row at 10
    rules, sch, log, (k,) = _rules(cfg, ["mirtazapine"], n=2)
    rules.iris_rules = (_rule("start_on_iris", start=(k,)),)
    everyone = np.ones(2, dtype=bool)
    dx = np.array([10.0, INF])
    for t in range(0, 20):
        _step(rules, float(t), 1.0, dx, everyone)
    assert sch.start[k].tolist() == [10.0, INF]
    assert _fired(log) == [(100, 10.0, "start_on_iris")]


def test_an_iris_rule_acts_delay_days_after_the_diagnosis(cfg):
    rules, sch, log, (k,) = _rules(cfg, ["mirtazapine"], n=2)
    rules.iris_rules = (_rule("late", start=(k,), delay=7.0),)
    dx = np.array([12.25, INF])
    for t in range(0, 30):
        _step(rules, float(t), 1.0, dx, np.ones(2, dtype=bool))
    assert sch.start[k].tolist() == [12.25 + 7.0, INF]
    # logged at the diagnosis, not at the action
    assert _fired(log) == [(100, 12.25, "late")]


# ---------------------------------------------------------------------- strategies


def test_standard_of_care_false_compiles_no_soc_therapies(cfg):
    cat = Catalog.build(cfg.therapies)
    none = compile_strategy(cfg.strategy["no_treatment"], cfg.model, cat)
    soc = compile_strategy(cfg.strategy["soc"], cfg.model, cat)
    assert none.soc == tuple(() for _ in CONDITIONS)
    assert none.used == ()
    expected = tuple(
        tuple(cat.index(t) for t in cfg.model.conditions[c].soc_therapies) for c in CONDITIONS
    )
    assert soc.soc == expected


def test_soc_starts_exactly_each_conditions_therapies_on_day_0(cfg):
    pts, ev, _ = simulate(cfg)
    ev = ev.astype({"event": str})
    p = pts[pts.strategy == "soc"]
    assert p.condition.nunique() >= 4
    # by hand from the model config: each patient's condition's soc_therapies
    expected = {
        (pid, t) for pid, c in zip(p.patient_id, p.condition, strict=True)
        for t in cfg.model.conditions[c].soc_therapies
    }  # fmt: skip
    starts = ev[(ev.strategy == "soc") & (ev.event == "therapy_start")]
    day0 = starts[starts.time_days == 0.0]
    assert set(zip(day0.patient_id, day0.detail, strict=True)) == expected
    assert len(day0) == len(expected)
    # no_treatment: nothing starts, ever
    assert not ((ev.strategy == "no_treatment") & (ev.event == "therapy_start")).any()
