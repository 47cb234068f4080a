"""Re-randomisation p-values (sim/trial/rerandomise.py) against independent references:
the asymptotic tests' own statistics, full enumeration of a small trial's allocations,
the uniform law of a shuffled block, and the exact size of the test under the null."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from sim.config.schema import ConfigError
from sim.trial import analyses, weighted
from sim.trial.randomise import block_ids, permuted_blocks
from sim.trial.rerandomise import p_value, rerandomised, shuffles, statistics

KEY = "trial.designs.x"
FH4 = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]


def _trial(n: int, seed: int, strata_count: int = 3, ties: bool = True):
    g = np.random.default_rng(seed)
    strata = g.integers(0, strata_count, n)
    arm = permuted_blocks(strata, (1, 1), 4, g)
    time = g.exponential(200.0, n)
    if ties:
        time = np.ceil(time / 7.0) * 7.0  # weekly visits: tied death times
    event = g.random(n) < 0.7
    return time, event, arm, strata


@pytest.mark.parametrize("stratified", [False, True])
def test_statistic_equals_the_asymptotic_tests_z(stratified):
    time, event, arm, strata = _trial(90, 3)
    s = strata if stratified else None
    lr = analyses.logrank(time, event, arm, s)
    assert statistics(time, event, arm, [(0.0, 0.0)], s)[0] == pytest.approx(lr.z, rel=1e-12)
    fh = weighted.fleming_harrington(time, event, arm, s, 0.0, 1.0)
    assert statistics(time, event, arm, [(0.0, 1.0)], s)[0] == pytest.approx(fh.z, rel=1e-12)
    u, c, _, _ = weighted.weighted_parts(time, event, arm, FH4, s)
    z_max = float(np.max(-u / np.sqrt(np.diag(c))))
    assert statistics(time, event, arm, FH4, s)[0] == pytest.approx(z_max, rel=1e-12)
    # several label rows at once: each row as if alone
    g = np.random.default_rng(0)
    rows = np.array([g.permutation(arm) for _ in range(5)])
    each = [statistics(time, event, r, FH4, s)[0] for r in rows]
    assert np.allclose(statistics(time, event, rows, FH4, s), each, rtol=1e-12)


def test_block_ids_follow_permuted_blocks():
    strata = np.array([0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0])
    # stratum 0 at positions 0,2,3,5 | 6,11 ; stratum 1 at 1,4,7,8 | 9,10
    ids = block_ids(strata, 4)
    expect = np.array([0, 2, 0, 0, 2, 0, 1, 2, 2, 3, 3, 1])
    assert (ids == expect).all()
    g = np.random.default_rng(5)
    arm = permuted_blocks(strata, (1, 1), 4, g)
    for b in (0, 2):  # complete blocks hold 2 + 2
        assert arm[ids == b].sum() == 2


def test_shuffles_keep_each_blocks_labels_and_are_uniform():
    labels = np.array([1, 1, 0, 0, 1, 0, 1], dtype=bool)
    blocks = np.array([0, 0, 0, 0, 1, 1, 1])  # a full 2:2 block, a truncated 2:1 block
    count = 12_000
    s = shuffles(labels, blocks, count, np.random.default_rng(11))
    assert (s[:, :4].sum(axis=1) == 2).all() and (s[:, 4:].sum(axis=1) == 2).all()
    for cols, k in ((slice(0, 4), 6), (slice(4, 7), 3)):
        patterns, freq = np.unique(s[:, cols], axis=0, return_counts=True)
        assert len(patterns) == k  # every arrangement appears: C(4,2) = 6, C(3,2) = 3
        # each equally likely: chi-square with k - 1 df below its 0.999 quantile
        chi2 = float(((freq - count / k) ** 2 / (count / k)).sum())
        from scipy.stats import chi2 as chi2_dist

        assert chi2 < chi2_dist.ppf(0.999, k - 1)
    # blocks are independent: the joint pattern of the two blocks is uniform over 18
    joint = np.unique(s, axis=0, return_counts=True)[1]
    assert len(joint) == 18


def test_p_value_against_full_enumeration():
    # 12 patients in 3 blocks of 4 (2:2 each): 6^3 = 216 allocations, all enumerated
    g = np.random.default_rng(2)
    time = np.ceil(g.exponential(100.0, 12))
    event = g.random(12) < 0.8
    blocks = np.repeat([0, 1, 2], 4)
    arm = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1], dtype=bool)
    observed = statistics(time, event, arm, FH4)[0]
    alloc = []
    for a, b, c in itertools.product(itertools.combinations(range(4), 2), repeat=3):
        x = np.zeros(12, dtype=bool)
        for k, pick in enumerate((a, b, c)):
            x[[4 * k + i for i in pick]] = True
        alloc.append(x)
    every = statistics(time, event, np.array(alloc), FH4)
    exact = float(np.mean(every >= observed - 1e-12))
    count = 20_000
    ref = statistics(time, event, shuffles(arm, blocks, count, np.random.default_rng(4)), FH4)
    mc = float(np.mean(ref >= observed - 1e-12))
    assert abs(mc - exact) < 4.0 * math.sqrt(exact * (1.0 - exact) / count)


def test_p_value_formula():
    assert p_value(2.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(3 / 4)
    assert p_value(9.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(1 / 4)
    assert p_value(-9.0, np.array([1.0, 2.0, 3.0])) == 1.0


def test_size_is_at_most_alpha_under_the_sharp_null():
    """Small stratified trials with heavy ties, where the asymptotic tests are off:
    the re-randomisation test's size stays at or below alpha (Monte Carlo error)."""
    alpha, trials, count = 0.05, 1200, 99
    reject = 0
    for i in range(trials):
        time, event, arm, strata = _trial(24, 1000 + i, strata_count=2)
        blocks = block_ids(strata, 4)
        r = analyses.logrank(time, event, arm, strata)
        gen = np.random.default_rng(i)
        rr = rerandomised(r, time, event, arm, blocks, FH4, strata, count, gen)
        reject += rr.p <= alpha
    rate = reject / trials
    assert rate <= alpha + 4.0 * math.sqrt(alpha * (1 - alpha) / trials)
    # and it is a test, not a constant: it rejects at about the level
    assert rate >= alpha - 4.0 * math.sqrt(alpha * (1 - alpha) / trials) - 1.0 / (count + 1)


