"""Event-driven time-to-event designs (analysis: events), Schoenfeld sizing with
accrual and dropout (sim.trial.survival_sizing) and the RMST secondary analysis
(sim.trial.rmst).

References: Schoenfeld's formula written out (HR 0.7, 1:1, one-sided 0.025, 80%: the
textbook 247 deaths), the event probability by numerical integration over entry
times, a Kaplan-Meier area computed by hand, and simulated power at the target deaths
under an assumed proportional-hazards effect against Schoenfeld's power (R/rpact is
not available here; the closed forms are those of rpact's getSampleSizeSurvival).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from sim.api import load_config
from sim.app.tasks.trial import run_sizing
from sim.config.schema import ConfigError
from sim.trial.rmst import rmst, rmst_difference
from sim.trial.sizing import sizing_markdown, superpopulation, target_events
from sim.trial.survival_sizing import (
    event_probability,
    hazard_from_survival,
    sample_size_survival,
    schoenfeld_events,
)

K_SE = 3.5


def test_schoenfeld_events_is_the_textbook_number():
    d = schoenfeld_events(0.7, 0.025, 0.2, 0.5)
    assert math.ceil(d) == 247
    assert d == pytest.approx(4 * (1.959964 + 0.841621) ** 2 / math.log(0.7) ** 2, rel=1e-6)
    # 2:1 allocation: r (1 - r) = 2/9 instead of 1/4
    assert schoenfeld_events(0.7, 0.025, 0.2, 2 / 3) == pytest.approx(d * (1 / 4) / (2 / 9))
    with pytest.raises(ValueError, match="hazard ratio"):
        schoenfeld_events(1.0, 0.025, 0.2, 0.5)


@pytest.mark.parametrize(("lam", "eta", "a", "f"), [(0.05, 0.0, 24, 12), (0.03, 0.004, 36, 6)])
def test_event_probability_integrates_over_uniform_entry(lam, eta, a, f):
    h = lam + eta
    integrand = lambda u: lam / h * (1 - math.exp(-h * (a + f - u))) / a  # noqa: E731
    assert event_probability(lam, eta, a, f) == pytest.approx(quad(integrand, 0, a)[0], rel=1e-9)
    assert event_probability(lam, eta, 0.0, f) == pytest.approx(lam / h * (1 - math.exp(-h * f)))


def test_sample_size_is_events_over_the_mean_event_probability():
    lam_c = hazard_from_survival(0.5, 12.0)  # median 12 months
    assert lam_c == pytest.approx(math.log(2) / 12)
    eta = -math.log(1 - 0.05) / 12  # rpact: dropoutRate 0.05 per dropoutTime 12
    s = sample_size_survival(0.7, lam_c, 24.0, 12.0, eta, 0.025, 0.2, 0.5)
    p = 0.5 * event_probability(0.7 * lam_c, eta, 24, 12) + 0.5 * event_probability(
        lam_c, eta, 24, 12
    )
    assert s.p_event == pytest.approx(p) and s.patients == pytest.approx(s.events / p)
    assert 0.5 < p < 0.8  # most die within 12-36 months of a median-12 disease


def test_rmst_is_the_area_under_a_hand_computed_km_curve():
    time = np.array([2.0, 3.0, 3.0, 5.0, 7.0, 8.0])
    event = np.array([1, 1, 0, 1, 0, 1], dtype=bool)
    # KM: 1 on [0, 2), 5/6 on [2, 3), 5/6 x 4/5 = 2/3 on [3, 5), 2/3 x 2/3 = 4/9 on [5, 6)
    area = 1 * 2 + 5 / 6 * 1 + 2 / 3 * 2 + 4 / 9 * 1
    tails = [5 / 6 + 2 / 3 * 2 + 4 / 9, 2 / 3 * 2 + 4 / 9, 4 / 9]  # area from t_i to 6
    var = tails[0] ** 2 / (6 * 5) + tails[1] ** 2 / (5 * 4) + tails[2] ** 2 / (3 * 2)
    m, v = rmst(time, event, 6.0)
    assert m == pytest.approx(area, abs=1e-12) and v == pytest.approx(var, abs=1e-12)
    assert rmst(time, np.zeros(6, bool), 6.0) == (6.0, 0.0)  # no deaths: tau, no variance


def test_rmst_difference_cuts_tau_and_signs_the_z():
    rng = np.random.default_rng(3)
    t_e, t_c = rng.exponential(20, 300), rng.exponential(10, 300)
    time = np.minimum(np.r_[t_e, t_c], 15.0)
    event = np.r_[t_e, t_c] <= 15.0
    arm = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    r, tau = rmst_difference(time, event, arm, 30.0)
    assert tau == 15.0  # beyond the last follow-up the curves are unknown
    # exponential RMST up to 15: mu (1 - e^(-15/mu)); SE of the difference ~0.5
    truth = 20 * (1 - math.exp(-15 / 20)) - 10 * (1 - math.exp(-15 / 10))
    assert abs(r.estimate - truth) < K_SE * 0.5
    assert r.z > 3 and r.p == pytest.approx(norm.sf(r.z))


# ------------------------------------------------------------------ end to end

TRIALS = 300
ASSUMED = [
    "+experiment=trial_sizing",
    "trial=event_driven_pd1",
    f"trial.sizing.trials={TRIALS}",
    "trial.sizing.chunk_trials=150",
    "trial.sizing.n=[700]",
    "trial.accrual.sites=80",
    "trial.effect.kind=assumed",
    "trial.effect.hazard_ratio=0.7",
    # every baseline mRS eligible (a third are mRS 5 since the 2026-12-06 mRS fit): 700
    # patients of the whole referral mix give every trial its planned deaths
    "trial.eligibility.max_baseline_mrs=5",
    "trial.designs.events_logrank.stratified=false",
    "trial.designs.events_asOF2_logrank.stratified=false",
    "trial.designs.followup_logrank.stratified=false",
    "trial.designs.events_maxcombo.stratified=false",
    "trial.designs.events_asOF2_maxcombo.stratified=false",
    "output.progress=false",
]


@pytest.fixture(scope="module")
def assumed_run():
    cfg = load_config(ASSUMED)
    spec, trials, oc = run_sizing(cfg)
    return cfg, spec, trials, oc


def test_event_driven_analysis_comes_at_schoenfelds_deaths(assumed_run):
    cfg, spec, trials, oc = assumed_run
    hr = superpopulation(spec, "time_to_death")["hr"]
    assert hr == pytest.approx(0.7, abs=0.02)  # the pool's one-step HR of the assumed effect
    d = math.ceil(schoenfeld_events(hr, cfg.trial.alpha, 0.2, 0.5))
    assert target_events(spec) == {
        "events_logrank": d, "events_asOF2_logrank": d, "events_maxcombo": d,
        "events_asOF2_maxcombo": d,
    }  # fmt: skip
    ev = trials[trials["design"] == "events_logrank"]
    fu = trials[trials["design"] == "followup_logrank"]
    assert (ev["deaths"] == d).all()  # 700 patients: every trial observes d deaths
    assert (ev["duration_months"].to_numpy() <= fu["duration_months"].to_numpy()).all()
    row = oc[oc["design"] == "events_logrank"].iloc[0]
    assert row["p_events_reached"] == 1.0 and row["target_events"] == d
    assert f"events_logrank: {d} (Schoenfeld 1983 for HR {hr:.3f}" in sizing_markdown(oc, spec)
    # power at d deaths under proportional hazards: Schoenfeld's 1 - beta (unrounded d)
    schoenfeld = norm.cdf(math.sqrt(d * 0.25) * -math.log(hr) - norm.isf(cfg.trial.alpha))
    se = math.sqrt(schoenfeld * (1 - schoenfeld) / TRIALS)
    assert abs(row["power"] - schoenfeld) < K_SE * se, (row["power"], schoenfeld)
    t1_se = math.sqrt(0.025 * 0.975 / TRIALS)
    assert abs(row["type1_error"] - cfg.trial.alpha) < K_SE * t1_se
    # the group-sequential version stops at its interim in some trials, with fewer deaths
    gs = trials[(trials["design"] == "events_asOF2_logrank") & (trials["stage"] == 1)]
    assert len(gs) and (gs["deaths"] < d).all()


def test_maxcombo_holds_alpha_and_is_analysed_at_the_same_deaths(assumed_run):
    """Under proportional hazards MaxCombo keeps its level and loses a little power to
    the log-rank test it contains (same trials, same deaths)."""
    cfg, spec, trials, oc = assumed_run
    mc = trials[trials["design"] == "events_maxcombo"]
    lr = trials[trials["design"] == "events_logrank"]
    assert (mc["deaths"].to_numpy() == lr["deaths"].to_numpy()).all()
    assert np.allclose(mc["estimate"].to_numpy(), lr["estimate"].to_numpy())  # log-rank HR
    row = oc[oc["design"] == "events_maxcombo"].iloc[0]
    t1_se = math.sqrt(0.025 * 0.975 / TRIALS)
    assert abs(row["type1_error"] - cfg.trial.alpha) < K_SE * t1_se
    assert math.isnan(row["analytic_power"])  # Schoenfeld's formula is the log-rank test's
    lr_row = oc[oc["design"] == "events_logrank"].iloc[0]
    diff = (mc["reject"].to_numpy() != lr["reject"].to_numpy()).mean()
    assert row["power"] <= lr_row["power"] + K_SE * math.sqrt(diff / TRIALS)
    # log-rank designs carry the estimation columns; MaxCombo does not
    assert lr["hr_rci_lower"].notna().all() and mc["hr_rci_lower"].isna().all()
    assert math.isnan(row["rci_coverage_h0"])
    # under H0 the true HR is 1 exactly: one look, so the RCI and the stage-wise interval
    # are the fixed-sample 95% interval and cover it in 95% of trials; with the interim
    # (asOF2) the stage-wise interval too
    cov_se = math.sqrt(0.95 * 0.05 / TRIALS)
    gs_row = oc[oc["design"] == "events_asOF2_logrank"].iloc[0]
    for r, col in [(lr_row, "rci_coverage_h0"), (lr_row, "adjusted_ci_coverage_h0"),
                   (gs_row, "adjusted_ci_coverage_h0")]:  # fmt: skip
        assert abs(r[col] - 0.95) < K_SE * cov_se, (col, r[col])
    assert gs_row["rci_coverage_h0"] >= 0.95 - K_SE * cov_se


def test_group_sequential_maxcombo_holds_alpha_end_to_end(assumed_run):
    """events_asOF2_maxcombo (sim/trial/gs_maxcombo.py) under proportional hazards: type
    I error within MC error of alpha; its interim comes at half the deaths with the
    asOF critical z Phi^-1(1 - alpha(0.5)); it stops early for efficacy under H1 and
    for futility (every FH z < 0) under H0; it reports no log-rank estimation columns
    and no conditional power (its z is not a Brownian motion's), and its power is the
    one-look MaxCombo's within MC error of their paired difference."""
    cfg, spec, trials, oc = assumed_run
    gs = trials[trials["design"] == "events_asOF2_maxcombo"]
    one = trials[trials["design"] == "events_maxcombo"]
    row = oc[oc["design"] == "events_asOF2_maxcombo"].iloc[0]
    t1_se = math.sqrt(0.025 * 0.975 / TRIALS)
    assert abs(row["type1_error"] - cfg.trial.alpha) < K_SE * t1_se
    d = target_events(spec)["events_asOF2_maxcombo"]
    first = gs[gs["stage"] == 1]
    assert len(first) and (first["deaths"] <= math.ceil(0.5 * d)).all()
    a1 = 2 * norm.sf(norm.isf(cfg.trial.alpha / 2) / math.sqrt(0.5))  # asOF at t = 0.5
    assert np.allclose(first["critical_z"], norm.isf(a1))
    assert row["p_stop_efficacy"] > 0.05 and row["p_stop_futility_h0"] > 0.2
    assert gs["hr_rci_lower"].isna().all() and math.isnan(row["rci_coverage"])
    assert gs["cp_trend"].isna().all()
    diff = (gs["reject"].to_numpy() != one["reject"].to_numpy()).mean()
    one_row = oc[oc["design"] == "events_maxcombo"].iloc[0]
    assert abs(row["power"] - one_row["power"]) < K_SE * math.sqrt(diff / TRIALS) + 1e-12


def test_rmst_secondary_holds_alpha_and_sees_the_effect(assumed_run):
    cfg, spec, trials, oc = assumed_run
    row = oc[oc["design"] == "events_logrank"].iloc[0]
    t1_se = math.sqrt(0.025 * 0.975 / TRIALS)
    assert abs(row["rmst_type1_error"] - cfg.trial.alpha) < K_SE * t1_se
    assert row["rmst_power"] > 0.5 and row["rmst_difference"] > 0  # HR 0.7: longer survival
    ev = trials[trials["design"] == "events_logrank"]
    assert (ev["rmst_tau_days"] <= 365.0).all() and ev["rmst_z"].notna().all()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trial.designs.events_logrank.analysis=deaths", "analysis"),
        ("trial.designs.events_logrank.target_events=0", "target_events"),
        ("trial.designs.followup_logrank.target_events=100", "target_events"),
        ("trial.designs.events_logrank.rmst_tau_days=400", "rmst_tau_days"),
        ("trial.designs.events_logrank.type_beta_spending=bsOF", "analysis"),
    ],
)
def test_bad_event_driven_input_names_the_key(override, key):
    with pytest.raises(ConfigError) as e:
        load_config([*ASSUMED, override])
    assert e.value.key.endswith(key), e.value.key


