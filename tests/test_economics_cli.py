"""The economic evaluation from the command line: output contract, determinism, bad input."""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import ConfigError
from sim.engine.run import simulate
from tests.cli_helper import pml_sim

SMALL = [
    "+experiment=psa",
    "cohort.n=300",
    "economics.psa.draws=6",
    "economics.psa.n_patients=40",
    "economics.psa.wtp_points=5",
    "executor=inprocess",  # small: spawning workers would cost more than it saves
    "output.progress=false",
]


@pytest.fixture(scope="module")
def psa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("psa") / "run"
    r = pml_sim(*SMALL, f"hydra.run.dir={out}")
    assert r.returncode == 0, r.stderr
    return out, r


def test_psa_run_writes_the_contract(psa_run):
    out, r = psa_run
    cea = pd.read_csv(out / "cea.csv")
    for col in ("strategy", "cost", "qaly", "life_years", "icer", "nmb", "dominated"):
        assert col in cea.columns
    assert sorted(cea["strategy"]) == ["il7", "pd1", "soc", "vst"]
    frontier = cea[~cea["dominated"]]
    assert frontier["cost"].is_monotonic_increasing and frontier["qaly"].is_monotonic_increasing
    assert np.allclose(cea["nmb"], 30000 * cea["qaly"] - cea["cost"])  # uk_nhs wtp

    psa = pd.read_parquet(out / "psa.parquet")
    assert len(psa) == 6 * 4 and set(psa["draw"]) == set(range(6))
    ceac = pd.read_csv(out / "ceac.csv")
    assert list(ceac.columns[:3]) == ["wtp", "strategy", "probability"]
    assert np.allclose(ceac.groupby("wtp")["probability"].sum(), 1.0)
    evpi = pd.read_csv(out / "evpi.csv")
    assert list(evpi.columns) == ["wtp", "evpi"] and (evpi["evpi"] >= 0).all()
    evppi = pd.read_csv(out / "evppi.csv")
    merged = evppi.merge(evpi, on="wtp")
    assert (merged["evppi"] <= merged["evpi"] + 1e-6 * (1 + merged["evpi"])).all()
    dsa = pd.read_csv(out / "dsa.csv")
    # one row per configured one-way input (12 since the VST half-life joined, 2026-12-08)
    n_inputs = len(load_config(["+experiment=psa"]).economics.dsa.params)
    assert dsa["swing"].is_monotonic_decreasing and len(dsa) == n_inputs == 12
    for f in ("ce_plane.png", "ceac.png", "evpi.png", "tornado.png"):
        assert (out / f).stat().st_size > 0  # report.md: its content is tested below
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["psa_draws"] == 6
    assert "ICER" in r.stdout  # the incremental table is printed


def test_same_seed_same_numbers(psa_run, tmp_path):
    out, _ = psa_run
    again = tmp_path / "again"
    r = pml_sim(*SMALL, f"hydra.run.dir={again}")
    assert r.returncode == 0, r.stderr
    for name in ("cea.csv", "ceac.csv", "evpi.csv", "dsa.csv"):
        assert (out / name).read_text() == (again / name).read_text()
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "psa.parquet"), pd.read_parquet(again / "psa.parquet")
    )


