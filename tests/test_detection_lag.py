"""Lesion burden at diagnosis grown over the diagnostic delay (model.lesion_burden_model:
detection_lag, sim/model/cohort.py `_detection_lag_burden`).

Recomputed here from the documented law, D0 = 1 - (1 - D_start) exp(-r a t): the burden
at symptom onset (or its surveillance share), the patient's damage rate r, the viral
activity a of the CSF load at diagnosis and the delay t, each drawn with scipy.stats
from the patient's own random stream; and the law's consequences that could fail: no
growth without viral activity, pathwise monotone in the delay, the surveilled share.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.api import load_config
from sim.config import ConfigError
from sim.config.schema import CONDITIONS
from sim.core import rng
from sim.model import cohort

N = 4000
MIX = "{hiv: 1.0, hematologic_malignancy: 1.0, natalizumab_ms: 2.0}"
BASE = ["cohort=custom", f"cohort.n={N}", f"+cohort.mix={MIX}"]
LAG = [*BASE, "model.lesion_burden_model=detection_lag"]


def _build(overrides):
    cfg = load_config(overrides)
    key = rng.run_key(cfg.seed)
    idx = np.arange(N)
    return cfg, key, idx, cohort.build(key, cfg.cohort, cfg.model, idx)


def _ppf(d, z):
    """A baseline distribution by inversion, written out with scipy.stats."""
    u = stats.norm.cdf(z)
    if d.kind == "lognormal":
        x = stats.lognorm(s=np.log(d.sd), scale=d.mean).ppf(u)
    elif d.kind == "beta":
        c = d.mean * (1 - d.mean) / d.sd**2 - 1
        x = stats.beta(d.mean * c, (1 - d.mean) * c).ppf(u)
    else:
        x = stats.norm(d.mean, d.sd).ppf(u)
    return np.clip(x, d.low, d.high)


# the second case: an onset floor above 0 and half of natalizumab's patients under MRI
# surveillance, so that surveilled lesions (onset x 0.26) fall below the floor and are
# raised to it (the burden stays inside the onset distribution's range)
FLOOR = [
    "model.lesion_burden_at_onset.low=0.05",
    "model.conditions.natalizumab_ms.surveillance_fraction=0.5",
]


@pytest.mark.parametrize("extra", [[], FLOOR], ids=["default", "onset_floor"])
def test_burden_equals_the_documented_law_patient_by_patient(extra):
    cfg, key, idx, p = _build([*LAG, *extra])
    m = cfg.model
    onset = _ppf(m.lesion_burden_at_onset, rng.normal(key, "baseline/lesion_burden_at_onset", idx))
    u = rng.uniform(key, "baseline/surveillance", idx)
    z_sym = rng.normal(key, "baseline/diagnostic_delay_days", idx)
    z_sur = rng.normal(key, "baseline/surveillance_delay_days", idx)
    expected = np.empty(N)
    surveilled_n = 0
    for ci, name in enumerate(CONDITIONS):
        sel = p.condition == ci
        if not sel.any():
            continue
        c = m.conditions[name]
        surv = u[sel] < c.surveillance_fraction
        surveilled_n += surv.sum()
        delay = np.where(
            surv,
            _ppf(c.surveillance_delay_days, z_sur[sel]),
            _ppf(c.diagnostic_delay_days, z_sym[sel]),
        )
        start = np.where(surv, m.surveillance_burden_ratio, 1.0) * onset[sel]
        activity = np.maximum(p.jcv_0[sel] - m.viral_activity_floor_log10, 0.0) / (
            m.viral_activity_ref_log10 - m.viral_activity_floor_log10
        )
        d0 = 1 - (1 - start) * np.exp(-p.damage_rate[sel] * activity * delay)
        expected[sel] = np.clip(d0, m.lesion_burden_at_onset.low, m.lesion_burden_at_onset.high)
    np.testing.assert_allclose(p.lesion_0, expected, rtol=1e-9, atol=1e-12)
    # natalizumab's MRI-surveillance share (Dong-Si 2014: 8.1%) within 4 binomial SE
    n_ntz = (p.condition == CONDITIONS.index("natalizumab_ms")).sum()
    f = m.conditions["natalizumab_ms"].surveillance_fraction
    assert abs(surveilled_n / n_ntz - f) < 4 * np.sqrt(f * (1 - f) / n_ntz)
    assert surveilled_n > 0
    if extra:  # some surveilled lesions sit on the floor, none below it
        assert p.lesion_0.min() == 0.05 and (p.lesion_0 == 0.05).sum() > 10


def test_closed_form_with_every_spread_switched_off():
    # one onset burden, one delay, one damage rate: D0 from the law by hand
    over = [
        *LAG,
        "model.lesion_burden_at_onset={kind: normal, mean: 0.1, sd: 0.0, low: 0.0, high: 0.95}",
        "model.damage_gsd=1.0",
        "model.conditions.hiv.diagnostic_delay_days.sd=1.0",
        "model.conditions.hiv.diagnostic_delay_days.mean=100.0",
        "model.conditions.hiv.surveillance_fraction=0.0",
    ]
    cfg, _, _, p = _build(over)
    m = cfg.model
    hiv = p.condition == CONDITIONS.index("hiv")
    floor, ref = m.viral_activity_floor_log10, m.viral_activity_ref_log10
    a = np.maximum(p.jcv_0[hiv] - floor, 0.0) / (ref - floor)  # activity between floor and ref
    expected = 1 - 0.9 * np.exp(-m.damage_rate_per_day * a * 100.0)
    np.testing.assert_allclose(p.lesion_0[hiv], expected, rtol=1e-12)


def test_no_viral_activity_no_growth_and_longer_delays_never_shrink_a_lesion():
    cfg, _, _, short = _build([*LAG, "model.conditions.hiv.diagnostic_delay_days.mean=30.0"])
    _, _, _, long = _build([*LAG, "model.conditions.hiv.diagnostic_delay_days.mean=120.0"])
    floor = cfg.model.viral_activity_floor_log10  # no activity at or below it
    hiv = short.condition == CONDITIONS.index("hiv")
    quiet = hiv & (short.jcv_0 <= floor)
    active = hiv & (short.jcv_0 > floor) & (short.lesion_0 < 0.95)
    assert quiet.any() and active.any()
    np.testing.assert_array_equal(short.lesion_0[quiet], long.lesion_0[quiet])
    assert (long.lesion_0[active] > short.lesion_0[active]).all()
    others = ~hiv  # other conditions' patients are the same people with the same burden
    np.testing.assert_array_equal(short.lesion_0[others], long.lesion_0[others])


def test_drawn_model_is_untouched_by_the_detection_keys():
    _, _, _, a = _build(BASE)
    _, _, _, b = _build([*BASE, "model.conditions.hiv.diagnostic_delay_days.mean=500.0"])
    np.testing.assert_array_equal(a.lesion_0, b.lesion_0)


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.lesion_burden_model=guess", "model.lesion_burden_model"),
        ("model.conditions.hiv.surveillance_fraction=1.5", "surveillance_fraction"),
        ("model.conditions.hiv.diagnostic_delay_days.low=-1.0", "diagnostic_delay_days.low"),
        ("model.surveillance_burden_ratio=2.0", "model.surveillance_burden_ratio"),
        ("model.lesion_burden_at_onset.high=1.0", "model.lesion_burden_at_onset"),
    ],
)
def test_bad_detection_inputs_name_their_key(override, key):
    over = LAG if "lesion_burden_model" not in override else BASE
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config([*over, override])
