"""Predictive-probability interim monitoring of the single-arm binary design
(sim.trial.predictive, design: predictive in sim.trial.phase2).

References: the predictive probability against the beta-binomial sum written out with
log-gamma functions and against numerical integration of the binomial tail over the
Beta posterior; the plan's exact size, power and early termination against an
enumeration of every (stage 1, stage 2) outcome that applies the predictive rule
itself (not the cut r1 derived from it); for a small design, against every outcome
sequence of its patients.
"""

from __future__ import annotations

import itertools
import math

import pytest
from scipy import integrate
from scipy.special import betaln, gammaln
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.trial.phase2 import NO_FUTILITY, plan
from sim.trial.predictive import futility_cut, interim_size, predictive_probability
from sim.trial.simon import characteristics


def _betabinom_tail(k: int, m: int, a: float, b: float) -> float:
    """P(X >= k), X ~ BetaBinomial(m, a, b), summed term by term."""
    total = 0.0
    for x in range(max(k, 0), m + 1):
        log_choose = gammaln(m + 1) - gammaln(x + 1) - gammaln(m - x + 1)
        total += math.exp(log_choose + betaln(x + a, m - x + b) - betaln(a, b))
    return total


@pytest.mark.parametrize(
    ("x1", "n1", "r", "n", "a", "b"),
    [(10, 20, 22, 40, 1.0, 1.0), (3, 15, 9, 30, 0.5, 0.5), (14, 33, 47, 100, 2.0, 3.0)],
)
def test_predictive_probability_is_the_beta_binomial_tail(x1, n1, r, n, a, b):
    pp = predictive_probability(x1, n1, r, n, a, b)
    need, m = r + 1 - x1, n - n1
    assert pp == pytest.approx(_betabinom_tail(need, m, a + x1, b + n1 - x1), abs=1e-12)
    post = beta_dist(a + x1, b + n1 - x1)
    val, _ = integrate.quad(lambda p: binom.sf(need - 1, m, p) * post.pdf(p), 0, 1)
    assert pp == pytest.approx(val, abs=1e-8)


def test_predictive_probability_edges():
    assert predictive_probability(25, 30, 20, 40, 1, 1) == 1.0  # already more than r
    assert predictive_probability(0, 30, 20, 40, 1, 1) == 0.0  # 10 left cannot reach 21


def _rule_characteristics(n1, r, n, a, b, thr, p):
    """(P(reject), P(stop at the interim)) enumerating x1 and x2, applying PP < thr."""
    rej = pet = 0.0
    for x1 in range(n1 + 1):
        w = binom.pmf(x1, n1, p)
        if predictive_probability(x1, n1, r, n, a, b) < thr:
            pet += w
            continue
        rej += w * binom.sf(r - x1, n - n1, p)
    return rej, pet


@pytest.mark.parametrize(
    ("p0", "p1", "thr"), [(0.4, 0.55, 0.05), (0.2, 0.4, 0.1), (0.3, 0.5, 0.01)]
)
def test_the_plan_is_the_predictive_rule_enumerated(p0, p1, thr):
    cfg = load_config(["+experiment=trial_sizing", "trial=simon_il7"])
    t = cfg.trial
    t.historical.survival_1y = p0
    d = t.designs["predictive_survival_1y"]
    d.pp_threshold = thr
    pl = plan("trial.designs.predictive_survival_1y", d, t, p1)
    assert pl.n1 == interim_size(pl.n, d.pp_fraction) and pl.r1 != NO_FUTILITY
    # the cut is where PP crosses the threshold
    assert predictive_probability(pl.r1, pl.n1, pl.r, pl.n, 1, 1) < thr
    assert predictive_probability(pl.r1 + 1, pl.n1, pl.r, pl.n, 1, 1) >= thr
    for p, rej, pet in ((p0, pl.size, pl.pet_h0), (p1, pl.power, pl.pet_h1)):
        want_rej, want_pet = _rule_characteristics(pl.n1, pl.r, pl.n, 1.0, 1.0, thr, p)
        assert rej == pytest.approx(want_rej, abs=1e-12)
        assert pet == pytest.approx(want_pet, abs=1e-12)
    # monitoring lowers the one-stage design's size and power
    one = characteristics(NO_FUTILITY, pl.n, pl.r, pl.n, p0)
    assert pl.size <= one.reject <= t.alpha


def test_small_design_against_every_outcome_sequence():
    n, n1, r, thr, p = 12, 6, 7, 0.1, 0.45
    r1 = futility_cut(n1, r, n, 1.0, 1.0, thr)
    rej = pet = 0.0
    for seq in itertools.product((0, 1), repeat=n):
        w = math.prod(p if s else 1 - p for s in seq)
        x1 = sum(seq[:n1])
        if predictive_probability(x1, n1, r, n, 1.0, 1.0) < thr:
            pet += w
        elif sum(seq) > r:
            rej += w
    c = characteristics(r1, n1, r, n, p)
    assert c.reject == pytest.approx(rej, abs=1e-12) and c.pet == pytest.approx(pet, abs=1e-12)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.designs.predictive_survival_1y.pp_fraction=1.0", "pp_fraction"),
        ("trial.designs.predictive_survival_1y.pp_fraction=0", "pp_fraction"),
        ("trial.designs.predictive_survival_1y.pp_threshold=1.5", "pp_threshold"),
        ("trial.designs.predictive_survival_1y.pp_prior_a=0", "pp_prior_a"),
    ],
)
def test_bad_predictive_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config(["+experiment=trial_sizing", "trial=simon_il7", override])
    assert e.value.key == f"trial.designs.predictive_survival_1y.{key}"