@pytest.mark.parametrize(
    "override,key",
    [
        ("economics.costs.mri=-5", "economics.costs.mri"),
        ("economics.costs.therapies.vst.per_dose=-1", "economics.costs.therapies.vst.per_dose"),
        ("economics.utilities.by_mrs=[1.2,0.8,0.7,0.6,0.4,0.2]", "economics.utilities.by_mrs.0"),
        ("economics.utilities.by_mrs=[0.9,0.8]", "economics.utilities.by_mrs"),
        (
            "economics.utilities.by_mrs=[0.9,0.85,0.74,0.62,0.28,0.41]",
            "economics.utilities.by_mrs.5",
        ),
        ("economics.psa.correlations.0.rho=0.99", "economics.psa.correlations"),
        ("economics.psa.params.0.kind=weibull", "economics.psa.params.0.kind"),
        ("economics.psa.params.6.sd=0.9", "economics.psa.params.6.sd"),
        ("economics.psa.params.0.key=economics.costs.nope", "economics.costs.nope"),
        ("economics.discount.costs=1.5", "economics.discount.costs"),
        ("economics.psa.correlations.0.rho=1.5", "economics.psa.correlations.0.rho"),
        ("economics.dsa.comparator=nope", "economics.dsa.comparator"),
        ("~economics.costs.therapies.plex", "economics.costs.therapies.plex"),
        ("economics.budget_impact.uptake=[0.1,1.5]", "economics.budget_impact.uptake.1"),
        ("economics.budget_impact.population=0", "economics.budget_impact.population"),
        ("economics.budget_impact.new_strategy=nope", "economics.budget_impact.new_strategy"),
        ("horizon_days=730", "economics.budget_impact.uptake"),
        ("economics.threshold_prices.0.per=vial", "economics.threshold_prices.0.per"),
        ("economics.threshold_prices.1.therapy=nope", "economics.threshold_prices.1.therapy"),
        ("economics.evsi.enabled=true", "economics.evsi.enabled"),
        ("economics.scenarios.1.name=qaly_discount_1.5", "economics.scenarios.1.name"),
        ("economics.scenarios.0.name=base", "economics.scenarios.0.name"),
        (
            "economics.scenarios.2.values={economics.lifetime.enabled: 0.5}",
            "economics.scenarios.2.values.economics.lifetime.enabled",
        ),
        (
            "economics.scenarios.0.values={economics.discount.qalys: high}",
            "economics.scenarios.0.values.economics.discount.qalys",
        ),
    ],
)
def test_bad_economics_input_names_the_key(override, key):
    experiment = "+experiment=cea" if "evsi" in override else "+experiment=psa"
    with pytest.raises(ConfigError) as err:
        load_config([experiment, override])
    assert err.value.key == key


@pytest.mark.parametrize(
    "override,key",
    [
        ("economics.evsi.n=[30,1]", "economics.evsi.n.1"),
        ("trial.sizing.n=[60,1]", "trial.sizing.n.1"),
        ("trial.experimental=nope", "trial.experimental"),
        ("economics.evsi.control=nope", "economics.evsi.control"),
        ("economics.evsi.control=pd1", "economics.evsi.control"),
        ("economics.evsi.cost_per_patient=-1", "economics.evsi.cost_per_patient"),
        ("economics.evsi.decision_years=0", "economics.evsi.decision_years"),
        ("economics.evsi.reporting_months=-1", "economics.evsi.reporting_months"),
        ("economics.evsi.eligibility_patients=0", "economics.evsi.eligibility_patients"),
    ],
)
def test_bad_evsi_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(["+experiment=evsi", override])
    assert err.value.key == key


def test_bad_input_fails_at_start_with_one_line_and_no_results(tmp_path):
    out = tmp_path / "bad"
    r = pml_sim("+experiment=cea", "economics.costs.hospital_day=-400", f"hydra.run.dir={out}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "pml-sim: config error: economics.costs.hospital_day: must be >= 0.0, got -400.0"
    )
    assert not out.exists()


def test_swapping_the_whole_economics_set_is_one_override():
    uk = load_config(["+experiment=cea"]).economics
    us = load_config(["+experiment=cea", "economics=us_payer"]).economics
    assert (uk.currency, us.currency) == ("GBP", "USD")
    assert (uk.discount.costs, us.discount.costs) == (0.035, 0.03)
    assert us.costs.therapies["plex"].per_dose != uk.costs.therapies["plex"].per_dose


def test_a_sweep_over_willingness_to_pay_collects_into_one_table(tmp_path):
    from sim.app.collect import collect

    sweep = tmp_path / "sweep"
    r = pml_sim(
        "-m",
        "+experiment=cea",
        "cohort.n=100",
        "economics.dsa.params=[]",
        "output.progress=false",
        "economics.wtp=20000,40000",
        f"hydra.sweep.dir={sweep}",
    )
    assert r.returncode == 0, r.stderr
    tables = collect(sweep)
    cea = tables["merged_cea"]
    assert len(cea) == 2 * 4 and set(cea["economics.wtp"]) == {20000, 40000}
    # same patients, same costs and QALYs; only the NMB moves with the WTP
    a, b = (cea[cea["economics.wtp"] == w].set_index("strategy") for w in (20000, 40000))
    assert np.allclose(a["qaly"], b.loc[a.index, "qaly"])
    assert np.allclose(b["nmb"] - a.loc[b.index, "nmb"], 20000 * a["qaly"])


