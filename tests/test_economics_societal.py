"""The societal perspective (issue 15): productivity losses and informal care of a small
fixed cohort against an independent computation (scipy quadrature of the survival and
employment integrands), zero loss past retirement age, the friction-cost method, the
healthcare perspective unchanged, and bad inputs named by key."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

from sim.api import load_config
from sim.config.economics import SocietalConfig
from sim.config.errors import ConfigError
from sim.config.schema import ModelConfig, MonitoringConfig
from sim.economics.discount import force
from sim.economics.values import patient_values
from sim.model.disability import mrs_level
from tests.test_economics_values import THERAPIES, _econ, _log

Y = 365.25
D = force(0.035)
SOC = SocietalConfig(
    weekly_earnings=700.0,
    retirement_age=66.0,
    employment_ages=[16.0, 25.0, 50.0],
    employment_rates=[0.5, 0.8, 0.6],
    return_to_work_by_mrs=[0.9, 0.7, 0.4, 0.1, 0.0, 0.0],
    informal_care_hours_per_week=[1.0, 2.0, 3.0, 20.0, 30.0, 40.0],
    informal_care_hour_cost=25.0,
)
# patient id: (age, female, lesion burden at diagnosis, days followed, died, residual mRS)
COHORT = {
    0: (40.0, False, 0.05, Y, False, 2),  # survivor of working age, crosses the 50 band
    1: (62.5, True, 0.15, Y, False, 1),  # survivor who retires 3.5 years after the horizon
    2: (30.0, False, 0.30, 0.3 * Y, True, 6),  # dies in the acute phase, at 30.3
    3: (70.0, True, 0.05, Y, False, 0),  # past retirement age at diagnosis
    4: (45.0, False, 0.30, 0.004 * Y, True, 6),  # dies on day 1.5, before discharge (day 2)
}


def _frames():
    rows = [
        {"strategy": "x", "patient_id": pid, "condition": "hiv", "age": a, "female": f,
         "lesion_burden_0": lb, "time_days": t, "died": d, "iris_onset_days": np.nan, "mrs": m}
        for pid, (a, f, lb, t, d, m) in COHORT.items()
    ]  # fmt: skip
    events = [
        (pid, t, "death" if d else "end_of_follow_up", None, 0, None)
        for pid, (_, _, _, t, d, _) in COHORT.items()
    ]
    return pd.DataFrame(rows), _log(events)


def _values(lifetime: bool, perspective: str, **soc) -> pd.DataFrame:
    econ = _econ(lifetime)
    econ.perspective = perspective
    econ.societal = SocietalConfig(**{**SOC.__dict__, **soc})
    p, e = _frames()
    mon = MonitoringConfig(visit_days=[0.0], csf_days=[], mri_days=[])
    return patient_values(p, e, econ, ModelConfig(), mon, THERAPIES, Y).set_index("patient_id")


def _rate(age: float) -> float:
    """Employment rate at an attained age, read off SOC by hand."""
    if age < 16 or age >= 66:
        return 0.0
    return 0.5 if age < 25 else 0.8 if age < 50 else 0.6


def _quad(f, a: float, b: float) -> float:
    """Integral of f over [a, b], split at every band edge (independent of the code's
    band arithmetic)."""
    if b <= a:
        return 0.0
    cuts = sorted({a, b, *(x for x in (16.0, 25.0, 50.0, 66.0) if a < x < b)})
    return sum(integrate.quad(f, lo, hi, epsabs=1e-12, epsrel=1e-12)[0] for lo, hi in
               zip(cuts[:-1], cuts[1:], strict=False))  # fmt: skip


def _hand(lifetime: bool) -> dict[int, tuple[float, float]]:
    """(productivity loss, informal care) of each patient, by scipy quadrature in age.
    _econ's lifetime: no background mortality, HIV excess hazard 0.05, max age 60."""
    w = 700.0 * Y / 7.0
    ic = np.array([1.0, 2.0, 3.0, 20.0, 30.0, 40.0]) * Y / 7.0 * 25.0
    rtw = [0.9, 0.7, 0.4, 0.1, 0.0, 0.0]
    h, max_age, a_days = 0.05, 60.0, 2.0  # excess hazard, max age, admission days
    mrs0 = mrs_level(np.array([COHORT[i][2] for i in COHORT]), ModelConfig().mrs_cutpoints)
    out = {}
    for k, (pid, (age, _, _, t, died, m)) in enumerate(COHORT.items()):
        te = t / Y

        def disc(x, age=age):  # discount factor at attained age x
            return math.exp(-D * (x - age))

        end = np.inf if lifetime else 1.0  # lifetime: to retirement, dead or alive
        potential = w * _quad(lambda x, age=age: _rate(x) * disc(x), age, age + min(end, 200.0))
        earned = 0.0
        if lifetime and not died:
            top = min(66.0, max_age)
            earned = (
                w
                * rtw[m]
                * _quad(
                    lambda x, age=age: _rate(x) * disc(x) * math.exp(-h * (x - age - 1.0)),
                    age + 1.0,
                    top,
                )
            )
        # informal care: linear in time from discharge to te, mRS at diagnosis -> end
        a = min(a_days / Y, te)
        c0, c1 = ic[mrs0[k]], ic[5 if died else m]

        def ramp(s, c0=c0, c1=c1, te=te):
            return (c0 + (c1 - c0) * s / te) * math.exp(-D * s)

        care = integrate.quad(ramp, a, te, epsabs=1e-12)[0] if te > a else 0.0
        if lifetime and not died:
            span = max_age - (age + 1.0)
            if span > 0:
                care += (
                    ic[m]
                    * integrate.quad(
                        lambda s: math.exp(-(h + D) * s) * math.exp(-D), 0.0, span, epsabs=1e-12
                    )[0]
                )
        out[pid] = (potential - earned, care)
    return out


