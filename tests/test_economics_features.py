"""Issue 15's features, each against an independent reference: probabilistic results
(hand quantiles, the CEAC), subgroups (each condition's table alone; means recombine),
threshold prices (a brute-force search that re-costs the same patients), budget impact
(a constant-hazard closed form; years summing to the lifetime costs; a hand loop over
cohorts) and EVSI (the closed form of a conjugate normal-normal case)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.api import load_config
from sim.config.economics import EconomicsConfig, LifetimeConfig, ThresholdPriceItem
from sim.economics.budget import budget_impact, time_alive, year_costs
from sim.economics.decision import cea_table
from sim.economics.evsi import (
    TrialDesign,
    decision_population,
    evsi_from_statistic,
    evsi_table,
    trial_design,
)
from sim.economics.pricing import threshold_prices, value_based_price
from sim.economics.summary import cea_by_condition, psa_summary
from sim.economics.values import patient_values
from sim.economics.voi import ceac

# ------------------------------------------------------------------ probabilistic results


def _psa_frame(cost: dict[str, np.ndarray], qaly: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(next(iter(cost.values())))
    return pd.DataFrame(
        [
            {"draw": d, "strategy": s, "cost": cost[s][d], "qaly": qaly[s][d]}
            for s in cost
            for d in range(n)
        ]
    )


def test_psa_summary_means_intervals_and_probabilistic_icer_by_hand():
    n = 1000
    gen = np.random.default_rng(7)
    perm = gen.permutation(n).astype(float)
    cost = {"a": perm, "b": perm + 1000.0, "c": perm + 5000.0}  # b - a = 1000 exactly
    qaly = {"a": np.full(n, 1.0), "b": 1.0 + perm / 999.0, "c": np.full(n, 1.2)}
    psa = _psa_frame(cost, qaly)
    out = psa_summary(psa, ["a", "b", "c"], [2000.0]).set_index("strategy")
    # costs 0..999 (+ shift): mean 499.5; numpy's linear quantile: 0.025 * 999 = 24.975
    assert out.loc["a", "cost"] == pytest.approx(499.5)
    assert out.loc["a", "cost_lo"] == pytest.approx(24.975)
    assert out.loc["a", "cost_hi"] == pytest.approx(974.025)
    assert out.loc["b", "qaly"] == pytest.approx(1.5)
    # b vs a: +1000 cost, +0.5 QALY on average: probabilistic ICER 2000, inc NMB 0 at 2000
    assert out.loc["b", "comparator"] == "a"
    assert out.loc["b", "icer"] == pytest.approx(2000.0)
    assert out.loc["b", "inc_cost_lo"] == out.loc["b", "inc_cost_hi"] == pytest.approx(1000.0)
    assert out.loc["b", "inc_nmb"] == pytest.approx(0.0, abs=1e-9)
    # inc NMB of b = 2000 * perm / 999 - 1000 > 0 for perm > 499.5: 500 of 1000 draws
    assert out.loc["b", "p_inc_nmb_positive"] == pytest.approx(0.5)
    # c: costs 5000 more than a for 0.2 QALYs: above b's line, extendedly dominated
    assert out.loc["c", "dominance"] in ("strong", "extended")
    assert out.loc["c", "comparator"] == "" or pd.isna(out.loc["c", "comparator"])
    # P(cost-effective) is the CEAC at that threshold (sim.economics.voi, separate code)
    cc = ceac(psa, ["a", "b", "c"], np.array([2000.0])).set_index("strategy")
    for s in "abc":
        assert out.loc[s, "p_cost_effective"] == pytest.approx(cc.loc[s, "probability"])


def test_psa_summary_puts_the_deterministic_icer_beside_and_one_block_per_threshold():
    n = 200
    gen = np.random.default_rng(3)
    cost = {"a": gen.gamma(20, 50, n), "b": gen.gamma(20, 100, n)}
    qaly = {"a": gen.normal(1.0, 0.1, n), "b": gen.normal(1.5, 0.1, n)}
    det = cea_table(
        pd.DataFrame({"strategy": ["a", "b"], "cost": [1.0, 3.0], "qaly": [1.0, 2.0],
                      "life_years": [1.0, 1.0]}), 10.0)  # fmt: skip
    out = psa_summary(_psa_frame(cost, qaly), ["a", "b"], [10.0, 5000.0], det)
    assert list(out["wtp"]) == [10.0, 10.0, 5000.0, 5000.0]
    b = out[out["strategy"] == "b"]
    assert (b["icer_deterministic"] == 2.0).all() and (b["comparator_deterministic"] == "a").all()
    icer = (cost["b"].mean() - cost["a"].mean()) / (qaly["b"].mean() - qaly["a"].mean())
    assert b["icer"].to_numpy() == pytest.approx([icer, icer])
    nb = 5000.0 * (qaly["b"] - qaly["a"]) - (cost["b"] - cost["a"])
    row = b[b["wtp"] == 5000.0].iloc[0]
    assert row["inc_nmb"] == pytest.approx(nb.mean())
    assert (row["inc_nmb_lo"], row["inc_nmb_hi"]) == pytest.approx(
        tuple(np.percentile(nb, [2.5, 97.5]))
    )


# ------------------------------------------------------------------ subgroups


def _values(rows: list[tuple[str, str, int, float, float]]) -> pd.DataFrame:
    """(strategy, condition, patient_id, cost, qaly) rows -> a values frame."""
    v = pd.DataFrame(rows, columns=["strategy", "condition", "patient_id", "cost", "qaly"])
    v["life_years"] = v["qaly"]
    return v


def test_each_condition_gets_its_own_incremental_table():
    gen = np.random.default_rng(11)
    rows = []
    for pid in range(60):
        cond = "hiv" if pid < 40 else "natalizumab_ms"
        base_q = gen.normal(2.0, 0.3)
        base_c = gen.normal(1000.0, 100.0)
        # x helps hiv a lot and natalizumab_ms not at all: the optimum differs by group
        gain = 1.0 if cond == "hiv" else 0.0
        rows += [
            ("soc", cond, pid, base_c, base_q),
            ("x", cond, pid, base_c + 5000.0, base_q + gain + gen.normal(0, 0.01)),
        ]
    v = _values(rows)
    out = cea_by_condition(v, ["soc", "x"], 20000.0, ["natalizumab_ms", "hiv"])
    assert list(dict.fromkeys(out["condition"])) == ["natalizumab_ms", "hiv"]
    assert list(out.columns[:3]) == ["condition", "n_patients", "strategy"]
    best = out[out["optimal"]].set_index("condition")["strategy"]
    assert best["hiv"] == "x" and best["natalizumab_ms"] == "soc"
    for cond, g in v.groupby("condition"):
        sub = out[out["condition"] == cond].set_index("strategy")
        for s in ("soc", "x"):
            m = g[g["strategy"] == s]
            assert sub.loc[s, "cost"] == pytest.approx(m["cost"].mean())
            assert sub.loc[s, "n_patients"] == len(m)
        # the increment's SE from per-patient differences, as cea.csv
        d = (
            g[g["strategy"] == "x"]["qaly"].to_numpy()
            - g[g["strategy"] == "soc"]["qaly"].to_numpy()
        )
        assert sub.loc["x", "inc_qaly_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(len(d)))
    # the subgroup means, weighted by size, give back the whole cohort's mean
    whole = v.groupby("strategy")["qaly"].mean()
    for s in ("soc", "x"):
        sub = out[out["strategy"] == s]
        assert (sub["qaly"] * sub["n_patients"]).sum() / sub["n_patients"].sum() == pytest.approx(
            whole[s]
        )


# ------------------------------------------------------------------ threshold prices


@pytest.fixture(scope="module")
def priced():
    """soc and il7 on 150 patients, simulated once: their event logs re-costed below."""
    from sim.engine.run import simulate

    cfg = load_config(["+experiment=cea", "cohort.n=150", "strategy=[soc,il7,pd1]",
                       "output.progress=false", "executor=inprocess"])  # fmt: skip
    pts, ev, _ = simulate(cfg)
    return cfg, pts, ev


def _means(cfg, pts, ev, econ: EconomicsConfig, units=()) -> pd.DataFrame:
    parts = []
    for s in cfg.strategy:
        p = pts[pts["strategy"] == s]
        parts.append(
            patient_values(
                p,
                ev[ev["strategy"] == s],
                econ,
                cfg.model,
                cfg.monitoring,
                cfg.therapies,
                cfg.horizon_days,
                units=units,
            )  # fmt: skip
        )
    return pd.concat(parts, ignore_index=True)


def _inc_nmb_at(cfg, pts, ev, therapy: str, price: float, s: str, c: str, wtp: float) -> float:
    econ = copy.deepcopy(cfg.economics)
    econ.costs.therapies[therapy].per_dose = price
    m = _means(cfg, pts, ev, econ).groupby("strategy")[["cost", "qaly"]].mean()
    return wtp * (m.loc[s, "qaly"] - m.loc[c, "qaly"]) - (m.loc[s, "cost"] - m.loc[c, "cost"])


@pytest.mark.parametrize("therapy, strategy", [("rhil7", "il7"), ("pembrolizumab", "pd1")])
def test_threshold_price_equals_a_brute_force_search_over_prices(priced, therapy, strategy):
    """Bisection on the incremental NMB of fresh re-costings of the same patients (no
    linearity assumed) finds the price the closed form gives."""
    cfg, pts, ev = priced
    econ = copy.deepcopy(cfg.economics)
    econ.threshold_prices = [ThresholdPriceItem(therapy=therapy, strategy=strategy)]
    values = _means(cfg, pts, ev, econ, units=(therapy,))
    wtp = 30000.0
    row = threshold_prices(values, econ, list(cfg.strategy), [wtp]).iloc[0]
    assert row["comparator"] == "soc" and row["units"] > 0
    # the bracket includes negative prices: a strategy not cost-effective even when
    # its drug is free has a negative threshold price (the closed form gives it too)
    lo, hi = -1e6, 1e6
    f_lo = _inc_nmb_at(cfg, pts, ev, therapy, lo, strategy, "soc", wtp)
    assert f_lo > 0 > _inc_nmb_at(cfg, pts, ev, therapy, hi, strategy, "soc", wtp)
    for _ in range(45):
        mid = (lo + hi) / 2.0
        if _inc_nmb_at(cfg, pts, ev, therapy, mid, strategy, "soc", wtp) > 0:
            lo = mid
        else:
            hi = mid
    assert row["threshold_price"] == pytest.approx((lo + hi) / 2.0, rel=1e-7)
    # the discounted doses are the cost's slope in the price, patient by patient
    econ2 = copy.deepcopy(cfg.economics)
    econ2.costs.therapies[therapy].per_dose += 1.0
    plus = _means(cfg, pts, ev, econ2)
    assert (plus["cost"] - values["cost"]).to_numpy() == pytest.approx(
        values[f"doses_{therapy}"].to_numpy(), rel=1e-9, abs=1e-9
    )


def test_value_based_price_equals_a_grid_search_on_random_tables():
    """The highest price at which the strategy has the highest NMB, against a fine grid
    of prices on 300 random tables (some competitors give the therapy too)."""
    gen = np.random.default_rng(2024)
    checked = 0
    for _ in range(300):
        k = int(gen.integers(2, 5))
        names = [f"s{i}" for i in range(k)]
        nmb = dict(zip(names, gen.normal(0, 1000, k), strict=True))
        units = dict(zip(names, np.where(gen.random(k) < 0.7, 0.0, gen.uniform(0, 3, k)),
                         strict=True))  # fmt: skip
        units["s0"] = gen.uniform(0.5, 3.0)
        p0 = 100.0
        vbp, _ = value_based_price(nmb, units, "s0", p0)
        grid = np.linspace(-5000.0, 5000.0, 200001)
        ahead = np.ones_like(grid, dtype=bool)
        for o in names[1:]:
            a = (nmb["s0"] - (grid - p0) * units["s0"]) - (nmb[o] - (grid - p0) * units[o])
            ahead &= a >= 0
        if not ahead.any():  # no price on the grid: none at all, or one below it
            assert math.isnan(vbp) or vbp < grid[0]
            continue
        if ahead[-1]:
            continue  # optimal beyond the grid: no upper bound found here
        assert vbp == pytest.approx(grid[ahead].max(), abs=grid[1] - grid[0])
        checked += 1
    assert checked > 100


# ------------------------------------------------------------------ budget impact


def test_time_alive_matches_the_constant_hazard_closed_form():
    lt = LifetimeConfig(max_age=200.0)
    lam = np.array([0.05, 0.3])
    terms = {"age": np.array([40.0, 60.0]), "a": np.full(2, 1e-300), "b": np.full(2, 0.1),
             "hr": np.ones(2), "excess": lam}  # fmt: skip
    for t0, t1 in ((0.0, 1.0), (2.0, 3.0), (0.5, 4.0)):
        exact = (np.exp(-lam * t0) - np.exp(-lam * t1)) / lam
        assert time_alive(t0, t1, terms, lt.max_age) == pytest.approx(exact, rel=1e-12)
    # nobody lives past max_age: a 99-year-old with max_age 100 is alive < 1 year
    terms99 = {k: v[:1] for k, v in terms.items()} | {"age": np.array([99.0])}
    assert time_alive(0.0, 5.0, terms99, 100.0)[0] == pytest.approx(
        (1 - np.exp(-0.05)) / 0.05, rel=1e-12
    )


def test_budget_years_add_up_to_the_undiscounted_lifetime_costs(priced):
    """Years 2.. of every survivor, summed until all are dead, are the lifetime
    extension's undiscounted long-term care plus end-of-life care (lifetime.py:
    expected_years over the whole span, a separate quadrature)."""
    cfg, pts, ev = priced
    p = pts[pts["strategy"] == "soc"]
    years = int(cfg.economics.lifetime.max_age - p["age"].min()) + 3
    yc = year_costs(p, ev[ev["strategy"] == "soc"], cfg.economics, cfg.model, cfg.monitoring,
                    cfg.therapies, cfg.horizon_days, years)  # fmt: skip
    econ0 = copy.deepcopy(cfg.economics)
    econ0.discount.costs = 0.0
    v = _means(cfg, pts, ev, econ0)
    v = v[v["strategy"] == "soc"].reset_index(drop=True)
    later = yc[[f"budget_year_{k}" for k in range(2, years + 1)]].sum(axis=1).to_numpy()
    alive = ~p.set_index("patient_id").loc[v["patient_id"], "died"].to_numpy(dtype=bool)
    expected = v["cost_long_term"].to_numpy() + np.where(alive, cfg.economics.costs.death, 0.0)
    assert later == pytest.approx(expected, rel=1e-9)
    # year 1: everything but the lifetime extension, undiscounted
    assert yc["budget_year_1"].to_numpy() == pytest.approx(
        (v["cost"] - v["cost_long_term"] - np.where(alive, cfg.economics.costs.death, 0.0))
        .to_numpy(), rel=1e-12)  # fmt: skip


def test_budget_impact_by_hand_over_cohorts_and_uptake():
    econ = EconomicsConfig(currency="X", price_year=2024)
    econ.budget_impact.population = 1e6
    econ.budget_impact.incidence_per_100k = 2.0  # 20 patients a year
    econ.budget_impact.uptake = [0.25, 0.5, 1.0]
    # cost by year since diagnosis: current 10, 1, 1; new 30, 2, 0
    per = pd.DataFrame({"strategy": ["cur", "new"], "budget_year_1": [10.0, 30.0],
                        "budget_year_2": [1.0, 2.0], "budget_year_3": [1.0, 0.0]})  # fmt: skip
    out = budget_impact(per, econ, "new", "cur")
    u = econ.budget_impact.uptake
    cur = {1: 10.0, 2: 1.0, 3: 1.0}
    new = {1: 30.0, 2: 2.0, 3: 0.0}
    for y in (1, 2, 3):
        impact = sum(20 * u[c - 1] * (new[y - c + 1] - cur[y - c + 1]) for c in range(1, y + 1))
        assert out.loc[y - 1, "budget_impact"] == pytest.approx(impact)
        assert out.loc[y - 1, "cost_current_scenario"] == pytest.approx(
            20 * sum(cur[y - c + 1] for c in range(1, y + 1))
        )
    assert out["cumulative_impact"].iloc[-1] == pytest.approx(out["budget_impact"].sum())


# ------------------------------------------------------------------ EVSI


def _normal_evsi(mu0: float, sd0: float, sd_data: float, n: int) -> float:
    """Two options, INB = theta ~ N(mu0, sd0^2), data mean ~ N(theta, sd_data^2 / n):
    the posterior mean is N(mu0, s^2), s^2 = sd0^4 / (sd0^2 + sd_data^2 / n), and
    EVSI = E[max(0, m)] - max(0, mu0) = s phi(mu0/s) + mu0 Phi(mu0/s) - max(0, mu0)."""
    s = sd0**2 / math.sqrt(sd0**2 + sd_data**2 / n)
    return s * stats.norm.pdf(mu0 / s) + mu0 * stats.norm.cdf(mu0 / s) - max(0.0, mu0)


MU0, SD0, SD_DATA, DRAWS = 200.0, 1000.0, 4000.0, 40000  # the conjugate toy case


def _conjugate_case(n: int) -> tuple[np.ndarray, float, float]:
    """theta ~ N(MU0, SD0) per draw, a trial's mean of n observations with SD SD_DATA:
    the draws, the regression EVSI and its Monte Carlo error (the sd of
    max(0, E[theta | x]) over draws / sqrt(draws))."""
    gen = np.random.default_rng(1500 + n)
    theta = gen.normal(MU0, SD0, DRAWS)
    x = theta + gen.normal(0.0, SD_DATA / math.sqrt(n), DRAWS)
    nb = np.stack([np.zeros(DRAWS), theta], axis=1)[None]
    got = float(evsi_from_statistic(x[:, None], nb)[0])
    post = MU0 + (SD0**2 / (SD0**2 + SD_DATA**2 / n)) * (x - MU0)
    return theta, got, np.maximum(post, 0.0).std() / math.sqrt(DRAWS)


@pytest.mark.parametrize("n", [5, 50, 500])
def test_regression_evsi_matches_the_conjugate_normal_closed_form(n):
    theta, got, se = _conjugate_case(n)
    exact = _normal_evsi(MU0, SD0, SD_DATA, n)
    assert abs(got - exact) < 4 * se + 1e-3 * exact, (got, exact, se)
    evpi = float(np.maximum(theta, 0).mean() - max(theta.mean(), 0))
    assert got <= evpi + 4 * se


def test_the_trial_comes_from_the_trial_config_unless_economics_evsi_names_one():
    cfg = load_config(["+experiment=evsi"])
    d = trial_design(cfg)
    assert (d.experimental, d.control) == (cfg.trial.experimental, cfg.trial.control)
    assert [n for n, _, _ in d.sizes] == list(cfg.trial.sizing.n)
    assert all(e + c == n and e == n // 2 for n, e, c in d.sizes)  # 1:1
    cfg = load_config(["+experiment=evsi", "trial.randomisation.allocation=[2,1]",
                       "economics.evsi.n=[90]", "economics.evsi.experimental=il7"])  # fmt: skip
    assert trial_design(cfg) == TrialDesign("il7", "soc", [(90, 60, 30)])


def test_evsi_table_arithmetic_population_and_optimal_n():
    econ = load_config(["+experiment=evsi"]).economics
    design = TrialDesign("pd1", "soc", [(n, n // 2, n - n // 2) for n in (40, 100, 300, 1200)])
    draws = 400
    gen = np.random.default_rng(5)
    p_c = gen.beta(40, 60, draws)
    p_e = np.clip(p_c + gen.normal(0.05, 0.05, draws), 0.01, 0.99)
    rows = []
    for d in range(draws):
        rows.append({"draw": d, "strategy": "soc", "cost": 1e4, "qaly": 3.0, "survival": p_c[d]})
        gain = 20.0 * (p_e[d] - p_c[d])  # QALYs follow survival
        rows.append({"draw": d, "strategy": "pd1", "cost": 4e4, "qaly": 3.0 + gain,
                     "survival": p_e[d]})  # fmt: skip
    psa = pd.DataFrame(rows)
    out = evsi_table(psa, ["soc", "pd1"], [20000.0, 30000.0], econ, design, 1, permutations=20)
    r = math.log1p(econ.discount.costs)
    per_year = econ.budget_impact.population * econ.budget_impact.incidence_per_100k / 1e5
    pop = per_year * (1 - math.exp(-r * econ.evsi.decision_years)) / r
    assert decision_population(econ) == pytest.approx(pop, rel=1e-12)
    assert out["population"].to_numpy() == pytest.approx(pop)
    cost = econ.evsi.fixed_cost + out["n"] * econ.evsi.cost_per_patient
    assert out["trial_cost"].to_numpy() == pytest.approx(cost.to_numpy())
    assert out["enbs"].to_numpy() == pytest.approx(
        (out["evsi_per_patient"] * pop - cost).to_numpy()
    )
    for _, g in out.groupby("wtp"):
        assert g["optimal_n"].sum() == 1
        assert g.loc[g["optimal_n"], "enbs"].iloc[0] == g["enbs"].max()
        assert (g["evsi_per_patient"] <= g["evpi_per_patient"] * 1.05 + 1.0).all()
        # the noise floor (statistic permuted: no information) is one per threshold and
        # far below the EVSI of the largest trial, whose statistic does inform
        assert g["noise_p95"].nunique() == 1 and g["noise_mean"].iloc[0] >= 0
        assert g["noise_p95"].iloc[0] < g["evsi_per_patient"].iloc[-1]
        assert g["above_noise"].iloc[-1]
    # more patients, more information: EVSI rises over the grid (the same z for every n)
    big = out[out["wtp"] == 30000.0]["evsi_per_patient"].to_numpy()
    assert big[-1] > big[0]


# ------------------------------------------------------------------ scenarios


def test_with_settings_sets_numbers_booleans_and_every_entry_of_a_mapping():
    from sim.config.errors import ConfigError
    from sim.economics.scenarios import with_settings

    cfg = load_config(["+experiment=cea"])
    c = with_settings(
        cfg,
        {
            "economics.costs.condition_care_per_year.*": 0.0,
            "economics.lifetime.enabled": False,
            "economics.utilities.by_mrs.5": 0.2,
        },
    )
    assert set(c.economics.costs.condition_care_per_year.values()) == {0.0}
    assert len(c.economics.costs.condition_care_per_year) == 6
    assert c.economics.lifetime.enabled is False and c.economics.utilities.by_mrs[5] == 0.2
    assert cfg.economics.lifetime.enabled is True  # the original is untouched
    for values, key in (
        ({"economics.lifetime.enabled": 1.0}, "x.economics.lifetime.enabled"),
        ({"economics.wtp": True}, "x.economics.wtp"),
        ({"economics.costs.nope": 1.0}, "x.economics.costs.nope"),
        ({"economics.currency": 1.0}, "x.economics.currency"),
        ({"economics.wtp.*": 1.0}, "x.economics.wtp.*"),
    ):
        with pytest.raises(ConfigError) as err:
            with_settings(cfg, values, "x")
        assert err.value.key == key


@pytest.mark.parametrize(
    "key, value",
    [
        ("economics.discount.qalys", 0.015),  # re-costs the base-case patients
        ("therapies.rhil7.levers.lymphocyte_expansion_per_day", 0.05),  # re-simulates
    ],
)
def test_a_scenario_equals_a_fresh_base_case_with_its_value(key, value):
    from sim.app.tasks.economics import base_case, run_scenarios, simulate_and_value
    from sim.config.economics import Scenario
    from sim.economics.scenarios import recosts_only, scenario_config

    small = ["+experiment=cea", "cohort.n=120", "strategy=[soc,il7]", "output.progress=false"]
    cfg = load_config(small)
    sc = Scenario(name="s", label="S", values={key: value})
    cfg.economics.scenarios = [sc]
    recost = {"s": scenario_config(cfg, 0, sc).economics} if recosts_only(sc) else {}
    assert bool(recost) == key.startswith("economics.")
    values, recosted = simulate_and_value(cfg, recost)
    table = run_scenarios(cfg, values, recosted).set_index(["scenario", "strategy"])
    fresh = base_case(load_config([*small, f"{key}={value}"]))
    for s in ("soc", "il7"):
        m = fresh[fresh["strategy"] == s]
        assert table.loc[("s", s), "cost"] == pytest.approx(m["cost"].mean(), rel=1e-12)
        assert table.loc[("s", s), "qaly"] == pytest.approx(m["qaly"].mean(), rel=1e-12)
        b = values[values["strategy"] == s]
        assert table.loc[("base", s), "qaly"] == pytest.approx(b["qaly"].mean(), rel=1e-12)
    assert table.loc[("s", "il7"), "qaly"] != table.loc[("base", "il7"), "qaly"]


def test_two_way_map_equals_re_costing_at_every_grid_point(priced):
    """The optimal strategy and its NMB at each point of a 4 x 4 price grid equal a fresh
    re-costing of the same patients at those two prices."""
    from sim.config.economics import PriceAxis, TwoWayConfig
    from sim.economics.pricing import two_way

    cfg, pts, ev = priced
    econ = copy.deepcopy(cfg.economics)
    econ.two_way = TwoWayConfig(
        axes=[
            PriceAxis(therapy="rhil7", per="dose", low=0.0, high=30000.0),
            PriceAxis(therapy="pembrolizumab", per="dose", low=0.0, high=30000.0),
        ],
        points=4,
    )
    values = _means(cfg, pts, ev, econ, units=("rhil7", "pembrolizumab"))
    table = two_way(values, econ, list(cfg.strategy), [30000.0])
    assert len(table) == 16 and table["optimal"].nunique() >= 2  # the map has borders
    for r in table.itertuples():
        e2 = copy.deepcopy(cfg.economics)
        e2.costs.therapies["rhil7"].per_dose = r.x_price
        e2.costs.therapies["pembrolizumab"].per_dose = r.y_price
        m = _means(cfg, pts, ev, e2).groupby("strategy")[["cost", "qaly"]].mean()
        nmb = 30000.0 * m["qaly"] - m["cost"]
        assert r.optimal == nmb.idxmax()
        assert r.nmb == pytest.approx(nmb.max(), rel=1e-9)


# ------------------------------------------------------------------ severity modifier


def test_general_population_qalys_equal_a_numerical_integral():
    from scipy import integrate

    from sim.economics.severity import general_population_qalys

    econ = load_config(["+experiment=cea"]).economics
    lt = econ.lifetime
    d = math.log1p(econ.discount.qalys)
    u = econ.severity.population_utility
    for age, female in ((45.0, False), (70.0, True)):
        g = lt.background_female if female else lt.background_male
        male = 0.0 if female else 1.0

        def f(s, age=age, g=g, male=male):
            surv = math.exp(-(g.a / g.b) * math.exp(g.b * age) * math.expm1(g.b * s))
            util = u.intercept + u.male * male + u.age * (age + s) + u.age2 * (age + s) ** 2
            return surv * util * math.exp(-d * s)

        exact, _ = integrate.quad(f, 0.0, lt.max_age - age, epsabs=1e-12, limit=200)
        got = general_population_qalys(np.array([age]), np.array([female]), econ)[0]
        assert got == pytest.approx(exact, rel=1e-9)


def test_with_utility_one_and_no_discounting_it_is_the_life_expectancy():
    from sim.economics.lifetime import life_expectancy
    from sim.economics.severity import general_population_qalys

    econ = copy.deepcopy(load_config(["+experiment=cea"]).economics)
    econ.discount.qalys = 0.0
    pu = econ.severity.population_utility
    pu.intercept, pu.male, pu.age, pu.age2 = 1.0, 0.0, 0.0, 0.0
    got = general_population_qalys(np.array([65.0, 65.0]), np.array([False, True]), econ)
    # ONS 2020-22 life expectancy at 65: 18.3 (men), 20.8 (women), as the life table fit
    expected = [life_expectancy(65.0, female, econ.lifetime) for female in (False, True)]
    assert got == pytest.approx(expected, rel=1e-10)
    assert got == pytest.approx([18.3, 20.8], abs=0.05)


@pytest.mark.parametrize(
    "absolute, proportional, expected",
    [(11.99, 0.8499, 1.0), (12.0, 0.5, 1.2), (5.0, 0.85, 1.2), (17.99, 0.9499, 1.2),
     (18.0, 0.1, 1.7), (1.0, 0.95, 1.7), (30.0, 0.99, 1.7)],
)  # fmt: skip
def test_nice_severity_weights_at_their_bounds(absolute, proportional, expected):
    from sim.economics.severity import weight

    econ = load_config(["+experiment=cea"]).economics
    assert weight(absolute, proportional, econ) == expected


def test_severity_table_by_hand():
    from sim.economics.severity import severity_table

    econ = load_config(["+experiment=cea"]).economics
    v = pd.DataFrame(
        {
            "strategy": ["soc"] * 4 + ["x"] * 4,
            "condition": ["a", "a", "b", "b"] * 2,
            "qaly": [1.0, 3.0, 10.0, 12.0, 9.0, 9.0, 9.0, 9.0],
            "qaly_general_population": [20.0, 22.0, 14.0, 16.0] * 2,
            "age": [50.0, 60.0, 40.0, 30.0] * 2,
            "female": [True, False, False, False] * 2,
        }
    )
    t = severity_table(v, econ, "soc").set_index("group")
    assert list(t.index) == ["all", "a", "b"]
    assert t.loc["all", "absolute_shortfall"] == pytest.approx(18.0 - 6.5)
    assert t.loc["a", "absolute_shortfall"] == pytest.approx(19.0)  # 21 - 2
    assert t.loc["a", "proportional_shortfall"] == pytest.approx(19.0 / 21.0)
    assert t.loc["a", "weight"] == 1.7 and t.loc["b", "weight"] == 1.0
    assert t.loc["all", "weight"] == 1.0  # 11.5 QALYs, 64%
    assert t.loc["all", "share_male"] == pytest.approx(0.75)


# ------------------------------------------------------------------ age-adjusted utilities


def test_age_adjusted_lifetime_qalys_equal_a_numerical_integral(priced):
    """Each survivor's lifetime QALYs with age-adjusted utilities: u[mRS] x the integral
    from the horizon of S(s) x norm(age + s) / norm(age at diagnosis) x exp(-d s),
    discounted to diagnosis; scipy's adaptive quadrature on three survivors."""
    from scipy import integrate

    cfg, pts, ev = priced
    econ = copy.deepcopy(cfg.economics)
    econ.utilities.age_adjusted = True
    flat = copy.deepcopy(cfg.economics)  # the UK set is age-adjusted by default (defect 8)
    flat.utilities.age_adjusted = False
    p = pts[pts["strategy"] == "il7"]
    v = patient_values(
        p, ev[ev["strategy"] == "il7"], econ, cfg.model, cfg.monitoring, cfg.therapies,
        cfg.horizon_days,
    ).set_index("patient_id")  # fmt: skip
    plain = patient_values(
        p, ev[ev["strategy"] == "il7"], flat, cfg.model, cfg.monitoring,
        cfg.therapies, cfg.horizon_days,
    ).set_index("patient_id")  # fmt: skip
    lt, pu = econ.lifetime, econ.severity.population_utility
    d = math.log1p(econ.discount.qalys)
    t0 = cfg.horizon_days / 365.25
    survivors = p[~p["died"]].head(3)
    assert len(survivors) == 3
    for r in survivors.itertuples():
        g = lt.background_female if r.female else lt.background_male
        hr = lt.mrs_mortality_hr[int(r.mrs)]
        ex = lt.excess_mortality_per_year.get(str(r.condition), 0.0)
        male = 0.0 if r.female else 1.0
        a0 = r.age + t0

        def norm(a, male=male):
            return pu.intercept + pu.male * male + pu.age * a + pu.age2 * a**2

        def f(s, a0=a0, g=g, hr=hr, ex=ex, r=r, norm=norm):
            h = hr * (g.a / g.b) * math.exp(g.b * a0) * math.expm1(g.b * s) + ex * s
            return math.exp(-h - d * s) * norm(a0 + s) / norm(r.age)

        integral, _ = integrate.quad(f, 0.0, lt.max_age - a0, epsabs=1e-12, limit=200)
        u = econ.utilities.by_mrs[int(r.mrs)]
        expected = u * math.exp(-d * t0) * integral
        assert v.loc[r.patient_id, "qaly_lifetime"] == pytest.approx(expected, rel=1e-8)
        assert v.loc[r.patient_id, "qaly_lifetime"] < plain.loc[r.patient_id, "qaly_lifetime"]
    # everything else is unchanged
    assert (v["cost"] == plain["cost"]).all() and (v["qaly_acute"] == plain["qaly_acute"]).all()