# ------------------------------------------------ the preset's deaths are reachable

MODEL = ["+experiment=trial_sizing", "trial=event_driven_pd1", "trial.sizing.chunk_trials=40",
         "trial.sizing.trials=40", "output.progress=false"]  # fmt: skip
EVENT_DESIGNS = ("events_logrank", "events_asOF2_logrank", "events_maxcombo",
                 "events_asOF2_maxcombo")  # fmt: skip


def _death_share(spec) -> float:
    """P(death observed within the horizon) of a 1:1 trial patient, from the pool (an
    upper bound of deaths per randomised patient: dropout only lowers it)."""
    o = spec.pool.outcomes
    return 0.5 * sum(float(np.isfinite(o[a].death_day).mean()) for a in o)


def test_preset_grid_has_an_n_that_reaches_the_target_deaths():
    """With the preset's accrual (100 sites, 96-month cap) n = 600 is recruitable and
    observes Schoenfeld's deaths in >= min_p_recruited of the trials (n = 500 did until
    the PD-1 lever came from Cortese 2019 on 2026-12-07: 280 deaths instead of 271); n =
    400, whose expected deaths without dropout are below the target, is flagged where it
    falls short, and a flagged n is never the answer."""
    cfg = load_config([*MODEL, "trial.sizing.n=[400,600]"])
    spec, trials, oc = run_sizing(cfg)
    d = target_events(spec)["events_logrank"]
    assert 600 * _death_share(spec) * 0.95 > d  # reachable on average even with dropout
    min_p = cfg.trial.sizing.min_p_recruited
    for _, r in oc.iterrows():
        if r["design"] in EVENT_DESIGNS:
            assert r["events_reachable"] == (r["p_events_reached"] >= min_p)
        else:
            assert r["events_reachable"]
    at600 = oc[(oc["n"] == 600) & oc["design"].isin(EVENT_DESIGNS)]
    assert at600["recruitable"].all() and at600["events_reachable"].all()
    assert not (oc["smallest_n_reaching_target"] & ~oc["events_reachable"]).any()


def test_a_design_short_of_its_deaths_is_never_the_answer():
    """The preset as it was before 2026-12-07 (60 sites): every recruitable n of that
    grid has fewer expected deaths than the target even without dropout, so no
    event-driven design gets a smallest n, although their simulated power passes the
    target at the end of follow-up; sizing.md says why."""
    cfg = load_config([*MODEL, "trial.accrual.sites=60", "trial.sizing.n=[300,400]"])
    spec, trials, oc = run_sizing(cfg)
    d = target_events(spec)["events_logrank"]
    assert 400 * _death_share(spec) < d  # cannot observe d deaths
    ev = oc[oc["design"].isin(EVENT_DESIGNS)]
    assert ev["recruitable"].all() and not ev["events_reachable"].any()
    assert (ev["p_events_reached"] == 0.0).all()
    assert not ev["smallest_n_reaching_target"].any()
    assert (ev["power"] >= cfg.trial.sizing.target_power).any()  # would have been answered
    md = sizing_markdown(oc, spec)
    assert "Target deaths not reached" in md
    assert "not reached (no n of the grid is recruitable and reaches the target deaths)" in md