# ------------------------------------------------------------------ one-way values


def _base_case(overrides: list[str]) -> pd.DataFrame:
    """Mean cost and QALY per strategy from a fresh base case (the cea.csv path)."""
    from sim.app.tasks.economics import base_case, summarise_values

    cfg = load_config([*SMALL, *overrides])
    return summarise_values(base_case(cfg), list(cfg.strategy)).set_index("strategy")


def test_dsa_rows_equal_fresh_runs_at_the_low_and_high_values(psa_run):
    """Each one-way value is the incremental NMB (and ICER) of a whole new base case with
    that one input changed: re-costing (discount rate) or re-simulating (a therapy
    lever) with the same seed. Checked by running those base cases here."""
    out, _ = psa_run
    dsa = pd.read_csv(out / "dsa.csv").set_index("key")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    cfg = load_config(SMALL)
    cea = pd.read_csv(out / "cea.csv").set_index("strategy")
    assert dsa["inc_nmb_base"].iloc[0] == pytest.approx(
        cea.loc[s, "nmb"] - cea.loc[c, "nmb"], rel=1e-12
    )
    for key, side in (
        ("economics.discount.costs", "low"),
        ("therapies.rhil7.levers.lymphocyte_expansion_per_day", "high"),
    ):
        value = dsa.loc[key, side]
        m = _base_case([f"strategy=[{c},{s}]", f"{key}={value}"])
        dc, dq = m.loc[s, "cost"] - m.loc[c, "cost"], m.loc[s, "qaly"] - m.loc[c, "qaly"]
        assert dsa.loc[key, f"inc_nmb_{side}"] == pytest.approx(
            cfg.economics.wtp * dq - dc, rel=1e-9
        ), key
        assert dsa.loc[key, f"icer_{side}"] == pytest.approx(dc / dq, rel=1e-9), key


def test_dsa_compares_the_optimum_with_its_nearest_frontier_neighbour(psa_run):
    """Issue 15: the default one-way pair is the optimal strategy at the WTP (highest NMB
    in cea.csv) against the frontier strategy whose NMB is closest to it, which is
    adjacent to it on the frontier (computed here from cea.csv)."""
    out, _ = psa_run
    dsa = pd.read_csv(out / "dsa.csv")
    cea = pd.read_csv(out / "cea.csv")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    assert s == cea.loc[cea["nmb"].idxmax(), "strategy"]
    front = list(cea.loc[~cea["dominated"], "strategy"])
    i = front.index(s)
    neighbours = [front[k] for k in (i - 1, i + 1) if 0 <= k < len(front)]
    nmb = cea.set_index("strategy")["nmb"]
    assert c == max(neighbours, key=lambda n: nmb[n])
    assert dsa["inc_nmb_base"].iloc[0] == pytest.approx(nmb[s] - nmb[c], rel=1e-12)
    assert dsa["inc_nmb_base"].iloc[0] >= 0  # the optimum is ahead at base case


def test_no_tornado_row_is_zero_when_its_input_enters_the_comparison(psa_run):
    """An input that can move the pair's costs or QALYs (`enters`) has a non-zero swing;
    one of a therapy neither strategy gives has exactly none (same patients, same
    numbers). The report and the tornado show only the inputs that enter."""
    out, _ = psa_run
    dsa = pd.read_csv(out / "dsa.csv")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    cfg = load_config(SMALL)
    used = {s, c} & {"il7", "pd1", "vst"}
    therapy_of = {"il7": "rhil7", "pd1": "pembrolizumab", "vst": "vst"}
    for r in dsa.itertuples():
        owner = next((t for t in therapy_of.values() if f"{t}." in r.key), None)
        if r.key == "model.transferred_effector_half_life_days":
            owner = "vst"  # acts only on infused T cells (LEVER_ONLY_PARAMS)
        assert r.enters == (owner is None or owner in {therapy_of[x] for x in used}), r.key
        if r.enters:
            assert r.swing > 0, r.key
        else:
            assert r.inc_nmb_low == r.inc_nmb_high == r.inc_nmb_base, r.key
    assert dsa["enters"].sum() >= 7 and cfg.economics.dsa.params[0].unit


