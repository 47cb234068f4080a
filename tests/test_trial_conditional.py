"""Conditional power at an interim and promising-zone sample-size re-estimation
(sim/trial/conditional.py).

References: a direct Monte Carlo of the B-value process (Brownian motion on the
information scale, simulated here from its normal increments, not through the
module's formulas), the recursive-integration boundaries of sim.trial.boundaries
(themselves checked against rpact), and, in simulated trials, the nominal level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.trial import conditional
from sim.trial.boundaries import crossing_probabilities, efficacy_bounds

K_SE = 4.0
DRAWS = 400_000


def _bvalue_cp(z, t, fractions, bounds, theta, seed=1):
    """Monte Carlo: continue the B-value B(s) = Z_s sqrt(s) from B(t) = z sqrt(t) with
    independent N(theta ds, ds) increments; the share of paths with some later
    B(t_j) >= c_j sqrt(t_j)."""
    gen = np.random.default_rng(seed)
    b = np.full(DRAWS, z * math.sqrt(t))
    crossed = np.zeros(DRAWS, bool)
    s = t
    for f, c in zip(fractions, bounds, strict=True):
        ds = f - s
        b = b + gen.normal(theta * ds, math.sqrt(ds), DRAWS)
        crossed |= b >= c * math.sqrt(f)
        s = f
    return crossed.mean()


@pytest.mark.parametrize(
    ("z", "t", "theta"),
    [(1.0, 0.5, 2.8), (0.3, 0.33, 0.0), (2.0, 0.75, 1.0), (-0.5, 0.5, 3.5)],
)
def test_closed_form_matches_the_b_value_process(z, t, theta):
    c = 1.96
    cp = conditional.conditional_power(z, t, [1.0], [c], theta)
    mc = _bvalue_cp(z, t, [1.0], [c], theta)
    assert abs(cp - mc) < K_SE * math.sqrt(cp * (1 - cp) / DRAWS) + 1e-12
    # and the textbook form (Lan & Wittes 1988), written out
    assert cp == pytest.approx(norm.sf((c - z * math.sqrt(t) - theta * (1 - t)) / math.sqrt(1 - t)))


def test_several_later_looks_match_the_b_value_process():
    fr = [0.33, 0.67, 1.0]
    c = efficacy_bounds(fr, 0.025, "asOF")
    for z, theta in [(1.2, 2.5), (0.0, 0.0), (2.0, 1.0)]:
        cp = conditional.conditional_power(z, fr[0], fr[1:], c[1:], theta)
        mc = _bvalue_cp(z, fr[0], fr[1:], c[1:], theta)
        assert abs(cp - mc) < K_SE * math.sqrt(cp * (1 - cp) / DRAWS) + 1e-12


def test_conditional_power_averages_to_the_design_power():
    """E[CP(theta) at the interim, over Z_t] = P(reject at a later look, no early stop)
    + P(early rejection) x 1 ... so E over continuing paths of CP equals the later
    looks' crossing probability (tower property)."""
    fr = [0.5, 1.0]
    c = efficacy_bounds(fr, 0.025, "asOF")
    theta = 2.8
    up, _ = crossing_probabilities(fr, c, theta)
    z = np.linspace(-8, c[0], 20001)
    dens = norm.pdf(z - theta * math.sqrt(fr[0]))
    cp = np.array([conditional.conditional_power(x, fr[0], fr[1:], c[1:], theta) for x in z])
    assert np.trapezoid(cp * dens, z) == pytest.approx(up[1], abs=1e-6)


def test_trend_cp_is_chw_power_at_the_planned_n_and_the_zone_reaches_its_target():
    t1, c = 0.5, 2.0
    for z1 in (0.5, 1.0, 1.5):
        trend = conditional.trend_drift(z1, t1)
        cp = conditional.conditional_power(z1, t1, [1.0], [c], trend)
        assert conditional.chw_power(z1, t1, c, 1.0, trend) == pytest.approx(cp)
        got, f = conditional.promising_zone_factor(z1, t1, c, 0.1, 0.8, 10.0)
        assert got == pytest.approx(cp)
        if 0.1 <= cp < 0.8:
            assert f > 1.0
            assert conditional.chw_power(z1, t1, c, f, trend) == pytest.approx(0.8)
        else:
            assert f == 1.0
    _, f = conditional.promising_zone_factor(0.5, t1, c, 0.01, 0.8, 1.5)
    assert f == 1.5  # capped


def _ssr_monte_carlo(t1, c1, c2, theta, cp_min, cp_target, cap, statistic, fut, seed=2):
    """Direct simulation of a two-stage trial with re-estimation: Z_1 ~ N(theta
    sqrt(t1), 1); stage 2's z of the new patients ~ N(theta sqrt(f - t1), 1)."""
    gen = np.random.default_rng(seed)
    z1 = gen.normal(theta * math.sqrt(t1), 1.0, DRAWS)
    z2 = gen.normal(0.0, 1.0, DRAWS)
    f = conditional.promising_zone_factors(z1, t1, c2, cp_min, cp_target, cap)[1]
    z2 = z2 + theta * np.sqrt(f - t1)
    if statistic == "chw":
        final = math.sqrt(t1) * z1 + math.sqrt(1 - t1) * z2
    else:
        final = (math.sqrt(t1) * z1 + np.sqrt(f - t1) * z2) / np.sqrt(f)
    go_on = (z1 < c1) & (z1 >= fut)
    return float(((z1 >= c1) | (go_on & (final >= c2))).mean())


