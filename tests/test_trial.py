"""Virtual trials end to end: the correctness anchors of issue 6, config errors, the
sizing run's output contract and its reproducibility.

Anchors: with an assumed fixed effect (control outcomes, proportional hazards with an
assumed HR) and a single look, simulated power must match the closed-form power; under
the null scenario the rejection rate must match alpha, with or without interim looks.
Tolerances are 3.5 Monte Carlo SEs computed here from the number of trials.
"""

import math

import numpy as np
import pandas as pd
import pytest
from cli_helper import pml_sim

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.config.trial import DesignConfig
from sim.trial import analyses
from sim.trial.sizing import OC_COLUMNS, superpopulation

K_SE = 3.5
ANCHOR_TRIALS = 1500
BASE = [
    "+experiment=trial_sizing",
    "trial.pool_per_arm=6000",
    "trial.followup.dropout_per_year=0.0",
    "trial.randomisation.stratify=false",  # the textbook formulas ignore stratification
    "output.progress=false",
]


def _mc_tol(p: float, n: int) -> float:
    return K_SE * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def anchor():
    cfg = load_config(
        [
            *BASE,
            "trial.effect.kind=assumed",
            "trial.effect.hazard_ratio=0.6",
            "trial.sizing.n=[120]",
            f"trial.sizing.trials={ANCHOR_TRIALS}",
        ]
    )
    cfg.trial.designs = {
        "fixed_z": DesignConfig(endpoint="survival_1y"),
        "fixed_logrank": DesignConfig(endpoint="time_to_death", test="logrank"),
        "asOF3": DesignConfig(type_of_design="asOF", information_rates=[0.33, 0.67, 1.0]),
        "asP_calendar": DesignConfig(
            type_of_design="asP", timing="calendar", look_months=[24.0, 36.0]
        ),
        "asOF3_futility": DesignConfig(
            type_of_design="asOF", information_rates=[0.5, 0.75, 1.0], futility_z=0.0
        ),
        "asOF3_bsOF": DesignConfig(
            type_of_design="asOF", information_rates=[0.33, 0.67, 1.0], type_beta_spending="bsOF"
        ),
    }
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc.set_index("design")


def test_assumed_effect_is_proportional_hazards(anchor):
    _, spec, _, _ = anchor
    # 1-year survival of the experimental superpopulation = control's ^ HR
    sp = superpopulation(spec, "survival_1y")
    assert sp["p_e"] == pytest.approx(sp["p_c"] ** 0.6, abs=2e-3)
    assert superpopulation(spec, "time_to_death")["hr"] == pytest.approx(0.6, abs=0.03)


def test_two_proportion_power_matches_closed_form(anchor):
    cfg, spec, trials, oc = anchor
    sp = superpopulation(spec, "survival_1y")
    alt = trials[(trials["design"] == "fixed_z") & (trials["scenario"] == "alternative")]
    n_e, n_c = alt["n_analysed_e"].mean(), alt["n_analysed_c"].mean()
    analytic = analyses.power_two_proportions(sp["p_e"], sp["p_c"], n_e, n_c, cfg.trial.alpha)
    assert 0.3 < analytic < 0.95  # an informative comparison, not a saturated one
    assert abs(oc.loc["fixed_z", "power"] - analytic) < _mc_tol(analytic, ANCHOR_TRIALS)
    assert oc.loc["fixed_z", "analytic_power"] == pytest.approx(analytic)
    # and the exact power of the same test (binomial enumeration; no normal approximation)
    assert alt["n_analysed_e"].nunique() == 1  # complete blocks, no dropout: fixed arm sizes
    exact = analyses.power_two_proportions_exact(
        sp["p_e"], sp["p_c"], int(n_e), int(n_c), cfg.trial.alpha
    )
    assert abs(oc.loc["fixed_z", "power"] - exact) < _mc_tol(exact, ANCHOR_TRIALS)


def test_logrank_power_matches_schoenfeld(anchor):
    cfg, _, trials, oc = anchor
    alt = trials[(trials["design"] == "fixed_logrank") & (trials["scenario"] == "alternative")]
    analytic = analyses.power_logrank(0.6, alt["deaths"].mean(), 0.5, cfg.trial.alpha)
    assert 0.3 < analytic < 0.95
    # Schoenfeld's formula is itself an approximation: allow 0.02 on top of MC error
    assert (
        abs(oc.loc["fixed_logrank", "power"] - analytic) < _mc_tol(analytic, ANCHOR_TRIALS) + 0.02
    )