def test_dsa_price_rows_are_linear_and_count_the_discounted_doses(psa_run):
    """A price enters costs linearly: inc NMB at low, base and high lie on one line, whose
    slope is minus the difference in discounted doses per patient. For the price of the
    compared strategy's own therapy (e.g. rhIL-7 in il7 vs soc) that is its doses in that
    arm, counted here from the event log and discounted continuously by hand,
    (1 + r)^(-t / 365.25)."""
    out, _ = psa_run
    dsa = pd.read_csv(out / "dsa.csv").set_index("key")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    # the default pair is the optimal strategy and its frontier neighbour; here one of
    # them is soc, which gives none of the other's therapy (inc NMB = NMB(s) - NMB(c))
    assert "soc" in (s, c)
    x = c if s == "soc" else s
    sign = -1.0 if x == s else 1.0
    therapy = {"il7": "rhil7", "pd1": "pembrolizumab", "vst": "vst"}[x]
    base = dsa["inc_nmb_base"].iloc[0]
    for key in dsa.index[dsa.index.str.startswith("economics.costs.")]:
        r = dsa.loc[key]
        slope_low = (r["inc_nmb_low"] - base) / (r["low"] - r["base_value"])
        slope_high = (r["inc_nmb_high"] - base) / (r["high"] - r["base_value"])
        assert slope_low == pytest.approx(slope_high, rel=1e-9, abs=1e-9), key
    cfg = load_config([*SMALL, f"strategy=[{x}]", "economics.dsa.params=[]"])
    _, events, _ = simulate(cfg)
    doses = events[(events["event"] == "dose") & (events["therapy"] == therapy)]
    rate = cfg.economics.discount.costs
    per_patient = ((1 + rate) ** (-doses["time_days"] / 365.25)).sum() / cfg.cohort.n
    assert 2.0 < per_patient < 3.0  # 3 doses, some patients die before the last
    r = dsa.loc[f"economics.costs.therapies.{therapy}.per_dose"]
    slope = (r["inc_nmb_high"] - r["inc_nmb_low"]) / (r["high"] - r["low"])
    assert slope == pytest.approx(sign * per_patient, rel=1e-9)
    assert np.allclose(dsa["swing"], (dsa["inc_nmb_high"] - dsa["inc_nmb_low"]).abs(), rtol=1e-12)


# --------------------------------------------------------------------- report.md


def _md_tables(text: str) -> dict[str, pd.DataFrame]:
    """Markdown tables under each `## ` heading (first table per section)."""
    out, section, rows = {}, None, []
    for line in [*text.splitlines(), ""]:
        if line.startswith("## "):
            section = line[3:]
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split("|")])
        elif rows:
            if section not in out:
                out[section] = pd.DataFrame(rows[2:], columns=rows[0])
            rows = []
    return out


def _num(cell: str) -> float:
    return math.nan if cell == "-" else float(cell.replace(",", ""))


