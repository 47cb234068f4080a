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
    assert got.columns.tolist() == ["group", "wtp", "evppi", "capped_at_evpi"]
    assert not got.capped_at_evpi.any()
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


def test_a_large_group_keeps_to_the_terms_its_draws_support(monkeypatch):
    """30 parameters, 600 draws, incremental NB = phi_1 + noise (sd 3): the EVPPI is
    E[max(0, phi_1)] = 1 / sqrt(2 pi) = 0.399. The capped basis (linear, 31 terms) keeps
    near it: over 200 other seeds its estimate had mean 0.426 (the regression's small
    upward bias) and sd 0.056, so the bound is 0.03 + 4 sd. The full basis (496 terms)
    fits the noise and lands near the EVPI (1.1-1.2 at four seeds)."""
    from sim.economics import voi

    rng = np.random.default_rng(21)
    n, p = 600, 30
    x = rng.normal(size=(n, p))
    inc = x[:, 0] + rng.normal(0.0, 3.0, n)
    psa = _psa(np.zeros((n, 2)), np.column_stack([np.zeros(n), inc]), ["A", "B"])
    params = pd.DataFrame(x, columns=[f"p{j}" for j in range(p)]).assign(draw=np.arange(n))
    group = {"all": list(params.columns[:p])}
    truth = 1.0 / np.sqrt(2 * np.pi)
    got = evppi(psa, params, ["A", "B"], np.array([1.0]), group).evppi.item()
    assert abs(got - truth) < 0.03 + 4 * 0.056
    assert voi._basis(x).shape[1] == 1 + p  # 10 draws per term allow only the linear ones
    assert voi._basis(x[:, :5]).shape[1] == 1 + 5 + 5 + 10
    monkeypatch.setattr(voi, "ROWS_PER_TERM", 1)  # every term
    overfit = evppi(psa, params, ["A", "B"], np.array([1.0]), group).evppi.item()
    assert overfit > truth + 0.5


def test_an_evppi_estimate_above_the_evpi_is_capped_and_flagged():
    """EVPPI <= EVPI is a theorem. B beats A (by 100) only in the draw with the largest
    phi and loses by 1 elsewhere: the cubic fit bends up towards that one draw over a
    whole tail, so the regression's regret (0.87) exceeds the draws' own, the EVPI 0.5;
    the reported EVPPI is then the EVPI, flagged. A group that fits exactly is not."""
    rng = np.random.default_rng(31)
    n = 200
    phi = rng.normal(size=n)
    inc = -np.ones(n)
    inc[np.argmax(phi)] = 100.0
    psa = _psa(np.zeros((n, 2)), np.column_stack([np.zeros(n), inc]), ["A", "B"])
    params = pd.DataFrame({"draw": np.arange(n), "phi": phi, "lin": inc})
    evpi_ = evpi(psa, ["A", "B"], np.array([1.0])).evpi.item()
    from sim.economics.voi import _group_evppi, net_benefit

    raw = _group_evppi(phi[:, None], net_benefit(psa, ["A", "B"], np.array([1.0])))[0]
    assert raw > evpi_ * 1.01  # the situation the cap is for
    got = evppi(psa, params, ["A", "B"], np.array([1.0]), {"phi": ["phi"], "lin": ["lin"]})
    got = got.set_index("group")
    assert got.at["phi", "evppi"] == evpi_ and got.at["phi", "capped_at_evpi"]
    assert got.at["lin", "evppi"] == pytest.approx(evpi_, rel=1e-9)  # exact: not capped
    assert not got.at["lin", "capped_at_evpi"]


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


def _noise_case(n: int, seed: int, signal: float):
    """Three strategies whose incremental NB is `signal` x phi plus draw noise."""
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=n)
    member = rng.integers(0, 25, size=n)  # a discrete group, like the calibrated ensemble
    noise = rng.normal(0.0, 1.0, size=(n, 3))
    qaly = noise + np.column_stack([np.zeros(n), signal * phi, -signal * phi])
    psa = _psa(np.zeros((n, 3)), qaly, ["A", "B", "C"])
    params = pd.DataFrame({"draw": np.arange(n), "phi": phi, "member": member})
    return psa, params


