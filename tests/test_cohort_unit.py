"""Virtual patients (sim/model/cohort.py) against their documented draws.

Each patient variable is recomputed here from the module docstring and
conf/model/: the patient's own number of the named random stream (`sim.core.rng`,
one stream per variable), mapped to the condition's distribution with scipy.stats
(normal, log-normal with median and geometric sd, beta with mean and sd), truncated,
and the population value times a log-normal random effect. The condition mix is checked
against its stratified assignment: counts equal to n times the weight up to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from sim.api import load_config
from sim.config.schema import CONDITIONS, CohortConfig, Dist
from sim.core import rng
from sim.model import cohort
from sim.model.immunity import effector_target, saturation_target

N = 3000
# every condition present, non-integer weights; age and sex effects switched on so that
# their centring is checked too
MIX = "{hiv: 2.5, hematologic_malignancy: 1.5, primary_immunodeficiency: 1.25, "
MIX += "solid_organ_transplant: 0.75, chronic_inflammatory: 1.0, natalizumab_ms: 3.0}"
OVERRIDES = [
    "cohort=custom",
    f"cohort.n={N}",
    f"+cohort.mix={MIX}",
    "model.frailty_age_log_hr_per_decade=0.3",
    "model.frailty_female_log_hr=-0.4",
    "model.recovery_age_log_rr_per_decade=-0.2",
]


@pytest.fixture(scope="module")
def built():
    cfg = load_config(OVERRIDES)
    key = rng.run_key(cfg.seed)
    idx = np.arange(N)
    return cfg, key, idx, cohort.build(key, cfg.cohort, cfg.model, idx)


@pytest.mark.parametrize(
    "mix, n",
    [
        ({"hiv": 27, "hematologic_malignancy": 16, "primary_immunodeficiency": 13}, 1000),
        ({"hiv": 0.1, "natalizumab_ms": 0.7, "chronic_inflammatory": 0.2}, 997),
        ({"solid_organ_transplant": 1.0, "hiv": 0.0}, 50),
        ({"natalizumab_ms": 5.0}, 10),
        ({c: 1.0 / 3.0 for c in CONDITIONS}, 7),
    ],
)
def test_condition_counts_are_n_times_the_weights_up_to_rounding(mix, n):
    c = CohortConfig(n=n, mix=mix)
    w = np.array([mix.get(name, 0.0) for name in CONDITIONS], dtype=float)
    w /= w.sum()
    np.testing.assert_allclose(cohort.mix_weights(c), w, rtol=1e-15)
    cond = cohort.assign_conditions(rng.run_key(5), c, np.arange(n))
    counts = np.bincount(cond, minlength=len(CONDITIONS))
    assert counts.sum() == n and cond.min() >= 0 and cond.max() < len(CONDITIONS)
    # stratified: patient of rank r has its quantile in [r/n, (r+1)/n), so the count of
    # the first k conditions is n times their weight rounded up or down, and one
    # condition's count (a difference of two such counts) is within 2 of n * weight
    assert (np.abs(np.cumsum(counts) - n * np.cumsum(w)) < 1.0 + 1e-9).all(), (counts, n * w)
    assert (np.abs(counts - n * w) < 2.0).all()
    assert (counts[w == 0.0] == 0).all()


def test_the_assignment_is_random_over_patients_not_in_index_order():
    c = CohortConfig(n=2000, mix={"hiv": 1.0, "natalizumab_ms": 1.0})
    cond = cohort.assign_conditions(rng.run_key(3), c, np.arange(2000))
    first, second = cond[:1000], cond[1000:]
    # half of each half are hiv (code 0): a binomial count, sd ~ sqrt(1000) / 2 ~ 16
    for part in (first, second):
        assert abs((part == 0).sum() - 500) < 5 * np.sqrt(1000) / 2
    assert (cond == 0).sum() == 1000


def test_the_draw_truncates_and_rejects_an_unknown_kind():
    z = np.array([-9.0, -1.0, 0.0, 1.0, 9.0])
    normal = Dist(kind="normal", mean=10.0, sd=2.0, low=7.0, high=12.5)
    np.testing.assert_allclose(cohort._draw(normal, z), [7.0, 8.0, 10.0, 12.0, 12.5])
    lognormal = Dist(kind="lognormal", mean=100.0, sd=2.0, low=60.0, high=1e9)
    np.testing.assert_allclose(cohort._draw(lognormal, z), [60.0, 60.0, 100.0, 200.0, 51200.0])
    beta = Dist(kind="beta", mean=0.3, sd=0.1, low=0.0, high=1.0)
    x = cohort._draw(beta, stats.norm.ppf((np.arange(20000) + 0.5) / 20000))
    # the quantiles of a distribution at a fine grid: their mean and sd are its own
    assert abs(x.mean() - 0.3) < 1e-3 and abs(x.std() - 0.1) < 1e-3
    with pytest.raises(ValueError, match="unknown distribution kind 'gamma'"):
        cohort._draw(Dist(kind="gamma"), z)


def _reference_draw(d: Dist, z: np.ndarray) -> np.ndarray:
    u = stats.norm.cdf(z)
    if d.kind == "normal":
        x = stats.norm(d.mean, d.sd).ppf(u)
    elif d.kind == "lognormal":  # mean = median, sd = geometric sd
        x = stats.lognorm(s=np.log(d.sd), scale=d.mean).ppf(u)
    else:  # beta with this mean and sd (method of moments)
        k = d.mean * (1 - d.mean) / d.sd**2 - 1
        x = stats.beta(d.mean * k, (1 - d.mean) * k).ppf(u)
    return np.clip(x, d.low, d.high)


def _by_condition(cfg, pts, attr):
    return np.array([getattr(cfg.model.conditions[CONDITIONS[c]], attr) for c in pts.condition])


def test_the_mix_covers_every_condition(built):
    cfg, _, _, pts = built
    assert set(np.unique(pts.condition)) == set(range(len(CONDITIONS)))
    assert pts.condition.dtype == np.int8 and len(pts) == N


def test_baseline_variables_are_the_conditions_distributions_at_the_patients_numbers(built):
    cfg, key, idx, pts = built
    for attr, got in (
        ("age", pts.age),
        ("cd4", pts.cd4_0),
        ("csf_jcv_log10", pts.jcv_0),
        ("lesion_burden", pts.lesion_0),
    ):
        z = rng.normal(key, f"baseline/{attr}", idx)
        expected = np.empty(N)
        for ci, name in enumerate(CONDITIONS):
            m = pts.condition == ci
            expected[m] = _reference_draw(getattr(cfg.model.conditions[name], attr), z[m])
        np.testing.assert_allclose(got, expected, rtol=1e-9, err_msg=attr)
    # lymphocytes: CD4 over the CD4 share of lymphocytes (its own distribution)
    z = rng.normal(key, "baseline/cd4_fraction", idx)
    frac = np.empty(N)
    for ci, name in enumerate(CONDITIONS):
        m = pts.condition == ci
        frac[m] = _reference_draw(cfg.model.conditions[name].cd4_fraction, z[m])
    np.testing.assert_allclose(pts.lymph_0, pts.cd4_0 / frac, rtol=1e-9)
    assert (pts.lymph_0 > pts.cd4_0).all()
    # sex: a uniform below the condition's female share
    u = rng.uniform(key, "baseline/female", idx)
    np.testing.assert_array_equal(pts.female, u < _by_condition(cfg, pts, "female_fraction"))
    assert pts.female.dtype == bool


def _effect(key, idx, gsd, name):
    return np.exp(np.log(gsd) * rng.normal(key, f"random_effect/{name}", idx))


def test_dynamic_parameters_are_population_values_times_their_own_random_effects(built):
    cfg, key, idx, pts = built
    m = cfg.model
    age_mean = np.array([cfg.model.conditions[CONDITIONS[c]].age.mean for c in pts.condition])
    share = _by_condition(cfg, pts, "female_fraction")
    ceiling = _by_condition(cfg, pts, "cd4_ceiling") * _effect(
        key, idx, _by_condition(cfg, pts, "ceiling_gsd"), "cd4_ceiling"
    )
    np.testing.assert_allclose(pts.cd4_ceiling, np.maximum(ceiling, pts.cd4_0), rtol=1e-12)
    assert (ceiling < pts.cd4_0).any()  # the floor at baseline CD4 is exercised
    half_life = _by_condition(cfg, pts, "recovery_half_life_days")
    recovery = (
        np.log(2)
        / half_life
        * _effect(key, idx, _by_condition(cfg, pts, "recovery_gsd"), "recovery_rate")
        * np.exp(m.recovery_age_log_rr_per_decade * (pts.age - age_mean) / 10)
    )
    np.testing.assert_allclose(pts.recovery_rate, recovery, rtol=1e-12)
    func = expit(
        logit(_by_condition(cfg, pts, "t_cell_function"))
        + m.t_cell_function_logit_sd * rng.normal(key, "random_effect/t_cell_function", idx)
        + m.t_cell_function_age_logit_per_decade * (pts.age - age_mean) / 10
        + m.t_cell_function_female_logit * (pts.female - share)
    )
    np.testing.assert_allclose(pts.t_cell_function, func, rtol=1e-12)
    for attr, rate, gsd, name in (
        ("kill", m.viral_kill_log10_per_day, m.viral_kill_gsd, "viral_kill"),
        ("damage_rate", m.damage_rate_per_day, m.damage_gsd, "damage_rate"),
        ("iris_susceptibility", 1.0, m.iris_susceptibility_gsd, "iris_susceptibility"),
        ("cytokine_response", 1.0, m.cytokine_response_gsd, "cytokine_response"),
        ("iris_duration", m.iris_duration_days, m.iris_duration_gsd, "iris_duration"),
    ):
        np.testing.assert_allclose(
            getattr(pts, attr), rate * _effect(key, idx, gsd, name), rtol=1e-12, err_msg=attr
        )
    frailty = _effect(key, idx, m.frailty_gsd, "frailty") * np.exp(
        m.frailty_age_log_hr_per_decade * (pts.age - age_mean) / 10
        + m.frailty_female_log_hr * (pts.female - share)
    )
    np.testing.assert_allclose(pts.frailty, frailty, rtol=1e-12)
    # per-condition values: excess mortality per year -> per day, natalizumab at diagnosis
    excess = _by_condition(cfg, pts, "excess_mortality_per_year") / 365.25
    np.testing.assert_allclose(pts.excess_hazard, excess, rtol=1e-12)
    ntz = _by_condition(cfg, pts, "natalizumab_at_diagnosis").astype(bool)
    np.testing.assert_array_equal(pts.natalizumab, ntz)
    assert pts.natalizumab.dtype == bool and ntz.any() and not ntz.all()
    # Exp(1) thresholds of the cumulative hazards, each from its own stream
    for attr, name in (("death_threshold", "death"), ("iris_threshold", "iris")):
        u = rng.uniform(key, f"threshold/{name}", idx)
        np.testing.assert_allclose(getattr(pts, attr), -np.log(u), rtol=1e-12)
    np.testing.assert_array_equal(pts.patient_id, idx)
    # JCV replication (the default `net` structure): the patient's net rate plus the
    # killing replication is matched to: w x the patient's own killing at diagnosis +
    # (1 - w) x that of the condition's typical patient (median CD4 and T-cell function),
    # where natalizumab's integrin saturation limits the access of effector cells
    access = 1.0 - saturation_target(pts.natalizumab.astype(float), m)
    assert (access[pts.natalizumab] < 1.0).all() and (access[~pts.natalizumab] == 1.0).all()
    w = m.viral_growth_coupling
    e_typ = effector_target(
        _by_condition(cfg, pts, "t_cell_function"),
        np.array([cfg.model.conditions[CONDITIONS[c]].cd4.mean for c in pts.condition]),
        access,
        m,
    )
    e_own = effector_target(pts.t_cell_function, pts.cd4_0, access, m)
    killing = pts.kill * (w * e_own + (1.0 - w) * e_typ)
    net = m.viral_net_growth_log10_per_day * _effect(
        key, idx, m.viral_growth_gsd, "viral_net_growth"
    )
    np.testing.assert_allclose(pts.growth, net + killing, rtol=1e-12)


def test_take_selects_the_same_patients_in_every_field(built):
    _, _, _, pts = built
    sel = np.array([17, 3, 2999, 3])
    part = pts.take(sel)
    assert len(part) == 4
    for f in cohort.fields(cohort.Patients):
        np.testing.assert_array_equal(getattr(part, f.name), getattr(pts, f.name)[sel])


def test_gross_replication_without_spread_is_the_population_rate_or_the_killing():
    """gsd = 1: every patient replicates at the population gross rate, but no one
    below their killing at diagnosis (a diagnosed patient is progressing; coupling 1:
    replication matched to the patient's own killing)."""
    cfg = load_config(
        [
            "model=gross",
            "model.viral_growth_gsd=1.0",
            "cohort.n=500",
            "model.viral_growth_coupling=1",
            "uncertainty=none",  # model=gross has no posterior sample
        ]
    )
    key = rng.run_key(cfg.seed)
    pts = cohort.build(key, cfg.cohort, cfg.model, np.arange(500))
    access = 1.0 - saturation_target(pts.natalizumab.astype(float), cfg.model)
    killing = pts.kill * effector_target(pts.t_cell_function, pts.cd4_0, access, cfg.model)
    rate = cfg.model.viral_gross_growth_log10_per_day
    np.testing.assert_allclose(pts.growth, np.maximum(rate, killing), rtol=1e-12)
    assert (killing > rate).any() and (killing < rate).any()


def test_beta_draws_remembered_are_the_inversion_bit_for_bit():
    """`_beta_of_normal` remembers the last inversions (a calibration redraws the same
    patients): a hit gives exactly betaincinv(a, b, ndtr(z)), as a copy the caller may
    change; a z that differs in one number, or another (a, b), is inverted afresh;
    the memo stays bounded."""
    from scipy.special import betaincinv, ndtr

    from sim.model import cohort as c

    c._BETA_MEMO.clear()
    z = np.random.default_rng(3).standard_normal(500)
    want = betaincinv(2.5, 7.0, ndtr(z))
    first = c._beta_of_normal(2.5, 7.0, z)
    np.testing.assert_array_equal(first, want)
    first[:] = -1.0  # the caller's copy
    again = c._beta_of_normal(2.5, 7.0, z.copy())
    np.testing.assert_array_equal(again, want)
    assert len(c._BETA_MEMO) == 1  # the second call was a hit
    z2 = z.copy()
    z2[17] += 1e-12
    np.testing.assert_array_equal(c._beta_of_normal(2.5, 7.0, z2), betaincinv(2.5, 7.0, ndtr(z2)))
    np.testing.assert_array_equal(c._beta_of_normal(2.0, 7.0, z), betaincinv(2.0, 7.0, ndtr(z)))
    assert len(c._BETA_MEMO) == 3
    for k in range(c._BETA_MEMO_SIZE + 5):
        c._beta_of_normal(1.0 + k, 3.0, z[:10])
    assert len(c._BETA_MEMO) == c._BETA_MEMO_SIZE


def test_a_cohort_drawn_with_or_without_remembered_draws_is_the_same():
    from sim.model import cohort as c

    cfg = load_config(["cohort.n=3000"])
    key = rng.run_key(cfg.seed)
    c._BETA_MEMO.clear()
    fresh = c.build(key, cfg.cohort, cfg.model, np.arange(3000))
    assert len(c._BETA_MEMO) > 0  # beta-distributed variables were drawn
    hit = c.build(key, cfg.cohort, cfg.model, np.arange(3000))
    for f in fresh.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(hit, f), getattr(fresh, f), err_msg=f)
