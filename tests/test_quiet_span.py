"""Quiet stretches of steps run in one compiled call (`Course._quiet_span`,
`Stepper.span`, `kernel.step_kernel` over several steps) give the same tables, bit for
bit, as the same steps taken one call at a time.

The reference is the engine with spans switched off (every step through the per-step
path: lever levels, rules, the schedule's log). Each case is checked to have run spans
of several steps, so the equality is not vacuous; a strategy with IRIS rules must run
none (a diagnosis can start a therapy between two steps).
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.api import load_config
from sim.engine.run import simulate
from sim.model.course import Course

CASES = {
    "every default strategy, mixed cohort": ["cohort.n=600"],
    "natalizumab withdrawal with plasma exchange": [
        "cohort=natalizumab_ms",
        "cohort.n=400",
        "strategy=[soc,pd1,il7]",
    ],
    "haematological malignancy, long follow-up": [
        "cohort=hematologic_malignancy",
        "cohort.n=300",
        "horizon_days=730",
        "strategy=[soc,vst,cmx001]",
    ],
}


def _run(overrides: list[str], spans: bool, monkeypatch) -> tuple[list[pd.DataFrame], list[int]]:
    lengths: list[int] = []
    real = Course._quiet_span

    def quiet_span(self, t, until):
        steps = real(self, t, until) if spans else []
        lengths.append(len(steps))
        return steps

    monkeypatch.setattr(Course, "_quiet_span", quiet_span)
    cfg = load_config([*overrides, "output.progress=false", "uncertainty=none", "seed=7"])
    return list(simulate(cfg)), lengths


@pytest.mark.parametrize("case", list(CASES))
def test_spans_give_the_tables_of_single_steps(case, monkeypatch):
    fused, lengths = _run(CASES[case], True, monkeypatch)
    single, none = _run(CASES[case], False, monkeypatch)
    assert max(lengths) >= 3, "no span of several steps ran: the comparison is vacuous"
    assert sum(lengths) > 2 * sum(1 for n in lengths if n), "spans hold few steps"
    assert not any(none)
    for a, b, name in zip(fused, single, ("patients", "events", "labs"), strict=True):
        assert len(a) > 0, name
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_a_strategy_with_iris_rules_runs_no_span(monkeypatch):
    """An IRIS rule acts on a diagnosis between two steps, so no step may be fused."""
    _, lengths = _run(["strategy=steroids_reactive", "cohort.n=200"], True, monkeypatch)
    assert lengths and not any(lengths)