def test_evppi_of_an_uninformative_group_is_biased_but_within_its_noise_floor():
    """Issue 15: with 150 draws the EVPPI of parameters that carry no information is
    positive (small-sample bias of the group means / regression). The permutation floor
    has the same bias: the estimate is not above its 95th percentile, and a warning
    names the group. A group that decides the incremental NB is far above the floor."""
    from sim.economics.voi import evppi_noise_warnings

    wtp = np.array([1.0])
    groups = {"phi": ["phi"], "member": ["member"]}
    psa, params = _noise_case(150, seed=3, signal=0.0)
    got = evppi(psa, params, ["A", "B", "C"], wtp, groups, permutations=200, seed=1)
    got = got.set_index("group")
    assert list(got.columns) == [
        "wtp", "evppi", "capped_at_evpi", "noise_mean", "noise_p95", "above_noise"
    ]  # fmt: skip
    # the true EVPPI is 0; the estimates and the floor are not (the bias)
    assert got.at["member", "evppi"] > 0.05 and got.at["member", "noise_mean"] > 0.05
    assert not got["above_noise"].any()
    assert (got["evppi"] <= got["noise_p95"]).all()
    words = evppi_noise_warnings(got.reset_index(), 1.0, 150)
    assert len(words) == int((got["evppi"] > 0).sum()) >= 1
    assert "'member'" in " ".join(words) and "raise economics.psa.draws" in words[0]

    psa, params = _noise_case(150, seed=3, signal=2.0)
    got = evppi(psa, params, ["A", "B", "C"], wtp, groups, permutations=200, seed=1)
    got = got.set_index("group")
    assert got.at["phi", "above_noise"]
    assert got.at["phi", "evppi"] > 3 * got.at["phi", "noise_p95"]
    assert not any("'phi'" in w for w in evppi_noise_warnings(got.reset_index(), 1.0, 150))


def test_a_negligible_noise_floor_is_not_warned_about():
    """Below the floor but immaterial (floor p95 < 5% of the largest EVPPI): no warning,
    e.g. 1,000 shipped draws: hospital EVPPI 0.4, floor p95 1, drug prices 925."""
    from sim.economics.voi import evppi_noise_warnings

    t = pd.DataFrame(
        {
            "group": ["hospital", "drug prices", "utilities"],
            "wtp": [30000.0] * 3,
            "evppi": [0.4, 925.0, 60.0],
            "noise_mean": [0.2, 0.1, 50.0],
            "noise_p95": [1.0, 0.5, 80.0],
            "above_noise": [False, True, False],
        }
    )
    words = evppi_noise_warnings(t, 30000.0, 1000)
    assert len(words) == 1 and words[0].startswith("EVPPI of 'utilities' at 30,000 per QALY (60)")
    assert "1,000 draws" in words[0]


def test_evppi_noise_floor_is_the_evppi_of_the_permuted_parameters():
    """Each floor sample is the plain EVPPI of the group with its rows permuted by the
    group's own generator (seed, psa/evppi_permutation/<group>): recomputed here."""
    from sim.core.rng import generator

    psa, params = _noise_case(120, seed=5, signal=0.5)
    wtp = np.array([1.0, 2.0])
    got = evppi(psa, params, ["A", "B", "C"], wtp, {"phi": ["phi"]}, permutations=7, seed=9)
    gen = generator(9, "psa/evppi_permutation/phi")
    samples = []
    for _ in range(7):
        shuffled = params.assign(phi=params["phi"].to_numpy()[gen.permutation(120)])
        samples.append(evppi(psa, shuffled, ["A", "B", "C"], wtp, {"phi": ["phi"]})["evppi"])
    samples = np.array(samples)
    assert np.allclose(got["noise_mean"], samples.mean(axis=0), rtol=1e-9)
    assert np.allclose(got["noise_p95"], np.quantile(samples, 0.95, axis=0), rtol=1e-9)
    plain = evppi(psa, params, ["A", "B", "C"], wtp, {"phi": ["phi"]})
    assert np.allclose(got["evppi"], plain["evppi"], rtol=1e-12)