def test_report_md_states_the_run_and_repeats_its_tables(psa_run):
    out, _ = psa_run
    text = (out / "report.md").read_text()
    cfg = load_config(SMALL)
    assert text.startswith("# Economic evaluation: soc, il7, pd1, vst\n")
    assert "costs in GBP (2023/24 prices)" in text
    assert "Price date: 2023/24" in text and "| economics.costs.hospital_day | 313.00 |" in text
    assert "costs 3.5%, QALYs 3.5% per year" in text
    assert "simulated acute phase 365 days, then lifetime" in text
    assert f"300 patients per strategy (mixed_seed000 mix), seed {cfg.seed}" in text
    assert "willingness to pay 30,000 per QALY" in text
    # issue 15: no NICE reference-case claim with a Japanese value set; say what it is
    assert "(NICE reference case)" not in text and "not a NICE reference case" in text
    assert "Utilities: EQ-5D-5L by mRS" in text and "Japanese value set" in text
    prices = next(line for line in text.splitlines() if "Prices that are ASSUMPTIONS" in line)
    assert "(rhil7) 5,000 per dose" in prices and "(vst) 50,000 per dose" in prices
    assert "(pembrolizumab)" not in prices  # sourced (BNF, NICE TA830)
    # numbers of 1,000 or more print to the unit (no "3,632,387,917.156")
    assert not re.search(r"\d,\d{3}\.\d", text)
    tables = _md_tables(text)
    cea = pd.read_csv(out / "cea.csv").set_index("strategy")
    inc = tables["Incremental analysis (cea.csv)"].set_index("strategy")
    assert list(inc.index) == list(cea.index)
    for col, half_unit in (("cost", 0.5), ("qaly", 5e-4), ("nmb", 0.5), ("icer", 0.5)):
        got = inc[col].map(_num).to_numpy()
        want = cea[col].to_numpy()
        assert np.allclose(got, want, atol=half_unit, equal_nan=True), col
    # the decision at NICE's 20,000 and 30,000 per QALY
    by_wtp = tables["Decision at each threshold (GBP per QALY)"].set_index("strategy")
    for w in (20000, 30000):
        want = w * cea["qaly"] - cea["cost"]
        got = by_wtp[f"NMB at {w:,}"].map(_num)
        assert np.allclose(got, want.loc[got.index], atol=0.5), w
        assert f"{w:,}: {want.idxmax()}" in text
    costs = tables["Cost components (cost_breakdown.csv)"].set_index("strategy")
    breakdown = pd.read_csv(out / "cost_breakdown.csv").set_index("strategy")
    assert np.allclose(costs.map(_num).to_numpy(), breakdown.loc[costs.index].to_numpy(), atol=0.5)
    dsa = pd.read_csv(out / "dsa.csv")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    one_way = tables[f"One-way sensitivity (dsa.csv): {s} vs {c}"]
    dsa = dsa[dsa["enters"]]  # inputs of therapies neither strategy gives are left out
    assert list(one_way["label"]) == list(dsa["label"])  # largest swing first
    for col in ("inc_nmb_low", "inc_nmb_high", "swing"):
        assert np.allclose(one_way[col].map(_num), dsa[col], atol=0.5), col
    # the probabilistic part reads the CEAC / EVPI at the grid point nearest the WTP
    ceac = pd.read_csv(out / "ceac.csv")
    evpi = pd.read_csv(out / "evpi.csv").set_index("wtp")["evpi"]
    w = ceac["wtp"].unique()[np.abs(ceac["wtp"].unique() - 30000).argmin()]
    m = re.search(r"At ([\d,]+) per QALY: EVPI ([\d,]+) GBP per patient", text)
    assert m and _num(m.group(1)) == w and abs(_num(m.group(2)) - evpi[w]) <= 0.5
    psa = tables["Probabilistic analysis (6 draws x 40 patients)"].set_index("strategy")
    at_w = ceac[ceac["wtp"] == w].set_index("strategy")
    assert np.allclose(psa["probability"].map(_num), at_w.loc[psa.index, "probability"], atol=5e-4)
    for w in (20000, 30000):  # the CEAC at both thresholds (on the grid of 5 points here)
        g = ceac["wtp"].unique()[np.abs(ceac["wtp"].unique() - w).argmin()]
        assert f"P(cost-effective) at {g:,.0f}" in text
    evppi = pd.read_csv(out / "evppi.csv")
    assert {"noise_mean", "noise_p95", "above_noise"} <= set(evppi.columns)
    assert "noise_p95" in text
    figures = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", text)
    assert {f for f, _ in figures} == {"ce_plane.png", "cost_breakdown.png", "tornado.png"} | {
        "ceac.png",
        "evpi.png",
        "twoway.png",
    }
    assert all((out / path).is_file() for _, path in figures)


