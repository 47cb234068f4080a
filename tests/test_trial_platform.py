"""The multi-arm platform trial with a shared control (sim.trial.platform) and its
familywise error control (sim.trial.mams).

References: Dunnett's (1955, 1964) one-sided critical values for infinite degrees of
freedom, re-derived here by scipy's multivariate normal cdf and by a one-dimensional
integral written out in the test; the Magirr-Jaki-Whitehead boundaries against the
classical one-arm boundaries of sim.trial.boundaries (recursive integration) and
against a direct simulation of the arms' and the control's Brownian motions; the
platform's simulated familywise error under the global null against the nominal alpha
(within 4 Monte Carlo SEs), and the time trend's effect on concurrent and
non-concurrent control estimates (direction and size in SEs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal, norm

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.trial import mams
from sim.trial.boundaries import efficacy_bounds
from sim.trial.platform import (
    CONTROL,
    PLATFORM_COLUMNS,
    Arrivals,
    _Blocks,
    arrivals,
    control_survival,
    make_spec,
    run_platform,
    trend_moves,
    trended,
)
from sim.trial.pool import build_pool
from sim.trial.sizing import OC_COLUMNS

K_SE = 4.0
ALPHA = 0.025
DUNNETT_TABLE = {2: 2.212, 3: 2.349, 4: 2.442}  # one-sided 0.025, infinite df, rho = 0.5


@pytest.mark.parametrize("k", [2, 3, 4])
def test_dunnett_critical_value_is_dunnetts_table(k):
    c = mams.dunnett_critical(k, ALPHA, 0.5)
    assert c == pytest.approx(DUNNETT_TABLE[k], abs=5e-4)
    # independent 1: scipy's multivariate normal (Genz) with correlation 0.5
    cov = np.full((k, k), 0.5) + 0.5 * np.eye(k)
    p = multivariate_normal.cdf(np.full(k, c), mean=np.zeros(k), cov=cov, abseps=1e-7, releps=0)
    assert p == pytest.approx(1 - ALPHA, abs=2e-5)
    # independent 2: Z_i = (Y_i - X) / sqrt 2 with X the control's standard normal, so
    # P(max Z_i < c) = int phi(x) Phi(c sqrt 2 + x)^k dx (quad, not the module's Simpson)
    val = integrate.quad(lambda x: norm.pdf(x) * norm.cdf(c * math.sqrt(2) + x) ** k, -12, 12)
    assert val[0] == pytest.approx(1 - ALPHA, abs=1e-8)


def test_dunnett_with_more_controls_uses_the_allocation_correlation():
    rho = mams.correlation(2)  # two controls per arm patient: n_k / (n_k + n_c) = 1/3
    assert rho == pytest.approx(1 / 3)
    c = mams.dunnett_critical(3, ALPHA, rho)
    cov = np.full((3, 3), rho) + (1 - rho) * np.eye(3)
    p = multivariate_normal.cdf(np.full(3, c), mean=np.zeros(3), cov=cov, abseps=1e-7, releps=0)
    assert p == pytest.approx(1 - ALPHA, abs=2e-5)
    # between Dunnett with rho 0.5 and Sidak (independent arms)
    assert mams.dunnett_critical(3, ALPHA, 0.5) < c < norm.isf(1 - (1 - ALPHA) ** (1 / 3))


@pytest.mark.parametrize(("shape", "fractions"), [("OF", (0.5, 1.0)), ("P", (1 / 3, 2 / 3, 1.0))])
def test_mams_with_one_arm_is_the_classical_group_sequential_boundary(shape, fractions):
    b = mams.mams_bounds(1, fractions, ALPHA, 0.5, shape)
    ref = efficacy_bounds(list(fractions), ALPHA, shape)  # recursive integration
    assert np.asarray(b) == pytest.approx(ref, abs=2e-4)


def _simulated_fwer(bounds, k, fractions, ratio, draws, seed):
    """P(some arm crosses at some look) under the global null, simulating the sums of
    each arm's and the control's patient outcomes as Brownian motions (arm
    information t_j, control r t_j), not from the correlation matrix."""
    gen = np.random.default_rng(seed)
    t = np.asarray(fractions)
    dt = np.diff(np.r_[0.0, t])
    s_c = np.cumsum(gen.normal(0, np.sqrt(ratio * dt), size=(draws, len(t))), axis=1)
    cross = np.zeros(draws, bool)
    for _ in range(k):
        s_e = np.cumsum(gen.normal(0, np.sqrt(dt), size=(draws, len(t))), axis=1)
        z = (s_e / t - s_c / (ratio * t)) / np.sqrt(1 / t + 1 / (ratio * t))
        cross |= (z >= np.asarray(bounds)).any(axis=1)
    return cross.mean()


@pytest.mark.parametrize(
    ("k", "fractions", "shape", "ratio"),
    [(3, (0.5, 1.0), "OF", 1), (2, (1 / 3, 2 / 3, 1.0), "P", 2), (3, (1.0,), "none", 1)],
)
def test_mams_boundaries_hold_the_familywise_error_in_a_direct_simulation(
    k, fractions, shape, ratio
):
    rho = mams.correlation(ratio)
    b = mams.platform_bounds("dunnett", shape, fractions, ALPHA, k, rho)
    draws = 400_000
    f = _simulated_fwer(b, k, fractions, ratio, draws, seed=11)
    se = math.sqrt(ALPHA * (1 - ALPHA) / draws)
    assert abs(f - ALPHA) < K_SE * se
    assert mams.familywise_error(b, k, fractions, rho) == pytest.approx(ALPHA, abs=5e-5)
    # Bonferroni is conservative, no adjustment is not
    bonf = mams.platform_bounds("bonferroni", shape, fractions, ALPHA, k, rho)
    none = mams.platform_bounds("none", shape, fractions, ALPHA, k, rho)
    assert mams.familywise_error(bonf, k, fractions, rho) < ALPHA
    assert mams.familywise_error(none, k, fractions, rho) > 1.5 * ALPHA


def test_bad_multiplicity_is_refused():
    with pytest.raises(ValueError, match="dunnett takes"):
        mams.platform_bounds("dunnett", "asOF", (0.5, 1.0), ALPHA, 3, 0.5)
    with pytest.raises(ValueError, match="unknown multiplicity"):
        mams.platform_bounds("holm", "none", (1.0,), ALPHA, 3, 0.5)


def test_permuted_blocks_over_the_open_arms():
    gen = np.random.default_rng(5)
    b = _Blocks(gen, control_ratio=1, cycles=1)
    seq = [b.draw(0, (0, 1, 2)) for _ in range(40)]  # 10 blocks of 4
    for i in range(0, 40, 4):
        assert sorted(seq[i : i + 4]) == [CONTROL, 0, 1, 2]
    b2 = _Blocks(gen, control_ratio=2, cycles=2)  # blocks of 2 x (2 + 2) = 8
    seq = [b2.draw(3, (0, 1)) for _ in range(24)]
    for i in range(0, 24, 8):
        assert sorted(seq[i : i + 8]) == [CONTROL] * 4 + [0, 0, 1, 1]
    # the open arms change mid-block: a new block over the new set starts at once
    b3 = _Blocks(gen, control_ratio=1, cycles=1)
    first = [b3.draw(0, (0, 1)) for _ in range(2)]
    assert set(first) <= {CONTROL, 0, 1}
    assert sorted(b3.draw(0, (1, 2)) for _ in range(3)) == [CONTROL, 1, 2]


@pytest.fixture(scope="module")
def spec():
    """The platform preset with a small pool (4,000 patients per strategy)."""
    cfg = load_config(["+experiment=trial_sizing", "trial=platform", "trial.pool_per_arm=4000"])
    return make_spec(cfg.seed, cfg.trial, build_pool(cfg))


def test_arms_enter_late_leave_at_n_and_share_concurrent_controls(spec):
    n = 60
    a = arrivals(spec, n, 1.0, 0, 3)
    res, tot = run_platform(spec, "dunnett_fixed", a, n, "alternative", (n, 0, 3))
    label, entry = tot["label"], tot["entry"]
    vst_open = spec.trial.platform.arms["vst"].entry_months * 365.25 / 12
    assert (entry[label == 2] >= vst_open).all() and (label == 2).any()
    assert (entry[label == 0] < vst_open).any()
    assert list(tot["count"]) == [int((label == k).sum()) for k in range(3)]
    assert (tot["count"] <= n).all()
    # equal allocation: while pd1 recruits, its concurrent controls and its patients are
    # within one block per stratum of each other
    pd1_close = entry[label == 0].max()
    conc = (label == CONTROL) & (entry <= pd1_close)
    strata = len(np.unique(a.stratum[: len(label)]))
    changes = 4  # vst enters, three arms close: each may leave one open block per stratum
    assert abs(int(conc.sum()) - int((label == 0).sum())) <= strata * changes
    # one result per arm, decided at the last look of the fixed design
    assert [r.stage for r in res] == [1, 1, 1]


@pytest.fixture(scope="module")
def spec_concurrent():
    cfg = load_config(
        ["+experiment=trial_sizing", "trial=platform", "trial.pool_per_arm=4000",
         "trial.platform.arms.vst.entry_months=0"]
    )  # fmt: skip
    return make_spec(cfg.seed, cfg.trial, build_pool(cfg))


def test_familywise_error_under_the_global_null_is_alpha_with_dunnett(spec_concurrent):
    """Every arm open from the start (the boundaries' assumption), every arm = SOC:
    the share of trials rejecting any arm is alpha within 4 SEs for Dunnett and MJW
    boundaries, and clearly above it without adjustment."""
    s = spec_concurrent
    trials, n = 2000, 60
    designs = ("dunnett_fixed", "mams_OF2", "unadjusted_fixed")
    hits = {d: 0 for d in designs}
    for i in range(trials):
        a = arrivals(s, n, 1.0, 0, i)
        for d in designs:
            res, _ = run_platform(s, d, a, n, "null", (n, 0, i))
            hits[d] += any(r.reject for r in res)
    se = math.sqrt(ALPHA * (1 - ALPHA) / trials)
    fwer = {d: h / trials for d, h in hits.items()}
    assert abs(fwer["dunnett_fixed"] - ALPHA) < K_SE * se
    assert abs(fwer["mams_OF2"] - ALPHA) < K_SE * se
    un = fwer["unadjusted_fixed"]
    assert un - ALPHA > K_SE * math.sqrt(un * (1 - un) / trials)
    assert un > fwer["dunnett_fixed"]


def test_time_trend_moves_control_survival_by_the_stated_amount(spec):
    """Synthetic arrivals spread over 4 years: the control's 1-year survival among
    patients randomised at year y is S_c + trend x y (within 4 SEs)."""
    m = 200_000
    gen = np.random.default_rng(2)
    years = np.repeat([0.5, 1.5, 2.5, 3.5], m // 4)
    pool = spec.pool
    idx = gen.integers(len(pool), size=m)
    a = Arrivals(years * 365.25, idx, np.zeros(m, int), np.full(m, np.inf), gen.random(m),
                 gen.random(m))  # fmt: skip
    s_c = control_survival(spec)
    for trend in (0.06, -0.06):
        spec.trial.platform.time_trend_per_year = trend
        try:
            rescued, added = trend_moves(spec, a)
        finally:
            spec.trial.platform.time_trend_per_year = 0.0
        death = trended(pool.outcomes["control"].death_day[idx], rescued, added, 365.0)
        for y in (0.5, 1.5, 2.5, 3.5):
            alive = (death[years == y] > 365.0).mean()
            se = math.sqrt(alive * (1 - alive) / (m // 4))
            assert abs(alive - (s_c + trend * y)) < K_SE * se


@pytest.mark.parametrize("trend", [0.08, -0.08])
def test_concurrent_controls_are_unbiased_under_a_time_trend_and_all_controls_are_not(trend):
    """Global null, a late arm (il7 from month 24), survival drifting by `trend` per
    year: the late arm's estimate against concurrent controls is unbiased (within 4
    SEs of 0); against all controls it carries the earlier era's survival, biased in
    the trend's direction (upwards for an improving SOC)."""
    cfg = load_config(
        ["+experiment=trial_sizing", "trial=platform", "trial.pool_per_arm=4000",
         "~trial.platform.arms.vst", "trial.platform.arms.il7.entry_months=24",
         f"trial.platform.time_trend_per_year={trend}"]
    )  # fmt: skip
    s = make_spec(cfg.seed, cfg.trial, build_pool(cfg))
    n, trials = 60, 500
    conc, every = [], []
    for i in range(trials):
        a = arrivals(s, n, 1.0, 0, i)
        res, _ = run_platform(s, "dunnett_fixed", a, n, "null", (n, 0, i))
        conc.append(res[1].estimate_concurrent)
        every.append(res[1].estimate_all)
    conc, every = np.array(conc), np.array(every)
    se_c = conc.std(ddof=1) / math.sqrt(trials)
    se_a = every.std(ddof=1) / math.sqrt(trials)
    assert abs(conc.mean()) < K_SE * se_c
    assert np.sign(trend) * every.mean() > K_SE * se_a
    # the early arm (pd1, open from the start) has only concurrent controls either way
    # until il7 enters; its all-control estimate is also close to unbiased


