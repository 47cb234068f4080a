"""The societal perspective (issue 15): productivity losses and informal care of a small
fixed cohort against an independent computation (scipy quadrature of the survival and
employment integrands), zero loss past retirement age, the friction-cost method, the
healthcare perspective unchanged, and bad inputs named by key."""

import math
from pathlib import Path

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
from tests.cli_helper import pml_sim
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


def _quad(f, a: float, b: float, edges=(16.0, 25.0, 50.0, 66.0)) -> float:
    """Integral of f over [a, b], split at every band edge (independent of the code's
    band arithmetic)."""
    if b <= a:
        return 0.0
    cuts = sorted({a, b, *(x for x in edges if a < x < b)})
    return sum(integrate.quad(f, lo, hi, epsabs=1e-12, epsrel=1e-12)[0] for lo, hi in
               zip(cuts[:-1], cuts[1:], strict=False))  # fmt: skip


def _hand_patient(pid: int, lifetime: bool, w: float, ic, rtw, rate, edges, retire: float):
    """(productivity loss, informal care) of one patient of COHORT, by scipy quadrature in
    age: yearly earnings w, yearly informal care ic[mRS], return to work rtw[mRS], the
    employment rate at an attained age rate(x), band edges and retirement age (for the
    quadrature's split points). _econ's lifetime: no background mortality, HIV excess
    hazard 0.05, max age 60."""
    age, _, lb, t, died, m = COHORT[pid]
    h, max_age, a_days = 0.05, 60.0, 2.0  # excess hazard, max age, admission days
    mrs0 = int(mrs_level(np.array([lb]), ModelConfig().mrs_cutpoints)[0])
    te = t / Y
    cuts = (*edges, retire)

    def disc(x):  # discount factor at attained age x
        return math.exp(-D * (x - age))

    end = np.inf if lifetime else 1.0  # lifetime: to retirement, dead or alive
    potential = w * _quad(lambda x: rate(x) * disc(x), age, age + min(end, 200.0), cuts)
    earned = 0.0
    if lifetime and not died:
        top = min(retire, max_age)
        earned = (
            w
            * rtw[m]
            * _quad(lambda x: rate(x) * disc(x) * math.exp(-h * (x - age - 1.0)), age + 1.0, top,
                    cuts)
        )  # fmt: skip
    # informal care: linear in time from discharge to te, mRS at diagnosis -> end
    a = min(a_days / Y, te)
    c0, c1 = ic[mrs0], ic[5 if died else m]

    def ramp(s):
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
    return potential - earned, care


def _hand(lifetime: bool) -> dict[int, tuple[float, float]]:
    """(productivity loss, informal care) of each patient under SOC."""
    w = 700.0 * Y / 7.0
    ic = np.array([1.0, 2.0, 3.0, 20.0, 30.0, 40.0]) * Y / 7.0 * 25.0
    rtw = [0.9, 0.7, 0.4, 0.1, 0.0, 0.0]
    return {
        pid: _hand_patient(pid, lifetime, w, ic, rtw, _rate, (16.0, 25.0, 50.0), 66.0)
        for pid in COHORT
    }


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
        ("economics.societal.informal_care_method=proxy",
         "economics.societal.informal_care_method"),
        ("economics.societal.carer_hour_earnings=-3", "economics.societal.carer_hour_earnings"),
    ],
)  # fmt: skip
def test_bad_societal_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=cea", override])
    assert err.value.key == key


def test_a_set_without_societal_inputs_refuses_the_societal_perspective():
    # a set whose societal block is switched off (the US set before its inputs were sourced)
    off = ["economics.societal.weekly_earnings=0", "economics.societal.informal_care_hour_cost=0"]
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=cea", "economics=us_payer", "economics.perspective=societal",
                     *off])  # fmt: skip
    assert err.value.key == "economics.perspective" and "us_payer" in str(err.value)
    # ... and the block off is fine for the healthcare perspective
    assert load_config(["+experiment=cea", "economics=us_payer", *off]).economics.name == (
        "us_payer"
    )


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


# ------------------------------------------------------------- US inputs (issue 15)

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "evidence" / "us_societal_inputs.md"


def _evidence_rows() -> list[dict[str, str]]:
    """The machine-read table of docs/evidence/us_societal_inputs.md."""
    text = EVIDENCE.read_text()
    block = text.split("<!-- us-societal-table -->")[1].split("<!-- /us-societal-table -->")[0]
    lines = [x for x in block.strip().splitlines() if x.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in x.strip("|").split("|")), strict=True))
            for x in lines[2:]]  # fmt: skip


