"""Virtual trials end to end: the correctness anchors of issue 6, config errors, the
sizing run's output contract and its reproducibility.

Anchors: with an assumed fixed effect (control outcomes, proportional hazards with an
assumed HR), the simulated power and type I error of the two-proportion designs, with or
without interim looks and futility stops, must match their exact values (binomial
enumeration over the looks, tests/exact_gs.py); the log-rank design must match an
independent simulation of the same idealised trial (patients drawn from the pool, every
one followed to the horizon, no accrual, blocks or looks). Tolerances are 3.5 Monte
Carlo SEs computed here from the numbers of trials (of both simulations, where the
reference is itself simulated). The normal approximations (Fleiss, Schoenfeld, the
crossing probabilities at the mean drift) are biased at these sizes (about 3 points
low for the three-look design) and are not used as references.
"""

import math

import exact_gs
import numpy as np
import pandas as pd
import pytest
from cli_helper import pml_sim
from scipy.stats import hypergeom, norm

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.config.trial import DesignConfig
from sim.trial import analyses
from sim.trial.boundaries import efficacy_bounds
from sim.trial.sizing import OC_COLUMNS, planned_futility, superpopulation

K_SE = 3.5
ANCHOR_TRIALS = 1500
BASE = [
    "+experiment=trial_sizing",
    "trial.pool_per_arm=6000",
    "trial.followup.dropout_per_year=0.0",
    "trial.randomisation.stratify=false",  # the textbook formulas ignore stratification
    # every baseline mRS eligible: the anchors were set for the whole referral mix (SOC
    # 1-year survival ~0.33, where the z-test's exact size is within 1e-3 of alpha); the
    # fitted mRS map (2026-12-06) makes a third mRS 5 and the eligible SOC ~0.44
    "trial.eligibility.max_baseline_mrs=5",
    "output.progress=false",
]


def _mc_tol(p: float, n: int, n_reference: float = math.inf) -> float:
    """K_SE binomial SEs of a simulated rate (and of a simulated reference, if any)."""
    return K_SE * math.sqrt(p * (1 - p) * (1 / n + 1 / n_reference))


ANCHOR_N, BLOCK = 120, 4


