"""Mechanisms of the model that had no test (issue 17, item 4), each checked against a
closed form or a hand calculation: natalizumab receptor desaturation, plasma exchange
sessions after day 6, `applies_to`, `course_days`, side effects that stop a therapy,
supportive care's disability recovery, cohort mixes, horizons other than 365 days.

Where a quantity is random (side-effect draws), the tolerance is 4 binomial standard
errors computed from the number of patients at risk, with a fixed seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config
from sim.config.schema import CONDITIONS, ConfigError, TherapyStart
from sim.core import rng
from sim.engine.run import simulate
from sim.model import cohort
from sim.model.course import Course
from sim.model.strategies import compile_strategy
from sim.model.therapies import Catalog
from sim.model.timegrid import TimeGrid


def _course(overrides, n=200, extra=None, strategy=None):
    """A course of n patients; `extra` adds therapies (name, start day) to the strategy."""
    cfg = load_config([*overrides, f"cohort.n={n}", "output.progress=false"])
    name = strategy or next(iter(cfg.strategy))
    if extra:
        cfg.strategy[name].therapies = [
            *cfg.strategy[name].therapies,
            *(TherapyStart(therapy=t, start_day=d) for t, d in extra),
        ]
    key = rng.run_key(cfg.seed)
    cat = Catalog.build(cfg.therapies)
    comp = compile_strategy(cfg.strategy[name], cfg.model, cat)
    pts = cohort.build(key, cfg.cohort, cfg.model, np.arange(n))
    return Course(pts, comp, cat, cfg.model, cfg.monitoring, key), cfg


def _events(course: Course, event: str, detail: str | None = None) -> pd.DataFrame:
    ev = course.log.to_frame()
    ev = ev[ev["event"] == event]
    return ev if detail is None else ev[ev["detail"] == detail]


# ----------------------------------------------------------------- natalizumab


def test_receptor_desaturates_with_its_half_life_once_the_drug_is_gone():
    """With every natalizumab molecule removed at the day-0 session, the saturation's
    target is 0 and S(t) = S(0) 2^(-t / T): the receptor lag alone (Khatri 2009: alpha4
    saturation does not fall right after plasma exchange)."""
    c, cfg = _course(
        [
            "cohort=natalizumab_ms",
            "strategy=soc",
            "therapies.plex.levers.drug_removal_per_dose=1.0",
            "model.natalizumab_desaturation_half_life_days=14",  # a lag the test can see
        ]
    )
    m = cfg.model
    x = (1.0 / m.natalizumab_half_block) ** m.natalizumab_hill
    s0 = x / (1.0 + x)  # on drug (level 1) at diagnosis
    np.testing.assert_allclose(c.state.saturation, s0, rtol=1e-15)
    for day in (1.0, 10.0, 30.0):
        c.advance(day)
        assert np.all(c.state.natalizumab == 0.0)
        half_life = m.natalizumab_desaturation_half_life_days
        a = c.state.alive  # a dead patient's state stays as it was at death
        assert a.mean() > 0.5
        want = s0 * 0.5 ** (day / half_life)
        np.testing.assert_allclose(c.state.saturation[a], want, rtol=1e-12)


def test_the_receptor_lag_delays_the_immune_response_in_the_brain():
    """Brain access is 1 - saturation: with a near-instant desaturation the effector
    response rises faster for every patient (its target is higher at every step)."""
    common = ["cohort=natalizumab_ms", "strategy=soc"]
    # 14 d: a visible lag (the default, fitted to TOFINGO, is 0.25 d: almost none)
    lag, cfg = _course([*common, "model.natalizumab_desaturation_half_life_days=14"])
    fast, _ = _course([*common, "model.natalizumab_desaturation_half_life_days=1e-9"])
    lag.advance(20.0)
    fast.advance(20.0)
    np.testing.assert_allclose(fast.state.cd4, lag.state.cd4, rtol=1e-12)  # CD4 unaffected
    assert np.all(fast.state.saturation < lag.state.saturation)
    assert np.all(fast.state.effector[fast.state.alive] > lag.state.effector[fast.state.alive])
    # no lag: saturation is exactly its equilibrium with the current drug level
    x = (fast.state.natalizumab / cfg.model.natalizumab_half_block) ** cfg.model.natalizumab_hill
    np.testing.assert_allclose(fast.state.saturation, x / (1.0 + x), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("course_days, sessions", [(10.0, 5), (7.0, 4), (6.0, 3)])
def test_plex_sessions_run_every_other_day_until_the_course_ends(course_days, sessions):
    """Sessions at days 0, 2, 4, 6, 8 (5 sessions over a 10-day course): a session due
    at or after the end of the course is not given. Each removes 57% of the drug
    (Khatri 2009), on top of the 11-day washout half-life."""
    c, cfg = _course(
        ["cohort=natalizumab_ms", "strategy=soc", f"therapies.plex.course_days={course_days}"]
    )
    c.advance(20.0)
    removal = cfg.therapies["plex"].levers["drug_removal_per_dose"]
    expected = (1 - removal) ** sessions * 0.5 ** (20.0 / cfg.model.natalizumab_half_life_days)
    a = c.state.alive  # a dead patient's state stays as it was at death
    assert a.mean() > 0.5
    np.testing.assert_allclose(c.state.natalizumab[a], expected, rtol=1e-12)
    doses = _events(c, "dose", "plex")
    alive_at = {d: c.patients.patient_id[np.asarray(c.state.death_time) > d] for d in (0, 8)}
    for day in range(0, 10, 2):
        given = doses[doses["time_days"] == float(day)]
        if day < 2 * sessions:
            assert set(given["patient_id"]) >= set(alive_at[8])
        else:
            assert given.empty
    assert set(doses["time_days"]) == {2.0 * k for k in range(sessions)}
    stops = _events(c, "therapy_stop", "plex")
    assert (stops["time_days"] == course_days).all()
    assert set(stops["patient_id"]) >= set(c.patients.patient_id[c.state.death_time > course_days])


# -------------------------------------------------------------------- applies_to


def test_a_therapy_acts_only_in_the_conditions_it_applies_to():
    """ART (applies_to: hiv) and plasma exchange (natalizumab_ms) given to HIV and chronic
    inflammatory patients: the chronic inflammatory patients' course is exactly that
    without them, no plasma-exchange session is given to anyone here, and HIV patients'
    CD4 rises. With applies_to: [all], ART moves the chronic inflammatory patients too."""
    mix = [
        "cohort=custom",
        "+cohort.mix={hiv: 1, chronic_inflammatory: 1}",
        "strategy=no_treatment",
        # daily steps: both strategies on the same grid (their therapies' starts and doses
        # fall on whole days), so the untouched patients must match bit for bit
        "model.dt_days=1.0",
    ]
    extra = [("art", 0.0), ("plex", 0.0)]
    treated, _ = _course(mix, extra=extra)
    untreated, _ = _course(mix)
    everyone, _ = _course([*mix, "therapies.art.applies_to=[all]"], extra=extra)
    for c in (treated, untreated, everyone):
        c.advance(60.0)
    hiv = treated.patients.condition == CONDITIONS.index("hiv")
    other = ~hiv
    assert hiv.sum() == other.sum() == 100
    for name in ("cd4", "effector", "jcv", "damage", "death_time"):
        a = getattr(treated.state, name)[other]
        np.testing.assert_array_equal(a, getattr(untreated.state, name)[other], err_msg=name)
    assert _events(treated, "dose", "plex").empty
    assert np.all(treated.state.cd4[hiv] >= untreated.state.cd4[hiv])
    assert np.mean(treated.state.cd4[hiv] > untreated.state.cd4[hiv]) > 0.9
    room = everyone.patients.cd4_ceiling[other] > everyone.patients.cd4_0[other]
    assert room.sum() > 50  # patients whose CD4 can rise at all (ceiling above baseline)
    assert np.all(everyone.state.cd4[other][room] > untreated.state.cd4[other][room])


# ------------------------------------------------------------------- course_days


@pytest.mark.parametrize("course_days", [20.0, 35.0])
def test_a_continuous_lever_stops_at_the_end_of_the_course(course_days):
    """rhIL-7 expands CD4 logistically while its course runs (ramp over onset_days),
    then stops: with the homeostatic pull-back switched off, CD4 after the course stays
    at C(T) = K / (1 + (K / C0 - 1) exp(-g rho (T - onset / 2)))."""
    frozen = "model.conditions.primary_immunodeficiency.recovery_half_life_days=1e12"
    c, cfg = _course(
        [
            "cohort=primary_immunodeficiency",
            "strategy=il7",
            frozen,
            f"therapies.rhil7.course_days={course_days}",
        ],
        n=100,
    )
    t = cfg.therapies["rhil7"]
    g, onset, k = t.levers["lymphocyte_expansion_per_day"], t.onset_days, cfg.model.cd4_max
    growth = np.exp(-g * c.patients.cytokine_response * (course_days - onset / 2.0))
    expected = k / (1.0 + (k / c.patients.cd4_0 - 1.0) * growth)
    c.advance(course_days)
    a = c.state.alive  # a dead patient's state stays as it was at death
    np.testing.assert_allclose(c.state.cd4[a], expected[a], rtol=1e-6)
    c.advance(course_days + 30.0)
    a = c.state.alive
    assert a.mean() > 0.5
    # nothing after the course
    np.testing.assert_allclose(c.state.cd4[a], expected[a], rtol=1e-6)
    stops = _events(c, "therapy_stop", "rhil7")
    alive = c.patients.patient_id[c.state.death_time > course_days]
    assert set(stops["patient_id"]) == set(alive) and (stops["time_days"] == course_days).all()


def test_an_open_ended_course_never_stops():
    c, cfg = _course(["cohort=hiv", "strategy=soc"], n=100)
    assert cfg.therapies["art"].course_days is None
    c.advance(300.0)
    assert _events(c, "therapy_stop", "art").empty


# ------------------------------------------------------------ side effects that stop


def _pd1(stops: bool, probability: float = 1.0, n: int = 200):
    return _course(
        [
            "cohort=hematologic_malignancy",
            "strategy=pd1",
            "therapies.pembrolizumab.side_effects.0.probability=0.0",
            f"therapies.pembrolizumab.side_effects.1.probability={probability}",
            f"therapies.pembrolizumab.side_effects.1.stops_therapy={str(stops).lower()}",
        ],
        n=n,
    )


def test_a_side_effect_that_stops_therapy_ends_the_course_and_its_doses():
    """Pembrolizumab doses at days 0, 35, 70; the discontinuing immune-related adverse
    event comes 42 days after the start: with stops_therapy the day-70 dose is never
    given and the course ends on day 42 instead of 140."""
    stopped, cfg = _pd1(True)
    running, _ = _pd1(False)
    onset = cfg.therapies["pembrolizumab"].side_effects[1].onset_days
    assert onset == 42.0
    for c in (stopped, running):
        c.advance(150.0)
    alive_70 = set(stopped.patients.patient_id[stopped.state.death_time > 70.0])
    assert len(alive_70) > 20
    d_stop = _events(stopped, "dose", "pembrolizumab")
    d_run = _events(running, "dose", "pembrolizumab")
    assert set(d_stop["time_days"]) == {0.0, 35.0}
    assert set(d_run["time_days"]) == {0.0, 35.0, 70.0}
    assert set(d_run.loc[d_run["time_days"] == 70.0, "patient_id"]) >= alive_70
    s_stop = _events(stopped, "therapy_stop", "pembrolizumab")
    s_run = _events(running, "therapy_stop", "pembrolizumab")
    assert (s_stop["time_days"] == onset).all() and len(s_stop) > 0
    assert (s_run["time_days"] == 140.0).all()
    # both courses log the side effect at day 42, for everyone alive then (p = 1)
    for c in (stopped, running):
        se = _events(c, "side_effect", "pembrolizumab:irae_discontinuation")
        assert (se["time_days"] == onset).all()
        alive_42 = c.patients.patient_id[c.state.death_time > onset]
        assert set(se["patient_id"]) == set(alive_42)


def test_side_effects_occur_at_their_configured_probability():
    """Each patient alive at the onset day has the discontinuation with probability p:
    the count is Binomial(n at risk, p); 4 binomial SEs."""
    c, cfg = _pd1(True, probability=0.09, n=4000)
    c.advance(60.0)
    at_risk = c.state.death_time > 42.0
    se = _events(c, "side_effect", "pembrolizumab:irae_discontinuation")
    p, n = 0.09, int(at_risk.sum())
    share = len(se) / n
    assert abs(share - p) < 4 * math.sqrt(p * (1 - p) / n), (share, n)
    stops = _events(c, "therapy_stop", "pembrolizumab")
    assert set(stops["patient_id"]) == set(se["patient_id"])  # only they stop early


# ------------------------------------------------------------ supportive care


@pytest.mark.parametrize("horizon", [365.0, 20.0])
def test_supportive_care_takes_its_share_off_survivors_disability(run, horizon):
    """Residual disability = final damage x (1 - r x ramp), r = 0.2 (supportive care's
    disability_recovery), the ramp being the lever's level over the last day (onset 30
    days: full at 365, 19.5 / 30 at a 20-day horizon). Damage itself is unchanged, and
    mRS is the number of cut points the residual disability reaches."""
    common = ["cohort=mixed_seed000", "cohort.n=400", "strategy=soc", f"horizon_days={horizon}"]
    common.append(f"output.survival_day={horizon}")
    with_care, _, _ = run(*common)
    without, _, _ = run(*common, "therapies.supportive_care.levers.disability_recovery=0.0")
    cfg = load_config(common)
    r = cfg.therapies["supportive_care"].levers["disability_recovery"]
    onset = cfg.therapies["supportive_care"].onset_days
    level = r * min((horizon - 0.5) / onset, 1.0)
    alive = ~with_care["died"].to_numpy()
    assert alive.sum() > 100
    pd.testing.assert_series_equal(with_care["lesion_burden_final"], without["lesion_burden_final"])
    np.testing.assert_allclose(
        with_care["residual_disability"].to_numpy()[alive],
        without["residual_disability"].to_numpy()[alive] * (1.0 - level),
        rtol=1e-12,
    )
    cut = np.asarray(cfg.model.mrs_cutpoints)
    residual = with_care["residual_disability"].to_numpy()[alive]
    by_hand = np.array([int((x > cut).sum()) for x in residual])
    np.testing.assert_array_equal(with_care["mrs"].to_numpy()[alive], by_hand)
    assert (with_care["mrs"].to_numpy()[~alive] == 6).all()


def test_no_supportive_care_leaves_the_damage_as_disability(run):
    pts, _, _ = run("cohort=mixed_seed000", "cohort.n=400", "strategy=no_treatment")
    alive = pts[~pts["died"]]
    assert len(alive) > 5  # untreated PML: few survive a year
    np.testing.assert_array_equal(alive["residual_disability"], alive["lesion_burden_final"])


# ------------------------------------------------------------------ cohort mixes


def _conditions(mix: str, n: int) -> np.ndarray:
    cfg = load_config(["cohort=custom", f"+cohort.mix={mix}", f"cohort.n={n}"])
    return cohort.build(rng.run_key(cfg.seed), cfg.cohort, cfg.model, np.arange(n)).condition


def test_custom_mix_with_non_integer_and_zero_weights():
    """Stratified assignment: each condition's count is n x weight / total weight up to
    rounding (less than 1 away); a zero weight gives no patient."""
    n = 999
    cond = _conditions("{hiv: 2.5, natalizumab_ms: 0.5, hematologic_malignancy: 0.0}", n)
    counts = np.bincount(cond, minlength=len(CONDITIONS))
    for c, w in (("hiv", 2.5), ("natalizumab_ms", 0.5), ("hematologic_malignancy", 0.0)):
        assert abs(counts[CONDITIONS.index(c)] - n * w / 3.0) < 1.0, c
    assert counts.sum() == n and counts[CONDITIONS.index("hematologic_malignancy")] == 0
    # weights are normalised: the same patients at any scale, and a zero weight is
    # the same as leaving the condition out
    np.testing.assert_array_equal(cond, _conditions("{hiv: 5, natalizumab_ms: 1}", n))
    np.testing.assert_array_equal(cond, _conditions("{hiv: 2.5, natalizumab_ms: 0.5}", n))


def test_a_mix_of_only_zero_weights_is_refused():
    with pytest.raises(ConfigError, match="cohort.mix"):
        load_config(["cohort=custom", "+cohort.mix={hiv: 0, natalizumab_ms: 0.0}"])


def test_a_custom_mix_runs_through_the_engine(run):
    pts, _, _ = run(
        "cohort=custom", "+cohort.mix={hiv: 0.75, solid_organ_transplant: 0.25}", "cohort.n=200"
    )
    per = pts.groupby(["strategy", "condition"], observed=True).size().unstack()
    assert (per["hiv"] == 150).all() and (per["solid_organ_transplant"] == 50).all()


# --------------------------------------------------------------------- horizons


@pytest.fixture(scope="module")
def horizons():
    base = ["cohort=mixed_seed000", "cohort.n=300", "strategy=[soc,il7_maraviroc]", "seed=4"]
    out = {}
    for h in (180.0, 365.0, 730.0):
        cfg = load_config([*base, f"horizon_days={h}", f"output.survival_day={min(h, 180.0)}"])
        cfg.output.progress = False
        out[h] = simulate(cfg)
    return out


def _last_common_boundary(horizon: float) -> float:
    """The last step boundary at or before `horizon` on every strategy's time grid of the
    horizons fixture: a shorter horizon cuts the step that contains it, so before this
    boundary the grids (and the numbers) are the same whatever the horizon."""
    cfg = load_config(["strategy=[soc,il7_maraviroc]"])
    cat = Catalog.build(cfg.therapies)
    bounds = []
    for s in cfg.strategy.values():
        comp = compile_strategy(s, cfg.model, cat)
        grid = TimeGrid.build(comp, cat, cfg.model, cfg.monitoring)
        t = 0.0
        while t + grid.step(t, np.inf, 1e-9) <= horizon + 1e-9:
            t += grid.step(t, np.inf, 1e-9)
        bounds.append(t)
    return min(bounds)


def test_the_horizon_does_not_change_the_course_before_it(horizons):
    """A patient's course is the same whatever the follow-up (same deaths, events, labs)
    up to the last step boundary before the shorter horizon: the horizon only closes
    follow-up. (Within the step it cuts, death times move by the discretisation.)"""
    key = ["strategy", "patient_id", "time_days", "event", "detail"]

    def before(ev, day):
        e = ev[(ev["time_days"] < day) & (ev["event"] != "end_of_follow_up")]
        return e[key].astype({"event": str}).sort_values(key).reset_index(drop=True)

    short, mid, long = (horizons[h] for h in (180.0, 365.0, 730.0))
    b180, b365 = _last_common_boundary(180.0), _last_common_boundary(365.0)
    assert 170.0 < b180 < 180.0 and b365 == 365.0  # 365 is a visit, 180 is not
    pd.testing.assert_frame_equal(before(short[1], b180), before(long[1], b180))
    pd.testing.assert_frame_equal(before(mid[1], b365), before(long[1], b365))
    for a, b, day in ((short, long, b180), (mid, long, b365)):
        da = a[0].set_index(["strategy", "patient_id"])
        db = b[0].set_index(["strategy", "patient_id"]).loc[da.index]
        early = da["died"].to_numpy() & (da["time_days"].to_numpy() < day)
        np.testing.assert_array_equal(da["time_days"][early], db["time_days"][early])
        horizon = da["time_days"].max()
        assert (db["time_days"][~da["died"].to_numpy()] >= horizon).all()  # survivors live on
        labs_a = a[2][a[2]["day"] <= day].reset_index(drop=True)
        labs_b = b[2][b[2]["day"] <= day].reset_index(drop=True)
        pd.testing.assert_frame_equal(labs_a, labs_b)


def test_follow_up_ends_at_the_horizon(horizons):
    for h, (pts, ev, labs) in horizons.items():
        cfg = load_config([f"horizon_days={h}", f"output.survival_day={min(h, 180.0)}"])
        assert pts["time_days"].max() == h
        assert (pts.loc[~pts["died"], "time_days"] == h).all()
        end = ev[ev["event"] == "end_of_follow_up"]
        assert (end["time_days"] == h).all() and len(end) == (~pts["died"]).sum()
        visits = {d for d in cfg.monitoring.visit_days if d <= h}
        assert set(labs["day"]) == visits and ev["time_days"].max() <= h
    # two years: deaths in the second year happen, and nobody is seen after day 365
    pts, ev, _ = horizons[730.0]
    assert (pts["died"] & (pts["time_days"] > 365.0)).sum() > 0
    assert ev.loc[ev["event"] == "visit", "time_days"].max() == 365.0
