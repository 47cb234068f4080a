"""Fleming-Harrington weighted log-rank tests and MaxCombo (sim.trial.weighted).

References: the log-rank test of sim.trial.analyses (FH(0, 0) must equal it to the last
bit); lifelines' `logrank_test(..., weightings="fleming-harrington", p=rho, q=gamma)`
(chi-square = z^2); a direct loop over death times written from Fleming & Harrington
(1991, s.7.3) here (sign, stratified sum); scipy's multivariate normal cdf for the
box probabilities; and the empirical correlation and rejection rate of the statistics
over simulated null trials, with tolerances of 4 Monte Carlo SEs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from lifelines.statistics import logrank_test
from scipy.stats import multivariate_normal, norm

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.trial import analyses, weighted

K_SE = 4.0
PAIRS = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.5, 2.0), (2.0, 0.5)]


def _data(seed: int, n: int = 240, ties: bool = True, hr: float = 0.7):
    rng = np.random.default_rng(seed)
    arm = rng.random(n) < 0.5
    t = rng.exponential(np.where(arm, 1.0 / hr, 1.0)) * 40.0
    if ties:
        t = np.ceil(t)  # whole days: many tied death times
    c = rng.uniform(5.0, 120.0, n)
    return np.minimum(t, c), t <= c, arm, rng.integers(0, 3, n)


def _fh_loop(time, event, arm, rho, gamma):
    """FH(rho, gamma) written out: for each distinct death time, the pooled KM before
    it, the weight, O - E and the hypergeometric variance of the experimental arm."""
    s_before, u, v = 1.0, 0.0, 0.0
    for t in np.unique(time[event]):
        at_risk = time >= t
        n, n_e = at_risk.sum(), (at_risk & arm).sum()
        d = (event & (time == t)).sum()
        d_e = (event & (time == t) & arm).sum()
        w = s_before**rho * (1.0 - s_before) ** gamma
        u += w * (d_e - d * n_e / n)
        if n > 1:
            v += w * w * d * (n_e / n) * (1 - n_e / n) * (n - d) / (n - 1)
        s_before *= 1.0 - d / n
    return u, v


@pytest.mark.parametrize("stratified", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fh00_is_the_logrank_test_to_the_last_bit(seed, stratified):
    time, event, arm, strata = _data(seed)
    st = strata if stratified else None
    a = analyses.logrank(time, event, arm, st)
    b = weighted.fleming_harrington(time, event, arm, st, 0.0, 0.0)
    assert (b.z, b.p, b.estimate, b.information) == (a.z, a.p, a.estimate, a.information)
    m = weighted.maxcombo(time, event, arm, st, [(0.0, 0.0)])[0]
    assert m.p == pytest.approx(a.p, abs=1e-15) and m.estimate == a.estimate


@pytest.mark.parametrize(("rho", "gamma"), PAIRS)
@pytest.mark.parametrize("ties", [True, False])
def test_fh_equals_lifelines_and_the_formula(rho, gamma, ties):
    time, event, arm, _ = _data(7, ties=ties)
    r = weighted.fleming_harrington(time, event, arm, None, rho, gamma)
    lf = logrank_test(
        time[arm], time[~arm], event[arm], event[~arm],
        weightings="fleming-harrington", p=rho, q=gamma,
    )  # fmt: skip
    assert r.z**2 == pytest.approx(lf.test_statistic, rel=1e-9)
    u, v = _fh_loop(time, event, arm, rho, gamma)
    assert r.z == pytest.approx(-u / math.sqrt(v), rel=1e-9)  # sign: > 0 favours experimental
    assert r.p == pytest.approx(norm.sf(r.z), rel=1e-9)


def test_stratified_fh_sums_the_strata():
    time, event, arm, strata = _data(11)
    u = v = 0.0
    for s in range(3):
        on = strata == s
        us, vs = _fh_loop(time[on], event[on], arm[on], 0.0, 1.0)
        u, v = u + us, v + vs
    r = weighted.fleming_harrington(time, event, arm, strata, 0.0, 1.0)
    assert r.z == pytest.approx(-u / math.sqrt(v), rel=1e-9)


def test_a_late_effect_favours_fh01_and_an_early_one_fh10():
    rng = np.random.default_rng(5)
    n = 2000
    arm = rng.random(n) < 0.5
    base = rng.exponential(30.0, n)
    # late effect: the experimental arm's hazard halves after day 20; early: before it
    late = np.where(arm & (base > 20), 20 + (base - 20) * 2.0, base)
    early = np.where(arm, np.where(base < 20, base * 2.0, base + 20.0), base)
    for t, strong, weak in [(late, (0.0, 1.0), (1.0, 0.0)), (early, (1.0, 0.0), (0.0, 1.0))]:
        time, event = np.minimum(t, 100.0), t <= 100.0
        z_strong = weighted.fleming_harrington(time, event, arm, None, *strong).z
        z_weak = weighted.fleming_harrington(time, event, arm, None, *weak).z
        assert z_strong > z_weak + 2.0


def _mvn_upper(z, corr, two_sided=False):
    k = len(corr)
    lower = np.full(k, -z) if two_sided else None
    inside = multivariate_normal.cdf(
        np.full(k, z), mean=np.zeros(k), cov=corr, lower_limit=lower, allow_singular=True,
        abseps=1e-7, releps=0.0, maxpts=4_000_000 * k, rng=np.random.default_rng(1),
    )  # fmt: skip
    return 1.0 - inside


@pytest.mark.parametrize("two_sided", [False, True])
def test_max_normal_p_equals_scipys_multivariate_normal(two_sided):
    time, event, arm, strata = _data(3, n=400)
    _, _, corr = weighted.maxcombo(time, event, arm, strata)
    assert np.linalg.matrix_rank(corr, tol=1e-8) == 3  # FH(0,1) = FH(0,0) - FH(1,0)
    nonsingular = corr[np.ix_([0, 1, 3], [0, 1, 3])]
    full = np.array(
        [[1, 0.5, 0.3, 0.2], [0.5, 1, 0.4, 0.1], [0.3, 0.4, 1, 0.6], [0.2, 0.1, 0.6, 1]]
    )  # fmt: skip  (rank 4: Genz's method)
    for c in (corr, nonsingular, full, corr[:2, :2]):
        for z in (1.0, 2.0, 2.6):
            ours, ref = weighted.max_normal_p(z, c, two_sided), _mvn_upper(z, c, two_sided)
            # Simpson's rule on a kinked integrand: ~2e-5 at p ~ 0.5, < 1e-5 in the tails
            assert ours == pytest.approx(ref, abs=1e-5 + 5e-5 * ref), (c, z)
    # one statistic: the normal tail
    assert weighted.max_normal_p(2.0, np.ones((1, 1))) == pytest.approx(norm.sf(2.0))
    # far tail: between one statistic's tail and Bonferroni's bound, and a finite trial z
    two = np.array([[1.0, 0.9], [0.9, 1.0]])
    for z in (4.0, 6.0, 10.0):
        p = weighted.max_normal_p(z, two)
        assert norm.sf(z) <= p <= 2 * norm.sf(z) + 1e-13
    time, event, arm, _ = _data(9, n=2000, hr=0.2)  # a huge effect
    r, z, _ = weighted.maxcombo(time, event, arm)
    assert math.isfinite(r.z) and 0.0 < r.p and r.z <= z.max() + 1e-9


@pytest.fixture(scope="module")
def null_trials():
    """FH z statistics and MaxCombo results of 3,000 simulated null trials (100 patients,
    exponential survival, uniform censoring; no effect)."""
    rng = np.random.default_rng(2026)
    zs, corrs, ps = [], [], []
    for _ in range(3000):
        n = 100
        arm = rng.permutation(np.r_[np.ones(n // 2, bool), np.zeros(n - n // 2, bool)])
        t = rng.exponential(30.0, n)
        c = rng.uniform(10.0, 80.0, n)
        r, z, corr = weighted.maxcombo(np.minimum(t, c), t <= c, arm)
        zs.append(z)
        corrs.append(corr)
        ps.append(r.p)
    return np.array(zs), np.array(corrs), np.array(ps)


def test_maxcombo_correlation_matches_the_null_trials(null_trials):
    zs, corrs, _ = null_trials
    m = len(zs)
    empirical = np.corrcoef(zs.T)
    estimated = corrs.mean(axis=0)
    for a in range(4):
        for b in range(a + 1, 4):
            r = empirical[a, b]
            se = (1 - r * r) / math.sqrt(m - 1)  # SE of a sample correlation (normal data)
            assert abs(estimated[a, b] - r) < K_SE * se, (a, b, estimated[a, b], r)
    assert np.allclose(zs.std(axis=0), 1.0, atol=K_SE / math.sqrt(2 * m) + 0.02)


def test_maxcombo_holds_its_level_under_the_null(null_trials):
    zs, _, ps = null_trials
    m = len(ps)
    for level in (0.025, 0.05, 0.1):
        se = math.sqrt(level * (1 - level) / m)
        assert abs((ps <= level).mean() - level) < K_SE * se, (level, (ps <= level).mean())
    # the max of four statistics rejects more often than any one at its own level ...
    single = (zs >= norm.isf(0.025)).mean(axis=0)
    assert (zs.max(axis=1) >= norm.isf(0.025)).mean() > single.max()
    # ... which the MVN correction takes back: p is the multiplicity-adjusted tail
    assert (ps >= norm.sf(zs.max(axis=1)) - 1e-12).all()


BASE = ["+experiment=trial_sizing", "trial=event_driven_pd1"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.designs.events_maxcombo.type_of_design=OF", "type_of_design"),  # asOF: allowed
        ("trial.designs.events_maxcombo.maxcombo_weights=[[0,0,1]]", "maxcombo_weights[0]"),
        ("trial.designs.events_maxcombo.maxcombo_weights=[[0,-1]]", "maxcombo_weights[0]"),
        ("trial.designs.events_maxcombo.maxcombo_weights=[[0,0],[0,0]]", "maxcombo_weights"),
        ("trial.designs.events_maxcombo.maxcombo_weights=[]", "maxcombo_weights"),
        ("trial.designs.events_logrank.fh_rho=1", "fh_rho"),
        ("trial.designs.events_logrank.maxcombo_weights=[[0,1]]", "maxcombo_weights"),
        ("trial.designs.events_logrank.test=fh", None),  # valid: rho = gamma = 0
        ("trial.designs.events_maxcombo.test=wilcoxon", "test"),
        ("trial.designs.events_maxcombo.endpoint=survival_1y", "test"),
    ],
)
def test_bad_weighted_input_names_the_key(override, key):
    if key is None:
        load_config([*BASE, override])
        return
    with pytest.raises(ConfigError) as e:
        load_config([*BASE, override])
    assert e.value.key.endswith(key), e.value.key


def test_fh_exponents_are_range_checked():
    with pytest.raises(ConfigError) as e:
        load_config([*BASE, "trial.designs.events_logrank.test=fh",
                     "trial.designs.events_logrank.fh_gamma=-0.5"])  # fmt: skip
    assert e.value.key.endswith("fh_gamma") and "[0.0, 5.0]" in str(e.value)
