"""Targets as data: uncertainty, checks, and the statistics measured on patients."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import ConfigError, StudyConfig, Target, TargetPopulation
from sim.evidence.targets import (
    add_therapy_side_effects,
    check_targets,
    measure,
    odds_ratio,
    published_ci,
    scenario_of,
    standard_error,
    with_values,
)
from sim.outcomes.survival import kaplan_meier, survival_at


def target(**kw) -> Target:
    base = dict(
        id="t", quantity="survival", value=0.5, source="test", population=TargetPopulation()
    )
    return Target(**{**base, **kw})


def test_standard_error_from_ci_n_and_explicit():
    t = target(value=0.56, ci_low=0.50, ci_high=0.61)
    assert standard_error(t) == pytest.approx(0.11 / (2 * 1.959964))
    o = target(quantity="odds_ratio", predictor="cd4_rise", value=5.9, ci_low=1.7, ci_high=23.3)
    assert standard_error(o) == pytest.approx(math.log(23.3 / 1.7) / (2 * 1.959964))
    # add-one estimate: 42/42 still carries uncertainty
    p = target(quantity="iris", value=1.0, n=42)
    assert standard_error(p) == pytest.approx(math.sqrt((43 / 44) * (1 / 44) / 42))
    assert standard_error(target(se=0.04)) == 0.04
    lo, hi = published_ci(target(value=0.04, se=0.04))
    assert lo == 0.0 and hi == pytest.approx(0.04 + 1.959964 * 0.04, rel=1e-6)


@pytest.mark.parametrize(
    "kw, key",
    [
        (dict(quantity="mortality"), "quantity"),
        (dict(value=1.4), "value"),
        (dict(ci_low=0.6, ci_high=0.7), "ci_low"),
        (dict(ci_low=0.4), "ci_low"),
        (dict(source=" "), "source"),
        (dict(quantity="odds_ratio", value=2.0, se=0.3), "predictor"),
        (dict(role="tuned"), "role"),
        (dict(therapy="rhil7"), "therapy"),
        (dict(n=None), "targets.items[t]"),
    ],
)
def test_bad_targets_name_their_key(kw, key):
    t = target(**{"n": 50, **kw})
    with pytest.raises(ConfigError) as e:
        check_targets([t])
    assert key in str(e.value)


def test_default_targets_are_valid_and_split():
    cfg = load_config(["+experiment=calibrate"])
    items = cfg.targets.items
    check_targets(items)
    roles = {t.role for t in items}
    assert {"fit", "validation"} <= roles
    # the headline seed 000 figures are never fitted
    for tid in ("seed000_survival_1y", "seed000_or_cd4_rise", "seed000_or_csf_jcv_fall"):
        assert next(t for t in items if t.id == tid).role == "validation"
    # every population composes (its cohort preset and strategy exist)
    for t in items:
        load_config(scenario_of(t).overrides())


def test_odds_ratio_equals_the_two_by_two_closed_form():
    # logistic regression on one binary predictor: OR = ad/bc, Wald CI from sum(1/cells)
    a, b, c, d = 14, 21, 4, 25  # alive&exposed, alive&not, dead&exposed, dead&not
    alive = np.r_[np.ones(a + b), np.zeros(c + d)]
    exposed = np.r_[np.ones(a), np.zeros(b), np.ones(c), np.zeros(d)]
    or_, lo, hi, p = odds_ratio(alive, exposed)
    se = math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    assert or_ == pytest.approx(a * d / (b * c), rel=1e-6)
    assert lo == pytest.approx(a * d / (b * c) * math.exp(-1.959964 * se), rel=1e-5)
    assert hi == pytest.approx(a * d / (b * c) * math.exp(1.959964 * se), rel=1e-5)
    assert 0 < p < 0.05
    # unmeasured exposure is left out; an empty cell is not estimable
    x_nan = exposed.copy()
    x_nan[:3] = np.nan
    assert odds_ratio(alive, x_nan)[0] == pytest.approx(11 * 25 / (21 * 4), rel=1e-6)
    assert math.isnan(odds_ratio(alive, np.r_[np.ones(a + b), np.zeros(c + d)])[0])


def test_measure_survival_median_and_subgroup():
    rng = np.random.default_rng(3)
    n = 400
    t = rng.exponential(200.0, n)
    died = t < 365
    frame = pd.DataFrame(
        {
            "condition": np.where(np.arange(n) % 2 == 0, "hiv", "natalizumab_ms"),
            "time_days": np.minimum(t, 365.0),
            "died": died,
            "iris": np.arange(n) % 4 == 0,
            "iris_onset_days": np.where(np.arange(n) % 4 == 0, 30.0, np.nan),
            "side_effect": False,
        }
    )
    km = kaplan_meier(frame["time_days"].to_numpy(), frame["died"].to_numpy())
    s = measure(target(), frame, StudyConfig())
    assert s == pytest.approx(survival_at(km, 365.0)[0])
    assert s == pytest.approx(1 - died.mean())
    med = measure(
        target(quantity="median_time_to_death_days", value=70.0, se=9.0), frame, StudyConfig()
    )
    assert med == pytest.approx(np.median(t[died]))
    hiv = target(quantity="iris", n=10, population=TargetPopulation(condition="hiv"))
    assert measure(hiv, frame, StudyConfig()) == pytest.approx(0.5)
    assert measure(target(quantity="iris", n=10, at_days=20.0), frame, StudyConfig()) == 0.0
    # a longer follow-up does not change a figure read at at_days
    longer = frame.assign(time_days=t, died=np.ones(n, dtype=bool))
    med_longer = measure(
        target(quantity="median_time_to_death_days", value=70.0, se=9.0), longer, StudyConfig()
    )
    assert med_longer == pytest.approx(med)


def test_side_effects_of_one_therapy_only():
    patients = pd.DataFrame({"strategy": ["a", "a", "a", "b"], "patient_id": [0, 1, 2, 0]})
    events = pd.DataFrame(
        {
            "strategy": ["a", "a", "b"],
            "patient_id": [0, 1, 0],
            "event": ["side_effect", "side_effect", "side_effect"],
            "detail": ["rhil7:flu", "art:rash", "rhil7:flu"],
            "therapy": ["rhil7", "art", "rhil7"],
            "side_effect": ["flu", "rash", "flu"],
        }
    )
    out = add_therapy_side_effects(patients, events, ["rhil7"])
    assert out["side_effect_rhil7"].tolist() == [True, False, False, True]


def test_with_values_sets_nested_keys_and_rejects_unknown():
    cfg = load_config(["strategy=soc"])
    out = with_values(cfg, {"model.conditions.hiv.t_cell_function": 0.7, "model.dt_days": 1.0})
    assert out.model.conditions["hiv"].t_cell_function == 0.7
    assert cfg.model.conditions["hiv"].t_cell_function != 0.7  # the original is untouched
    with pytest.raises(ConfigError, match="model.no_such_value"):
        with_values(cfg, {"model.no_such_value": 1.0})
    with pytest.raises(ConfigError, match="must name a number"):
        with_values(cfg, {"model.conditions.hiv.label": 1.0})


def test_csf_change_from_labs_counts_undetectable_as_the_limit():
    from sim.evidence.targets import add_csf_change

    patients = pd.DataFrame(
        {
            "strategy": ["s"] * 3,
            "patient_id": [0, 1, 2],
            "died": False,
            "time_days": 365.0,
            "condition": "hiv",
        }
    )
    labs = pd.DataFrame(
        {
            "strategy": ["s"] * 6,
            "patient_id": [0, 0, 1, 1, 2, 2],
            "day": [0.0, 84.0, 0.0, 84.0, 0.0, 14.0],
            "csf_jcv_log10": [4.0, 2.5, 3.0, np.nan, 5.0, np.nan],
            "csf_jcv_detectable": [1.0, 1.0, 1.0, 0.0, 1.0, np.nan],
        }
    )
    out = add_csf_change(patients, labs, [84.0], lod_copies=10.0)
    got = out["csf_jcv_change_84"].to_numpy()
    assert got[0] == pytest.approx(-1.5)
    assert got[1] == pytest.approx(1.0 - 3.0)  # undetectable reads as the limit, 1 log10
    assert np.isnan(got[2])  # no lumbar puncture on day 84
    t = target(quantity="csf_jcv_change_log10", value=-1.4, se=1.0, at_days=84.0)
    assert measure(t, out, StudyConfig()) == pytest.approx(-1.75)


def test_csf_undetectable_reads_the_study_lod_and_only_sampled_alive_patients():
    from sim.evidence.targets import add_csf_undetectable

    patients = pd.DataFrame(
        {
            "strategy": ["s"] * 4,
            "patient_id": [0, 1, 2, 3],
            "died": [False, False, False, True],
            "time_days": [365.0, 365.0, 365.0, 70.0],
            "condition": "hiv",
        }
    )
    labs = pd.DataFrame(
        {
            "strategy": ["s"] * 5,
            "patient_id": [0, 1, 2, 2, 3],
            "day": [56.0, 56.0, 0.0, 28.0, 56.0],
            # 1.5 log10 = 32 copies: detected by the run's assay (LOD 10), not by the study's
            "csf_jcv_log10": [1.5, 3.0, 4.0, 3.0, np.nan],
            "csf_jcv_detectable": [1.0, 1.0, 1.0, 1.0, 0.0],
        }
    )
    t = target(id="u", quantity="csf_undetectable", value=0.5, n=30, at_days=56.0, lod_copies=100.0)
    out = add_csf_undetectable(patients, labs, t, run_lod=10.0)
    col = out["csf_undetectable_u"].to_numpy()
    assert col[0] == 1.0 and col[1] == 0.0 and np.isnan(col[2]) and col[3] == 1.0
    # patient 3 died on day 70, after the day-56 sample: counted; patient 2 has no sample
    assert measure(t, out, StudyConfig()) == pytest.approx(2 / 3)
    # at the run's own LOD the 32-copy sample counts as detected
    t10 = target(id="u", quantity="csf_undetectable", value=0.5, n=30, at_days=56.0)
    out10 = add_csf_undetectable(patients, labs, t10, run_lod=10.0)
    assert measure(t10, out10, StudyConfig()) == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="lod_copies"):
        add_csf_undetectable(patients, labs, target(**{**t.__dict__, "lod_copies": 5.0}), 10.0)
    with pytest.raises(ConfigError, match="lod_copies"):
        check_targets([target(n=30, lod_copies=100.0)])  # an LOD on a survival target


def test_extra_lumbar_punctures_change_no_outcome_and_no_other_sample():
    """The evaluator adds the target's CSF days to its population's calendar; the
    patients and every other lab value must stay the same (common random numbers)."""
    from sim.engine.run import simulate

    cfg = load_config(["cohort=hiv", "strategy=soc", "cohort.n=300"])
    cfg.output.progress = False
    p0, _, l0 = simulate(cfg)
    cfg.monitoring.csf_days = sorted({*cfg.monitoring.csf_days, 56.0})
    p1, _, l1 = simulate(cfg)
    pd.testing.assert_frame_equal(p0, p1)
    key = ["patient_id", "day"]
    merged = l0.merge(l1, on=key, suffixes=("", "_x"))
    assert len(merged) == len(l0)
    other = merged[merged["day"] != 56.0]
    for c, rows in (("csf_jcv_log10", other), ("cd4", merged), ("lymphocytes", merged)):
        pd.testing.assert_series_equal(rows[c], rows[c + "_x"], check_names=False)
    assert l1.loc[l1["day"] == 56.0, "csf_jcv_detectable"].notna().sum() > 0
    assert l0.loc[l0["day"] == 56.0, "csf_jcv_detectable"].notna().sum() == 0


def test_baseline_cd4_exposure_odds_ratio_equals_the_two_by_two():
    """OR of being alive for CD4 >= 100 at diagnosis (Berenguer 2003's comparison)."""
    from sim.evidence.targets import exposure

    # 2x2: CD4 >= 100 alive 30 / dead 10; CD4 < 100 alive 20 / dead 40 -> OR = 30*40/(10*20)
    cd4 = np.r_[np.full(40, 150.0), np.full(60, 50.0)]
    cd4[0] = 100.0  # the threshold itself counts as >= 100
    died = np.r_[np.zeros(30, bool), np.ones(10, bool), np.zeros(20, bool), np.ones(40, bool)]
    p = pd.DataFrame(
        {"cd4_0": cd4, "died": died, "time_days": np.where(died, 100.0, 365.0), "condition": "hiv"}
    )
    assert exposure(p, StudyConfig(), "cd4_at_least_100").sum() == 40
    t = target(
        quantity="odds_ratio", predictor="cd4_at_least_100", value=2.7, ci_low=1.2, ci_high=6.2
    )
    check_targets([t])
    assert measure(t, p, StudyConfig()) == pytest.approx(30 * 40 / (10 * 20), rel=1e-6)


def test_cox_hazard_ratio_recovers_a_known_log_hazard_ratio():
    """Exponential deaths with hazard h0 * exp(beta * CD4/100), censored at 1 year: the
    Cox estimate's 95% CI must cover the true HR (6,000 patients, fixed seed), also when
    the window is halved (proportional hazards)."""
    from sim.evidence.targets import hazard_ratio

    rng = np.random.default_rng(20261206)
    n, beta, h0 = 6000, math.log(0.52), 1.0 / 200.0
    cd4 = rng.lognormal(math.log(80.0), 0.8, n)
    t_death = rng.exponential(1.0 / (h0 * np.exp(beta * cd4 / 100.0)))
    p = pd.DataFrame(
        {"cd4_0": cd4, "time_days": np.minimum(t_death, 365.0), "died": t_death <= 365.0}
    )
    hr, lo, hi = hazard_ratio(p, "cd4_per_100", 365.0)
    assert lo < 0.52 < hi
    assert hi / lo < 1.3  # 6,000 patients pin the HR to within ~ +-13%
    # a shorter window censors later deaths: still the same HR (proportional hazards)
    hr_half, lo_half, hi_half = hazard_ratio(p, "cd4_per_100", 182.0)
    assert lo_half < 0.52 < hi_half
    t = target(
        quantity="hazard_ratio", predictor="cd4_per_100", value=0.52, ci_low=0.32, ci_high=0.85
    )
    check_targets([t])
    assert measure(t, p.assign(condition="hiv"), StudyConfig()) == pytest.approx(hr)
    with pytest.raises(ConfigError, match="predictor"):
        check_targets([target(quantity="hazard_ratio", predictor="age", value=0.5, se=0.1)])
