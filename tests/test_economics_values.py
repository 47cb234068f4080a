"""Per-patient costs and QALYs against a hand-worked two-patient example, and the PSA
loop's independence of the executor."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.config.economics import (
    CostsConfig,
    EconomicsConfig,
    Gompertz,
    LifetimeConfig,
    TherapyCost,
    UtilitiesConfig,
)
from sim.config.schema import ModelConfig, MonitoringConfig, SideEffect, TherapyConfig
from sim.economics.discount import flow, force, linear_flow
from sim.economics.values import patient_values

Y = 365.25
D = force(0.035)


def _econ(lifetime: bool) -> EconomicsConfig:
    return EconomicsConfig(
        currency="GBP",
        price_year=2024,
        costs=CostsConfig(
            therapies={"drug_a": TherapyCost(per_dose=100.0), "oral": TherapyCost(per_day=10.0)},
            hospital_day=400.0,
            admission_days=2.0,
            iris_hospital_days=3.0,
            iris_management=50.0,
            visit=20.0,
            mri=200.0,
            lumbar_puncture=300.0,
            side_effect=5.0,
            severe_side_effect=1000.0,
            death=500.0,
            long_term_care_per_year=[0.0, 0.0, 1000.0, 0.0, 0.0, 3000.0],
            condition_care_per_year={"hiv": 2000.0},
        ),
        utilities=UtilitiesConfig(
            by_mrs=[0.9, 0.8, 0.7, 0.6, 0.4, 0.2],
            iris_decrement=0.1,
            severe_side_effect_qaly_loss=0.01,
        ),
        lifetime=LifetimeConfig(
            enabled=lifetime,
            max_age=60.0,
            background_male=Gompertz(a=1e-300, b=0.1),  # off: only the excess hazard
            background_female=Gompertz(a=1e-300, b=0.1),
            excess_mortality_per_year={"hiv": 0.05},
        ),
    )


THERAPIES = {
    "drug_a": TherapyConfig(
        label="A",
        n_doses=2,
        dose_interval_days=7.0,
        side_effects=[SideEffect(name="bad", probability=0.5, severe=True)],
    ),
    "oral": TherapyConfig(label="O", course_days=0.5 * Y),  # logged: its stop at 0.5 y
}


def _frames():
    patients = pd.DataFrame(
        {
            "strategy": ["x", "x"],
            "patient_id": [1, 0],  # any order
            "condition": ["hiv", "hiv"],
            "age": [40.0, 40.0],
            "female": [False, False],
            "lesion_burden_0": [0.05, 0.15],  # mRS 0 and 1 at diagnosis
            "time_days": [Y, 0.2 * Y],
            "died": [False, True],
            "iris_onset_days": [0.1 * Y, np.nan],
            "mrs": [2, 6],
        }
    )
    ev = [
        (0, 0.0, "therapy_start", "drug_a", 1, None),
        (0, 0.0, "dose", "drug_a", 1, None),
        (0, 7.0, "dose", "drug_a", 1, None),
        (0, 0.0, "visit", None, 0, None),
        (0, 28.0, "visit", None, 0, None),
        (0, 14.0, "side_effect", "drug_a", 1, "bad"),
        (0, 0.2 * Y, "death", None, 0, None),
        (1, 0.0, "therapy_start", "oral", 1, None),
        (1, 0.5 * Y, "therapy_stop", "oral", 1, None),
        (1, 0.0, "visit", None, 0, None),
        (1, 0.1 * Y, "iris_onset", None, 0, None),
        (1, 0.12 * Y, "iris_diagnosis", None, 0, None),
        (1, 0.2 * Y, "iris_resolved", None, 0, None),
        (1, Y, "end_of_follow_up", None, 0, None),
    ]
    return patients, _log(ev)


def _log(rows: list[tuple]) -> pd.DataFrame:
    """Event rows (patient, day, event, therapy, course, side effect) with the other
    columns as the engine writes them: detail label, severity from THERAPIES."""
    cols = ["patient_id", "time_days", "event", "therapy", "course", "side_effect"]
    events = pd.DataFrame(rows, columns=cols)
    severe = {(t, se.name): se.severe for t, c in THERAPIES.items() for se in c.side_effects}
    pairs = zip(events.therapy, events.side_effect, strict=True)
    events["severe"] = [severe.get(p, False) for p in pairs]
    events["detail"] = [
        f"{t}:{se}" if se else (t or "")
        for t, se in zip(events.therapy, events.side_effect, strict=True)
    ]
    events.insert(0, "strategy", "x")
    return events


def _values(lifetime: bool) -> pd.DataFrame:
    p, e = _frames()
    mon = MonitoringConfig(visit_days=[0.0, 28.0, 84.0], csf_days=[0.0], mri_days=[0.0, 84.0])
    return patient_values(p, e, _econ(lifetime), ModelConfig(), mon, THERAPIES, Y).set_index(
        "patient_id"
    )


def test_acute_phase_costs_and_qalys_by_hand():
    v = _values(lifetime=False)
    p0, p1 = v.loc[0], v.loc[1]
    disc = lambda days: math.exp(-D * days / Y)  # noqa: E731
    assert p0["cost_drugs"] == pytest.approx(100 * (1 + disc(7)))
    assert p0["cost_hospital"] == pytest.approx(800.0)
    assert p0["cost_monitoring"] == pytest.approx(520 + 20 * disc(28))
    assert p0["cost_adverse_events"] == pytest.approx(1000 * disc(14))
    assert p0["cost_end_of_life"] == pytest.approx(500 * disc(0.2 * Y))
    assert p0["qaly"] == pytest.approx(linear_flow(0, 0.2, 0.8, 0.2, D) - 0.01)
    assert p0["life_years"] == pytest.approx(0.2)

    assert p1["cost_drugs"] == pytest.approx(10 * Y * flow(0, 0.5, D))
    assert p1["cost_hospital"] == pytest.approx(800 + (3 * 400 + 50) * disc(0.12 * Y))
    assert p1["cost_monitoring"] == pytest.approx(520.0)
    assert p1["cost_end_of_life"] == 0.0
    expected_q = linear_flow(0, 1, 0.9, 0.7, D) - 0.1 * flow(0.1, 0.2, D)
    assert p1["qaly"] == pytest.approx(expected_q)
    assert p1["life_years"] == pytest.approx(1.0)
    for col in ("cost", "qaly"):
        assert v[col].notna().all()
    parts = [c for c in v.columns if c.startswith("cost_")]
    assert np.allclose(v[parts].sum(axis=1), v["cost"])


def _cost(events: pd.DataFrame) -> pd.DataFrame:
    p, _ = _frames()
    mon = MonitoringConfig(visit_days=[0.0, 28.0, 84.0], csf_days=[0.0], mri_days=[0.0, 84.0])
    return patient_values(p, events, _econ(False), ModelConfig(), mon, THERAPIES, Y)


def test_costs_read_the_typed_fields_not_the_detail_labels():
    _, e = _frames()
    base = _cost(e)
    assert (base["cost_drugs"] > 0).all() and (base["cost_adverse_events"] > 0).any()
    pd.testing.assert_frame_equal(_cost(e.assign(detail="renamed")), base)


def _edit(e: pd.DataFrame, where: str, **values) -> pd.DataFrame:
    e = e.copy()
    rows = e.query(where).index
    assert len(rows) > 0, where
    for col, v in values.items():
        e[col] = e[col].astype(object)
        e.loc[rows, col] = v
    return e


LOG_FAULTS = {
    "renamed event": (lambda e: _edit(e, "event == 'dose'", event="doses"), "unknown event"),
    "renamed therapy": (
        lambda e: _edit(e, "therapy == 'drug_a'", therapy="drug_b"),
        "unknown therapy",
    ),
    "no therapy": (lambda e: _edit(e, "event == 'dose'", therapy=None), "unknown therapy"),
    "renamed side effect": (
        lambda e: _edit(e, "side_effect == 'bad'", side_effect="worse"),
        "'worse' is not one of 'drug_a'",
    ),
    "severity": (lambda e: _edit(e, "side_effect == 'bad'", severe=False), "severe flag"),
    "no course number": (lambda e: _edit(e, "event == 'dose'", course=0), "no course number"),
    "missing stop": (lambda e: e[e.event != "therapy_stop"], "no therapy_stop"),
    "missing start": (
        lambda e: e[~((e.event == "therapy_start") & (e.therapy == "oral"))],
        "no therapy_start",
    ),
    "stop of another course": (
        lambda e: _edit(e, "event == 'therapy_stop'", course=2),
        "no therapy_start",
    ),
    "two stops": (lambda e: pd.concat([e, e[e.event == "therapy_stop"]]), "two stops"),
    "two starts": (
        lambda e: pd.concat([e, e[(e.event == "therapy_start") & (e.therapy == "oral")]]),
        "two starts",
    ),
    "stop before start": (
        lambda e: _edit(e, "event == 'therapy_start' and therapy == 'oral'", time_days=0.6 * Y),
        "before its start",
    ),
    "old log": (lambda e: e.drop(columns=["therapy", "course"]), "lacks"),
}


@pytest.mark.parametrize("fault", list(LOG_FAULTS))
def test_a_log_that_cannot_be_costed_raises(fault):
    change, message = LOG_FAULTS[fault]
    _, e = _frames()
    _cost(e)  # the log as written is fine
    with pytest.raises(ValueError, match=message):
        _cost(change(e))


def test_survivors_live_on_with_their_residual_disability():
    short, long = _values(lifetime=False), _values(lifetime=True)
    h, span = 0.05, 60.0 - 41.0  # age 40 at diagnosis + 1-year horizon; max_age 60
    years = (1 - math.exp(-(h + D) * span)) / (h + D)
    p1 = long.loc[1]
    assert p1["qaly_lifetime"] == pytest.approx(0.7 * math.exp(-D) * years, rel=1e-9)
    assert p1["cost_long_term"] == pytest.approx((1000 + 2000) * math.exp(-D) * years, rel=1e-9)
    assert p1["life_years"] == pytest.approx(1 + (1 - math.exp(-h * span)) / h, rel=1e-9)
    assert p1["qaly"] == pytest.approx(short.loc[1, "qaly"] + p1["qaly_lifetime"])
    # the dead patient gains nothing after death
    assert long.loc[0, "qaly"] == pytest.approx(short.loc[0, "qaly"])
    # the survivor's own death, at any time to max_age, costs end-of-life care: with a
    # constant hazard h, E[exp(-D T)] = h / (h + D) (1 - e^-(h + D) L) + e^-(h + D) L
    # (the second term: everybody left dies at max_age)
    tail = math.exp(-(h + D) * span)
    expected_eol = 500 * math.exp(-D) * (h / (h + D) * (1 - tail) + tail)
    assert p1["cost_end_of_life"] == pytest.approx(expected_eol, rel=1e-9)
    assert short.loc[1, "cost_end_of_life"] == 0.0  # no lifetime, no later death
    assert long.loc[0, "cost_end_of_life"] == pytest.approx(short.loc[0, "cost_end_of_life"])


@pytest.mark.parametrize("rate", [0.0, 0.035])
def test_shipped_lifetime_end_of_life_cost_equals_the_integral_of_the_death_density(rate):
    """With the shipped UK life table and the mRS 4 hazard ratio, the expected discounted
    end-of-life cost of a 70-year-old man's later death is death x (integral of
    h(s) S(s) e^(-d s) ds + S(L) e^(-d L)), here by numerical quadrature."""
    from scipy import integrate

    from sim.api import load_config

    cfg = load_config([f"economics.discount.costs={rate}", f"economics.discount.qalys={rate}"])
    e = cfg.economics
    lt, g = e.lifetime, e.lifetime.background_male
    hr, x, age = lt.mrs_mortality_hr[4], lt.excess_mortality_per_year["hiv"], 70.0
    d = force(rate)

    def hazard(s):
        return hr * g.a * math.exp(g.b * (age + s)) + x

    def surv(s):
        return math.exp(-hr * (g.a / g.b) * math.exp(g.b * age) * math.expm1(g.b * s) - x * s)

    big_l = lt.max_age - age
    dens, _ = integrate.quad(lambda s: hazard(s) * surv(s) * math.exp(-d * s), 0, big_l)
    want = e.costs.death * (dens + surv(big_l) * math.exp(-d * big_l))
    patients = pd.DataFrame(
        {
            "strategy": ["x"],
            "patient_id": [0],
            "condition": ["hiv"],
            "age": [age - 1.0],  # 70 at the 1-year horizon
            "female": [False],
            "lesion_burden_0": [0.05],
            "time_days": [Y],
            "died": [False],
            "iris_onset_days": [np.nan],
            "mrs": [4],
        }
    )
    events = _log([(0, 0.0, "visit", None, 0, None), (0, Y, "end_of_follow_up", None, 0, None)])
    mon = MonitoringConfig(visit_days=[0.0], csf_days=[], mri_days=[])
    v = patient_values(patients, events, e, cfg.model, mon, THERAPIES, Y).iloc[0]
    assert v["cost_end_of_life"] == pytest.approx(want * math.exp(-d), rel=1e-8)
    if rate > 0:  # discounting makes a later death cheaper than one at the horizon
        assert v["cost_end_of_life"] < e.costs.death * math.exp(-d) * 0.9


def test_care_after_discharge_by_hand():
    """Year-1 care from discharge (admission_days = 2 days) to death or the horizon:
    long-term care moves linearly from the mRS at diagnosis to the residual mRS (mRS 5
    at death), condition care is constant, all discounted; numerical integrals here."""
    from scipy import integrate

    v = _values(lifetime=False)
    a = 2.0 / Y
    # patient 1: mRS 0 (cost 0) at diagnosis -> mRS 2 (1,000 / y) at the 1-year horizon;
    # hiv care 2,000 / y
    ltc1, _ = integrate.quad(lambda t: 1000.0 * t * math.exp(-D * t), a, 1.0)
    cond1, _ = integrate.quad(lambda t: 2000.0 * math.exp(-D * t), a, 1.0)
    assert v.loc[1, "cost_post_discharge"] == pytest.approx(ltc1 + cond1, rel=1e-9)
    # patient 0: mRS 1 (0 / y) at diagnosis -> dies at 0.2 y, care cost of mRS 5 (3,000)
    ltc0, _ = integrate.quad(lambda t: 3000.0 * t / 0.2 * math.exp(-D * t), a, 0.2)
    cond0, _ = integrate.quad(lambda t: 2000.0 * math.exp(-D * t), a, 0.2)
    assert v.loc[0, "cost_post_discharge"] == pytest.approx(ltc0 + cond0, rel=1e-9)
    assert np.allclose(v[[c for c in v.columns if c.startswith("cost_")]].sum(axis=1), v["cost"])

    p, e = _frames()
    mon = MonitoringConfig(visit_days=[0.0, 28.0, 84.0], csf_days=[0.0], mri_days=[0.0, 84.0])
    econ = _econ(False)
    econ.costs.condition_care_acute_per_year = {"hiv": 500.0}
    econ.costs.post_discharge_care_share = 0.5
    w = patient_values(p, e, econ, ModelConfig(), mon, THERAPIES, Y).set_index("patient_id")
    assert w.loc[1, "cost_post_discharge"] == pytest.approx(0.5 * (ltc1 + cond1 / 4), rel=1e-9)
    econ.costs.post_discharge_care_share = 0.0  # care from the horizon only
    w = patient_values(p, e, econ, ModelConfig(), mon, THERAPIES, Y)
    assert (w["cost_post_discharge"] == 0.0).all()
    econ.costs.post_discharge_care_share = 1.0
    econ.costs.admission_days = 100.0  # patient 0 dies (day 73) before discharge: no care
    w = patient_values(p, e, econ, ModelConfig(), mon, THERAPIES, Y).set_index("patient_id")
    assert w.loc[0, "cost_post_discharge"] == 0.0 and w.loc[1, "cost_post_discharge"] > 0


def test_psa_draws_are_identical_in_process_and_on_worker_processes():
    from sim.api import load_config
    from sim.economics.psa import run_psa
    from sim.economics.sampling import draw_parameters

    over = [
        "+experiment=psa",
        "strategy=[soc,vst]",
        "economics.psa.draws=4",
        "economics.psa.n_patients=60",
        "output.progress=false",
    ]
    cfg = load_config([*over, "executor=inprocess"])
    from sim.evidence.calibrate import load_ensemble

    params = draw_parameters(cfg.economics.psa, cfg.seed, load_ensemble("calibrated"))
    a = run_psa(cfg, params)
    cfg2 = load_config([*over, "executor=processes", "executor.workers=2"])
    b = run_psa(cfg2, params)
    pd.testing.assert_frame_equal(a, b)
    assert a["cost"].nunique() == len(a)  # draws differ (parameters and patients)


def test_increment_se_comes_from_paired_differences():
    from sim.app.tasks.economics import add_increment_se

    rng = np.random.default_rng(4)
    n = 400
    base = rng.normal(10, 3, n)  # shared patient effect (common random numbers)
    values = pd.DataFrame(
        {
            "strategy": ["a"] * n + ["b"] * n,
            "patient_id": np.r_[np.arange(n), np.arange(n)[::-1]],  # any order
            "cost": np.r_[base, (base + rng.normal(2, 0.5, n))[::-1]],
            "qaly": np.r_[base / 10, (base / 10 + 0.1)[::-1]],
        }
    )
    cea = pd.DataFrame({"strategy": ["a", "b"], "comparator": ["", "a"]})
    out = add_increment_se(cea, values).set_index("strategy")
    # only the per-patient noise (sd 0.5) remains, not the shared sd 3
    # a sample sd is off by ~1/sqrt(2n) = 3.5% (relative); 4 of those
    assert out.at["b", "inc_cost_se"] == pytest.approx(0.5 / math.sqrt(n), rel=0.15)
    assert out.at["b", "inc_qaly_se"] == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(out.at["a", "inc_cost_se"])


# ---------------------------------------------- a simulated log with restarted courses


@pytest.fixture(scope="module")
def restarted():
    """Prophylactic steroids from day 0 for 6 weeks, and a second course for an IRIS
    diagnosed after the first ended (conf/strategy/steroids_prophylactic.yaml); only
    the steroids cost anything."""
    import copy

    from sim.api import load_config
    from sim.engine.run import simulate

    cfg = load_config(
        ["cohort=mixed_seed000", "cohort.n=800", "strategy=steroids_prophylactic"]
        + ["output.progress=false"]
    )
    pts, ev, _ = simulate(cfg)
    econ = copy.deepcopy(cfg.economics)
    econ.costs.therapies = {
        t: tc if t == "corticosteroids" else TherapyCost() for t, tc in econ.costs.therapies.items()
    }
    return cfg, econ, pts, ev


def _drug_costs(restarted, ev: pd.DataFrame) -> pd.Series:
    cfg, econ, pts, _ = restarted
    v = patient_values(
        pts, ev, econ, cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days
    ).set_index("patient_id")
    return v["cost_drugs"]


def test_each_course_of_a_restarted_therapy_pairs_its_own_start_and_stop(restarted):
    cfg, econ, pts, ev = restarted
    price = econ.costs.therapies["corticosteroids"].per_day
    delta = math.log(1 + econ.discount.costs) / Y  # per day
    t_end = pts.set_index("patient_id")["time_days"]
    cs = ev[ev["therapy"] == "corticosteroids"]
    # by hand from the rows: each course from its start to its stop (none: the end)
    expected = pd.Series(0.0, index=t_end.index)
    second = 0
    for (pid, course), g in cs.groupby(["patient_id", "course"]):
        (start,) = g.loc[g.event == "therapy_start", "time_days"]
        stop = g.loc[g.event == "therapy_stop", "time_days"].tolist()
        end = min(stop + [t_end[pid]])
        # integral of price * exp(-delta s) over [start, end] (expm1: no cancellation)
        on = -math.expm1(-delta * (end - start)) / delta
        expected[pid] += price * math.exp(-delta * start) * on
        if course == 2:
            second += 1
            (first_stop,) = cs.loc[
                (cs.patient_id == pid) & (cs.course == 1) & (cs.event == "therapy_stop"),
                "time_days",
            ]
            assert first_stop <= start  # a restart follows the end of the first course
    assert second >= 30  # some restart (IRIS after the course, ~5% with the taper)
    got = _drug_costs(restarted, ev)
    np.testing.assert_allclose(got.sort_index(), expected.sort_index(), rtol=1e-12)


def _swap_stop_courses(ev: pd.DataFrame) -> pd.DataFrame:
    """The stops of a patient's two steroid courses labelled with each other's course."""
    stops = ev[(ev.therapy == "corticosteroids") & (ev.event == "therapy_stop")]
    pid = stops.patient_id[stops.course == 2].iloc[0]
    rows = stops.index[stops.patient_id == pid]
    out = ev.copy()
    out.loc[rows, "course"] = out.loc[rows, "course"].to_numpy()[::-1]
    return out


def _drop_a_first_stop(ev: pd.DataFrame) -> pd.DataFrame:
    stops = ev[(ev.therapy == "corticosteroids") & (ev.event == "therapy_stop")]
    return ev.drop(index=stops.index[stops.course == 1][0])


@pytest.mark.parametrize(
    "change, message",
    [
        (_swap_stop_courses, "before its start"),
        (_drop_a_first_stop, "no therapy_stop"),
        (
            lambda e: e.assign(
                therapy=e.therapy.cat.rename_categories({"corticosteroids": "steroids"})
            ),
            "unknown therapy",
        ),
        (
            lambda e: e.assign(event=e.event.cat.rename_categories({"therapy_stop": "stop"})),
            "unknown event 'stop'",
        ),
    ],
    ids=["swapped stop courses", "missing stop", "renamed therapy", "renamed event"],
)
def test_an_edited_simulated_log_fails_loudly(restarted, change, message):
    ev = restarted[3]
    with pytest.raises(ValueError, match=message):
        _drug_costs(restarted, change(ev))


def test_renamed_detail_labels_change_no_cost(restarted):
    ev = restarted[3]
    relabelled = ev.assign(detail=ev.detail.str.replace("corticosteroids", "steroids"))
    assert (relabelled.detail != ev.detail).any()
    pd.testing.assert_series_equal(_drug_costs(restarted, relabelled), _drug_costs(restarted, ev))


def test_a_shared_memo_gives_the_same_values_under_every_economics_config():
    """patient_values(memo=...) reuses what does not depend on the economics config
    (event rows and checks, life-table grids keyed by their inputs) across calls on the
    same patients. Valuing simulated patients under a sequence of different economics
    configs with one shared memo must give, frame for frame and bit for bit, what fresh
    calls give; the configs differ in prices, discount rates, utilities (age-adjusted or
    not), life tables and perspective, so a stale cache entry would show."""
    from sim.api import load_config
    from sim.config.paths import with_values
    from sim.engine.run import simulate_strategies

    cfg = load_config(["+experiment=cea", "cohort=mixed_seed000", "cohort.n=400"])
    ch = next(simulate_strategies(cfg, 0, 400, ["il7"], labs=False))
    variants = [
        {},
        {"economics.costs.hospital_day": 900.0},
        {"economics.discount.costs": 0.0, "economics.discount.qalys": 0.05},
        {"economics.utilities.by_mrs.4": 0.1},
        {"economics.lifetime.max_age": 90.0},
        {"economics.lifetime.mrs_mortality_hr.3": 4.0},
        {"economics.severity.population_utility.age": -0.001},
        {},
    ]
    econs = [with_values(cfg, v).economics for v in variants]
    econs[-1].utilities.age_adjusted = not econs[-1].utilities.age_adjusted
    societal = with_values(cfg, {}).economics
    societal.perspective = "societal"
    econs.append(societal)
    args = (cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days)
    memo: dict = {}
    shared = [patient_values(ch.patients, ch.events, e, *args, memo=memo) for e in econs]
    assert len(memo) > 4  # the cache was used
    costs = set()
    for e, got in zip(econs, shared, strict=True):
        pd.testing.assert_frame_equal(
            got, patient_values(ch.patients, ch.events, e, *args), check_exact=True
        )
        costs.add((round(got["cost"].sum(), 6), round(got["qaly"].sum(), 6)))
    assert len(costs) == len(econs)  # every config changed the result