@pytest.mark.parametrize("statistic", ["chw", "naive"])
@pytest.mark.parametrize("theta", [0.0, 2.5])
def test_ssr_rejection_matches_a_direct_simulation(statistic, theta):
    fr = [0.5, 1.0]
    c1, c2 = efficacy_bounds(fr, 0.025, "asOF")
    args = (0.5, c1, c2, theta, 0.01, 0.8, 4.0, statistic)
    exact = conditional.ssr_rejection(*args, futility_z=-1.0)["reject"]
    mc = _ssr_monte_carlo(*args, -1.0)
    assert abs(exact - mc) < K_SE * math.sqrt(exact * (1 - exact) / DRAWS)


def test_chw_keeps_alpha_and_the_naive_statistic_inflates_it():
    fr = [0.5, 1.0]
    c1, c2 = efficacy_bounds(fr, 0.025, "asOF")
    chw = conditional.ssr_rejection(0.5, c1, c2, 0.0, 0.01, 0.8, 4.0, "chw")
    naive = conditional.ssr_rejection(0.5, c1, c2, 0.0, 0.01, 0.8, 4.0, "naive")
    assert chw["reject"] == pytest.approx(0.025, abs=2e-6)
    assert naive["reject"] > 0.027  # Chen, DeMets & Lan 2004: raising n at CP < 0.5
    # raising n only where CP >= 0.5 does not inflate the naive test
    high = conditional.ssr_rejection(0.5, c1, c2, 0.0, 0.5, 0.8, 4.0, "naive")
    assert high["reject"] <= 0.025


# ------------------------------------------------------------ simulated trials

SSR_TRIALS = 2400
SSR_RUN = [
    "+experiment=trial_sizing",
    "trial=ssr_pd1",
    "trial.pool_per_arm=6000",
    f"trial.sizing.trials={SSR_TRIALS}",
    "trial.sizing.n=[120]",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def ssr_run():
    cfg = load_config(SSR_RUN)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def test_chw_type_one_error_is_nominal_in_simulated_trials(ssr_run):
    cfg, _, _, oc = ssr_run
    d = cfg.trial.designs["ssr_chw_survival_1y"]
    fr = list(d.information_rates)
    c1, c2 = efficacy_bounds(fr, cfg.trial.alpha, d.type_of_design)
    # the level of the design with its non-binding futility stop (z < 0) applied
    ref = conditional.ssr_rejection(fr[0], c1, c2, 0.0, d.ssr_cp_min, d.ssr_cp_target,
                                    d.ssr_max_factor, "chw", futility_z=d.futility_z)  # fmt: skip
    assert ref["reject"] == pytest.approx(
        float(crossing_probabilities(fr, [c1, c2], 0.0, [0.0, -np.inf])[0].sum()), abs=1e-5
    )
    row = oc.set_index("design").loc["ssr_chw_survival_1y"]
    se = math.sqrt(ref["reject"] * (1 - ref["reject"]) / SSR_TRIALS)
    assert abs(row["type1_error"] - ref["reject"]) < K_SE * se
    assert row["p_ssr_increase_h0"] > 0.05  # the rule did act under the null


def test_simulated_trials_apply_the_promising_zone_rule(ssr_run):
    cfg, _, trials, _ = ssr_run
    d = cfg.trial.designs["ssr_chw_survival_1y"]
    t1 = d.information_rates[0]
    c2 = efficacy_bounds(d.information_rates, cfg.trial.alpha, d.type_of_design)[1]
    g = trials[(trials["design"] == "ssr_chw_survival_1y") & trials["cp_trend"].notna()]
    cont = g[g["ssr_factor"].notna()]
    assert len(cont) > 100
    # back from CP under the trend to the interim z: CP = Phi((z/sqrt(t1) - c) / sqrt(1-t1))
    z1 = (c2 + math.sqrt(1 - t1) * norm.ppf(cont["cp_trend"].to_numpy())) * math.sqrt(t1)
    f = conditional.promising_zone_factors(z1, t1, c2, d.ssr_cp_min, d.ssr_cp_target,
                                           d.ssr_max_factor)[1]  # fmt: skip
    assert np.allclose(cont["ssr_factor"], f, rtol=1e-6)
    raised = f > 1
    expect = np.minimum(np.ceil(120 * f - 1e-9), math.floor(120 * d.ssr_max_factor))
    assert np.array_equal(cont["ssr_n"].to_numpy()[raised], expect[raised])
    assert (cont["ssr_n"].to_numpy()[~raised] == 120).all()
    # trials whose n was raised randomised more than 120 patients (unless capped)
    assert (cont["n_randomised"].to_numpy()[raised] > 120).mean() > 0.9
    # the first 120 patients are those of the design without re-estimation (same
    # trials): same interim conditional power
    ref = trials[trials["design"] == "asOF2_survival_1y"].set_index(["scenario", "trial"])
    mine = g.set_index(["scenario", "trial"])
    assert np.allclose(mine["cp_trend"], ref.loc[mine.index, "cp_trend"])


def test_ssr_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="ssr_pd1|trial.designs.ssr_chw_survival_1y.ssr"):
        load_config(SSR_RUN + ["trial.designs.ssr_chw_survival_1y.information_rates=[0.3,0.6,1.0]"])
    with pytest.raises(ConfigError, match="ssr_max_factor"):
        load_config(SSR_RUN + ["trial.designs.ssr_chw_survival_1y.ssr_max_factor=0.5"])
    with pytest.raises(ConfigError, match="ssr_statistic"):
        load_config(SSR_RUN + ["trial.designs.ssr_chw_survival_1y.ssr_statistic=bogus"])
    with pytest.raises(ConfigError, match="ssr_cp_target"):
        load_config(SSR_RUN + ["trial.designs.ssr_chw_survival_1y.ssr_cp_target=0.05"])
