"""Mechanisms of the within-host model, checked against closed forms and directions."""

import numpy as np
import pytest

from sim.api import load_config
from sim.core import rng
from sim.model import cohort
from sim.model.course import Course
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog
from sim.outcomes.survival import kaplan_meier, survival_at


def _course(overrides, n=400):
    cfg = load_config([*overrides, f"cohort.n={n}", "output.progress=false"])
    key = rng.run_key(cfg.seed)
    cat = Catalog.build(cfg.therapies)
    (name,) = cfg.strategy
    comp = compile_strategy(cfg.strategy[name], cfg.model, cat)
    pts = cohort.build(key, cfg.cohort, cfg.model, np.arange(n))
    return Course(pts, comp, cat, cfg.model, cfg.monitoring, key), cfg


def _km1y(pts):
    km = kaplan_meier(pts.time_days.to_numpy(), pts.died.to_numpy())
    return survival_at(km, 365.0)


def test_without_immune_recovery_jcv_keeps_growing():
    # coupling 1: every diagnosed patient's virus is matched to its own killing, so all
    # progress (below 1 some start under control: tests/test_growth_coupling.py)
    c, cfg = _course(
        [
            "cohort=primary_immunodeficiency",
            "strategy=no_treatment",
            "model.viral_growth_coupling=1",
        ]
    )
    jcv0, dmg0, cd4_0 = c.state.jcv.copy(), c.state.damage.copy(), c.state.cd4.copy()
    c.advance(42.0)
    a = c.state.alive  # a dead patient's state stays as it was at death
    assert a.mean() > 0.5
    # no lever moves: CD4 stays at baseline, the effector response stays at equilibrium
    np.testing.assert_allclose(c.state.cd4, cd4_0)
    net = c.patients.growth - c.patients.kill * c.state.effector
    # every diagnosed patient progresses, and without a change in immunity keeps doing so
    assert np.all(net > 0)
    expected = np.minimum(jcv0 + 42.0 * net, cfg.model.jcv_max_log10)
    np.testing.assert_allclose(c.state.jcv[a], expected[a], atol=1e-9)
    assert np.all(c.state.damage >= dmg0)


def test_art_restores_cd4_to_closed_form():
    # CD4(t) = S + (C0 - S) exp(-k t) with S = C0 + r(t) (ceiling - C0); ART ramps r
    # over 14 days, so after the ramp the gap shrinks exactly by exp(-k dt) per day
    c, _ = _course(["cohort=hiv", "strategy=soc"], n=200)
    c.advance(20.0)
    gap20 = c.patients.cd4_ceiling - c.state.cd4
    c.advance(120.0)
    gap120 = c.patients.cd4_ceiling - c.state.cd4
    a = c.state.alive  # a dead patient's state stays as it was at death
    assert a.mean() > 0.5
    closed = gap20 * np.exp(-c.patients.recovery_rate * 100.0)
    np.testing.assert_allclose(gap120[a], closed[a], rtol=1e-9)
    room = c.patients.cd4_ceiling > c.patients.cd4_0
    assert room.mean() > 0.9
    assert np.all(c.state.cd4[room] > c.patients.cd4_0[room])
    np.testing.assert_allclose(c.state.cd4[~room], c.patients.cd4_0[~room])


def test_art_improves_hiv_survival(run):
    pts, _, _ = run("cohort=hiv", "cohort.n=1500", "strategy=[soc,no_treatment]")
    s_soc, lo_soc, _ = _km1y(pts[pts.strategy == "soc"])
    s_none, _, hi_none = _km1y(pts[pts.strategy == "no_treatment"])
    assert lo_soc > hi_none  # 95% CIs do not overlap
    assert s_soc - s_none > 0.15


def test_rhil7_expands_cd4_as_specified():
    # PID patients have no cause to remove (ceiling = baseline); with the homeostatic
    # pull back to baseline switched off, CD4 follows the logistic closed form
    # C(t) = K / (1 + (K / C0 - 1) exp(-g rho * integral of the ramp)), rho = responsiveness
    frozen = "model.conditions.primary_immunodeficiency.recovery_half_life_days=1e12"
    c, cfg = _course(["cohort=primary_immunodeficiency", "strategy=il7", frozen], n=100)
    g = cfg.therapies["rhil7"].levers["lymphocyte_expansion_per_day"]
    onset = cfg.therapies["rhil7"].onset_days
    k = cfg.model.cd4_max
    c.advance(28.0)
    ramp_integral = 28.0 - onset / 2.0  # linear ramp over `onset` days, then 1
    growth = np.exp(-g * c.patients.cytokine_response * ramp_integral)
    expected = k / (1.0 + (k / c.patients.cd4_0 - 1.0) * growth)
    a = c.state.alive  # a dead patient's state stays as it was at death
    assert a.mean() > 0.5
    np.testing.assert_allclose(c.state.cd4[a], expected[a], rtol=1e-6)
    assert (c.state.cd4 < k).all()


