"""Age and sex effects on frailty and immune recovery (sim.model.cohort): they multiply
each patient's own random effect by exp(b * (age - condition mean) / 10) or
exp(b * (female - condition's female share)), and nothing else moves."""

from __future__ import annotations

import numpy as np
import pytest

from sim.api import load_config
from sim.config import ConfigError
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model import cohort


def _patients(*overrides: str):
    cfg = load_config(["cohort=mixed_seed000", "cohort.n=3000", *overrides])
    pts = cohort.build(rng.run_key(cfg.seed), cfg.cohort, cfg.model, np.arange(cfg.cohort.n))
    return cfg, pts


def _centre(cfg, pts, attr):
    return np.array([getattr(cfg.model.conditions[CONDITIONS[c]], attr) for c in pts.condition])


def test_the_age_and_sex_effects_multiply_the_patients_own_draws():
    cfg, base = _patients()
    b_age, b_f, c_age = 0.4, -0.5, -0.2
    _, pts = _patients(
        f"model.frailty_age_log_hr_per_decade={b_age}",
        f"model.frailty_female_log_hr={b_f}",
        f"model.recovery_age_log_rr_per_decade={c_age}",
    )
    age_mean = np.array([cfg.model.conditions[CONDITIONS[c]].age.mean for c in pts.condition])
    share = _centre(cfg, pts, "female_fraction")
    expected = base.frailty * np.exp(b_age * (pts.age - age_mean) / 10 + b_f * (pts.female - share))
    np.testing.assert_allclose(pts.frailty, expected, rtol=1e-12)
    np.testing.assert_allclose(
        pts.recovery_rate,
        base.recovery_rate * np.exp(c_age * (pts.age - age_mean) / 10),
        rtol=1e-12,
    )
    # everything else is the same person
    for name in ("age", "female", "cd4_0", "lesion_0", "growth", "death_threshold"):
        np.testing.assert_array_equal(getattr(pts, name), getattr(base, name))
    # older patients are frailer, women less frail (the signs of the parameters)
    old, young = pts.age > age_mean + 10, pts.age < age_mean - 10
    ratio = pts.frailty / base.frailty
    assert ratio[old].min() > 1.0 > ratio[young].max()
    sex_part = ratio / np.exp(b_age * (pts.age - age_mean) / 10)
    assert sex_part[pts.female].max() < 1.0 < sex_part[~pts.female].min()


def test_the_defaults_switch_the_effects_off():
    # the default model has no age or sex effect (conf/model/default.yaml says why)
    cfg, pts = _patients()
    assert cfg.model.frailty_age_log_hr_per_decade == 0.0
    assert cfg.model.frailty_female_log_hr == 0.0
    assert cfg.model.recovery_age_log_rr_per_decade == 0.0
    older = pts.age > np.median(pts.age)
    # with the effects off, frailty is independent of age: log-frailty means of the two
    # halves differ by less than 4 SE (sd of log frailty ln 1.5 = 0.405; n = 1,500 per
    # half: SE of the difference 0.405 * sqrt(2 / 1,500) = 0.015)
    lf = np.log(pts.frailty)
    se = np.log(cfg.model.frailty_gsd) * np.sqrt(2 / (len(lf) / 2))
    assert abs(lf[older].mean() - lf[~older].mean()) < 4 * se


@pytest.mark.parametrize(
    "key",
    ["frailty_age_log_hr_per_decade", "frailty_female_log_hr", "recovery_age_log_rr_per_decade"],
)
def test_an_absurd_effect_is_refused_with_its_key(key):
    with pytest.raises(ConfigError, match=key):
        load_config([f"model.{key}=5.0"])
