"""Group-sequential MaxCombo (sim/trial/gs_maxcombo.py).

References: with one statistic (FH(0,0), the log-rank test) the bounds are the
log-rank group-sequential bounds of sim.trial.boundaries (themselves equal to rpact's,
tests/test_trial_boundaries.py); the joint box probabilities against scipy's
multivariate normal cdf (Genz) at a tight tolerance; the solved bounds' crossing
probabilities against a large plain simulation of the multivariate normal; the
estimated correlations and the type I error against simulated null survival trials
with staggered entry (empirical correlations and rejection rates, Monte Carlo SEs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.trial import gs_maxcombo as gs
from sim.trial import weighted
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds

K_SE = 4.0
ALPHA = 0.025
FAMILY = weighted.MAXCOMBO_DEFAULT


def _brownian(fractions) -> np.ndarray:
    fr = np.asarray(fractions, dtype=float)
    return np.sqrt(np.minimum.outer(fr, fr) / np.maximum.outer(fr, fr))


@pytest.mark.parametrize("kind", ["asOF", "asP"])
@pytest.mark.parametrize("fractions", [[0.5, 1.0], [0.3, 0.6, 1.0]])
def test_one_logrank_statistic_gives_the_logrank_bounds(kind, fractions):
    """weights [[0, 0]]: one statistic per look with the Brownian correlation
    sqrt(t_k / t_l); the bounds are sim.trial.boundaries' (= rpact's), and their
    crossing probabilities by its recursive integration are the spent alpha."""
    k = len(fractions)
    levels = gs.stage_levels(fractions, ALPHA, kind)
    bounds = gs.sequential_bounds(_brownian(fractions), np.arange(k), levels)
    ref = efficacy_bounds(fractions, ALPHA, kind)
    assert bounds == pytest.approx(ref, abs=2e-4)
    up, _ = crossing_probabilities(fractions, bounds)
    assert up == pytest.approx(levels, abs=2e-5)
    assert levels.sum() == pytest.approx(ALPHA, rel=1e-12)


def _staggered_trial(gen, n=240, deaths=(60, 120), strata=2, hr=1.0):
    """A two-arm trial with uniform entry over 24 months, exponential survival (median
    12 months; experimental hazard x hr) and 5%/year dropout, looked at on the calendar
    days of the given numbers of deaths: per look (time, event, arm, stratum)."""
    entry = gen.uniform(0.0, 730.0, n)
    arm = gen.random(n) < 0.5
    stratum = gen.integers(0, strata, n)
    rate = math.log(2) / 365.0 * np.where(stratum == 0, 1.0, 2.0) * np.where(arm, hr, 1.0)
    death = gen.exponential(1.0 / rate)
    drop = gen.exponential(365.0 / 0.05, n)
    seen = death <= drop
    days = np.sort((entry + death)[seen])
    out = []
    for d in deaths:
        day = days[d - 1] + 1e-6
        on = entry <= day
        fu = np.minimum(drop, day - entry)[on]
        out.append((np.minimum(death[on], fu), death[on] <= fu, arm[on], stratum[on]))
    return out


def _realistic_corr(seed=3):
    gen = np.random.default_rng(seed)
    s = gs.SequentialMaxCombo(FAMILY, [0.5, 1.0], ALPHA, "asOF")
    for look in _staggered_trial(gen):
        s.look(*look)
    sd = np.sqrt(np.diag(s.cov))
    return s.cov / np.outer(sd, sd), s.look_of


def test_first_look_is_the_one_look_maxcombo():
    """Look 1 reproduces weighted.maxcombo's p-value and z on the same data, and the
    per-look block of the joint covariance is weighted.py's covariance."""
    gen = np.random.default_rng(11)
    looks = _staggered_trial(gen, hr=0.7)
    s = gs.SequentialMaxCombo(FAMILY, [0.5, 1.0], ALPHA, "asOF")
    r1, m1 = s.look(*looks[0])
    ref, z, corr = weighted.maxcombo(*looks[0][:3], looks[0][3], FAMILY)
    assert r1.p == pytest.approx(ref.p, rel=1e-12) and r1.z == pytest.approx(ref.z, rel=1e-12)
    assert m1 == pytest.approx(z.max(), rel=1e-12)
    assert r1.estimate == pytest.approx(ref.estimate, rel=1e-12)
    s.look(*looks[1])
    _, c2, _, _ = weighted.weighted_parts(*looks[1][:3], FAMILY, looks[1][3])
    assert s.cov[4:, 4:] == pytest.approx(c2, rel=1e-12)


def test_box_probabilities_match_scipys_genz():
    """P(M_1 < c_1, M_2 >= m) by the quasi-Monte Carlo integrator (rank 6) against
    scipy's multivariate normal cdf at abseps 1e-7."""
    corr, look = _realistic_corr()
    assert np.linalg.matrix_rank(corr, tol=1e-8) == 6  # FH(0,1) = FH(0,0) - FH(1,0)
    c1 = 3.1
    for m in (2.0, 2.4):
        up = np.where(look == 0, c1, m)
        box = multivariate_normal.cdf(
            up, mean=np.zeros(8), cov=corr, allow_singular=True,
            lower_limit=np.full(8, -np.inf), abseps=1e-7, releps=0.0, maxpts=2_000_000,
            rng=np.random.default_rng(0),
        )  # fmt: skip
        first = 1.0 - weighted.max_normal_p(c1, corr[:4, :4])
        assert gs.first_crossing(corr, look, [c1], 1, m) == pytest.approx(first - box, abs=2e-5)