def test_pool_patient_is_the_same_person_under_every_arm():
    base = ["+experiment=trial_sizing", "trial.pool_per_arm=600"]
    two = build_pool(load_config(base))  # pd1 vs soc
    plat = build_pool(load_config([*base, "trial=platform"]))
    np.testing.assert_array_equal(two.condition, plat.condition)
    for f in ("death_day", "iris_day", "csf_cleared", "mrs"):
        np.testing.assert_array_equal(
            getattr(two.outcomes["control"], f), getattr(plat.outcomes["control"], f)
        )
        np.testing.assert_array_equal(
            getattr(two.outcomes["experimental"], f), getattr(plat.outcomes["pd1"], f)
        )
    assert set(plat.outcomes) == {"control", "pd1", "il7", "vst"}


def test_platform_sizing_run_writes_per_arm_rows():
    from sim.app.tasks.trial import run_platform_sizing

    cfg = load_config(
        ["+experiment=trial_sizing", "trial=platform", "trial.pool_per_arm=1000",
         "trial.sizing.trials=30", "trial.sizing.n=[30]", "trial.sizing.chunk_trials=15"]
    )  # fmt: skip
    spec, trials, oc = run_platform_sizing(cfg)
    assert list(oc.columns) == OC_COLUMNS + PLATFORM_COLUMNS
    assert len(oc) == 4 * 3 and set(oc["arm"]) == {"pd1", "il7", "vst"}
    for _, g in oc.groupby("design"):
        assert g["power_any"].iloc[0] >= g["power"].max()
        assert g["fwer"].iloc[0] >= g["type1_error"].max()
        assert (g["expected_n"] <= 30).all()
        assert g["expected_n_total"].iloc[0] >= g["expected_n"].sum()
    dun = oc[oc["design"] == "dunnett_fixed"].iloc[0]
    assert dun["critical_z_looks"] == f"{mams.dunnett_critical(3, ALPHA, 0.5):.4f}"
    assert dun["fwer_planned"] == pytest.approx(ALPHA, abs=1e-6)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.platform.arms.vst.entry_months=200", "trial.platform.arms.vst.entry_months"),
        ("trial.platform.arms.vst.entry_months=-1", "trial.platform.arms.vst.entry_months"),
        ("trial.platform.control=historical", "trial.platform.control"),
        ("trial.platform.control_ratio=0", "trial.platform.control_ratio"),
        ("trial.platform.time_trend_per_year=1.5", "trial.platform.time_trend_per_year"),
        ("trial.designs.mams_OF2.multiplicity=holm", "trial.designs.mams_OF2.multiplicity"),
        ("trial.designs.mams_OF2.type_of_design=asOF", "trial.designs.mams_OF2.type_of_design"),
        ("trial.designs.dunnett_fixed.endpoint=time_to_death", "trial.designs.dunnett_fixed.test"),
        ("trial.effect.kind=assumed", "trial.effect.kind"),
        ("trial.borrowing.prior=power", "trial.borrowing.prior"),
    ],
)
def test_bad_platform_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config(["+experiment=trial_sizing", "trial=platform", override])
    assert e.value.key == key