def _us() -> SocietalConfig:
    return load_config(
        ["+experiment=cea", "economics=us_payer", "economics.perspective=societal"]
    ).economics.societal


def test_us_societal_inputs_equal_their_quoted_sources():
    """Each value of us_payer's societal block equals the arithmetic on its source figures
    in the evidence table, and each figure is quoted in that file's passages."""
    rows = _evidence_rows()
    s = _us()
    quoted = EVIDENCE.read_text().split("## Quoted passages")[1]
    apply = {
        "mean": lambda f: sum(f) / len(f),
        "pct": lambda f: f[0] / 100.0,
        "ratio": lambda f: f[0] / f[1],
        "div": lambda f: f[0] / f[1],
        "copy": lambda f: f[0],
    }
    keys = set()
    for r in rows:
        figures = [float(x) for x in r["figures"].split(";")]
        computed = apply[r["formula"]](figures)
        # to half a unit of the value's last printed decimal (16.78 = 34,900 / 2,080 in cents)
        decimals = len(r["value"].split(".")[1]) if "." in r["value"] else 0
        assert float(r["value"]) == pytest.approx(computed, abs=0.5 * 10.0**-decimals), r["key"]
        field, *index = r["key"].split(".")
        got = getattr(s, field)
        got = got[int(index[0])] if index else got
        assert got == pytest.approx(float(r["value"]), abs=5e-4), r["key"]
        keys.add(r["key"])
        for f in figures:
            if f >= 100 or r["formula"] == "pct":  # large figures and percentages, as printed
                text = f"{f:,.0f}" if f >= 100 else f"{f:.1f}"
                assert text in quoted, (r["key"], text)
    # every employment band and every money input is covered by the table
    assert {f"employment_rates.{i}" for i in range(len(s.employment_rates))} <= keys
    assert {"weekly_earnings", "informal_care_hour_cost", "carer_hour_earnings"} <= keys
    # the 60-64 counts are E4's 55-64 minus its 55-59 (employed, population; thousands)
    assert (26405 - 14366, 41221 - 19999) == (12039, 21222)
    assert s.employment_ages == [16.0, 20.0, 25.0, 35.0, 45.0, 55.0, 60.0]  # CPS table 3 groups
    # transferred from the UK set (ASSUMPTION): the same hours as uk_nhs
    uk = load_config(["+experiment=cea", "economics.perspective=societal"]).economics.societal
    assert s.informal_care_hours_per_week == uk.informal_care_hours_per_week
    assert s.productivity_method == "human_capital" and s.informal_care_method == "replacement"


def _us_rate(age: float) -> float:
    """US employment-population ratio at an attained age, typed in from CPS 2024 table 3
    (docs/evidence/us_societal_inputs.md E4, E5), to the retirement age 67."""
    if age < 16 or age >= 67:
        return 0.0
    for upper, rate in ((20, 0.322), (25, 0.663), (35, 0.801), (45, 0.819), (55, 0.800),
                        (60, 0.718)):  # fmt: skip
        if age < upper:
            return rate
    return 0.5673  # 60 to 67: 12,039 / 21,222 to 4 decimals (E5)


@pytest.mark.parametrize("lifetime", [False, True])
def test_us_inputs_for_one_patient_path_equal_a_hand_computation(lifetime):
    """Patient 0 (a 40-year-old man surviving at mRS 2) with the shipped US societal block:
    earnings 1,141 a week, the CPS bands to 67, home-care aide hours at 16.78."""
    us = _us()
    econ = _econ(lifetime)
    econ.perspective = "societal"
    econ.societal = us
    p, e = _frames()
    mon = MonitoringConfig(visit_days=[0.0], csf_days=[], mri_days=[])
    v = patient_values(p, e, econ, ModelConfig(), mon, THERAPIES, Y).set_index("patient_id")
    w = 1141.0 * Y / 7.0
    ic = np.array([1.05, 1.05, 1.05, 35.0, 35.0, 35.0]) * Y / 7.0 * 16.78
    rtw = [0.85, 0.70, 0.45, 0.15, 0.0, 0.0]
    prod, care = _hand_patient(0, lifetime, w, ic, rtw, _us_rate,
                               (16.0, 20.0, 25.0, 35.0, 45.0, 55.0, 60.0), 67.0)  # fmt: skip
    assert v.loc[0, "cost_productivity"] == pytest.approx(prod, rel=1e-8)
    assert v.loc[0, "cost_informal_care"] == pytest.approx(care, rel=1e-8)
    if not lifetime:  # one year at 40, inside the 35-44 band: a closed form
        assert prod == pytest.approx(w * 0.819 * (1 - math.exp(-D)) / D, rel=1e-10)