@pytest.mark.parametrize("lifetime", [False, True])
def test_societal_costs_of_a_fixed_cohort_equal_an_independent_computation(lifetime):
    soc, hc = _values(lifetime, "societal"), _values(lifetime, "healthcare")
    hand = _hand(lifetime)
    for pid, (prod, care) in hand.items():
        assert soc.loc[pid, "cost_productivity"] == pytest.approx(prod, rel=1e-8, abs=1e-6), pid
        assert soc.loc[pid, "cost_informal_care"] == pytest.approx(care, rel=1e-8, abs=1e-6), pid
    # the societal cost is the healthcare cost plus the two; nothing else moves
    extra = soc["cost_productivity"] + soc["cost_informal_care"]
    assert soc["cost"].to_numpy() == pytest.approx((hc["cost"] + extra).to_numpy(), rel=1e-12)
    for col in ("qaly", "life_years", "cost_drugs", "cost_long_term", "cost_post_discharge"):
        assert soc[col].to_numpy() == pytest.approx(hc[col].to_numpy(), rel=1e-12), col
    assert "cost_productivity" not in hc and "cost_informal_care" not in hc
    if lifetime:  # the survivor of working age loses less than the patient who died at 30
        assert 0.0 < soc.loc[0, "cost_productivity"] < soc.loc[2, "cost_productivity"]
    assert soc.loc[4, "cost_informal_care"] == 0.0  # died before discharge


def test_no_productivity_loss_past_retirement_age():
    for lifetime in (False, True):
        v = _values(lifetime, "societal")
        assert v.loc[3, "cost_productivity"] == 0.0  # 70 at diagnosis
        assert v.loc[3, "cost_informal_care"] > 0.0  # care is not age-limited
    # retire everybody at 30: only the ages 16-30 of the 30-year-old could be lost, and
    # he is past them; a 20-year retirement age leaves nobody any paid work to lose
    v = _values(True, "societal", retirement_age=20.0)
    assert (v["cost_productivity"] == 0.0).all()


def test_friction_cost_counts_the_first_friction_days_alike_in_every_strategy():
    v = _values(True, "societal", productivity_method="friction", friction_days=80.0)
    f = 80.0 / Y
    w = 700.0 * Y / 7.0
    for pid, (age, *_rest) in COHORT.items():
        expected = w * _rate(age) * (1 - math.exp(-D * f)) / D  # no band edge within 80 days
        assert v.loc[pid, "cost_productivity"] == pytest.approx(expected, rel=1e-12), pid


def test_the_default_perspective_is_healthcare_and_the_uk_set_ships_societal_inputs():
    cfg = load_config(["+experiment=cea"])
    assert cfg.economics.perspective == "healthcare"
    s = load_config(["+experiment=cea", "economics.perspective=societal"]).economics.societal
    assert s.weekly_earnings > 0 and s.informal_care_hour_cost > 0
    assert s.retirement_age == 66.0


@pytest.mark.parametrize(
    "override, key",
    [
        ("economics.perspective=payer", "economics.perspective"),
        ("economics.societal.productivity_method=both", "economics.societal.productivity_method"),
        ("economics.societal.weekly_earnings=-1", "economics.societal.weekly_earnings"),
        ("economics.societal.employment_rates.1=1.2", "economics.societal.employment_rates.1"),
        ("economics.societal.employment_ages=[16,50,25,35]",
         "economics.societal.employment_ages.2"),
        ("economics.societal.employment_rates=[0.5]", "economics.societal.employment_rates"),
        ("economics.societal.return_to_work_by_mrs=[1,1]",
         "economics.societal.return_to_work_by_mrs"),
        ("economics.societal.informal_care_hours_per_week.5=200",
         "economics.societal.informal_care_hours_per_week.5"),
        ("economics.societal.friction_days=400", "economics.societal.friction_days"),
        ("economics.societal.retirement_age=200", "economics.societal.retirement_age"),
    ],
)  # fmt: skip
def test_bad_societal_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=cea", override])
    assert err.value.key == key


def test_a_set_without_societal_inputs_refuses_the_societal_perspective():
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=cea", "economics=us_payer", "economics.perspective=societal"])
    assert err.value.key == "economics.perspective" and "us_payer" in str(err.value)


def test_free_text_perspective_of_old_configs_is_read_as_the_label_with_a_warning():
    # deprecation path: economics.perspective was the report's text until 2026-12-06
    text = "NHS and PSS (my old config)"
    with pytest.warns(FutureWarning, match="perspective_label"):
        cfg = load_config(["+experiment=cea", f"economics.perspective='{text}'"])
    assert cfg.economics.perspective == "healthcare"
    assert cfg.economics.perspective_label != text  # the set's own label is kept
    with pytest.warns(FutureWarning):
        cfg = load_config(
            ["+experiment=cea", f"economics.perspective='{text}'", "economics.perspective_label="]
        )
    assert cfg.economics.perspective_label == text