def test_issue15_tables_agree_with_cea_dsa_and_the_patients(psa_run):
    """psa_summary, cea_by_condition, threshold_prices and budget_impact of the PSA run,
    each checked against another output of the same run."""
    out, _ = psa_run
    cea = pd.read_csv(out / "cea.csv").set_index("strategy")
    summary = pd.read_csv(out / "psa_summary.csv")
    assert sorted(summary["wtp"].unique()) == [20000.0, 30000.0] and len(summary) == 8
    psa = pd.read_parquet(out / "psa.parquet")
    at = summary[summary["wtp"] == 30000.0].set_index("strategy")
    for s in cea.index:
        assert at.loc[s, "cost"] == pytest.approx(psa.loc[psa["strategy"] == s, "cost"].mean())
        assert at.loc[s, "cost_lo"] <= at.loc[s, "cost"] <= at.loc[s, "cost_hi"]
        assert at.loc[s, "icer_deterministic"] == pytest.approx(cea.loc[s, "icer"], nan_ok=True)
    assert psa["survival"].between(0, 1).all()  # the EVSI's trial endpoint, per draw

    values = pd.read_parquet(out / "patient_values.parquet")
    sub = pd.read_csv(out / "cea_by_condition.csv")
    assert set(sub["condition"]) == set(values["condition"])
    for s, g in sub.groupby("strategy"):  # subgroup means recombine to cea.csv's
        assert g["n_patients"].sum() == 300
        assert (g["cost"] * g["n_patients"]).sum() / 300 == pytest.approx(cea.loc[s, "cost"])

    cfg = load_config(SMALL)
    # threshold price of the one-way pair's own therapy: where dsa.csv's line crosses 0
    prices = pd.read_csv(out / "threshold_prices.csv")
    assert len(prices) == 3 * 2
    dsa = pd.read_csv(out / "dsa.csv").set_index("key")
    s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
    x = c if s == "soc" else s  # the pair's strategy with a priced therapy
    therapy = {"il7": "rhil7", "pd1": "pembrolizumab", "vst": "vst"}[x]
    r = dsa.loc[f"economics.costs.therapies.{therapy}.per_dose"]
    slope = (r["inc_nmb_high"] - r["inc_nmb_low"]) / (r["high"] - r["low"])
    row = prices[(prices["therapy"] == therapy) & (prices["wtp"] == 30000.0)].iloc[0]
    assert {row["strategy"], row["comparator"]} == {s, c}  # the same pair, either order
    assert row["threshold_price"] == pytest.approx(
        r["base_value"] - r["inc_nmb_base"] / slope, rel=1e-9
    )
    n_doses = cfg.therapies[therapy].n_doses  # a full course
    assert row["threshold_price_per_course"] == pytest.approx(n_doses * row["threshold_price"])

    tw = pd.read_csv(out / "twoway.csv")  # at the base-case prices: cea.csv's optimum
    two = cfg.economics.two_way
    assert len(tw) == 2 * two.points**2
    base_x = cfg.economics.costs.therapies[two.axes[0].therapy].per_dose
    base_y = cfg.economics.costs.therapies[two.axes[1].therapy].per_dose
    at = tw[(tw["wtp"] == 30000.0) & np.isclose(tw["x_price"], base_x)
            & np.isclose(tw["y_price"], base_y)]  # fmt: skip
    assert len(at) == 1 and at["optimal"].iloc[0] == cea["nmb"].idxmax()
    assert at["nmb"].iloc[0] == pytest.approx(cea["nmb"].max(), rel=1e-9)
    sv = pd.read_csv(out / "severity.csv").set_index("group")
    assert sv.loc["all", "qaly_current_care"] == pytest.approx(cea.loc["soc", "qaly"])
    assert sv.loc["all", "n_patients"] == 300
    assert sv.loc["all", "absolute_shortfall"] == pytest.approx(
        values.loc[values["strategy"] == "soc", "qaly_general_population"].mean()
        - cea.loc["soc", "qaly"]
    )
    sc = pd.read_csv(out / "scenarios.csv")
    base = sc[sc["scenario"] == "base"].set_index("strategy")
    assert np.allclose(base["cost"], cea.loc[base.index, "cost"], rtol=1e-12)
    cfg_sc = [x.name for x in load_config(SMALL).economics.scenarios]
    assert list(dict.fromkeys(sc["scenario"])) == ["base", *cfg_sc]
    life = sc[sc["scenario"] == "acute_phase_only"].set_index("strategy")
    assert (life["qaly"] < base.loc[life.index, "qaly"]).all()  # the lifetime is cut

    budget = pd.read_csv(out / "budget_impact.csv")
    cfg = load_config(SMALL)
    b = cfg.economics.budget_impact
    assert list(budget["year"]) == [1, 2, 3, 4, 5]
    n = b.population * b.incidence_per_100k / 1e5
    soc_year1 = values.loc[values["strategy"] == "soc", "budget_year_1"].mean()
    assert budget["cost_current_scenario"].iloc[0] == pytest.approx(n * soc_year1)
    assert budget["new_strategy"].iloc[0] == cea["nmb"].idxmax()

    text = (out / "report.md").read_text()
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    for h in ("Probabilistic results", "Subgroups by underlying condition", "Threshold prices",
              "Scenario analysis", "Severity modifier", "Two-way price analysis",
              "Budget impact", "Impact inventory", "Limitations",
              "CHEERS 2022 checklist"):  # fmt: skip
        assert any(x.startswith(h) for x in headings), h
    inventory = _md_tables(text)["Impact inventory"].set_index("impact")
    drugs = pd.read_csv(out / "cost_breakdown.csv")["cost_drugs"]
    assert inventory.loc["drugs and administration", "counted"] == (
        f"yes ({drugs.min():,.0f}-{drugs.max():,.0f} per patient)"
    )
    assert inventory.loc["unpaid carers' time", "counted"].startswith("no")
    cheers = _md_tables(text)["CHEERS 2022 checklist"]
    assert list(cheers["item"]) == [str(i) for i in range(1, 29)]
    named = [name for where in cheers["reported in"] for name in re.findall(r"'([^']+)'", where)]
    assert {"Probabilistic results", "Scenario analysis", "Limitations"} <= set(named)
    for name in named:  # each item points at sections of this report
        assert any(x.startswith(name) for x in headings), name