@pytest.mark.parametrize("design", ["fixed_z", "fixed_logrank", "asOF3", "asP_calendar"])
def test_type1_error_is_alpha_with_and_without_interims(anchor, design):
    cfg, _, _, oc = anchor
    a = cfg.trial.alpha
    assert abs(oc.loc[design, "type1_error"] - a) < _mc_tol(a, ANCHOR_TRIALS)


def test_interim_looks_stop_early_and_futility_is_conservative(anchor):
    cfg, _, trials, oc = anchor
    assert oc.loc["asOF3", "p_stop_efficacy"] > 0.05
    assert oc.loc["asOF3", "expected_n"] < 120  # some trials stop before accrual ends
    assert oc.loc["asOF3_futility", "p_stop_futility"] > 0.0
    assert oc.loc["asOF3_futility", "type1_error"] <= oc.loc["asOF3", "type1_error"] + 0.005
    null = trials[(trials["design"] == "asOF3_futility") & (trials["scenario"] == "null")]
    # under the null, z < 0 at the first look about half the time
    p = (null["stop_futility"]).mean()
    assert 0.3 < p < 0.75
    # the group-sequential designs' analytic power (crossing probabilities) matches
    for d in ("asOF3", "asOF3_futility", "asOF3_bsOF"):
        g = oc.loc[d]
        assert abs(g["power"] - g["analytic_power"]) < _mc_tol(g["analytic_power"], ANCHOR_TRIALS)
    # beta-spending futility (non-binding): stops some trials, never inflates alpha
    g = oc.loc["asOF3_bsOF"]
    assert g["p_stop_futility"] > 0.01
    assert g["type1_error"] < cfg.trial.alpha + _mc_tol(cfg.trial.alpha, ANCHOR_TRIALS)


def test_model_effect_pd1_beats_soc_and_designs_share_trials():
    cfg = load_config([*BASE, "trial.sizing.n=[80]", "trial.sizing.trials=200"])
    spec, trials, oc = run_sizing(cfg)
    sp = superpopulation(spec, "survival_1y")
    assert sp["p_e"] > sp["p_c"]  # the mechanism's effect, not an assumed one
    assert list(oc.columns) == OC_COLUMNS
    # common random numbers: fixed designs on the same trial see the same patients
    a = trials[trials["design"] == "fixed_survival_1y"].reset_index(drop=True)
    b = trials[trials["design"] == "fixed_logrank"].reset_index(drop=True)
    assert (a["n_randomised"] == b["n_randomised"]).all()
    assert (a["duration_months"] == b["duration_months"]).all()


@pytest.mark.parametrize(
    "override, key",
    [
        ("trial.sizing.n=[-5]", "trial.sizing.n[0]"),
        ("trial.randomisation.allocation=[0,1]", "trial.randomisation.allocation"),
        ("trial.randomisation.block_size=3", "trial.randomisation.block_size"),
        (
            "trial.designs.asOF3_survival_1y.type_of_design=asXX",
            "trial.designs.asOF3_survival_1y.type_of_design",
        ),
        (
            "trial.designs.asOF3_survival_1y.information_rates=[0.6,0.3,1.0]",
            "trial.designs.asOF3_survival_1y.information_rates",
        ),
        (
            "trial.designs.asOF3_survival_1y.information_rates=[0.5,1.2]",
            "trial.designs.asOF3_survival_1y.information_rates",
        ),
        ("trial.alpha=0", "trial.alpha"),
        ("trial.experimental=magic", "trial.experimental"),
        ("trial.accrual.rate_per_site_month=[0.1]", "trial.accrual.rate_per_site_month"),
        ("trial.eligibility.screen_fail=1.5", "trial.eligibility.screen_fail"),
        ("trial.designs.fixed_logrank.test=z", "trial.designs.fixed_logrank.test"),
        (
            "trial.designs.asOF3_survival_1y.type_beta_spending=bsOF",
            "trial.designs.asOF3_survival_1y.futility_z",
        ),
        (
            "trial.designs.fixed_logrank.type_beta_spending=bsXX",
            "trial.designs.fixed_logrank.type_beta_spending",
        ),
    ],
)
def test_bad_trial_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config(["+experiment=trial_sizing", override])
    assert e.value.key == key


def test_bad_trial_input_cli_one_line_no_results(tmp_path):
    r = pml_sim("+experiment=trial_sizing", "trial.sizing.n=[-5]", f"hydra.run.dir={tmp_path}/x")
    assert r.returncode == 2
    line = r.stderr.strip().splitlines()[-1]
    assert line == "pml-sim: config error: trial.sizing.n[0]: must be an integer >= 2, got -5"
    assert not (tmp_path / "x").exists()


def test_single_arm_design_composes():
    cfg = load_config(["+experiment=trial_sizing", "trial=single_arm_il7"])
    assert cfg.trial.comparator == "historical" and cfg.trial.experimental == "il7"