def test_rerandomised_keeps_the_estimate_and_maps_p_to_z():
    time, event, arm, strata = _trial(60, 8)
    r = analyses.logrank(time, event, arm, strata)
    rr = rerandomised(r, time, event, arm, block_ids(strata, 4), [(0.0, 0.0)], strata, 199,
                      np.random.default_rng(1))  # fmt: skip
    assert rr.estimate == r.estimate and rr.information == r.information
    assert rr.p * 200 == pytest.approx(round(rr.p * 200))  # a multiple of 1 / (B + 1)
    from scipy.stats import norm

    edge = 1 / 200
    assert rr.z == pytest.approx(norm.isf(min(max(rr.p, edge), 1 - edge)))


def _cfg(**design):
    from sim.api import load_config

    cfg = load_config(["+experiment=trial_sizing", "trial=event_driven_pd1"])
    d = cfg.trial.designs["events_logrank"]
    cfg.trial.designs = {"x": replace(d, **design)}
    return cfg


@pytest.mark.parametrize(
    ("design", "key"),
    [
        ({"p_value": "bootstrap"}, "trial.designs.x.p_value"),
        (
            {"p_value": "rerandomisation", "rerandomisations": 10},
            "trial.designs.x.rerandomisations",
        ),
        (
            {
                "p_value": "rerandomisation",
                "type_of_design": "asOF",
                "information_rates": [0.5, 1.0],
            },
            "trial.designs.x.p_value",
        ),
        (
            {"p_value": "rerandomisation", "logrank_variance": "permutation"},
            "trial.designs.x.logrank_variance",
        ),
        (
            {
                "p_value": "rerandomisation",
                "endpoint": "survival_1y",
                "test": "z",
                "analysis": "followup",
                "rmst_tau_days": None,
            },
            "trial.designs.x.p_value",
        ),  # fmt: skip
    ],
)
def test_bad_settings_name_the_key(design, key):
    from sim.trial.validate import check_trial

    with pytest.raises(ConfigError) as err:
        check_trial(_cfg(**design))
    assert err.value.key == key


def test_trial_rows_use_the_rerandomisation_p_reproducibly():
    """In a simulated trial, the design's p is the re-randomisation p of its own data
    (recomputed here from the trial's blocks), the same on every call."""
    from sim.core import rng
    from sim.trial.design import (
        _RERANDOMISATION,
        Spec,
        analysis_day,
        endpoint_data,
        enrol,
        outcomes,
        run_design,
        survival_data,
    )
    from sim.trial.pool import build_pool
    from sim.trial.sizing import target_events

    cfg = _cfg(p_value="rerandomisation", rerandomisations=199, test="maxcombo")
    cfg.trial.pool_per_arm = 2000
    spec = Spec(cfg.seed, cfg.trial, build_pool(cfg))
    ev = target_events(spec)
    e = enrol(spec, 120, 1.0, 0, 3)
    o = outcomes(spec, e, "null")
    d = cfg.trial.designs["x"]
    row = run_design("x", d, cfg.trial, e, o, None, None, ev["x"], None)
    again = run_design("x", d, cfg.trial, e, o, None, None, ev["x"], None)
    assert row["p"] == again["p"]
    day = analysis_day(d, cfg.trial, e, endpoint_data(d.endpoint, cfg.trial, e, o), ev["x"])
    time, event, arm, strata = survival_data(d, e, o, day)
    blocks = block_ids(e.stratum, cfg.trial.randomisation.block_size)[e.entry <= day]
    gen = rng.generator(e.key[0], _RERANDOMISATION, *e.key[1:])
    ref = statistics(time, event, shuffles(arm, blocks, 199, gen), FH4, strata)
    assert row["p"] == pytest.approx(p_value(statistics(time, event, arm, FH4, strata)[0], ref))


def test_a_trial_without_a_stream_key_is_refused():
    """Only `enrol` keys the shuffles' stream; an unkeyed trial must not borrow another's."""
    from sim.trial.design import Enrolled, _rerandomised

    time, event, arm, strata = _trial(20, 1)
    e = Enrolled(np.zeros(20), np.arange(20), arm, strata, np.full(20, np.inf), 20, 365.0)
    cfg = _cfg(p_value="rerandomisation")
    r = analyses.logrank(time, event, arm, strata)
    with pytest.raises(ValueError, match="stream key"):
        _rerandomised(r, cfg.trial, e, 1.0, time, event, arm, strata, [(0.0, 0.0)], 99)