def test_an_arm_must_be_a_strategy_other_than_the_control():
    from sim.config.load import load
    from sim.config.trial import PlatformArmConfig
    from sim.trial.validate import check_trial

    cfg = load(["+experiment=trial_sizing", "trial=platform"])
    cfg.trial.platform.arms["bogus"] = PlatformArmConfig()
    with pytest.raises(ConfigError) as e:
        check_trial(cfg)
    assert e.value.key == "trial.platform.arms.bogus" and "allowed:" in str(e.value)
    cfg = load(["+experiment=trial_sizing", "trial=platform"])
    cfg.trial.platform.arms["soc"] = PlatformArmConfig()
    with pytest.raises(ConfigError) as e:
        check_trial(cfg)
    assert e.value.key == "trial.platform.arms.soc"


def test_platform_grid_tells_auto_its_size(spec, outer_sizes):
    """executor=auto decides by an outer loop's size: the platform grid counts its trial
    patients per arm (trials x the grid's maximum n per arm), so a large grid can go to
    worker processes; a tiny grid here, on this process."""
    from dataclasses import replace

    import sim.engine.executors as ex
    from sim.trial.platform import simulate_platform_grid

    seen = outer_sizes(ex)  # platform imports ordered_map from there at each call
    small = replace(spec.trial.sizing, trials=2, n=[30], chunk_trials=2)
    tiny = replace(spec, trial=replace(spec.trial, sizing=small))
    cfg = load_config(["executor=auto"])
    simulate_platform_grid(tiny, cfg.executor)
    assert seen == [2 * 30 * len(small.accrual_scale)]