TINY = [
    "+experiment=trial_sizing",
    "trial.pool_per_arm=1500",
    "trial.sizing.n=[40,80]",
    "trial.sizing.trials=40",
    "trial.sizing.chunk_trials=15",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("trial")
    runs = [base / "a", base / "b"]
    for d in runs:
        r = pml_sim(*TINY, f"hydra.run.dir={d}", cwd=base)
        assert r.returncode == 0, r.stderr
    return runs


def test_sizing_run_writes_the_contract(tiny_runs):
    d = tiny_runs[0]
    for f in (
        "operating_characteristics.csv",
        "power_curve.png",
        "duration.png",
        "accrual.png",
        "trials.parquet",
        "sizing.md",
        "config.yaml",
        "run.json",
    ):
        assert (d / f).is_file(), f
    oc = pd.read_csv(d / "operating_characteristics.csv")
    contract = ["design", "n", "power", "power_se", "type1_error", "p_stop_efficacy"]
    contract += ["p_stop_futility", "expected_n", "expected_duration_months"]
    assert set(contract) <= set(oc.columns)
    designs = len(load_config(["+experiment=trial_sizing"]).trial.designs)
    assert len(oc) == designs * 2  # designs x sample sizes
    assert oc["power"].between(0, 1).all() and (oc["expected_n"] <= oc["n"]).all()
    trials = pd.read_parquet(d / "trials.parquet")
    assert len(trials) == designs * 2 * 40 * 2  # designs x n x trials x scenarios


def test_sizing_run_is_deterministic(tiny_runs):
    a, b = (pd.read_csv(d / "operating_characteristics.csv") for d in tiny_runs)
    pd.testing.assert_frame_equal(a, b)
    ta, tb = (pd.read_parquet(d / "trials.parquet") for d in tiny_runs)
    pd.testing.assert_frame_equal(ta, tb)


def test_collect_merges_sizing_runs(tiny_runs):
    from sim.app.collect import main

    base = tiny_runs[0].parent
    assert main([str(base)]) == 0
    merged = pd.read_csv(base / "merged_trial.csv")
    per_run = pd.read_csv(tiny_runs[0] / "operating_characteristics.csv")
    assert len(merged) == 2 * len(per_run)
    assert set(per_run.columns) <= set(merged.columns)


def test_processes_executor_and_chunking_give_identical_trials():
    over = [o for o in TINY if not o.startswith("trial.sizing.chunk")] + ["output.progress=false"]
    _, t1, _ = run_sizing(load_config([*over, "trial.sizing.chunk_trials=40"]))
    _, t2, _ = run_sizing(
        load_config(
            [*over, "trial.sizing.chunk_trials=7", "executor=processes", "executor.workers=2"]
        )
    )
    pd.testing.assert_frame_equal(t1, t2)
    assert np.isfinite(t1["z"]).all()


def test_stratified_analysis_holds_alpha_unstratified_is_conservative():
    """Randomisation stratified by condition (strongly prognostic in the model): the
    CMH, stratified Kaplan-Meier and stratified log-rank tests keep alpha; the
    unstratified tests' null z has a standard deviation below 1 (they count
    between-stratum variance that blocking removed), so they are conservative."""
    trials_n = 2500
    cfg = load_config(
        [
            "+experiment=trial_sizing",
            "trial.pool_per_arm=6000",
            "trial.sizing.n=[120]",
            f"trial.sizing.trials={trials_n}",
            "output.progress=false",
        ]
    )
    cfg.trial.designs = {
        "cmh": DesignConfig(endpoint="survival_1y", stratified=True),
        "km_strat": DesignConfig(endpoint="survival_1y", test="km", stratified=True),
        "chi2": DesignConfig(endpoint="survival_1y"),
        "logrank_strat": DesignConfig(endpoint="time_to_death", test="logrank", stratified=True),
        "logrank": DesignConfig(endpoint="time_to_death", test="logrank"),
    }
    _, trials, oc = run_sizing(cfg)
    oc = oc.set_index("design")
    a = cfg.trial.alpha
    for d in ("cmh", "km_strat", "logrank_strat"):
        assert abs(oc.loc[d, "type1_error"] - a) < _mc_tol(a, trials_n), d
    null = trials[trials["scenario"] == "null"]
    sd = null.groupby("design")["z"].std()
    se_sd = 1 / math.sqrt(2 * trials_n)  # SE of a normal sample's SD
    for d in ("cmh", "km_strat", "logrank_strat"):
        assert abs(sd[d] - 1) < K_SE * se_sd + 0.01, d  # + 0.01: discreteness of small strata
    for d in ("chi2", "logrank"):
        assert sd[d] < 1 - K_SE * se_sd - 0.02, d


@pytest.mark.parametrize(
    "endpoint, test, dropout",
    [
        ("csf_clearance_12w", "z", 0.0),
        ("no_iris", "z", 0.0),
        ("survival_1y", "z", 0.0),
        ("survival_1y", "km", 0.3),  # Kaplan-Meier: unbiased with loss to follow-up
    ],
)
def test_binary_endpoint_estimates_are_unbiased_for_the_pool_values(endpoint, test, dropout):
    """Per-arm estimates at the final analysis, averaged over trials, equal the pool's
    (superpopulation) values within 4 MC SEs: the endpoint wiring reads the right
    outcomes for the right arm (stratified blocks)."""
    trials_n, n = 300, 80
    cfg = load_config(
        [
            "+experiment=trial_sizing",
            "trial.pool_per_arm=4000",
            f"trial.sizing.n=[{n}]",
            f"trial.sizing.trials={trials_n}",
            f"trial.followup.dropout_per_year={dropout}",
            "output.progress=false",
        ]
    )
    cfg.trial.designs = {"d": DesignConfig(endpoint=endpoint, test=test)}
    spec, trials, _ = run_sizing(cfg)
    sp = superpopulation(spec, endpoint)
    alt = trials[trials["scenario"] == "alternative"]
    if dropout:
        assert (alt["n_analysed_e"] + alt["n_analysed_c"] == n).all()  # KM keeps everyone
    for col, p, arm in (("estimate_e", sp["p_e"], "e"), ("estimate_c", sp["p_c"], "c")):
        m = alt[col].mean()
        se = math.sqrt(p * (1 - p) / alt[f"n_analysed_{arm}"].sum())
        if dropout:
            se *= math.exp(0.5 * dropout)  # KM variance inflation by censoring, at most
        assert abs(m - p) < 4 * se, (col, m, p)


def test_complete_case_survival_is_biased_by_dropout_and_km_is_not():
    """With loss to follow-up, complete cases keep early deaths more often than
    survivors (a survivor must stay a whole year): 1-year survival is under-estimated.
    The Kaplan-Meier estimate on the same trials is not."""
    cfg = load_config(
        [
            "+experiment=trial_sizing",
            "trial.pool_per_arm=4000",
            "trial.sizing.n=[80]",
            "trial.sizing.trials=300",
            "trial.followup.dropout_per_year=0.5",
            "output.progress=false",
        ]
    )
    cfg.trial.designs = {"cc": DesignConfig(test="z"), "km": DesignConfig(test="km")}
    spec, trials, _ = run_sizing(cfg)
    p_c = superpopulation(spec, "survival_1y")["p_c"]
    alt = trials[trials["scenario"] == "alternative"].set_index("design")
    cc, km = alt.loc["cc", "estimate_c"].mean(), alt.loc["km", "estimate_c"].mean()
    se = math.sqrt(p_c * (1 - p_c) / alt.loc["cc", "n_analysed_c"].sum())
    assert cc < p_c - 4 * se  # biased down
    assert abs(km - p_c) < 4 * se * math.exp(0.25)


def test_single_arm_against_historical_control():
    """Single arm, exact binomial test against the historical 1-year survival: the
    simulated power equals the exact power averaged over the trials' analysed sizes
    (dropout makes them vary), within 3.5 MC SEs."""
    from scipy.stats import binom

    trials_n = 400
    cfg = load_config(
        [
            "+experiment=trial_sizing",
            "trial=single_arm_il7",
            "trial.pool_per_arm=3000",
            "trial.sizing.n=[60]",
            f"trial.sizing.trials={trials_n}",
            "output.progress=false",
        ]
    )
    spec, trials, oc = run_sizing(cfg)
    alt = trials[trials["scenario"] == "alternative"]
    assert (alt["n_analysed_c"] == 0).all()  # one arm
    assert (alt["estimate_c"] == cfg.trial.historical.survival_1y).all()
    p_e, p0, a = superpopulation(spec, "survival_1y")["p_e"], 0.4, cfg.trial.alpha
    assert cfg.trial.historical.survival_1y == p0

    def exact_power(m: int) -> float:
        k = np.arange(m + 1)
        crit = k[binom.sf(k - 1, m, p0) <= a].min()  # smallest significant count
        return float(binom.sf(crit - 1, m, p_e))

    expected = np.mean([exact_power(int(m)) for m in alt["n_analysed_e"]])
    assert 0.2 < expected < 0.95
    assert abs(oc["power"].iloc[0] - expected) < _mc_tol(expected, trials_n)
