"""Strategies: which therapies start when, and the decision rules read at visits.

A strategy is data (`conf/strategy/*.yaml`):

* `standard_of_care: true` starts each patient's condition-appropriate immune
  restoration at diagnosis (ART in HIV, stopping natalizumab plus plasma exchange,
  reducing transplant immunosuppression ...), as listed per condition in the model;
* `therapies`: extra therapies with their start (and optional stop) day;
* `rules`: "at the visit on day X (or any visit), if MARKER OP THRESHOLD, start /
  stop these therapies (after `delay_days`)". Rules with `trigger: iris_diagnosis`
  act when IRIS is diagnosed instead (e.g. start steroids).

This module turns that data into catalog indices (`compile_strategy`) and the day-0
plan of a group of patients (`schedule`). What a rule does when it fires, restarts
included, is `sim.model.rules`; what a course is, `sim.model.schedule`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.schema import CONDITIONS, ModelConfig, RuleConfig, StrategyConfig
from sim.model.cohort import Patients
from sim.model.rules import Rule
from sim.model.schedule import Schedule
from sim.model.therapies import Catalog


@dataclass(frozen=True)
class Compiled:
    name: str
    soc: tuple[tuple[int, ...], ...]  # per condition: catalog indices started at day 0
    initial: tuple[tuple[int, float, float], ...]  # (k, start, stop)
    visit_rules: tuple[Rule, ...]
    iris_rules: tuple[Rule, ...]
    used: tuple[int, ...]

    @property
    def rule_names(self) -> tuple[str, ...]:
        """The names of the strategy's rules (visit rules, then IRIS rules)."""
        return tuple(dict.fromkeys(r.name for r in (*self.visit_rules, *self.iris_rules)))


def _rule(r: RuleConfig, cat: Catalog) -> Rule:
    return Rule(
        name=r.name,
        at_day=r.at_day,
        marker=r.marker,
        op=r.op,
        threshold=float(r.threshold),
        start=tuple(cat.index(x) for x in r.start),
        stop=tuple(cat.index(x) for x in r.stop),
        delay=float(r.delay_days),
    )


def compile_strategy(s: StrategyConfig, model: ModelConfig, cat: Catalog) -> Compiled:
    soc = tuple(
        tuple(cat.index(x) for x in model.conditions[c].soc_therapies) if s.standard_of_care else ()
        for c in CONDITIONS
    )
    initial = tuple(
        (
            cat.index(x.therapy),
            float(x.start_day),
            np.inf if x.stop_day is None else float(x.stop_day),
        )
        for x in s.therapies
    )
    rules = [_rule(r, cat) for r in s.rules]
    visit_rules = tuple(r for r, c in zip(rules, s.rules, strict=True) if c.trigger == "visit")
    iris_rules = tuple(
        r for r, c in zip(rules, s.rules, strict=True) if c.trigger == "iris_diagnosis"
    )
    used = set(k for ks in soc for k in ks) | {k for k, _, _ in initial}
    for r in rules:
        used |= set(r.start) | set(r.stop)
    return Compiled(s.name, soc, initial, visit_rules, iris_rules, tuple(sorted(used)))


def schedule(c: Compiled, p: Patients, cat: Catalog) -> Schedule:
    """The day-0 therapy schedule of these patients under strategy c."""
    n, k = len(p), len(cat.names)
    start = np.full((k, n), np.inf)
    stop = np.full((k, n), np.inf)
    for ci, ks in enumerate(c.soc):
        m = p.condition == ci
        for kk in ks:
            start[kk, m] = 0.0
    for kk, s0, s1 in c.initial:
        start[kk] = np.minimum(start[kk], s0)
        stop[kk] = s1
    return Schedule(
        cat,
        start,
        stop,
        used=list(c.used),
        applies=cat.applies[:, p.condition],
    )
