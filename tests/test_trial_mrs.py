"""Ordinal mRS at 12 months (sim.trial.ordinal): the proportional-odds analysis and
Whitehead's sample size, and the mrs_pd1 preset end to end.

References: statsmodels' OrderedModel (the same model fitted by a different
optimiser, on individual records), Whitehead's formula written out and its two-category
special case (the usual log-odds-ratio formula), and a plain simulation of multinomial
outcomes at Whitehead's n (its rejection rate must be the planned power within MC
error).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.trial.ordinal import proportional_odds, shifted, whitehead_drift, whitehead_n
from sim.trial.sizing import sizing_markdown, superpopulation

K_SE = 3.5
P_C = np.array([0.05, 0.15, 0.15, 0.1, 0.1, 0.1, 0.35])  # an mRS 0-6 distribution


def _ordered_model(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(odds ratio of a better outcome, z) from statsmodels (P(Y <= k) = F(cut_k - x b))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        endog = pd.Series(pd.Categorical(y, ordered=True))
        fit = OrderedModel(endog, x, distr="logit").fit(
            method="bfgs", disp=False, maxiter=5000, gtol=1e-10
        )
    b, se = fit.params.iloc[0], fit.bse.iloc[0]
    return math.exp(-b), -b / se


def _table(y, arm, strata, s, k=7):
    t = np.zeros((2, s, k), int)
    np.add.at(t, (1 - arm, strata, y), 1)
    return t[0], t[1]


@pytest.mark.parametrize("stratified", [False, True])
def test_proportional_odds_equals_statsmodels(stratified):
    rng = np.random.default_rng(11)
    n = 300
    arm = rng.integers(0, 2, n)
    strata = rng.integers(0, 3, n) if stratified else np.zeros(n, int)
    latent = rng.logistic(size=n) - 0.6 * arm + np.array([0.0, 0.8, -0.4])[strata]
    y = np.digitize(latent, [-2.0, -1.0, 0.0, 0.5, 1.5, 2.5])
    ce, cc = _table(y, arm, strata, 3 if stratified else 1)
    r = proportional_odds(ce, cc)
    x = arm[:, None].astype(float)
    if stratified:
        x = np.c_[x, strata == 1, strata == 2].astype(float)
    odds, z = _ordered_model(y, x)
    assert r.estimate == pytest.approx(odds, rel=1e-6)
    # expected (here) vs observed (statsmodels) information at the MLE: close, not equal
    assert r.z == pytest.approx(z, rel=0.01)
    assert r.experimental == pytest.approx(y[arm == 1].mean())
    assert r.p == pytest.approx(norm.sf(r.z))


def test_proportional_odds_edge_cases():
    one = np.array([0, 5, 0, 0, 0, 0, 0])
    assert math.isnan(proportional_odds(one, one).estimate)  # one category: no information
    assert math.isnan(proportional_odds(np.zeros(7), one).estimate)  # an empty arm
    # absent categories are dropped: same fit as on the collapsed table
    a, b = np.array([3, 0, 4, 0, 0, 0, 5]), np.array([1, 0, 3, 0, 0, 0, 8])
    c = proportional_odds(a[[0, 2, 6]], b[[0, 2, 6]])
    assert proportional_odds(a, b).estimate == pytest.approx(c.estimate, rel=1e-9)
    # a stratum whose patients all died carries no information on the odds ratio (its
    # effect has no finite MLE): the fit equals the one without it, arm means keep it
    dead = np.array([0, 0, 0, 0, 0, 0, 4])
    full = proportional_odds(np.vstack([a, dead]), np.vstack([b, dead]))
    assert full.estimate == pytest.approx(proportional_odds(a, b).estimate, rel=1e-9)
    assert full.experimental == pytest.approx((a @ np.arange(7) + 24) / (a.sum() + 4))
    # strong separation still converges (likelihood-monotone steps)
    sep = proportional_odds(np.array([9, 1, 0, 0, 0, 0, 0]), np.array([0, 0, 0, 0, 0, 1, 9]))
    assert sep.z > 3 and sep.estimate > 100
    # a sparse stratified table (a stratum with one arm only; a category seen in one
    # stratum) that once made the information matrix singular: a finite score test
    sparse_e = np.array([[0, 2, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 2]])
    sparse_c = np.array([[0, 0, 0, 0, 0, 0, 4], [1, 1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 3]])
    r = proportional_odds(sparse_e, sparse_c)
    assert math.isfinite(r.z) and 0.0 <= r.p <= 1.0


def test_shifted_multiplies_every_cumulative_odds():
    p_e = shifted(P_C, 2.0)
    assert p_e.sum() == pytest.approx(1.0)
    odds = lambda p: np.cumsum(p)[:-1] / (1 - np.cumsum(p)[:-1])  # noqa: E731
    assert odds(p_e) == pytest.approx(2.0 * odds(P_C), rel=1e-12)


def test_whitehead_n_is_the_closed_form():
    z = norm.isf(0.025) + norm.isf(0.2)
    pbar = (shifted(P_C, 2.0) + P_C) / 2
    n = 12 * z**2 / (math.log(2.0) ** 2 * (1 - (pbar**3).sum()))  # Whitehead 1993, 1:1
    assert whitehead_n(P_C, 2.0, 0.025, 0.2, 0.5) == pytest.approx(n, rel=1e-12)
    # two categories: the log-odds-ratio formula, 1 - sum pbar^3 = 3 pbar (1 - pbar)
    p2 = np.array([0.3, 0.7])
    pb = (shifted(p2, 2.0)[0] + 0.3) / 2
    binary = 4 * z**2 / (math.log(2.0) ** 2 * pb * (1 - pb))
    assert whitehead_n(p2, 2.0, 0.025, 0.2, 0.5) == pytest.approx(binary, rel=1e-12)
    drift = whitehead_drift(P_C, 2.0, n, 0.5)
    assert norm.cdf(drift - norm.isf(0.025)) == pytest.approx(0.8, abs=1e-12)


def test_whitehead_n_gives_its_power_in_simulated_trials():
    rng = np.random.default_rng(7)
    n = math.ceil(whitehead_n(P_C, 2.0, 0.025, 0.2, 0.5))
    half = n // 2
    p_e = shifted(P_C, 2.0)
    sims = 1500
    z = np.array(
        [
            proportional_odds(rng.multinomial(n - half, p_e), rng.multinomial(half, P_C)).z
            for _ in range(sims)
        ]
    )
    power = (z >= norm.isf(0.025)).mean()
    assert abs(power - 0.8) < K_SE * math.sqrt(0.16 / sims), power


# ------------------------------------------------------------------ end to end

TRIALS = 300
PRESET = [
    "+experiment=trial_sizing",
    "trial=mrs_pd1",
    f"trial.sizing.trials={TRIALS}",
    "trial.sizing.chunk_trials=150",
    "trial.sizing.n=[150]",
    "output.progress=false",
    # the preset's group-sequential design, made a fixed unstratified one for comparison
    "trial.designs.asOF2_po_mrs_12m.stratified=false",
    "trial.designs.asOF2_po_mrs_12m.type_of_design=none",
    "trial.designs.asOF2_po_mrs_12m.information_rates=[1.0]",
    "trial.designs.asOF2_po_mrs_12m.futility_z=null",
]


@pytest.fixture(scope="module")
def mrs_run():
    cfg = load_config(PRESET)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def test_the_preset_analyses_the_12_month_mrs(mrs_run):
    cfg, spec, trials, oc = mrs_run
    sp = superpopulation(spec, "mrs_12m")
    o = spec.pool.outcomes
    # the pool's mRS: 6 exactly for the patients who died within the horizon
    for arm in ("control", "experimental"):
        assert ((o[arm].mrs == 6) == np.isfinite(o[arm].death_day)).all()
    assert sp["levels_c"][6] == pytest.approx(np.isfinite(o["control"].death_day).mean())
    assert sp["odds_ratio"] > 1.0  # PD-1 blockade: fewer deaths, less disability
    n = whitehead_n(sp["levels_c"], sp["odds_ratio"], cfg.trial.alpha, 0.2, 0.5)
    assert f"Whitehead (1993): {math.ceil(n)} patients" in sizing_markdown(oc, spec)
    alt = trials[(trials["design"] == "fixed_po_mrs_12m") & (trials["scenario"] == "alternative")]
    assert (alt["estimate"] > 0).all() and alt["z"].mean() > 1.0
    assert (alt["n_analysed_e"] + alt["n_analysed_c"] <= 150).all()


def test_stratified_po_holds_alpha_where_unstratified_is_conservative(mrs_run):
    """As for the binary tests (docs/trial.md): after stratified randomisation on a
    strong prognostic factor the unstratified analysis over-states the variance."""
    cfg, spec, trials, oc = mrs_run
    null = trials[trials["scenario"] == "null"]
    sd = {d: null.loc[null["design"] == d, "z"].std() for d in null["design"].unique()}
    se_sd = 1 / math.sqrt(2 * TRIALS)
    assert abs(sd["fixed_po_mrs_12m"] - 1.0) < K_SE * se_sd
    assert sd["asOF2_po_mrs_12m"] < sd["fixed_po_mrs_12m"] - 2 * se_sd  # unstratified here
    row = oc[oc["design"] == "fixed_po_mrs_12m"].iloc[0]
    assert abs(row["type1_error"] - 0.025) < K_SE * math.sqrt(0.025 * 0.975 / TRIALS)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.designs.fixed_po_mrs_12m.test=z", "trial.designs.fixed_po_mrs_12m.test"),
        ("trial.designs.fixed_survival_1y.test=po", "trial.designs.fixed_survival_1y.test"),
        ("trial.effect.kind=assumed", "trial.effect.kind"),
        ("horizon_days=400", "horizon_days"),
    ],
)
def test_bad_mrs_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config([*PRESET, override])
    assert e.value.key == key