def _look_sizes(fractions) -> list[tuple[float, list[tuple[int, int]]]]:
    """(probability, per-arm sizes at each look) of the anchor's information-timed looks.

    No dropout and a fixed window: look k analyses the first ceil(t_k n) patients in
    randomisation order. Unstratified permuted blocks of 4 (2:2): full blocks are
    balanced; the first r patients of the next block hold Hypergeometric(4, 2, r)
    experimental ones."""
    per_look = []
    for t in fractions:
        m = math.ceil(t * ANCHOR_N)
        full, r = divmod(m, BLOCK)
        half = full * BLOCK // 2
        per_look.append(
            [
                (hypergeom.pmf(j, BLOCK, BLOCK // 2, r), (half + j, half + r - j))
                for j in range(r + 1)
            ]
        )
    scenarios = [(1.0, [])]
    for options in per_look:
        scenarios = [(w * q, [*s, size]) for w, s in scenarios for q, size in options if q > 0]
    return scenarios


def _exact(anchor, design: str, scenario: str) -> dict[str, np.ndarray]:
    """Exact first-crossing probabilities of a two-proportion design of the anchor."""
    cfg, spec, _, _ = anchor
    d = cfg.trial.designs[design]
    sp = superpopulation(spec, "survival_1y")
    p_e = sp["p_e"] if scenario == "alternative" else sp["p_c"]
    fr = list(d.information_rates)
    crit = list(efficacy_bounds(fr, cfg.trial.alpha, d.type_of_design))
    fut = None
    if d.futility_z is not None:
        fut = [d.futility_z] * (len(fr) - 1) + [-math.inf]
    elif d.type_beta_spending != "none":
        fut = list(planned_futility(spec, ANCHOR_N)[design])
    return exact_gs.mixture(p_e, sp["p_c"], _look_sizes(fr), crit, fut)


@pytest.fixture(scope="module")
def anchor():
    cfg = load_config(
        [
            *BASE,
            "trial.effect.kind=assumed",
            "trial.effect.hazard_ratio=0.6",
            f"trial.sizing.n=[{ANCHOR_N}]",
            f"trial.sizing.trials={ANCHOR_TRIALS}",
        ]
    )
    assert cfg.trial.randomisation.block_size == BLOCK
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


def test_the_looks_analyse_the_patients_the_exact_reference_assumes(anchor):
    """The exact reference conditions on the per-arm sizes at each look: check them on
    the simulated trials (every trial randomised n; each stage's sizes in the support)."""
    _, _, trials, _ = anchor
    assert (trials["n_randomised"][trials["stage"] == trials["looks"]] == ANCHOR_N).all()
    for design in ("fixed_z", "asOF3", "asOF3_futility", "asOF3_bsOF"):
        g = trials[trials["design"] == design]
        d = anchor[0].trial.designs[design]
        support = {k: set() for k in range(1, len(d.information_rates) + 1)}
        for _, sizes in _look_sizes(d.information_rates):
            for k, size in enumerate(sizes, start=1):
                support[k].add(size)
        seen = g.groupby("stage")[["n_analysed_e", "n_analysed_c"]].apply(
            lambda x: set(map(tuple, x.to_numpy()))
        )
        for stage, sizes in seen.items():
            assert sizes <= support[stage], (design, stage, sizes)


def test_two_proportion_power_matches_exact_enumeration(anchor):
    cfg, spec, trials, oc = anchor
    sp = superpopulation(spec, "survival_1y")
    alt = trials[(trials["design"] == "fixed_z") & (trials["scenario"] == "alternative")]
    n_e, n_c = alt["n_analysed_e"].mean(), alt["n_analysed_c"].mean()
    analytic = analyses.power_two_proportions(sp["p_e"], sp["p_c"], n_e, n_c, cfg.trial.alpha)
    assert oc.loc["fixed_z", "analytic_power"] == pytest.approx(analytic)  # the column's formula
    # the reference: the exact power of the same test (binomial enumeration)
    assert alt["n_analysed_e"].nunique() == 1  # complete blocks, no dropout: fixed arm sizes
    exact = analyses.power_two_proportions_exact(
        sp["p_e"], sp["p_c"], int(n_e), int(n_c), cfg.trial.alpha
    )
    assert 0.3 < exact < 0.95  # an informative comparison, not a saturated one
    assert exact == pytest.approx(_exact(anchor, "fixed_z", "alternative")["reject"].sum())
    assert abs(oc.loc["fixed_z", "power"] - exact) < _mc_tol(exact, ANCHOR_TRIALS)


LOGRANK_REFERENCE_TRIALS = 20000


@pytest.fixture(scope="module")
def logrank_reference(anchor):
    """Rejection rates of an idealised log-rank trial simulated without the trial code:
    60 + 60 patients drawn with replacement from the pool, each followed to the horizon
    (the anchor's design: no dropout, final analysis 12 months after the last patient),
    under the alternative (experimental arm: experimental outcomes) and the null."""
    cfg, spec, _, _ = anchor
    pool = spec.pool
    gen = np.random.default_rng(20240607)
    z_crit = norm.isf(cfg.trial.alpha)
    arm = np.r_[np.ones(ANCHOR_N // 2, bool), np.zeros(ANCHOR_N // 2, bool)]
    rejected = {"alternative": 0, "null": 0}
    for _ in range(LOGRANK_REFERENCE_TRIALS):
        idx = gen.integers(len(pool), size=ANCHOR_N)
        for scenario in rejected:
            exp = pool.outcomes["experimental" if scenario == "alternative" else "control"]
            death = np.where(arm, exp.death_day[idx], pool.outcomes["control"].death_day[idx])
            event = death <= pool.horizon_days
            time = np.minimum(death, pool.horizon_days)
            rejected[scenario] += analyses.logrank(time, event, arm).z >= z_crit
    return {k: v / LOGRANK_REFERENCE_TRIALS for k, v in rejected.items()}


def test_logrank_power_and_size_match_an_independent_simulation(anchor, logrank_reference):
    cfg, spec, trials, oc = anchor
    alt = trials[(trials["design"] == "fixed_logrank") & (trials["scenario"] == "alternative")]
    hr = superpopulation(spec, "time_to_death")["hr"]
    schoenfeld = analyses.power_logrank(hr, alt["deaths"].mean(), 0.5, cfg.trial.alpha)
    assert oc.loc["fixed_logrank", "analytic_power"] == pytest.approx(schoenfeld)
    ref = logrank_reference["alternative"]
    assert 0.3 < ref < 0.95
    assert abs(oc.loc["fixed_logrank", "power"] - ref) < _mc_tol(
        ref, ANCHOR_TRIALS, LOGRANK_REFERENCE_TRIALS
    )
    ref0 = logrank_reference["null"]
    assert abs(oc.loc["fixed_logrank", "type1_error"] - ref0) < _mc_tol(
        ref0, ANCHOR_TRIALS, LOGRANK_REFERENCE_TRIALS
    )


@pytest.mark.parametrize("design", ["fixed_z", "asOF3", "asOF3_futility", "asOF3_bsOF"])
def test_type1_error_is_exact_with_and_without_interims(anchor, design):
    """Under the null the rejection rate is the design's exact size (a discrete test's
    size is near, not at, alpha); non-binding futility can only lower it."""
    cfg, _, _, oc = anchor
    size = _exact(anchor, design, "null")["reject"].sum()
    assert size <= cfg.trial.alpha + 1e-3
    assert abs(oc.loc[design, "type1_error"] - size) < _mc_tol(size, ANCHOR_TRIALS)


def test_type1_error_with_calendar_looks_is_alpha(anchor):
    """Calendar looks fall at random information fractions (no exact reference here):
    the rejection rate is alpha within Monte Carlo error, as boundaries recomputed at
    the observed fractions should give (the z test's discreteness moves its size by
    less than a tenth of that error at n = 120, see the test above)."""
    cfg, _, _, oc = anchor
    a = cfg.trial.alpha
    assert abs(oc.loc["asP_calendar", "type1_error"] - a) < _mc_tol(a, ANCHOR_TRIALS)


@pytest.mark.parametrize("design", ["asOF3", "asOF3_futility", "asOF3_bsOF"])
def test_group_sequential_power_and_stops_match_exact_enumeration(anchor, design):
    """Power, stopping for efficacy at an interim and stopping for futility, per design,
    against their exact values (the crossing probabilities at the mean drift, the
    `analytic_power` column, are a normal approximation ~3 points low here)."""
    _, _, trials, oc = anchor
    ex = _exact(anchor, design, "alternative")
    g = oc.loc[design]
    power = ex["reject"].sum()
    assert 0.3 < power < 0.95
    assert abs(g["power"] - power) < _mc_tol(power, ANCHOR_TRIALS)
    early = ex["reject"][:-1].sum()
    assert abs(g["p_stop_efficacy"] - early) < _mc_tol(early, ANCHOR_TRIALS)
    fut = ex["futility"].sum()
    assert abs(g["p_stop_futility"] - fut) < _mc_tol(fut, ANCHOR_TRIALS) + 1e-12
    # under the null: stopping for futility at the first look (z < 0 about half the time)
    null = trials[(trials["design"] == design) & (trials["scenario"] == "null")]
    ex0 = _exact(anchor, design, "null")
    first = ex0["futility"][0]
    got = ((null["stage"] == 1) & null["stop_futility"]).mean()
    assert abs(got - first) < _mc_tol(first, ANCHOR_TRIALS) + 1e-12
    # the H0 columns of operating_characteristics.csv against the exact null values
    early0, fut0 = ex0["reject"][:-1].sum(), ex0["futility"].sum()
    assert abs(g["p_stop_efficacy_h0"] - early0) < _mc_tol(early0, ANCHOR_TRIALS) + 1e-12
    assert abs(g["p_stop_futility_h0"] - fut0) < _mc_tol(fut0, ANCHOR_TRIALS) + 1e-12
    assert g["early_stop_h0"] == pytest.approx(g["p_stop_efficacy_h0"] + g["p_stop_futility_h0"])
    if design != "asOF3":  # with a futility rule, H0 trials stop early far more often
        assert g["early_stop_h0"] > g["early_stop"]


def test_interim_looks_stop_early_and_futility_is_conservative(anchor):
    cfg, _, trials, oc = anchor
    assert oc.loc["asOF3", "p_stop_efficacy"] > 0.05
    assert oc.loc["asOF3", "expected_n"] < ANCHOR_N  # some trials stop before accrual ends
    assert oc.loc["asOF3_futility", "p_stop_futility"] > 0.0
    assert oc.loc["asOF3_bsOF", "p_stop_futility"] > 0.01
    # non-binding futility on the same efficacy boundaries (same looks) can only remove
    # rejections: trial by trial (the designs analyse the same trials), in both scenarios
    key = ["scenario", "trial"]
    a = trials[trials["design"] == "asOF3"].set_index(key)["reject"]
    b = trials[trials["design"] == "asOF3_bsOF"].set_index(key)["reject"].loc[a.index]
    assert not (b & ~a).any() and (a & ~b).any()


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


@pytest.mark.parametrize("name", ["pd1_vs_soc", "single_arm_il7", "platform", "simon_il7"])
def test_trial_designs_compose_as_written(name):
    """Every value of conf/trial/<name>.yaml arrives in the composed config unchanged."""
    from dataclasses import asdict
    from pathlib import Path

    from omegaconf import OmegaConf

    cfg = load_config(["+experiment=trial_sizing", f"trial={name}"])
    path = Path(__file__).resolve().parent.parent / "conf" / "trial" / f"{name}.yaml"
    raw = OmegaConf.to_container(OmegaConf.load(path))
    composed = asdict(cfg.trial)

    def differ(a, b, where):
        if isinstance(a, dict):
            return [d for k, v in a.items() for d in differ(v, b[k], f"{where}.{k}")]
        return [] if a == b else [f"{where}: {a!r} -> {b!r}"]

    assert differ(raw, composed, "trial") == []
    assert list(cfg.trial.designs) == list(raw["designs"])


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
    for d in ("cmh", "km_strat", "logrank_strat", "chi2", "logrank"):
        z = null.loc[null["design"] == d, "z"]
        sd = z.std()
        # SE of a sample sd: sd sqrt((excess kurtosis + 2) / (4 n)), kurtosis from the sample
        se_sd = sd * math.sqrt((z.kurt() + 2.0) / (4 * len(z)))
        if d in ("cmh", "km_strat", "logrank_strat"):
            assert abs(sd - 1) < K_SE * se_sd, (d, sd, se_sd)
        else:
            assert sd < 1 - K_SE * se_sd, (d, sd, se_sd)


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
    (superpopulation) values within 4 MC SEs (the between-trial sd of the estimates
    over sqrt(trials)): the endpoint wiring reads the right outcomes for the right arm
    (stratified blocks)."""
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
    for col, p in (("estimate_e", sp["p_e"]), ("estimate_c", sp["p_c"])):
        # trials are independent draws from the pool: the SE of the mean estimate is
        # the between-trial sd over sqrt(trials) (whatever censoring does to each)
        m, se = alt[col].mean(), alt[col].std(ddof=1) / math.sqrt(len(alt))
        assert abs(m - p) < 4 * se, (col, m, p, se)


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
    cc, km = alt.loc["cc", "estimate_c"], alt.loc["km", "estimate_c"]
    se_cc, se_km = (x.std(ddof=1) / math.sqrt(len(x)) for x in (cc, km))  # between trials
    assert cc.mean() < p_c - 4 * se_cc  # biased down
    assert abs(km.mean() - p_c) < 4 * se_km
    assert km.mean() - cc.mean() > 4 * math.hypot(se_cc, se_km)


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
            "trial.sizing.n=[150]",  # power ~0.4 at the pool's p_e ~0.47 vs p0 0.4
            f"trial.sizing.trials={trials_n}",
            "trial.eligibility.max_baseline_mrs=5",  # the whole referral mix (see BASE)
            "output.progress=false",
        ]
    )
    spec, trials, oc = run_sizing(cfg)
    alt = trials[trials["scenario"] == "alternative"]
    assert (alt["n_analysed_c"] == 0).all()  # one arm
    assert (alt["estimate_c"] == cfg.trial.historical.survival_1y).all()
    # the success probability of an analysed (complete-case) patient: with dropout,
    # below the pool's p_e (tests/test_trial_sizing.py checks it against the trials)
    p_e, p0, a = superpopulation(spec, "survival_1y")["p_e_analysed"], 0.4, cfg.trial.alpha
    assert cfg.trial.historical.survival_1y == p0

    def exact_power(m: int) -> float:
        k = np.arange(m + 1)
        crit = k[binom.sf(k - 1, m, p0) <= a].min()  # smallest significant count
        return float(binom.sf(crit - 1, m, p_e))

    expected = np.mean([exact_power(int(m)) for m in alt["n_analysed_e"]])
    assert 0.2 < expected < 0.95
    assert abs(oc["power"].iloc[0] - expected) < _mc_tol(expected, trials_n)
    # analytic_power is this exact power (it was the normal approximation, then the
    # exact power at the pool's p_e)
    assert oc["analytic_power"].iloc[0] == pytest.approx(expected, rel=1e-9)