def test_cytokine_responsiveness_has_the_configured_spread():
    c, cfg = _course(["cohort=mixed_seed000", "strategy=il7"], n=4000)
    log_rho = np.log(c.patients.cytokine_response)
    sd = np.log(cfg.model.cytokine_response_gsd)
    n = len(log_rho)
    assert abs(log_rho.mean()) < 4 * sd / np.sqrt(n)
    assert abs(log_rho.std() / sd - 1.0) < 4 / np.sqrt(2 * n)


def test_plex_clears_natalizumab_as_khatri():
    # 3 sessions remove 92% (Khatri 2009) on top of the 11-day half-life washout
    c, cfg = _course(["cohort=natalizumab_ms", "strategy=soc"], n=50)
    c.advance(6.0)  # sessions on days 0, 2, 4 (+ 6 days of washout)
    removal = cfg.therapies["plex"].levers["drug_removal_per_dose"]
    expected = (1 - removal) ** 3 * 0.5 ** (6.0 / cfg.model.natalizumab_half_life_days)
    a = c.state.alive  # a dead patient's state stays as it was at death
    assert a.mean() > 0.5
    np.testing.assert_allclose(c.state.natalizumab[a], expected, rtol=1e-9)
    assert (1 - removal) ** 3 == pytest.approx(0.08, abs=0.005)


def test_plex_brings_iris_earlier_than_washout_alone(run):
    no_plex = (
        "model.conditions.natalizumab_ms.soc_therapies=[natalizumab_withdrawal,supportive_care]"
    )
    pts, _, _ = run("cohort=natalizumab_ms", "cohort.n=800", "strategy=soc")
    pts2, _, _ = run("cohort=natalizumab_ms", "cohort.n=800", "strategy=soc", no_plex)
    with_plex = pts.iris_onset_days.dropna()
    without = pts2.iris_onset_days.dropna()
    assert with_plex.median() < without.median() - 7.0


def test_iris_needs_immune_recovery(run):
    pts, _, _ = run("cohort=mixed_seed000", "cohort.n=1000", "strategy=[no_treatment,soc]")
    none = pts[pts.strategy == "no_treatment"]
    soc = pts[pts.strategy == "soc"]
    # untreated, nothing changes in the immune system: no IRIS at all
    assert none.iris.sum() == 0
    assert soc.iris.mean() > 0.05


def test_steroids_trade_iris_damage_for_slower_clearance(run):
    # natalizumab withdrawal without plasma exchange: IRIS comes after ~6 weeks, once the
    # drug has washed out, so a course started at diagnosis can act on it (with PLEX and
    # the TOFINGO-fitted receptor desaturation every patient's IRIS starts within ~5 days,
    # before a steroid course can change anything)
    no_plex = (
        "model.conditions.natalizumab_ms.soc_therapies=[natalizumab_withdrawal,supportive_care]"
    )
    strategies = "strategy=[soc,steroids_prophylactic]"
    pts, _, _ = run("cohort=natalizumab_ms", "cohort.n=800", strategies, no_plex)
    soc = pts[pts.strategy == "soc"].set_index("patient_id")
    pro = pts[pts.strategy == "steroids_prophylactic"].set_index("patient_id")
    # suppressing the response lowers the IRIS hazard while the course runs ...
    course = 42.0
    assert (pro.iris_onset_days < course).mean() < (soc.iris_onset_days < course).mean()
    # ... and slows JCV clearance: in HIV on ART, CSF JCV falls in month 1 without
    # steroids and less (or rises) with them
    pts, _, _ = run("cohort=hiv", "cohort.n=800", strategies)
    soc = pts[pts.strategy == "soc"].set_index("patient_id")
    pro = pts[pts.strategy == "steroids_prophylactic"].set_index("patient_id")
    assert pro.csf_jcv_change_1m_log10.mean() > soc.csf_jcv_change_1m_log10.mean()


def test_residual_disability_and_mrs_are_consistent(run):
    pts, _, _ = run("cohort=mixed_seed000", "cohort.n=800", "strategy=soc")
    assert (pts.mrs[pts.died] == 6).all()
    alive = pts[~pts.died]
    assert alive.mrs.between(0, 5).all()
    assert alive.residual_disability.between(0, 1).all()
    # mRS is monotone in residual disability
    order = alive.sort_values("residual_disability")
    assert np.all(np.diff(order.mrs.to_numpy()) >= 0)