def test_evsi_run_gives_the_enbs_optimal_sample_size(tmp_path):
    out = tmp_path / "evsi"
    r = pml_sim("+experiment=evsi", *SMALL[1:], "economics.dsa.params=[]",
                f"hydra.run.dir={out}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    evsi = pd.read_csv(out / "evsi.csv")
    cfg = load_config(["+experiment=evsi"])
    assert list(evsi["n"].unique()) == list(cfg.trial.sizing.n)  # the trial's sizing grid
    assert len(evsi) == 2 * len(cfg.trial.sizing.n)
    assert (evsi.groupby("wtp")["optimal_n"].sum() == 1).all()
    assert (evsi["evsi_per_patient"] >= 0).all()
    assert "## Value of sample information (evsi.csv)" in (out / "report.md").read_text()


def test_ce_plane_uses_its_axes_and_separates_thousands(tmp_path, monkeypatch):
    """Issue 15: with every strategy more effective than the reference, the QALY axis
    starts near 0 instead of mirroring the data below 0, and cost ticks carry thousands
    separators; the tornado names the units of its inputs."""
    import matplotlib.pyplot as plt

    from sim.economics import plots

    seen = {}

    def keep(fig, path):
        seen["ax"] = fig.axes[0]
        plt.close(fig)
        return path

    monkeypatch.setattr(plots, "_save_atomic", keep)
    cea = pd.DataFrame(
        {
            "strategy": ["soc", "il7", "vst"],
            "cost": [75000.0, 108000.0, 248000.0],
            "qaly": [3.8, 5.7, 6.9],
            "dominance": ["", "", ""],
            "dominated": [False, False, False],
        }
    )
    plots.plot_ce_plane(cea, None, "soc", 30000.0, "GBP", tmp_path / "ce.png")
    ax = seen["ax"]
    lo, hi = ax.get_xlim()
    assert -0.1 * 3.1 < lo <= 0 and hi >= 3.1
    assert ax.get_ylim()[1] >= 173000.0
    assert ax.yaxis.get_major_formatter()(25000.0, 0) == "25,000"
    dsa = pd.DataFrame(
        {
            "strategy": ["il7"],
            "comparator": ["soc"],
            "label": ["rhIL-7 price per dose"],
            "low": [1000.0],
            "high": [15000.0],
            "unit": ["GBP per dose"],
            "inc_nmb_low": [30000.0],
            "inc_nmb_high": [-5000.0],
            "inc_nmb_base": [24000.0],
            "enters": [True],
        }
    )
    plots.plot_tornado(dsa, "GBP", tmp_path / "t.png")
    labels = [t.get_text() for t in seen["ax"].get_yticklabels()]
    assert labels == ["rhIL-7 price per dose (1,000 / 15,000 GBP per dose)"]
    assert seen["ax"].xaxis.get_major_formatter()(-5000.0, 0) == "-5,000"