def _group_mean_evppi(nb: np.ndarray, member: np.ndarray) -> float:
    """EVPPI of a discrete group by hand: E[max_s E(NB_s | member)] - max_s E[NB_s],
    the conditional means as pandas group means."""
    cond = pd.DataFrame(nb).groupby(member).transform("mean").to_numpy()
    return max(float(cond.max(axis=1).mean() - nb.mean(axis=0).max()), 0.0)


def test_one_permutation_with_the_default_seed_is_the_group_mean_evppi_of_that_shuffle():
    """permutations=1 already gives the floor (one sample: its mean and its 95th
    percentile are that sample), and without a seed the floor is seed 0's: the permuted
    group-mean EVPPI computed here by hand with generator(0, psa/evppi_permutation/<g>)."""
    from sim.core.rng import generator

    psa, params = _noise_case(150, seed=3, signal=0.3)
    nb = psa["qaly"].to_numpy().reshape(150, 3)  # cost 0, wtp 1: NB = QALY
    member = params["member"].to_numpy()
    got = evppi(psa, params, ["A", "B", "C"], np.array([1.0]), {"member": ["member"]}, 1)
    shuffled = member[generator(0, "psa/evppi_permutation/member").permutation(150)]
    floor = _group_mean_evppi(nb, shuffled)
    assert floor > 0.0 and floor != pytest.approx(_group_mean_evppi(nb, member))
    assert got["evppi"].item() == pytest.approx(_group_mean_evppi(nb, member), rel=1e-9)
    assert got["noise_mean"].item() == pytest.approx(floor, rel=1e-9)
    assert got["noise_p95"].item() == pytest.approx(floor, rel=1e-9)
    assert got["above_noise"].item() == (got["evppi"].item() > floor)


def test_an_evppi_of_zero_on_a_floor_of_zero_is_not_above_the_noise():
    # B beats A by exactly 1 in every draw: the EVPPI and every permuted one are 0, and
    # 0 is not above a floor of 0
    rng = np.random.default_rng(21)
    n = 100
    phi = rng.normal(size=n)
    params = pd.DataFrame({"draw": np.arange(n), "phi": phi})
    psa = _psa(np.zeros((n, 2)), np.column_stack([phi, phi + 1.0]), ["A", "B"])
    got = evppi(psa, params, ["A", "B"], np.array([1.0]), {"phi": ["phi"]}, 20, 4)
    assert got[["evppi", "noise_mean", "noise_p95"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]]
    assert not got["above_noise"].item()


def test_noise_warnings_need_a_floor_use_the_nearest_wtp_and_a_positive_evppi():
    from sim.economics.voi import evppi_noise_warnings

    plain = pd.DataFrame({"group": ["a"], "wtp": [30000.0], "evppi": [5.0]})
    assert evppi_noise_warnings(plain, 30000.0, 100) == []  # no permutations: no floor
    t = pd.DataFrame(
        {
            "group": ["a", "b", "c", "a", "b", "c"],
            "wtp": [20000.0] * 3 + [30000.0] * 3,
            "evppi": [100.0, 3.0, 0.0, 100.0, 40.0, 0.0],
            # at 30,000: b's floor is exactly 5% of the largest EVPPI (material: "at
            # least"); c's EVPPI is 0 (nothing to warn about, whatever its floor)
            "noise_mean": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0],
            "noise_p95": [2.0, 6.0, 9.0, 3.0, 0.05 * 100.0, 50.0],
            "above_noise": [True, False, False, True, True, False],
        }
    )
    at_20k = evppi_noise_warnings(t, 21000.0, 100)  # nearest grid point 20,000
    assert [w.split("'")[1] for w in at_20k] == ["b"] and "at 20,000 per QALY (3)" in at_20k[0]
    t.loc[4, ["evppi", "above_noise"]] = [4.0, False]  # b at 30,000: 4 below its floor 5
    at_30k = evppi_noise_warnings(t, 29000.0, 100)
    assert [w.split("'")[1] for w in at_30k] == ["b"] and "at 30,000 per QALY (4)" in at_30k[0]
