"""Decision rules and therapy restarts (sim.model.rules, sim.model.schedule).

Each visit-rule test recomputes, from the measurements the patients actually had
(labs.parquet of the run), which patients the rule's condition holds for, and checks
that exactly they got the therapy_start (and the rule_fired row). The rule therapy
is mirtazapine, which moves no lever in the catalog: starting it leaves every
patient's course, and so their labs, exactly as under SOC (common random numbers),
so thresholds taken from a SOC run's measurements hit measured values exactly and
the strict and non-strict operators give different answers.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.api import load_config, run_task, simulate
from sim.config.economics import TherapyCost
from sim.config.schema import ConfigError
from sim.core import rng
from sim.economics.discount import DAYS_PER_YEAR, flow, force
from sim.economics.values import patient_values
from sim.model.schedule import Schedule, side_effect_stream
from sim.model.therapies import Catalog

QUIET = [
    "output.progress=false",
    "output.print_summary=false",
    "output.plots=false",
    "output.report=false",
    "uncertainty=none",  # one parameter set: these tests read its patients
]
COHORT = ["cohort=mixed_seed000", "cohort.n=300", "seed=5"]
DRUG = "mirtazapine"  # no lever: a pure marker of "the rule started something"
# the operators written out again, independently of sim.model.rules.OPS
TRUTH = {
    ">": lambda v, x: v > x,
    ">=": lambda v, x: v >= x,
    "<": lambda v, x: v < x,
    "<=": lambda v, x: v <= x,
}
OP_NAMES = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
# marker -> the visit its rule reads (a CSF day for CSF markers, an MRI day after an
# earlier MRI for lesion growth)
MARKER_DAY = {
    "always": 14.0,
    "cd4": 28.0,
    "lymphocytes": 56.0,
    "cd4_ratio": 84.0,
    "csf_jcv_log10": 84.0,  # a day with both detectable and undetectable samples
    "csf_jcv_detectable": 84.0,
    "lesion_growth": 84.0,
}


# ----------------------------------------------------------------------------- helpers


def _config_dir(tmp_path, strategies: dict[str, dict]):
    """A user config folder holding these strategies (name -> body)."""
    d = tmp_path / "userconf" / "strategy"
    d.mkdir(parents=True)
    for name, body in strategies.items():
        text = yaml.safe_dump({"name": name, **body}, sort_keys=False)
        (d / f"{name}.yaml").write_text(f"# @package strategy.{name}\n{text}")
    return str(d.parent)


def _run(tmp_path, strategies: dict[str, dict], extra=()):
    """Run these strategies through run_task; returns (cfg, patients, events, labs) as
    written to the run folder."""
    conf = _config_dir(tmp_path, strategies)
    cfg = load_config([*COHORT, *QUIET, f"strategy=[{','.join(strategies)}]", *extra], [conf])
    out = tmp_path / "run"
    run_task(cfg, out)
    read = lambda f: pd.read_parquet(out / f)  # noqa: E731
    events = read("events.parquet").astype({"event": str})
    return cfg, read("patients.parquet"), events, read("labs.parquet")


def _rule(name, marker, op, threshold, at_day, start=(DRUG,), stop=(), delay=0.0):
    return {
        "name": name,
        "trigger": "visit",
        "at_day": at_day,
        "marker": marker,
        "op": op,
        "threshold": threshold,
        "start": list(start),
        "stop": list(stop),
        "delay_days": delay,
    }


def _marker(labs: pd.DataFrame, marker: str, day: float, cfg) -> pd.Series:
    """What a rule reads at the visit on `day`, recomputed from the labs table
    (patient_id -> value; NaN: not measured)."""
    at = labs[labs.day == day].set_index("patient_id")
    if marker == "always":
        return pd.Series(1.0, index=at.index)
    if marker in ("cd4", "lymphocytes", "csf_jcv_detectable"):
        return at[marker]
    if marker == "cd4_ratio":
        first = labs[labs.day == min(cfg.monitoring.visit_days)].set_index("patient_id")
        return at.cd4 / first.cd4.loc[at.index]
    if marker == "csf_jcv_log10":
        # undetectable: the labs say NaN; a rule reads half the detection limit
        half_lod = math.log10(cfg.monitoring.csf_jcv_lod_copies / 2.0)
        return at.csf_jcv_log10.where(at.csf_jcv_detectable == 1.0, half_lod)
    if marker == "lesion_growth":
        prev = max(d for d in cfg.monitoring.mri_days if d < day)
        before = labs[labs.day == prev].set_index("patient_id").lesion_burden
        return at.lesion_burden - before.loc[at.index]
    raise AssertionError(marker)


def _who(events: pd.DataFrame, strategy: str, event: str, detail: str) -> pd.DataFrame:
    e = events[(events.strategy == strategy) & (events.event == event)]
    return e[e.detail == detail]


def _alive_at(patients: pd.DataFrame, strategy: str, t: float) -> set[int]:
    p = patients[patients.strategy == strategy]
    return set(p.patient_id[p.time_days > t])


# ------------------------------------------------------ every marker x every operator


@pytest.fixture(scope="module")
def thresholds():
    """Per marker, a value some patient actually measured at the rule's visit (SOC run)."""
    cfg = load_config([*COHORT, *QUIET, "strategy=soc"])
    _, _, labs = simulate(cfg)
    out = {"always": 1.0, "csf_jcv_detectable": 1.0}
    for marker, day in MARKER_DAY.items():
        if marker in out:
            continue
        v = _marker(labs, marker, day, cfg)
        if marker == "csf_jcv_log10":
            v = v[labs[labs.day == day].set_index("patient_id").csf_jcv_detectable == 1.0]
        v = np.sort(v.dropna().to_numpy())
        out[marker] = float(v[len(v) // 3])
    return out


@pytest.fixture(scope="module")
def marker_run(tmp_path_factory, thresholds):
    strategies = {
        f"t_{m}_{OP_NAMES[op]}": {
            "standard_of_care": True,
            "rules": [_rule(f"r_{m}_{OP_NAMES[op]}", m, op, thresholds[m], MARKER_DAY[m])],
        }
        for m in MARKER_DAY
        for op in TRUTH
    }
    return _run(tmp_path_factory.mktemp("markers"), strategies)


@pytest.mark.parametrize("op", list(TRUTH))
@pytest.mark.parametrize("marker", list(MARKER_DAY))
def test_rule_starts_exactly_whom_the_labs_say(marker_run, thresholds, marker, op):
    cfg, _, events, labs = marker_run
    name = f"t_{marker}_{OP_NAMES[op]}"
    day, thr = MARKER_DAY[marker], thresholds[marker]
    rule = cfg.strategy[name].rules[0]
    assert rule.threshold == thr  # the YAML carried the measured value exactly
    value = _marker(labs[labs.strategy == name], marker, day, cfg)
    # the threshold is a measured value: strict and non-strict operators differ
    assert (value == thr).any()
    expected = set(value.index[TRUTH[op](value, thr) & value.notna()])
    if marker not in ("always", "csf_jcv_detectable"):
        assert 0 < len(expected) < len(value)  # both answers occur
    if marker == "csf_jcv_log10" and op in ("<", "<="):
        # undetectable (NaN in the labs) reads half the detection limit: below thr
        at = labs[(labs.strategy == name) & (labs.day == day)].set_index("patient_id")
        undetectable = set(at.index[at.csf_jcv_detectable == 0.0])
        assert len(undetectable) > 0 and undetectable <= expected
    starts = _who(events, name, "therapy_start", DRUG)
    assert set(starts.patient_id) == expected
    assert (starts.time_days == day).all()
    assert starts.patient_id.is_unique
    fired = _who(events, name, "rule_fired", rule.name)
    assert set(fired.patient_id) == expected
    assert (fired.time_days == day).all()


def test_a_rule_therapy_leaves_the_labs_as_under_soc(marker_run):
    # the premise of the thresholds above: mirtazapine changes nothing measurable
    _, _, _, labs = marker_run
    cols = ["patient_id", "day", "cd4", "lymphocytes", "csf_jcv_log10", "lesion_burden"]
    by = {s: g[cols].reset_index(drop=True) for s, g in labs.groupby("strategy")}
    first = next(iter(by.values()))
    for g in by.values():
        pd.testing.assert_frame_equal(g, first, check_exact=True)


# ------------------------------------------------- every visit, delay, stop, stop_day


def test_every_visit_rule_starts_at_the_first_visit_that_satisfies_it_and_restarts(
    tmp_path, thresholds
):
    # at_day null: the rule is read at every visit. A 40-day course ends between visits,
    # so the rule starts a new course at the first satisfying visit after each end.
    course = 40.0
    thr = thresholds["cd4"]
    strategies = {"every": {"rules": [_rule("every_visit", "cd4", ">=", thr, None)]}}
    cfg, pts, events, labs = _run(tmp_path, strategies, [f"therapies.{DRUG}.course_days={course}"])
    expected_starts: dict[int, list[float]] = {}
    every = labs[labs.strategy == "every"].sort_values(["patient_id", "day"])
    for pid, g in every.groupby("patient_id"):
        ends, starts = -np.inf, []
        for day, cd4 in zip(g.day, g.cd4, strict=True):
            if cd4 >= thr and day >= ends:  # never on it, or the last course has ended
                starts.append(day)
                ends = day + course
        if starts:
            expected_starts[pid] = starts
    fired = _who(events, "every", "rule_fired", "every_visit").groupby("patient_id").time_days
    assert {p: list(t) for p, t in fired} == expected_starts
    # a course planned at the horizon (the last visit) falls outside follow-up
    in_follow_up = {p: [t for t in s if t < cfg.horizon_days] for p, s in expected_starts.items()}
    got = _who(events, "every", "therapy_start", DRUG).groupby("patient_id").time_days
    assert {p: list(t) for p, t in got} == {p: s for p, s in in_follow_up.items() if s}
    restarted = [p for p, s in expected_starts.items() if len(s) > 1]
    late = [p for p, s in expected_starts.items() if s[0] > min(cfg.monitoring.visit_days)]
    assert len(restarted) > 10 and len(late) > 10  # both behaviours are exercised
    # each course ends after course_days, if the patient lives that long
    t_end = pts[pts.strategy == "every"].set_index("patient_id").time_days
    stops = _who(events, "every", "therapy_stop", DRUG).groupby("patient_id").time_days
    expected_stops = {
        p: [t + course for t in s if t + course < t_end[p]] for p, s in expected_starts.items()
    }
    assert {p: list(t) for p, t in stops} == {p: s for p, s in expected_stops.items() if s}


def test_delay_days_starts_later_and_only_the_living(tmp_path, thresholds):
    day, delay, thr = 28.0, 10.0, thresholds["cd4"]
    strategies = {"delayed": {"rules": [_rule("late", "cd4", "<", thr, day, delay=delay)]}}
    cfg, pts, events, labs = _run(tmp_path, strategies)
    value = _marker(labs[labs.strategy == "delayed"], "cd4", day, cfg)
    holds = set(value.index[value < thr])
    alive = _alive_at(pts, "delayed", day + delay)
    starts = _who(events, "delayed", "therapy_start", DRUG)
    assert set(starts.patient_id) == holds & alive
    assert (starts.time_days == day + delay).all()
    # the rule fired at the visit, for everyone it planned a start for
    fired = _who(events, "delayed", "rule_fired", "late")
    assert set(fired.patient_id) == holds and (fired.time_days == day).all()
    assert len(holds - alive) > 0  # some die while the start is pending


def test_stop_lists_and_rule_fired_only_when_the_rule_acts(tmp_path, thresholds):
    thr = thresholds["cd4"]
    body = {
        "therapies": [
            {"therapy": DRUG, "start_day": 0.0},
            {"therapy": "cidofovir", "start_day": 60.0},
        ],
        "rules": [
            # stop the running course 5 days after a low CD4 at day 28
            _rule("stop_low", "cd4", "<", thr, 28.0, start=(), stop=(DRUG,), delay=5.0),
            # everyone is on it at day 28 (the stops come at 33): nothing to start
            _rule("start_on", "always", ">", 0.0, 28.0),
            # a start when a course is still to begin does nothing either
            _rule("start_pending", "always", ">", 0.0, 28.0, start=("cidofovir",)),
            # a stop of a therapy never given does nothing
            _rule("stop_never", "always", ">", 0.0, 56.0, start=(), stop=("mefloquine",)),
            # a new course for those whose course was stopped
            _rule("restart", "always", ">", 0.0, 56.0),
            # a stop before a planned course begins cancels it
            _rule("cancel", "cd4", ">=", thr, 28.0, start=(), stop=("cidofovir",)),
        ],
    }  # fmt: skip
    cfg, pts, events, labs = _run(tmp_path, {"stops": body})
    value = _marker(labs[labs.strategy == "stops"], "cd4", 28.0, cfg)
    low = set(value.index[value < thr])
    high = set(value.index[value >= thr])
    stops = _who(events, "stops", "therapy_stop", DRUG)
    assert set(stops.patient_id) == low & _alive_at(pts, "stops", 33.0)
    assert (stops.time_days == 33.0).all()
    fired = events[(events.strategy == "stops") & (events.event == "rule_fired")]
    fired = fired.groupby("detail").patient_id.apply(set).to_dict()
    assert fired["stop_low"] == low
    for quiet in ("start_on", "start_pending", "stop_never"):
        assert quiet not in fired
    # restart at day 56: exactly the stopped patients still alive then
    starts = _who(events, "stops", "therapy_start", DRUG)
    second = starts[starts.time_days == 56.0]
    assert set(second.patient_id) == low & _alive_at(pts, "stops", 56.0) == fired["restart"]
    assert set(starts[starts.time_days == 0.0].patient_id) == set(pts.patient_id)
    # cidofovir: cancelled for high CD4 (nothing logged), given from day 60 to the others
    cido = _who(events, "stops", "therapy_start", "cidofovir")
    assert set(cido.patient_id) == low & _alive_at(pts, "stops", 60.0)
    assert (cido.time_days == 60.0).all()
    assert fired["cancel"] == high
    for event in ("therapy_stop", "side_effect", "dose"):
        e = events[(events.strategy == "stops") & (events.event == event)]
        assert e[e.detail.str.startswith("cidofovir")].patient_id.isin(low).all()


def test_stop_day_of_a_strategy_therapy(tmp_path):
    # mefloquine: weekly doses (26), open-ended course, stopped on day 50 by the strategy
    body = {
        "therapies": [
            {"therapy": DRUG, "start_day": 10.0, "stop_day": 50.0},
            {"therapy": "mefloquine", "start_day": 0.0, "stop_day": 50.0},
        ]
    }
    cfg, pts, events, _ = _run(tmp_path, {"stopday": body})
    mq = cfg.therapies["mefloquine"]
    t_end = pts[pts.strategy == "stopday"].set_index("patient_id").time_days
    starts = _who(events, "stopday", "therapy_start", DRUG)
    assert set(starts.patient_id) == set(t_end.index[t_end > 10.0])
    assert (starts.time_days == 10.0).all()
    for drug in (DRUG, "mefloquine"):
        # the stop_day, unless a side effect that ends the therapy came first
        stop_at = pd.Series(50.0, index=t_end.index)
        for se in cfg.therapies[drug].side_effects:
            if se.stops_therapy:
                early = _who(events, "stopday", "side_effect", f"{drug}:{se.name}")
                early = early.set_index("patient_id").time_days
                stop_at.loc[early.index] = np.minimum(stop_at.loc[early.index], early)
        stops = _who(events, "stopday", "therapy_stop", drug).set_index("patient_id").time_days
        expected = stop_at[stop_at < t_end]  # alive at the stop (after both starts)
        pd.testing.assert_series_equal(stops.sort_index(), expected.sort_index(), check_names=False)
    # doses on days 0, 7, ..., 49 (those at or after the stop are not given), while alive
    doses = _who(events, "stopday", "dose", "mefloquine")
    per_patient = doses.groupby("patient_id").time_days.apply(list)
    dose_days = [j * mq.dose_interval_days for j in range(mq.n_doses)]
    mq_stop = _who(events, "stopday", "therapy_stop", "mefloquine").set_index("patient_id")
    for pid, t in t_end.items():
        end = mq_stop.time_days.get(pid, t)
        expected = [d for d in dose_days if d < end and d < t]
        assert per_patient.get(pid, []) == expected


# ------------------------------------------------------------------- steroid restart


@pytest.fixture(scope="module")
def natalizumab_steroids():
    # natalizumab withdrawal without plasma exchange: IRIS comes around week 6, so some
    # patients' IRIS is diagnosed after the 42-day prophylactic course (with PLEX and the
    # TOFINGO-fitted receptor desaturation nearly every IRIS starts within ~5 days)
    cfg = load_config(
        [
            "cohort=natalizumab_ms",
            "cohort.n=2000",
            "strategy=[steroids_prophylactic,steroids_reactive]",
            "model.conditions.natalizumab_ms.soc_therapies=[natalizumab_withdrawal,supportive_care]",
            "output.progress=false",
        ]
    )
    pts, ev, labs = simulate(cfg)
    return cfg, pts, ev.astype({"event": str}), labs


def test_steroids_again_when_iris_is_diagnosed_after_the_prophylactic_course(
    natalizumab_steroids,
):
    cfg, _, ev, _ = natalizumab_steroids
    s = "steroids_prophylactic"
    course_end = cfg.therapies["corticosteroids"].course_days  # started on day 0
    dx = ev[(ev.strategy == s) & (ev.event == "iris_diagnosis")].set_index("patient_id").time_days
    after = dx[dx >= course_end]
    cs = _who(ev, s, "therapy_start", "corticosteroids")
    first = cs[cs.time_days == 0.0]
    again = cs[cs.time_days > 0.0]
    assert len(first) == 2000
    # a second course for exactly the IRIS diagnosed after the first course ended, at
    # the diagnosis; none for IRIS diagnosed while still on steroids
    assert len(after) >= 10 and len(after) < len(dx)  # 14 of 2,000 at the 2026-12-06 fit
    assert again.patient_id.is_unique
    assert set(again.patient_id) == set(after.index)
    np.testing.assert_array_equal(
        again.set_index("patient_id").time_days.sort_index(), after.sort_index()
    )
    fired = _who(ev, s, "rule_fired", "steroids_on_iris").set_index("patient_id").time_days
    pd.testing.assert_series_equal(fired.sort_index(), after.sort_index(), check_names=False)
    # the second course ends course_days later (or follow-up ends first)
    stops = _who(ev, s, "therapy_stop", "corticosteroids")
    second_stop = stops[stops.time_days > course_end].set_index("patient_id").time_days
    ends = ev[(ev.strategy == s) & ev.event.isin(["death", "end_of_follow_up"])]
    t_end = ends.set_index("patient_id").time_days
    on_to_end = after[after + course_end < t_end.loc[after.index]]
    np.testing.assert_allclose(
        second_stop.sort_index(), (on_to_end + course_end).sort_index(), rtol=0, atol=1e-9
    )


def test_reactive_steroids_start_at_every_diagnosis(natalizumab_steroids):
    _, _, ev, _ = natalizumab_steroids
    s = "steroids_reactive"
    dx = ev[(ev.strategy == s) & (ev.event == "iris_diagnosis")].set_index("patient_id").time_days
    cs = _who(ev, s, "therapy_start", "corticosteroids").set_index("patient_id").time_days
    fired = _who(ev, s, "rule_fired", "steroids_on_iris").set_index("patient_id").time_days
    assert len(dx) > 1000
    for got in (cs, fired):
        pd.testing.assert_series_equal(got.sort_index(), dx.sort_index(), check_names=False)


def test_a_second_course_draws_its_own_side_effects():
    # mixed cohort: IRIS mostly after the prophylactic course, many second courses
    cfg = load_config(
        ["cohort=mixed_seed000", "cohort.n=10000", "strategy=steroids_prophylactic"]
        + ["output.progress=false"]
    )
    pts, ev, _ = simulate(cfg)
    ev = ev.astype({"event": str})
    s = "steroids_prophylactic"
    se = cfg.therapies["corticosteroids"].side_effects[0]
    cs = _who(ev, s, "therapy_start", "corticosteroids")
    second = cs[cs.time_days > 0.0].set_index("patient_id").time_days
    t_end = pts.set_index("patient_id").time_days
    # patients alive when their second course's side effect would show
    seen = second[second + se.onset_days < t_end.loc[second.index]]
    had = _who(ev, s, "side_effect", f"corticosteroids:{se.name}")
    had_second = set(had[had.time_days > se.onset_days].patient_id)
    rate = np.mean([p in had_second for p in seen.index])
    mc_se = math.sqrt(se.probability * (1 - se.probability) / len(seen))
    assert len(seen) > 500
    assert abs(rate - se.probability) < 4 * mc_se
    # the draw is course number 1's own random number (not the first course's again)
    key = rng.run_key(cfg.seed)
    stream = side_effect_stream("corticosteroids", se.name)
    pid = seen.index.to_numpy()
    u2 = rng.uniform(key, stream, pid, 1)
    assert set(pid[u2 < se.probability]) == had_second & set(pid)
    u1 = rng.uniform(key, stream, pid, 0)
    same = np.mean((u1 < se.probability) == (u2 < se.probability))
    p_same = se.probability**2 + (1 - se.probability) ** 2  # independent draws
    assert abs(same - p_same) < 4 * math.sqrt(p_same * (1 - p_same) / len(pid))


def test_restarts_do_not_depend_on_chunking_or_engine(run):
    common = ("cohort=mixed_seed000", "cohort.n=120", "strategy=steroids_prophylactic", "seed=2")
    a = run(*common, "engine.chunk_size=7")
    b = run(*common, "engine.chunk_size=1000")
    c = run(*common, "engine.kind=reference")
    ev = b[1].astype({"event": str})
    restarts = _who(ev, "steroids_prophylactic", "therapy_start", "corticosteroids")
    assert (restarts.time_days > 0).sum() >= 5
    keys = (["patient_id"], ["patient_id", "time_days", "event", "detail"], ["patient_id", "day"])
    for other in (a, c):
        for x, y, by in zip(other, b, keys, strict=True):
            x = x.astype({"event": str}) if "event" in x else x
            y = y.astype({"event": str}) if "event" in y else y
            x = x.sort_values(by, kind="stable").reset_index(drop=True)
            y = y.sort_values(by, kind="stable").reset_index(drop=True)
            pd.testing.assert_frame_equal(x, y, check_exact=True)


def test_a_restarted_course_is_costed_as_a_second_course(natalizumab_steroids):
    cfg, pts, ev, _ = natalizumab_steroids
    s = "steroids_prophylactic"
    econ = copy.deepcopy(cfg.economics)
    price = econ.costs.therapies["corticosteroids"].per_day
    econ.costs.therapies = {  # only the steroids cost (every therapy needs a price)
        t: tc if t == "corticosteroids" else TherapyCost() for t, tc in econ.costs.therapies.items()
    }
    p = pts[pts.strategy == s]
    v = patient_values(
        p, ev[ev.strategy == s], econ, cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days
    ).set_index("patient_id")
    # by hand: each course from its start to min(start + course_days, death / horizon)
    course = cfg.therapies["corticosteroids"].course_days
    t_end = p.set_index("patient_id").time_days
    dx = ev[(ev.strategy == s) & (ev.event == "iris_diagnosis")].set_index("patient_id").time_days
    restart = dx[dx >= course]
    d = force(econ.discount.costs)
    y = DAYS_PER_YEAR

    def days_on(a, b):
        return price * y * flow(a / y, b / y, d)

    expected = pd.Series(days_on(0.0, np.minimum(course, t_end)), index=t_end.index)
    expected.loc[restart.index] += days_on(
        restart, np.minimum(restart + course, t_end.loc[restart.index])
    )
    np.testing.assert_allclose(v.cost_drugs.sort_index(), expected.sort_index(), rtol=1e-12)
    # every restart adds cost; one lasting 5% of a course adds over 4% (discounted later)
    assert (v.cost_drugs.loc[restart.index] > days_on(0.0, course)).all()
    on_second = t_end.loc[restart.index] - restart
    long = restart.index[on_second >= 0.05 * course]
    assert len(long) > 0.9 * len(restart)
    assert (v.cost_drugs.loc[long] > days_on(0.0, course) * 1.04).all()


# ----------------------------------------------------------- the schedule, unit level


def _schedule(therapy: str, n: int = 3):
    cfg = load_config(["strategy=soc", "output.progress=false"])
    cat = Catalog.build(cfg.therapies)
    k = cat.index(therapy)
    start = np.full((len(cat.names), n), np.inf)
    stop = np.full_like(start, np.inf)
    applies = np.ones((len(cat.names), n), dtype=bool)
    return Schedule(cat, start, stop, [k], applies), cat, k


def test_schedule_course_semantics():
    # rhIL-7: 3 weekly doses, 35-day course, 3-day onset ramp
    sch, cat, k = _schedule("rhil7")
    onset, course = float(cat.onset[k]), float(cat.course[k])
    everyone = np.ones(3, dtype=bool)
    first = np.array([True, True, False])
    assert sch.begin(k, np.full(3, 0.0), first).tolist() == [True, True, False]
    # on it: nothing; a stop ends the running course
    assert not sch.begin(k, np.full(3, 20.0), first).any()
    assert sch.halt(k, np.full(3, 20.0), np.array([True, False, False])).tolist() == [
        True,
        False,
        False,
    ]
    assert sch.end[k].tolist() == [20.0, course, np.inf]
    # after the course ended (patient 0: stopped; 1: elapsed): a new course; 2: first one
    acted = sch.begin(k, np.full(3, 50.0), everyone)
    assert acted.all()
    (row,) = [r for r in sch.used if sch.therapy[r] == k and sch.course_no[r] == 1]
    assert sch.start[row].tolist() == [50.0, 50.0, np.inf]
    assert sch.start[k].tolist() == [0.0, 0.0, 50.0]
    # the new course ramps up from zero again and gives its doses from the first
    level = sch.activity(row, 50.0, 1.0)
    np.testing.assert_allclose(level, [0.5 / onset, 0.5 / onset, 0.0])
    assert sch.activity(k, 50.0, 1.0).tolist() == [0.0, 0.0, 0.5 / onset]
    for day in (50.0, 57.0, 64.0):
        assert sch.doses(row, day, 1.0).tolist() == [1.0, 1.0, 0.0]
    assert sch.doses(row, 71.0, 1.0) is None
    # a stop after the course ended does nothing
    assert not sch.halt(k, np.full(3, 200.0), everyone).any()
    # a stop before a planned course begins cancels it, and frees its place
    assert sch.begin(k, np.full(3, 300.0), everyone).all()  # 0, 1: course 2; 2: course 1
    (row2,) = [r for r in sch.used if sch.therapy[r] == k and sch.course_no[r] == 2]
    assert sch.start[row2].tolist() == [300.0, 300.0, np.inf]
    assert sch.start[row].tolist() == [50.0, 50.0, 300.0]
    assert sch.halt(k, np.full(3, 250.0), everyone).all()
    assert sch.start[row2].tolist() == [np.inf] * 3
    assert sch.start[row].tolist() == [50.0, 50.0, np.inf]
    assert sch.begin(k, np.full(3, 400.0), everyone).all()
    assert sch.start[row2].tolist() == [400.0, 400.0, np.inf]
    assert sch.start[row].tolist() == [50.0, 50.0, 400.0]
    assert len([r for r in sch.used if sch.therapy[r] == k]) == 3


def test_side_effect_names_are_unique_within_a_therapy():
    # the name keys the side effect's random stream: two with one name would share draws
    twice = "{name: nausea, probability: 0.1},{name: nausea, probability: 0.2}"
    with pytest.raises(ConfigError, match=r"side_effects\[1\]\.name.*'nausea' appears twice"):
        load_config(["strategy=soc", f"therapies.mirtazapine.side_effects=[{twice}]"])
    # no limit on how many (there were 64 numbered slots per therapy)
    many = ",".join(f"{{name: se{i}, probability: 0.1}}" for i in range(200))
    load_config(["strategy=soc", f"therapies.mirtazapine.side_effects=[{many}]"])


def test_iris_rules_take_no_condition():
    with pytest.raises(ConfigError, match="iris_diagnosis"):
        load_config(["strategy=steroids_reactive", "strategy.steroids_reactive.rules.0.marker=cd4"])
    with pytest.raises(ConfigError, match="iris_diagnosis"):
        load_config(
            ["strategy=steroids_reactive", "strategy.steroids_reactive.rules.0.at_day=28.0"]
        )
