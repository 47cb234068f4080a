"""Simon's two-stage designs (sim.trial.simon) against the published tables of Simon
(1989, Control Clin Trials 10:1-10; Tables 1-2: r1/n1, r/n and EN(p0)) and
against the definition of their error probabilities written out here."""

from __future__ import annotations

import pytest
from scipy.stats import binom

from sim.trial.simon import reject_probability, simon

# (alpha, beta, p0, p1): (optimal, minimax), each (r1, n1, r, n, EN0) as in Simon's
# Tables 1-2 (typed in from the tables as widely reproduced; the paper itself was not
# at hand when they were entered)
TABLE = {
    (0.05, 0.2, 0.05, 0.25): ((0, 9, 2, 17, 11.9), (0, 12, 2, 16, 13.8)),
    (0.05, 0.2, 0.10, 0.30): ((1, 10, 5, 29, 15.0), (1, 15, 5, 25, 19.5)),
    (0.05, 0.2, 0.20, 0.40): ((3, 13, 12, 43, 20.6), (4, 18, 10, 33, 22.3)),
    (0.05, 0.2, 0.30, 0.50): ((5, 15, 18, 46, 23.6), (6, 19, 16, 39, 25.7)),
    (0.05, 0.1, 0.05, 0.25): ((0, 9, 3, 30, 16.8), (0, 15, 3, 25, 20.4)),
    (0.05, 0.1, 0.10, 0.30): ((2, 18, 6, 35, 22.5), (2, 22, 6, 33, 26.2)),
    (0.05, 0.1, 0.20, 0.40): ((4, 19, 15, 54, 30.4), (5, 24, 13, 45, 31.2)),
    (0.10, 0.1, 0.10, 0.30): ((1, 12, 5, 35, 19.8), (1, 16, 4, 25, 20.4)),
    (0.10, 0.1, 0.40, 0.60): ((7, 18, 22, 46, 30.2), (11, 28, 20, 41, 33.8)),
}


@pytest.mark.parametrize("key", list(TABLE), ids=[str(k) for k in TABLE])
def test_designs_are_simons_published_ones(key):
    alpha, beta, p0, p1 = key
    n_max = max(row[3] for row in TABLE[key]) + 2
    found = simon(p0, p1, alpha, beta, n_max)
    for kind, (r1, n1, r, n, en0) in zip(("optimal", "minimax"), TABLE[key], strict=True):
        d = found[kind]
        assert (d.r1, d.n1, d.r, d.n) == (r1, n1, r, n), (kind, d)
        assert abs(d.en0 - en0) < 0.1  # the table prints one decimal (rounded or truncated)
        assert d.pet0 == pytest.approx(binom.cdf(r1, n1, p0), abs=1e-12)
        assert d.alpha <= alpha and d.power >= 1 - beta


def _by_definition(r1: int, n1: int, r: int, n: int, p: float) -> float:
    """Sum of P(X1 = a) P(X2 = b) over every stage-1 and stage-2 count that rejects."""
    return sum(
        binom.pmf(a, n1, p) * binom.pmf(b, n - n1, p)
        for a in range(r1 + 1, n1 + 1)
        for b in range(n - n1 + 1)
        if a + b > r
    )


@pytest.mark.parametrize("p", [0.1, 0.3, 0.55])
def test_reject_probability_is_the_double_sum(p):
    for r1, n1, r, n in ((1, 10, 5, 29), (4, 18, 10, 33), (0, 3, 0, 4)):
        assert reject_probability(r1, n1, r, n, p) == pytest.approx(
            _by_definition(r1, n1, r, n, p), abs=1e-14
        )


def test_simon_reports_its_exact_errors_and_rejects_bad_input():
    d = simon(0.2, 0.4, 0.05, 0.2, 45)["optimal"]
    assert d.alpha == pytest.approx(reject_probability(d.r1, d.n1, d.r, d.n, 0.2), abs=1e-12)
    assert d.power == pytest.approx(reject_probability(d.r1, d.n1, d.r, d.n, 0.4), abs=1e-12)
    assert simon(0.2, 0.4, 0.05, 0.2, 20) == {}  # none within n <= 20
    with pytest.raises(ValueError, match="p0 < p1"):
        simon(0.4, 0.3, 0.05, 0.2, 30)
