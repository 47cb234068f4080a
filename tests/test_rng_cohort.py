"""Per-patient random streams and virtual cohorts."""

import numpy as np
from scipy import stats

from sim.api import load_config
from sim.core import rng
from sim.model import cohort


def test_uniforms_are_uniform_and_independent():
    key = rng.run_key(1)
    ids = np.arange(200_000)
    u = rng.uniform(key, "baseline/cd4", ids, 0)
    v = rng.uniform(key, "baseline/cd4", ids, 1)
    w = rng.uniform(key, "lab_noise/cd4/day 14.0", ids, 0)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # correlation of independent uniforms has sd 1/sqrt(n) ~ 0.0022; 5 sd bound
    for a, b in ((u, v), (u, w), (u[:-1], u[1:])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(len(a))
    assert 0 < u.min() and u.max() < 1


def test_streams_depend_only_on_seed_and_patient():
    key = rng.run_key(42)
    ids = np.array([7, 123456, 3])
    full = rng.normal(key, "random_effect/frailty", np.arange(200_000), 5)
    np.testing.assert_array_equal(rng.normal(key, "random_effect/frailty", ids, 5), full[ids])
    other = rng.normal(rng.run_key(43), "random_effect/frailty", ids, 5)
    assert not np.allclose(other, full[ids])


def test_cohort_subset_equals_slice_of_whole():
    cfg = load_config(["cohort=mixed_seed000", "cohort.n=5000"])
    key = rng.run_key(cfg.seed)
    whole = cohort.build(key, cfg.cohort, cfg.model, np.arange(5000))
    idx = np.array([4999, 17, 2500, 0])
    part = cohort.build(key, cfg.cohort, cfg.model, idx)
    for name in ("condition", "age", "cd4_0", "growth", "death_threshold", "iris_duration"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[idx])


def test_baseline_distributions_follow_config():
    cfg = load_config(["cohort=hiv", "cohort.n=20000"])
    p = cohort.build(rng.run_key(cfg.seed), cfg.cohort, cfg.model, np.arange(20000))
    spec = cfg.model.conditions["hiv"].cd4
    # lognormal median: sampling sd of the log-median ~ 1.2533 * log(gsd) / sqrt(n)
    se = 1.2533 * np.log(spec.sd) / np.sqrt(len(p))
    assert abs(np.log(np.median(p.cd4_0)) - np.log(spec.mean)) < 4 * se
    assert p.cd4_0.min() >= spec.low and p.cd4_0.max() <= spec.high
    age = cfg.model.conditions["hiv"].age
    assert abs(p.age.mean() - age.mean) < 4 * age.sd / np.sqrt(len(p))
    assert (p.condition == 0).all()