# ------------------------------------------------------------------ EVSI with accrual


@pytest.mark.parametrize("n", [5, 50, 500])
def test_population_evsi_with_accrual_delay_matches_the_closed_form(n):
    """The conjugate normal case above, now with the trial taking T years: only patients
    diagnosed between T and the horizon H benefit, so population EVSI = EVSI x
    incidence x (e^-dT - e^-dH) / d (Eckermann & Willan 2008), 0 once T >= H."""
    econ = load_config(["+experiment=evsi"]).economics
    _, got, se = _conjugate_case(n)
    d, h = math.log1p(econ.discount.costs), econ.evsi.decision_years
    per_year = econ.budget_impact.population * econ.budget_impact.incidence_per_100k / 1e5
    for t in (0.0, 2.5, 7.0, h, h + 3.0):
        pop = per_year * max(math.exp(-d * t) - math.exp(-d * h), 0.0) / d
        assert decision_population(econ, t) == pytest.approx(pop, rel=1e-12, abs=1e-12)
        exact = _normal_evsi(MU0, SD0, SD_DATA, n) * pop
        assert abs(got * decision_population(econ, t) - exact) <= (4 * se + 1e-3) * pop + 1e-9
    assert decision_population(econ, 0.0) > decision_population(econ, 2.5) > 0.0


