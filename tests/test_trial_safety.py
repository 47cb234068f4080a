"""The IRIS safety boundary (sim/trial/safety.py).

References: every outcome sequence of a small monitored arm enumerated and the
posterior rule applied to each directly (scipy's beta tail), and in simulated trials
the exact binomial stopping probability at the pool's IRIS rates.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import beta

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.trial import safety

K_SE = 4.0


def _enumerate(p, looks, threshold, cutoff, a, b):
    """P(stop) by brute force: each of the 2^N sequences, its probability, and the rule
    'stop at the first look where P(rate > threshold | x of n) > cutoff'."""
    total = 0.0
    for seq in itertools.product((0, 1), repeat=looks[-1]):
        x = np.cumsum(seq)
        stop = any(beta.sf(threshold, a + x[n - 1], b + n - x[n - 1]) > cutoff for n in looks)
        if stop:
            k = sum(seq)
            total += p**k * (1 - p) ** (len(seq) - k)
    return total


@pytest.mark.parametrize("p", [0.15, 0.3, 0.45])
def test_stopping_probability_equals_enumeration_of_every_sequence(p):
    looks, threshold, cutoff, a, b = [4, 8, 12], 0.3, 0.8, 1.0, 1.0
    bounds = safety.boundary(looks, threshold, cutoff, a, b)
    exact = safety.stop_probabilities(p, looks, bounds).sum()
    assert exact == pytest.approx(_enumerate(p, looks, threshold, cutoff, a, b), abs=1e-12)


def test_boundary_is_the_smallest_count_over_the_cutoff():
    looks = [5, 10, 20, 40]
    bounds = safety.boundary(looks, 0.3, 0.9, 0.5, 2.0)
    for n, bk in zip(looks, bounds, strict=True):
        assert beta.sf(0.3, 0.5 + bk, 2.0 + n - bk) > 0.9
        assert bk == 0 or beta.sf(0.3, 0.5 + bk - 1, 2.0 + n - bk + 1) <= 0.9
    assert safety.boundary([3], 0.9, 0.99, 1, 1)[0] == 4  # no count stops


def test_first_stop_reads_the_nested_counts():
    day = np.arange(1.0, 13.0)
    iris = np.array([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1], bool)
    assert safety.first_stop(day, iris, [4, 8, 12], [4, 4, 5]) == (12.0, 2)
    assert safety.first_stop(day, iris, [4, 8, 12], [3, 9, 9]) == (4.0, 0)
    assert safety.first_stop(day[:10], iris[:10], [4, 8, 12], [9, 9, 5]) == (math.inf, -1)


SAFETY_TRIALS = 1200
SAFETY_RUN = [
    "+experiment=trial_sizing",
    "trial=safety_pd1",
    "trial.pool_per_arm=6000",
    "trial.followup.dropout_per_year=0.0",  # every randomised patient is evaluable
    "trial.randomisation.stratify=false",  # arms within 2 patients of n / 2
    "trial.safety.threshold=0.4",  # the model's PD-1 IRIS rate is near 0.5: a mid-range stop
    "trial.safety.looks=[10,20,30,40]",
    f"trial.sizing.trials={SAFETY_TRIALS}",
    "trial.sizing.n=[100]",
    "~trial.designs.asOF3_survival_1y",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def safety_run():
    cfg = load_config(SAFETY_RUN)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def test_simulated_safety_stops_match_the_exact_probability(safety_run):
    cfg, spec, trials, oc = safety_run
    s = cfg.trial.safety
    row = oc.iloc[0]
    # the reference, enumerated here from the pool's IRIS indicators (no dropout)
    for arm, col, exact_col in [
        ("experimental", "p_stop_safety", "safety_exact"),
        ("control", "p_stop_safety_h0", "safety_exact_h0"),
    ]:
        o = spec.pool.outcomes[arm]
        p = float((o.iris_day <= np.minimum(s.window_days, o.death_day)).mean())
        bounds = safety.boundary(s.looks, s.threshold, s.cutoff, s.prior_a, s.prior_b)
        exact = float(safety.stop_probabilities(p, s.looks, bounds).sum())
        assert row[exact_col] == pytest.approx(exact, rel=1e-9)
        tol = K_SE * math.sqrt(max(exact * (1 - exact), 1e-3) / SAFETY_TRIALS)
        assert abs(row[col] - exact) < tol, (arm, row[col], exact)
    assert 0.1 < row["safety_exact"] < 0.9  # the check has power at the unsafe rate
    # a stopped trial does not reject and ends on its safety look
    stopped = trials[trials["stop_safety"]]
    assert len(stopped) and not stopped["reject"].any()
    assert (stopped["stage"] == 0).all()


def test_safety_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="trial.safety.looks"):
        load_config(SAFETY_RUN + ["trial.safety.looks=[20,10]"])
    with pytest.raises(ConfigError, match="trial.safety.cutoff"):
        load_config(SAFETY_RUN + ["trial.safety.cutoff=1.5"])
    with pytest.raises(ConfigError, match="trial.safety.rule"):
        load_config(SAFETY_RUN + ["trial.safety.rule=bogus"])
