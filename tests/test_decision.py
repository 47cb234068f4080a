"""The incremental cost-effectiveness table (sim.economics.decision).

`frontier` is checked against an independent definition of the efficient frontier:
a strategy is on it exactly when some willingness to pay lambda >= 0 makes it the
unique strategy of highest net monetary benefit lambda * effect - cost (the frontier
is the upper-left convex hull of the cost-effect plane; Drummond et al. 2015, ch. 4).
The table and its text form are checked on small cases worked by hand. Written for
issue 17's mutation survivors (docs/mutation/sim.economics.decision.txt).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.economics.decision import CEA_COLUMNS, cea_table, format_cea, frontier
from sim.economics.report import _md


def _frames(cfg, strategies):
    """Patients and events of these strategies, simulated whole (the run's executor, same
    seed): the plain route dsa.one_way must agree with."""
    import copy

    from sim.engine.run import simulate

    c = copy.copy(cfg)
    c.strategy = {s: cfg.strategy[s] for s in strategies}
    patients, events, _ = simulate(c)
    return {
        s: (patients[patients["strategy"] == s], events[events["strategy"] == s])
        for s in strategies
    }


def _compare(cfg, frames, strategy, comp):
    """(incremental NMB at cfg's WTP, ICER) of strategy vs comparator, every patient of
    each valued in one call."""
    from sim.economics.values import patient_values

    means = {}
    for s in (strategy, comp):
        pts, ev = frames[s]
        v = patient_values(
            pts, ev, cfg.economics, cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days
        )
        means[s] = (float(v["cost"].mean()), float(v["qaly"].mean()))
    dc = means[strategy][0] - means[comp][0]
    dq = means[strategy][1] - means[comp][1]
    return float(cfg.economics.wtp * dq - dc), float(dc / dq if dq != 0 else math.nan)


def _best_somewhere(cost: np.ndarray, effect: np.ndarray) -> set[int]:
    """Strategies that have the highest NMB, alone, for some lambda >= 0: the interval
    of lambda where i beats j is a half-line, so intersect them (exact arithmetic up to
    one division per pair)."""
    out = set()
    for i in range(len(cost)):
        lo, hi = 0.0, math.inf
        ok = True
        for j in range(len(cost)):
            if j == i:
                continue
            de, dc = effect[i] - effect[j], cost[i] - cost[j]
            if de > 0:  # i beats j when lambda > dc / de
                lo = max(lo, dc / de)
            elif de < 0:  # i beats j when lambda < dc / de
                hi = min(hi, dc / de)
            elif dc >= 0:  # same effect, not cheaper: never strictly better
                ok = False
        if ok and lo < hi:
            out.add(i)
    return out


@pytest.mark.parametrize("k", [2, 3, 4, 6, 9])
def test_frontier_is_the_set_of_strategies_optimal_at_some_willingness_to_pay(k):
    rng = np.random.default_rng(k)
    for _ in range(300):
        cost = rng.uniform(0, 1000, k)
        effect = rng.uniform(0, 5, k)
        kept, status = frontier(cost, effect)
        assert set(kept) == _best_somewhere(cost, effect)
        # the frontier in order of cost, with effects (and ICERs) rising along it
        assert list(cost[kept]) == sorted(cost[kept])
        assert all(np.diff(effect[kept]) > 0)
        icers = np.diff(cost[kept]) / np.diff(effect[kept])
        assert all(np.diff(icers) >= 0)
        # every other strategy has a dominance; strong iff some strategy costs no more
        # and gives at least as much effect
        assert set(status) == set(range(k)) - set(kept)
        for i, why in status.items():
            strong = any(cost[j] <= cost[i] and effect[j] >= effect[i] for j in range(k) if j != i)
            assert why == ("strong" if strong else "extended")


def test_frontier_ties_and_small_cases():
    # equal cost: the more effective one is kept, the other strongly dominated
    assert frontier(np.array([10.0, 10.0]), np.array([1.0, 2.0])) == ([1], {0: "strong"})
    # equal effect: the cheaper one is kept
    assert frontier(np.array([20.0, 10.0]), np.array([1.0, 1.0])) == ([1], {0: "strong"})
    # one strategy; two on the frontier; lists are accepted
    assert frontier([5.0], [1.0]) == ([0], {})
    assert frontier([5.0, 0.0], [1.0, 0.0]) == ([1, 0], {})
    # equal ICERs along the line (0,0), (10,1), (20,2): the middle one is not
    # extendedly dominated (its ICER is not *higher* than the next one's)
    assert frontier(np.array([0.0, 10.0, 20.0]), np.array([0.0, 1.0, 2.0])) == ([0, 1, 2], {})
    # three collinear-by-ICER steps, then one that removes two in turn:
    # A (0,0) B (10,1) C (30,2) D (35,3): ICERs 10, 20, 5 -> C out; 10, 12.5 stay
    assert frontier(np.array([0.0, 10.0, 30.0, 35.0]), np.array([0.0, 1.0, 2.0, 3.0])) == (
        [0, 1, 3],
        {2: "extended"},
    )
    # A (0,0) B (30,1) C (40,1.2) D (50,3): ICERs 30, 50, 5.6 -> C out, then B (30 > 11.1)
    kept, status = frontier(np.array([0.0, 30.0, 40.0, 50.0]), np.array([0.0, 1.0, 1.2, 3.0]))
    assert kept == [0, 3] and status == {2: "extended", 1: "extended"}


def _means():
    # A (0, 0); B (100, 1); C (250, 1.2) extended; D (300, 2); E (400, 1.5) strong;
    # given out of order, with an extra column
    return pd.DataFrame(
        {
            "strategy": list("DEBCA"),
            "cost": [300.0, 400.0, 100.0, 250.0, 0.0],
            "qaly": [2.0, 1.5, 1.0, 1.2, 0.0],
            "life_years": [3.0, 2.5, 2.0, 2.2, 1.0],
            "note": ["d", "e", "b", "c", "a"],
        },
        index=[10, 11, 12, 13, 14],
    )


def test_cea_table_by_hand():
    t = cea_table(_means(), wtp=150.0)
    # frontier by cost, then the dominated in the order given; extra columns kept last
    assert t.strategy.tolist() == ["A", "B", "D", "E", "C"]
    assert t.columns.tolist() == [*CEA_COLUMNS, "note"]
    assert t.note.tolist() == ["a", "b", "d", "e", "c"]
    assert t.index.tolist() == [0, 1, 2, 3, 4]
    t = t.set_index("strategy")
    assert t.loc[["B", "D"], "inc_cost"].tolist() == [100.0, 200.0]
    assert t.loc[["B", "D"], "inc_qaly"].tolist() == [1.0, 1.0]
    assert t.loc[["B", "D"], "icer"].tolist() == [100.0, 200.0]
    assert t.loc[["A", "B", "D", "E", "C"], "comparator"].tolist() == ["", "A", "B", "", ""]
    for col in ("inc_cost", "inc_qaly", "icer"):
        assert t.loc[["A", "E", "C"], col].isna().all()
    assert t.loc[list("ABCDE"), "nmb"].tolist() == [0.0, 50.0, -70.0, 0.0, -175.0]
    assert t.loc[list("ABCDE"), "dominance"].tolist() == ["", "", "extended", "", "strong"]
    assert t.loc[list("ABCDE"), "dominated"].tolist() == [False, False, True, False, True]
    assert t.loc[list("ABCDE"), "optimal"].tolist() == [False, True, False, False, False]
    assert t.loc[list("ABCDE"), "life_years"].tolist() == [1.0, 2.0, 2.2, 3.0, 2.5]


def test_cea_table_optimal_ties_and_wtp():
    # at WTP 0 the cheapest is optimal; at 100 A and B tie (NMB 0) and both are optimal
    m = _means()
    assert cea_table(m, wtp=0.0).set_index("strategy").optimal.pipe(
        lambda s: s[s]
    ).index.tolist() == ["A"]
    t = cea_table(m, wtp=100.0).set_index("strategy")
    assert sorted(t.index[t.optimal]) == ["A", "B"]
    assert t.at["D", "nmb"] == 100.0 * 2.0 - 300.0
    t = cea_table(m, wtp=1000.0).set_index("strategy")
    assert t.index[t.optimal].tolist() == ["D"]
    # the input is not modified
    assert m.columns.tolist() == ["strategy", "cost", "qaly", "life_years", "note"]


def test_format_cea_by_hand():
    t = cea_table(_means(), wtp=150.0)
    text = format_cea(t, "GBP", 150.0)
    lines = text.splitlines()
    header = f"{'strategy':<24}{'cost':>12}{'QALYs':>9}{'LYs':>8}{'ICER':>14}{'NMB':>13}  status"
    assert lines[0] == header
    assert lines[1] == "-" * 88
    assert len(lines) == 2 + 5 + 1
    # A: no ICER; B: ICER 100, optimal; D: ICER 200; E strong; C extended
    assert lines[2] == f"{'A':<24}{'0':>12}{'0.000':>9}{'1.00':>8}{'-':>14}{'0':>13}  "
    assert lines[3] == f"{'B':<24}{'100':>12}{'1.000':>9}{'2.00':>8}{'100':>14}{'50':>13}  optimal"
    assert lines[4] == f"{'D':<24}{'300':>12}{'2.000':>9}{'3.00':>8}{'200':>14}{'0':>13}  "
    assert lines[5] == (
        f"{'E':<24}{'400':>12}{'1.500':>9}{'2.50':>8}{'-':>14}{'-175':>13}  dominated"
    )
    assert lines[6] == (
        f"{'C':<24}{'250':>12}{'1.200':>9}{'2.20':>8}{'-':>14}{'-70':>13}  ext. dominated"
    )
    assert lines[7] == (
        "costs in GBP; ICER per QALY vs the next cheaper frontier strategy; NMB at 150 per QALY"
    )


def test_format_cea_thousands_and_a_dominated_optimum():
    # one strategy only: optimal, no ICER; thousands separators in cost, NMB and WTP
    # (NMB = 20000 * 1.23456 - 12345.6 = 12345.6)
    one = pd.DataFrame({"strategy": ["X"], "cost": [12345.6], "qaly": [1.23456],
                        "life_years": [2.3456]})  # fmt: skip
    lines = format_cea(cea_table(one, wtp=20000.0), "USD", 20000.0).splitlines()
    assert lines[2] == (
        f"{'X':<24}{'12,346':>12}{'1.235':>9}{'2.35':>8}{'-':>14}{'12,346':>13}  optimal"
    )
    assert lines[3].endswith("NMB at 20,000 per QALY")
    # a dominated strategy that is optimal reads "dominated optimal"
    t = pd.DataFrame({
        "strategy": ["P", "Q"], "cost": [0.0, 10.0], "qaly": [1.0, 1.0], "life_years": [1.0, 1.0],
        "inc_cost": [np.nan, np.nan], "inc_qaly": [np.nan, np.nan], "comparator": ["", ""],
        "icer": [np.nan, 1234567.0], "nmb": [5.0, 5.0], "dominated": [False, True],
        "dominance": ["", "strong"], "optimal": [True, True],
    })  # fmt: skip
    lines = format_cea(t, "EUR", 5.0).splitlines()
    assert lines[2].endswith("  optimal")
    assert lines[3] == (
        f"{'Q':<24}{'10':>12}{'1.000':>9}{'1.00':>8}{'1,234,567':>14}{'5':>13}  dominated optimal"
    )


def test_empty_increments_are_nan_floats_and_print_as_a_dash():
    # the cheapest frontier strategy and the dominated ones have no increments: NaN in
    # float columns (cea.csv, report.md print "-"), never None
    t = cea_table(_means(), wtp=150.0)
    for col in ("inc_cost", "inc_qaly", "icer"):
        assert t[col].dtype == np.float64, col
    md = _md(t[["strategy", "inc_cost", "inc_qaly", "icer"]]).splitlines()
    assert md[2] == "| A | - | - | - |"
    assert md[3] == "| B | 100.000 | 1.000 | 100.000 |"
    assert "None" not in "\n".join(md)


# --------------------------------------------- the one-way analysis's default pair


def _table(costs, qalys, wtp):
    names = [f"s{i}" for i in range(len(costs))]
    means = pd.DataFrame({"strategy": names, "cost": costs, "qaly": qalys, "life_years": qalys})
    return cea_table(means, wtp)


def test_default_dsa_pair_is_the_optimum_and_its_nearest_frontier_neighbour():
    """The shipped run's layout (issue 15): soc < il7 < vst on the frontier, pd1
    extendedly dominated. At 30,000 il7 is optimal; its neighbours are soc (NMB 24,475
    lower) and vst (103,440 lower): il7 vs soc. pd1, dominated, is never chosen even
    though its NMB (58,033) is the closest to il7's."""
    from sim.economics.dsa import default_pair

    means = pd.DataFrame(
        {
            "strategy": ["soc", "il7", "pd1", "vst"],
            "cost": [75013.0, 108039.0, 106482.0, 247901.0],
            "qaly": [3.789, 5.705, 5.484, 6.919],
            "life_years": [0.0] * 4,
        }
    )
    t = cea_table(means, 30000.0)
    assert default_pair(t) == ("il7", "soc")
    # above vst's ICER (115,200 vs il7) vst is optimal and il7 is its only neighbour
    assert default_pair(cea_table(means, 150000.0)) == ("vst", "il7")
    # just below it, il7 is optimal and vst (a few hundred NMB lower) is the nearest
    assert default_pair(cea_table(means, 110000.0)) == ("il7", "vst")
    # at 0 the cheapest is optimal; its only frontier neighbour is il7
    assert default_pair(cea_table(means, 0.0)) == ("soc", "il7")
    # any pair on request; a given strategy alone gets its nearest frontier strategy
    assert default_pair(t, "vst", "soc") == ("vst", "soc")
    assert default_pair(t, "pd1") == ("pd1", "il7")


@pytest.mark.parametrize("seed", range(20))
def test_default_dsa_comparator_is_a_frontier_neighbour_of_the_optimum(seed):
    """On random tables: the default strategy has the highest NMB, the comparator is on
    the frontier and adjacent to it there (next cheaper or next more costly)."""
    from sim.economics.dsa import default_pair

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    t = _table(rng.uniform(0, 1e5, k), rng.uniform(0, 5, k), float(rng.uniform(0, 1e5)))
    s, c = default_pair(t)
    assert t.set_index("strategy").at[s, "nmb"] == t["nmb"].max()
    front = list(t.loc[~t["dominated"], "strategy"])
    if len(front) > 1:
        assert c in front and abs(front.index(c) - front.index(s)) == 1
        nmb = t.set_index("strategy")["nmb"]
        neighbours = [front[i] for i in (front.index(s) - 1, front.index(s) + 1)
                      if 0 <= i < len(front)]  # fmt: skip
        assert nmb[c] == max(nmb[n] for n in neighbours)


def test_an_input_enters_the_comparison_unless_it_belongs_to_an_unused_therapy():
    from sim.api import load_config
    from sim.economics.dsa import enters_comparison, therapies_used

    cfg = load_config(["+experiment=cea"])
    used = therapies_used(cfg, "il7") | therapies_used(cfg, "soc")
    assert {"rhil7", "art", "is_reduction", "supportive_care"} <= used
    assert not {"vst", "pembrolizumab"} & used
    assert enters_comparison("economics.costs.therapies.rhil7.per_dose", used)
    assert enters_comparison("therapies.rhil7.levers.lymphocyte_expansion_per_day", used)
    assert not enters_comparison("economics.costs.therapies.vst.per_dose", used)
    assert not enters_comparison("therapies.pembrolizumab.levers.t_cell_function", used)
    assert enters_comparison("economics.costs.hospital_day", used)
    assert enters_comparison("economics.discount.qalys", used)
    # a model parameter acting only through the infused T cells' lever
    from sim.economics.dsa import levers_of

    half_life = "model.transferred_effector_half_life_days"
    assert not enters_comparison(half_life, used, levers_of(cfg, used))
    assert enters_comparison(half_life, used)  # levers unknown: it may enter
    with_vst = used | therapies_used(cfg, "vst")
    assert enters_comparison(half_life, with_vst, levers_of(cfg, with_vst))
    assert enters_comparison("model.damage_rate_per_day", used, levers_of(cfg, used))
    rules = load_config(["strategy=[soc,steroids_reactive]"])
    assert "corticosteroids" in therapies_used(rules, "steroids_reactive")


@pytest.mark.parametrize("pair", [("il7", "soc"), ("pd1", "steroids_reactive")])
def test_a_lever_of_an_unused_therapy_leaves_the_simulated_patients_as_they_were(pair):
    """The one-way analysis reuses the base case's patients for an input that does not
    enter the comparison (dsa.one_way). Its premise, checked by simulating anew: moving
    the lever of every therapy neither strategy gives (a tenfold change) leaves their
    patients and events unchanged, bit for bit, while moving a lever they do give does
    change them (so the comparison can fail)."""
    from sim.api import load_config
    from sim.config.paths import get_value, with_values
    from sim.economics.dsa import therapies_used

    cfg = load_config([f"strategy=[{','.join(pair)}]", "cohort=mixed_seed000", "cohort.n=300"])
    used = therapies_used(cfg, pair[0]) | therapies_used(cfg, pair[1])
    base = _frames(cfg, list(pair))
    unused = {
        f"therapies.{t}.levers.{lv}": 10.0 * x
        for t, tc in cfg.therapies.items()
        if t not in used
        for lv, x in tc.levers.items()
        if x != 0.0
    }
    assert len(unused) >= 5
    # and every model parameter that acts only through a lever neither strategy moves
    from sim.economics.dsa import levers_of
    from sim.model.therapies import LEVER_ONLY_PARAMS

    levers = levers_of(cfg, used)
    only = {k: 10.0 * get_value(cfg, k) for k, lv in LEVER_ONLY_PARAMS.items() if lv not in levers}
    assert only  # neither pair gives T cells
    unused |= only
    moved = _frames(with_values(cfg, unused), list(pair))
    for s in pair:
        for a, b in zip(base[s], moved[s], strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
    own = (
        "therapies.rhil7.levers.lymphocyte_expansion_per_day"
        if "il7" in pair
        else ("therapies.pembrolizumab.levers.t_cell_function")
    )
    changed = _frames(with_values(cfg, {own: 0.5 * get_value(cfg, own)}), list(pair))
    assert not base[pair[0]][0].equals(changed[pair[0]][0])


def test_one_way_equals_simulating_the_pair_and_valuing_each_input_in_one_call():
    """dsa.one_way values every input where its chunk is simulated, all inputs through
    one stream of the executor. Its table must equal the plain route, bit for bit: the
    pair simulated whole (`_frames`), each input's patients valued in one call
    (`_compare`): economics inputs on the base patients, a lever they give on patients
    simulated anew. Local worker processes and chunks smaller than the cohort, so the
    per-chunk valuation and the reassembly are both exercised; the lever's row must
    differ from the base (the check can fail)."""
    from dataclasses import replace

    from sim.api import load_config
    from sim.config.paths import get_value, with_values
    from sim.economics.dsa import one_way

    lever = "therapies.rhil7.levers.lymphocyte_expansion_per_day"
    cfg = load_config(
        [
            "+experiment=cea",
            "strategy=[il7,soc]",
            "cohort=mixed_seed000",
            "cohort.n=500",
            "engine.chunk_size=200",
            "executor=processes",
            "executor.workers=2",
            "output.progress=false",
        ]
    )
    base = cfg.economics.dsa.params[0]
    cfg.economics.dsa.params = [
        replace(base, key="economics.costs.hospital_day", low=100.0, high=900.0),
        replace(base, key="economics.utilities.by_mrs.4", low=0.1, high=0.7),
        replace(base, key=lever, low=0.5 * get_value(cfg, lever), high=2.0 * get_value(cfg, lever)),
    ]
    steps = []
    table = one_way(cfg, "il7", "soc", on_step=lambda: steps.append(1))
    assert len(steps) == 6
    frames = _frames(cfg, ["il7", "soc"])
    for p in cfg.economics.dsa.params:
        row = table[table["key"] == p.key].iloc[0]
        for side, value in (("low", p.low), ("high", p.high)):
            c = with_values(cfg, {p.key: value})
            f = _frames(c, ["il7", "soc"]) if p.key == lever else frames
            nmb, icer = _compare(c, f, "il7", "soc")
            assert row[f"inc_nmb_{side}"] == nmb
            assert row[f"icer_{side}"] == icer or (
                math.isnan(icer) and math.isnan(row[f"icer_{side}"])
            )
    assert table["inc_nmb_base"].iloc[0] == _compare(cfg, frames, "il7", "soc")[0]
    moved = table[table["key"] == lever].iloc[0]
    assert moved["inc_nmb_low"] != moved["inc_nmb_base"] != moved["inc_nmb_high"]