def test_solved_bounds_spend_alpha_in_a_large_mvn_simulation():
    """Bounds solved for asOF spending at looks 0.5 and 1 on a trial's estimated 8 x 8
    correlation: 10^6 draws of the multivariate normal cross first at look 1 and 2
    with the spent alpha, within 4 SE."""
    corr, look = _realistic_corr()
    levels = gs.stage_levels([0.5, 1.0], ALPHA, "asOF")
    bounds = gs.sequential_bounds(corr, look, levels)
    assert bounds[0] > efficacy_bounds([0.5, 1.0], ALPHA, "asOF")[0]  # max of 4 > one
    vals, vecs = np.linalg.eigh(corr)
    a = vecs * np.sqrt(np.clip(vals, 0.0, None))
    draws = 1_000_000
    x = a @ np.random.default_rng(7).standard_normal((8, draws))
    cross1 = x[look == 0].max(axis=0) >= bounds[0]
    cross2 = ~cross1 & (x[look == 1].max(axis=0) >= bounds[1])
    for hit, lv in ((cross1, levels[0]), (cross2, levels[1]), (cross1 | cross2, ALPHA)):
        se = math.sqrt(lv * (1 - lv) / draws)
        assert abs(hit.mean() - lv) < K_SE * se, (hit.mean(), lv)


NULL_TRIALS = 2000


@pytest.fixture(scope="module")
def null_trials():
    """Simulated null trials (HR 1, 2 strata, stratified statistics): per trial the
    eight FH z statistics, their estimated correlation and the design's decision."""
    gen = np.random.default_rng(2021)
    zs, corrs, rejects, stages = [], [], [], []
    crit = gs.critical_z([0.5, 1.0], ALPHA, "asOF")
    for _ in range(NULL_TRIALS):
        s = gs.SequentialMaxCombo(FAMILY, [0.5, 1.0], ALPHA, "asOF")
        z, reject, stage = [], False, 2
        for k, (time, event, arm, stratum) in enumerate(_staggered_trial(gen)):
            r, _ = s.look(time, event, arm, stratum)
            u, c, _, _ = weighted.weighted_parts(time, event, arm, FAMILY, stratum)
            z.extend(-u / np.sqrt(np.diag(c)))
            if not reject and r.z >= crit[k]:
                reject, stage = True, k + 1
        sd = np.sqrt(np.diag(s.cov))
        zs.append(z)
        corrs.append(s.cov / np.outer(sd, sd))
        rejects.append(reject)
        stages.append(stage)
    return np.array(zs), np.array(corrs), np.array(rejects), np.array(stages)


def test_estimated_correlations_match_the_null_trials(null_trials):
    """The mean estimated correlation of the 8 statistics (4 FH x 2 looks) equals
    their empirical correlation over the null trials within 4 SE ((1 - r^2) / sqrt(N))."""
    zs, corrs, _, _ = null_trials
    empirical = np.corrcoef(zs.T)
    estimated = corrs.mean(axis=0)
    se = (1 - empirical**2) / math.sqrt(len(zs)) + 1e-12
    assert (np.abs(empirical - estimated) < K_SE * se).all()
    # the cross-look block is not the within-look one: a real joint distribution
    assert estimated[0, 4] < 0.8 and estimated[0, 4] > 0.6  # ~ sqrt(1/2) for the log-rank


def test_type_one_error_of_null_trials(null_trials):
    """Rejection rate over simulated null trials within 4 MC SE of alpha; the interim
    spends the asOF share (about 0.0015) within its SE."""
    _, _, rejects, stages = null_trials
    se = math.sqrt(ALPHA * (1 - ALPHA) / len(rejects))
    assert abs(rejects.mean() - ALPHA) < K_SE * se, rejects.mean()
    lv1 = gs.stage_levels([0.5, 1.0], ALPHA, "asOF")[0]
    early = (rejects & (stages == 1)).mean()
    m = len(rejects)
    assert abs(early - lv1) < K_SE * math.sqrt(max(lv1 * (1 - lv1), 1 / m) / m)


PRESET = ["+experiment=trial_sizing", "trial=event_driven_pd1", "output.progress=false"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.designs.events_asOF2_maxcombo.type_of_design=OF", "type_of_design"),
        ("trial.designs.events_asOF2_maxcombo.type_of_design=P", "type_of_design"),
        ("trial.designs.events_asOF2_maxcombo.type_beta_spending=bsOF", "type_beta_spending"),
        ("trial.designs.events_asOF2_maxcombo.type_of_design=none", "type_of_design"),
        ("trial.designs.events_asOF2_maxcombo.test=fh", "type_of_design"),
    ],
)
def test_bad_group_sequential_maxcombo_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config([*PRESET, override])
    assert e.value.key.endswith(key), e.value.key


def test_the_preset_design_loads():
    d = load_config(PRESET).trial.designs["events_asOF2_maxcombo"]
    assert d.test == "maxcombo" and d.type_of_design == "asOF"
    assert list(d.information_rates) == [0.5, 1.0] and d.analysis == "events"


def test_a_look_without_statistics_spends_nothing_and_the_next_is_one_look():
    """A first look with one arm only (no statistic): p = 1 and no bound to cross, so
    the second look's stage-wise p is the one-look MaxCombo p of its data."""
    gen = np.random.default_rng(5)
    time, event, arm, stratum = _staggered_trial(gen, hr=0.7)[1]
    s = gs.SequentialMaxCombo(FAMILY, [0.5, 1.0], ALPHA, "asOF")
    control = ~arm
    r1, _ = s.look(time[control], event[control], arm[control], stratum[control])
    assert r1.p == 1.0 and r1.z == 0.0
    r2, m2 = s.look(time, event, arm, stratum)
    ref, z, _ = weighted.maxcombo(time, event, arm, stratum, FAMILY)
    assert m2 == pytest.approx(z.max(), rel=1e-12)
    assert r2.p == pytest.approx(ref.p, abs=1e-10)