def test_opportunity_method_values_each_care_hour_at_the_carers_earnings():
    """Carers' own lost work: the same hours, each at the carer's hourly earnings instead
    of a paid carer's hour, so informal care scales by 40 / 25; nothing else moves."""
    rep = _values(True, "societal")
    opp = _values(True, "societal", informal_care_method="opportunity", carer_hour_earnings=40.0)
    assert opp["cost_informal_care"].to_numpy() == pytest.approx(
        rep["cost_informal_care"].to_numpy() * 40.0 / 25.0, rel=1e-12
    )
    assert (opp["cost_informal_care"] > rep["cost_informal_care"]).sum() == 4  # not patient 4
    assert opp["cost_productivity"].to_numpy() == pytest.approx(
        rep["cost_productivity"].to_numpy(), rel=1e-12
    )
    hand = _hand(True)  # replacement by quadrature, rescaled to the carer's hour
    for pid, (_, care) in hand.items():
        assert opp.loc[pid, "cost_informal_care"] == pytest.approx(care * 40 / 25, rel=1e-8)


def test_opportunity_method_needs_the_carers_earnings():
    for economics in ("uk_nhs", "us_payer"):  # both sets ship the carer's hour
        cfg = load_config(["+experiment=cea", f"economics={economics}",
                           "economics.perspective=societal",
                           "economics.societal.informal_care_method=opportunity"])  # fmt: skip
        assert cfg.economics.societal.carer_hour_earnings > 0
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=cea", "economics.perspective=societal",
                     "economics.societal.informal_care_method=opportunity",
                     "economics.societal.carer_hour_earnings=0"])  # fmt: skip
    assert err.value.key == "economics.societal.carer_hour_earnings"
    assert "opportunity" in str(err.value) and "uk_nhs" in str(err.value)


def test_impact_inventory_counts_carers_work_inside_informal_care_with_opportunity_cost():
    from sim.economics.report import _impact_inventory

    cfg = load_config(["+experiment=cea", "economics.perspective=societal"])
    breakdown = pd.DataFrame(
        {"cost_drugs": [1.0, 2.0], "cost_productivity": [10.0, 20.0],
         "cost_informal_care": [100.0, 300.0]}, index=["soc", "il7"],
    )  # fmt: skip

    def rows(cfg):
        text = "\n".join(_impact_inventory(cfg, breakdown))
        lines = [x for x in text.splitlines() if x.startswith("| ")]
        cells = [[c.strip() for c in x.strip("|").split("|")] for x in lines]
        return {r[1]: r[4] for r in cells[1:]}

    rep = rows(cfg)
    assert rep["unpaid carers' time"] == "yes (100-300 per patient)"
    assert rep["carers' paid work"] == "no (not modelled)"
    cfg.economics.societal.informal_care_method = "opportunity"
    opp = rows(cfg)
    assert opp["unpaid carers' time"] == "yes (100-300 per patient)"
    assert opp["carers' paid work"].startswith("yes (inside unpaid carers' time")
    cfg.economics.perspective = "healthcare"
    assert rows(cfg)["carers' paid work"] == "no (societal perspective only)"


def test_us_societal_run_counts_productivity_and_informal_care(tmp_path):
    """`pml-sim +experiment=cea economics=us_payer economics.perspective=societal` runs (it
    was refused before the US inputs) and its report's impact inventory counts both."""
    out = tmp_path / "us"
    r = pml_sim("+experiment=cea", "economics=us_payer", "economics.perspective=societal",
                "cohort.n=200", "economics.dsa.params=[]", "economics.scenarios=[]",
                "executor=inprocess", "output.progress=false",
                f"hydra.run.dir={out}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    b = pd.read_csv(out / "cost_breakdown.csv")
    assert (b["cost_productivity"] > 0).all() and (b["cost_informal_care"] > 0).all()
    text = (out / "report.md").read_text()
    inv = text.split("## Impact inventory")[1].split("\n## ")[0]
    for impact, col in (("patients' paid work", "cost_productivity"),
                        ("unpaid carers' time", "cost_informal_care")):  # fmt: skip
        row = next(x for x in inv.splitlines() if f"| {impact} |" in x)
        lo, hi = b[col].min(), b[col].max()
        assert f"yes ({lo:,.0f}-{hi:,.0f} per patient)" in row, row
    assert "USD" in inv and "replacement-cost method" in inv
