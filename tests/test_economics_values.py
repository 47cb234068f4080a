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
            long_term_care_per_year=[0.0, 0.0, 1000.0, 0.0, 0.0, 0.0],
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
    "oral": TherapyConfig(label="O"),
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
        (0, 0.0, "therapy_start", "drug_a"),
        (0, 0.0, "dose", "drug_a"),
        (0, 7.0, "dose", "drug_a"),
        (0, 0.0, "visit", ""),
        (0, 28.0, "visit", ""),
        (0, 14.0, "side_effect", "drug_a:bad"),
        (0, 0.2 * Y, "death", ""),
        (1, 0.0, "therapy_start", "oral"),
        (1, 0.5 * Y, "therapy_stop", "oral"),
        (1, 0.0, "visit", ""),
        (1, 0.1 * Y, "iris_onset", ""),
        (1, 0.12 * Y, "iris_diagnosis", ""),
        (1, 0.2 * Y, "iris_resolved", ""),
        (1, Y, "end_of_follow_up", ""),
    ]
    events = pd.DataFrame(ev, columns=["patient_id", "time_days", "event", "detail"])
    events.insert(0, "strategy", "x")
    return patients, events


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