def test_evsi_table_takes_the_trial_duration_of_each_size():
    econ = load_config(["+experiment=evsi"]).economics
    sizes = [(n, n // 2, n - n // 2) for n in (40, 100, 300)]
    years = [2.0, 4.0, 11.0]  # the largest trial reports after the 10-year horizon
    gen = np.random.default_rng(7)
    p_c = gen.beta(40, 60, 300)
    p_e = np.clip(p_c + gen.normal(0.05, 0.05, 300), 0.01, 0.99)
    psa = pd.DataFrame(
        [{"draw": d, "strategy": s, "cost": c, "qaly": q, "survival": p}
         for d in range(300)
         for s, c, q, p in (("soc", 1e4, 3.0, p_c[d]),
                            ("pd1", 4e4, 3.0 + 20 * (p_e[d] - p_c[d]), p_e[d]))]
    )  # fmt: skip
    out = evsi_table(
        psa, ["soc", "pd1"], [30000.0], econ, TrialDesign("pd1", "soc", sizes, years), 1
    )
    assert list(out["trial_years"]) == years
    for _, r in out.iterrows():
        assert r["population"] == pytest.approx(decision_population(econ, r["trial_years"]))
        assert r["enbs"] == pytest.approx(r["evsi_per_patient"] * r["population"] - r["trial_cost"])
    assert out["population"].iloc[-1] == 0.0 and out["enbs"].iloc[-1] == -out["trial_cost"].iloc[-1]
    econ.evsi.accrual_delay = False  # no delay: every size reaches the whole horizon
    flat = evsi_table(
        psa, ["soc", "pd1"], [30000.0], econ, TrialDesign("pd1", "soc", sizes, years), 1
    )
    assert (flat["population"] == decision_population(econ)).all()
    assert (flat["trial_years"] == 0.0).all()


def test_expected_accrual_time_is_the_closed_form_of_a_constant_and_a_ramped_rate():
    from sim.config.trial import AccrualConfig
    from sim.trial.accrual import DAYS_PER_MONTH, expected_accrual_days

    one = AccrualConfig(sites=1, ramp_up_months=0.0, rate_per_site_month=[2.0],
                        rate_change_months=[], max_accrual_months=1000.0)  # fmt: skip
    # constant rate 2 x 0.5 randomised per month: n patients take n months
    assert expected_accrual_days(one, 0.5, 30) == pytest.approx(30 * DAYS_PER_MONTH)
    # one site at 1 a month for 6 months, then 2: 20 patients take 6 + 14 / 2 = 13 months
    ramp = AccrualConfig(sites=1, ramp_up_months=0.0, rate_per_site_month=[1.0, 2.0],
                         rate_change_months=[6.0], max_accrual_months=1000.0)  # fmt: skip
    assert expected_accrual_days(ramp, 1.0, 20) == pytest.approx(13 * DAYS_PER_MONTH)
    capped = AccrualConfig(sites=1, ramp_up_months=0.0, rate_per_site_month=[1.0],
                           rate_change_months=[], max_accrual_months=12.0)  # fmt: skip
    assert expected_accrual_days(capped, 1.0, 100) == pytest.approx(12 * DAYS_PER_MONTH)


def test_the_trial_duration_comes_from_the_trial_config():
    from sim.app.tasks.economics import eligible_share, trial_years
    from sim.trial.accrual import DAYS_PER_MONTH, expected_accrual_days

    cfg = load_config(["+experiment=evsi", "economics.evsi.eligibility_patients=300"])
    p = eligible_share(cfg)
    assert 0.0 < p <= 1.0 - cfg.trial.eligibility.screen_fail
    t = cfg.trial
    after = t.followup.min_followup_months + cfg.economics.evsi.reporting_months
    got = trial_years(cfg, [60, 300])
    for n, y in zip([60, 300], got, strict=True):
        want = (expected_accrual_days(t.accrual, p, n) + after * DAYS_PER_MONTH) / 365.25
        assert y == pytest.approx(want, rel=1e-12)
    assert got[0] < got[1]
