"""sim.outcomes.cox against statsmodels PHReg (the same Breslow estimator, computed
independently) on data with many tied times, and the adjusted Joly-style HR target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sim.evidence.targets import adjusted_design, adjusted_hazard_ratio
from sim.outcomes.cox import cox_breslow


def _data(seed: int, n: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=(n, p - 1))]).astype(float)
    rate = np.exp(x @ np.linspace(-0.8, 0.6, p))
    time = np.ceil(rng.exponential(30.0 / rate))  # whole days: many ties
    died = time <= 60
    return np.minimum(time, 60.0), died, x


@pytest.mark.parametrize(("seed", "n", "p"), [(1, 300, 1), (2, 2000, 4), (3, 5000, 8)])
def test_coefficients_and_ses_equal_statsmodels_phreg(seed: int, n: int, p: int) -> None:
    time, died, x = _data(seed, n, p)
    beta, se = cox_breslow(time, died, x)
    ref = sm.PHReg(time, x, status=died.astype(float), ties="breslow").fit(disp=0)
    np.testing.assert_allclose(beta, ref.params, rtol=0, atol=1e-7)
    np.testing.assert_allclose(se, ref.bse, rtol=1e-6)


def test_censored_patients_only_enter_risk_sets() -> None:
    # adding patients censored before every death changes nothing
    time, died, x = _data(4, 500, 3)
    extra_t = np.full(50, 0.5)
    beta, _ = cox_breslow(time, died, x)
    more, _ = cox_breslow(np.r_[time, extra_t], np.r_[died, np.zeros(50, bool)], np.r_[x, x[:50]])
    np.testing.assert_allclose(beta, more, atol=1e-9)


def test_adjusted_hr_reads_joly_groups_and_adjusts_for_condition() -> None:
    # deaths depend on condition only; age is confounded with condition, so the crude
    # age HR is far from 1 and the adjusted one is not (within 4 SE of log 1)
    rng = np.random.default_rng(7)
    n = 6000
    cond = rng.choice(["hiv", "hematologic_malignancy"], n)
    heme = cond == "hematologic_malignancy"
    age = np.where(heme, rng.uniform(55, 85, n), rng.uniform(25, 50, n))
    time = rng.exponential(np.where(heme, 150.0, 900.0))
    pts = pd.DataFrame(
        {
            "time_days": np.minimum(time, 365.0),
            "died": time <= 365.0,
            "age": age,
            "female": rng.integers(0, 2, n).astype(bool),
            "condition": cond,
        }
    )
    x = adjusted_design(pts)
    assert list(x.columns) == ["age_20_40", "age_40_60", "female", "condition_hiv"]
    assert x["age_20_40"].sum() == (age < 40).sum()
    hr, lo, hi = adjusted_hazard_ratio(pts, "age_20_40_vs_over_60", 365.0)
    assert abs(np.log(hr)) < 4 * (np.log(hi) - np.log(lo)) / 3.92
    crude, _ = cox_breslow(pts["time_days"], pts["died"] & (time <= 365), x[["age_20_40"]])
    assert np.exp(crude[0]) < 0.5
    assert np.isnan(adjusted_hazard_ratio(pts.assign(female=False), "female", 365.0)[0])


def test_adjusted_hr_is_nan_when_the_model_cannot_be_estimated() -> None:
    # every solid-organ patient is censored before the first death: their indicator is
    # 0 in every risk set at a death, so the information matrix is singular. Seen at a
    # far corner of the 47-parameter calibration design (a run must not stop on it)
    rng = np.random.default_rng(11)
    n = 400
    cond = np.where(np.arange(n) < 20, "solid_organ_transplant", rng.choice(["hiv", "pid"], n))
    time = np.where(cond == "solid_organ_transplant", 1.0, 10.0 + rng.exponential(200.0, n))
    pts = pd.DataFrame(
        {
            "time_days": np.minimum(time, 365.0),
            "died": (time <= 365.0) & (cond != "solid_organ_transplant"),
            "age": rng.uniform(25, 80, n),
            "female": rng.integers(0, 2, n).astype(bool),
            "condition": cond,
        }
    )
    x = adjusted_design(pts)
    with pytest.raises(np.linalg.LinAlgError):
        cox_breslow(pts["time_days"], pts["died"], x)
    assert all(np.isnan(adjusted_hazard_ratio(pts, "female", 365.0)))


def test_one_fit_serves_every_adjusted_target_as_measure_does() -> None:
    """Evaluator.evaluate fits Joly's adjusted Cox model once per population and reads
    each predictor from it; the values equal `measure` target by target (which fits it
    once per target) on the same simulated patients, for every default fit target."""
    from sim.api import load_config
    from sim.evidence.calibrate import fit_targets
    from sim.evidence.targets import (
        ADJUSTED_COVARIATES,
        Evaluator,
        adjusted_hazard_ratios,
        measure,
        scenario_of,
    )

    cfg = load_config(["+experiment=posterior"])
    targets = fit_targets(cfg)
    adjusted = [t for t in targets if t.predictor in ADJUSTED_COVARIATES]
    assert len(adjusted) >= 2  # Joly's age and sex aHRs share one population
    ev = Evaluator(cfg, targets, 300)
    got = ev.evaluate({})
    sims = ev.simulate({})  # the same patients: seeds fixed by the config
    for t in targets:
        want = measure(t, sims[scenario_of(t)], cfg.study)
        assert got[t.id] == want or (np.isnan(got[t.id]) and np.isnan(want)), t.id
    p = sims[scenario_of(adjusted[0])]
    both = adjusted_hazard_ratios(p, 365.0)
    for k in ADJUSTED_COVARIATES:
        assert both[k] == adjusted_hazard_ratio(p, k, 365.0)


def test_a_separated_covariate_does_not_stop_the_others() -> None:
    """A condition without deaths (small condition, small n: the posterior test's tiny
    runs) separates: its beta runs off and its SE is huge, so exp(beta + 1.96 SE)
    overflows. Its interval is then unbounded (inf); the age and sex HRs the targets read
    come out finite, as they do from the same fit without that condition's deaths
    mattering."""
    from sim.evidence.targets import adjusted_hazard_ratios

    rng = np.random.default_rng(12)
    n = 600
    cond = np.where(np.arange(n) < 40, "solid_organ_transplant", "hiv")
    age = rng.uniform(25, 80, n)
    time = rng.exponential(np.where(age < 40, 900.0, 300.0))
    died = (time <= 365.0) & (cond == "hiv")
    pts = pd.DataFrame(
        {
            "time_days": np.where(cond == "hiv", np.minimum(time, 365.0), 365.0),
            "died": died,
            "age": age,
            "female": rng.integers(0, 2, n).astype(bool),
            "condition": cond,
        }
    )
    x = adjusted_design(pts)
    beta, se = cox_breslow(pts["time_days"], pts["died"], x)
    j = list(x.columns).index("condition_solid_organ_transplant")
    assert beta[j] + 1.96 * se[j] > np.log(np.finfo(float).max)  # the overflow case
    got = adjusted_hazard_ratios(pts, 365.0)
    for k in ("age_20_40_vs_over_60", "female"):
        assert all(np.isfinite(got[k])), k
        assert got[k] == adjusted_hazard_ratio(pts, k, 365.0)


def test_measure_with_error_reads_the_adjusted_model_for_joly_targets() -> None:
    """validation_verdicts --all checks fit targets too: Joly's adjusted HRs must come from
    the multivariable model (a crude-HR lookup of their predictor raised KeyError), with
    the Wald CI of that model on the log scale."""
    from sim.api import load_config
    from sim.evidence.calibrate import fit_targets
    from sim.evidence.targets import ADJUSTED_COVARIATES, measure_with_error

    rng = np.random.default_rng(11)
    n = 4000
    age = rng.uniform(20, 85, n)
    time = rng.exponential(np.where(age < 40, 900.0, 300.0))
    pts = pd.DataFrame(
        {
            "time_days": np.minimum(time, 365.0),
            "died": time <= 365.0,
            "age": age,
            "female": rng.integers(0, 2, n).astype(bool),
            "condition": rng.choice(["hiv", "hematologic_malignancy"], n),
        }
    )
    cfg = load_config(["+experiment=posterior"])
    t = next(t for t in fit_targets(cfg) if t.predictor in ADJUSTED_COVARIATES)
    value, se, lo, hi = measure_with_error(t, pts, cfg.study)
    want = adjusted_hazard_ratio(pts, t.predictor, 365.0)
    assert (value, lo, hi) == want
    assert se == pytest.approx((np.log(hi) - np.log(lo)) / 3.919928, rel=1e-5)
