"""Predictive-probability interim monitoring of a single-arm binary design.

The final analysis of an exact one-stage design (sim.trial.one_stage: n patients,
reject H0: p <= p0 when more than r respond) is fixed. At an interim, after n1 of the
n patients are evaluable with x1 responses, the predictive probability of success is
the probability that the final analysis rejects, averaging over the response rate's
posterior (Lee & Liu 2008, Clin Trials 5:93):

    PP(x1) = P(X2 >= r + 1 - x1 | x1),  X2 ~ BetaBinomial(n - n1, a + x1, b + n1 - x1),

with a Beta(a, b) prior (`pp_prior_a`, `pp_prior_b`) on the response rate and X2 the
responses among the n - n1 patients still to come. The trial stops for futility when
PP(x1) < `pp_threshold`. PP is increasing in x1, so the rule is "stop if x1 <= r1"
with r1 the largest x1 whose PP is below the threshold: a two-stage rule (r1/n1, r/n)
whose exact operating characteristics are those of a Simon-type design
(sim.trial.simon.characteristics), and which the simulated trials apply as they
apply Simon's (sim.trial.phase2). Futility stops only lower the size and the power
of the one-stage design they monitor.
"""

from __future__ import annotations

import math

from scipy.stats import betabinom

NO_STOP = -1  # r1 when no interim count gives a predictive probability below the threshold


def predictive_probability(x1: int, n1: int, r: int, n: int, a: float, b: float) -> float:
    """P(the final analysis rejects, i.e. more than r responses of n | x1 of n1), with a
    Beta(a, b) prior: the beta-binomial tail of the remaining n - n1 patients."""
    need = r + 1 - x1
    m = n - n1
    if need <= 0:
        return 1.0
    if need > m:
        return 0.0
    return float(betabinom.sf(need - 1, m, a + x1, b + n1 - x1))


def futility_cut(n1: int, r: int, n: int, a: float, b: float, threshold: float) -> int:
    """r1: the largest interim count whose predictive probability is below the
    threshold (NO_STOP if none)."""
    cut = NO_STOP
    for x1 in range(n1 + 1):
        if predictive_probability(x1, n1, r, n, a, b) < threshold:
            cut = x1
        else:
            break  # PP increases in x1
    return cut


def interim_size(n: int, fraction: float) -> int:
    """n1 = ceil(fraction x n), at least 1 and at most n - 1."""
    return min(max(math.ceil(fraction * n), 1), n - 1)
