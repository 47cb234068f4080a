"""Value of information (sim.economics.voi) on cases worked by hand.

The EVPPI regression is checked where its answer is known exactly: when the
incremental net benefit is itself a polynomial in the basis the docstring promises
(a cubic for one parameter; linear, square and pairwise terms for several), the
conditional mean is the net benefit itself, so EVPPI equals EVPI computed directly
as E[max NB] - max E[NB]. Written for issue 17's mutation survivors
(docs/mutation/sim.economics.voi.txt).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_economics import _psa

from sim.economics.voi import conditional_means, evpi, evppi, wtp_grid


def _evpi_by_hand(nb: np.ndarray) -> float:
    """E[max_s NB_s] - max_s E[NB_s] for a (draws x strategies) matrix."""
    return float(nb.max(axis=1).mean() - nb.mean(axis=0).max())


def test_wtp_grid_runs_from_zero_to_the_maximum():
    assert wtp_grid(1000.0, 5).tolist() == [0.0, 250.0, 500.0, 750.0, 1000.0]


def test_evpi_by_hand_at_several_wtp():
    # A: cost 0, QALY 0. B: cost 10; QALY 1 in draw 0, 0 in draw 1.
    # wtp 0: A always best: 0. wtp 20: B's NB 10 / -10, mean 0 = A's: EVPI (10 + 0)/2 - 0
    # = 5. wtp 30: B 20 / -10, mean 5: EVPI (20 + 0)/2 - 5 = 5. wtp 5: B -5 / -10: 0.
    psa = _psa(np.array([[0.0, 10.0], [0.0, 10.0]]), np.array([[0.0, 1.0], [0.0, 0.0]]), ["A", "B"])
    out = evpi(psa, ["A", "B"], np.array([0.0, 5.0, 20.0, 30.0]))
    assert out.columns.tolist() == ["wtp", "evpi"]
    assert out.wtp.tolist() == [0.0, 5.0, 20.0, 30.0]
    assert out.evpi.tolist() == pytest.approx([0.0, 0.0, 5.0, 5.0], abs=1e-12)


def _three_strategies(inb_of, params: np.ndarray, seed: int = 0):
    """PSA of A, B, C at wtp 1 (NB = QALY, cost 0): A's NB is noise-free 3, B's and C's
    are A's plus inb_of(params) columns."""
    n = len(params)
    inb = inb_of(params)
    qaly = np.column_stack([np.full(n, 3.0), 3.0 + inb[:, 0], 3.0 + inb[:, 1]])
    return _psa(np.zeros((n, 3)), qaly, ["A", "B", "C"]), qaly


def test_evppi_equals_evpi_when_a_cubic_in_one_parameter_decides_everything():
    rng = np.random.default_rng(11)
    n = 400
    phi = rng.normal(0.0, 1.0, n)

    def inb(x):
        return np.column_stack([0.5 + x - 0.8 * x**3, -0.2 + 0.7 * x**2 - 0.3 * x])

    psa, qaly = _three_strategies(lambda p: inb(p[:, 0]), phi[:, None])
    params = pd.DataFrame({"draw": np.arange(n), "phi": phi, "other": rng.normal(size=n)})
    got = evppi(psa, params, ["A", "B", "C"], np.array([1.0]), {"phi": ["phi"]})
    assert got.columns.tolist() == ["group", "wtp", "evppi"]
    assert got.group.tolist() == ["phi"] and got.wtp.tolist() == [1.0]
    assert got.evppi.item() == pytest.approx(_evpi_by_hand(qaly), rel=1e-9)
    # the fitted conditional means are the incremental benefits themselves
    y = inb(phi)
    np.testing.assert_allclose(conditional_means(phi[:, None], y), y, rtol=0, atol=1e-9)


def test_evppi_of_several_parameters_uses_squares_and_pairwise_products():
    rng = np.random.default_rng(12)
    n = 500
    x = rng.normal(0.0, 1.0, (n, 3)) * [1.0, 2.0, 0.5] + [0.0, 1.0, -1.0]

    def inb(p):
        a, b, c = p.T
        return np.column_stack(
            [1.0 + a - 0.5 * b + 0.3 * a * b - 0.2 * c**2 + 0.4 * b * c, -0.5 + a**2 - a * c]
        )

    y = inb(x)
    np.testing.assert_allclose(conditional_means(x, y), y, rtol=0, atol=1e-8)
    psa, qaly = _three_strategies(inb, x)
    params = pd.DataFrame({"draw": np.arange(n), "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    # a group naming a parameter that is not in the table is skipped, later ones kept;
    # a parameter fixed in the PSA (zero variance) adds nothing
    params["fixed"] = 2.5
    groups = {"absent": ["nope"], "abc": ["a", "b", "c", "fixed"], "a": ["a"]}
    got = evppi(psa, params, ["A", "B", "C"], np.array([1.0]), groups).set_index("group")
    assert got.index.tolist() == ["abc", "a"]
    assert got.at["abc", "evppi"] == pytest.approx(_evpi_by_hand(qaly), rel=1e-9)
    # a alone leaves b, c unknown: less than full information
    assert 0.0 <= got.at["a", "evppi"] < got.at["abc", "evppi"]


def test_evppi_is_zero_for_one_strategy_and_for_a_dominant_one():
    rng = np.random.default_rng(13)
    n = 200
    phi = rng.normal(size=n)
    params = pd.DataFrame({"draw": np.arange(n), "phi": phi})
    one = _psa(np.zeros((n, 1)), phi[:, None], ["A"])
    got = evppi(one, params, ["A"], np.array([0.0, 1.0]), {"phi": ["phi"]})
    assert got.evppi.tolist() == [0.0, 0.0]
    # B is better than A by 1 + phi^2 in every draw: nothing to learn
    two = _psa(np.zeros((n, 2)), np.column_stack([phi, phi + 1.0 + phi**2]), ["A", "B"])
    got = evppi(two, params, ["A", "B"], np.array([1.0]), {"phi": ["phi"]})
    assert got.evppi.item() == 0.0


def test_conditional_means_at_the_discrete_share_are_group_means():
    # 100 rows, 20 distinct (x1, x2) pairs: exactly DISCRETE_SHARE * n, treated as
    # discrete; the means are the group means (pandas groupby as the reference), which
    # no low-order polynomial reproduces for this y
    rng = np.random.default_rng(14)
    levels = np.array([(i, j) for i in range(5) for j in range(4)], dtype=float)
    x = levels[rng.permutation(np.repeat(np.arange(20), 5))]
    y = np.column_stack([rng.normal(size=100), np.sin(7 * x[:, 0]) + x[:, 1] ** 5])
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y0": y[:, 0], "y1": y[:, 1]})
    expected = df.groupby(["x1", "x2"])[["y0", "y1"]].transform("mean").to_numpy()
    np.testing.assert_allclose(conditional_means(x, y), expected, rtol=1e-12, atol=1e-12)
