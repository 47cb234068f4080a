"""Bayesian calibration (issue 14): the emulator against scikit-learn's own prediction,
history matching and MCMC against a problem with a closed-form posterior, and the task
end to end on a tiny budget.

Closed form: targets z ~ N(A (u - 0.5), S) with a flat prior wider than the likelihood
give the normal posterior with covariance (A' S^-1 A)^-1 and mean
0.5 + cov A' S^-1 z (linear-Gaussian regression).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config, run_task
from sim.evidence import emulator as E
from sim.evidence.posterior import prior_params

A = np.array([[1.0, 0.5], [0.2, 1.0], [0.7, -0.3]])
Z = np.array([0.1, -0.05, 0.0])
SE = np.array([0.05, 0.05, 0.08])


def toy(u: np.ndarray) -> np.ndarray:
    return (u - 0.5) @ A.T


@pytest.fixture(scope="module")
def toy_emulator():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 2))
    y = toy(x) + rng.normal(0.0, 0.002, (60, 3))  # a little simulator noise
    return x, y, E.Emulator.fit(x, y, 0)


def test_prediction_equals_sklearn(toy_emulator):
    x, _, em = toy_emulator
    u = np.random.default_rng(1).uniform(size=(7, 2))
    mean, var = em.predict(u)
    for j, gp in enumerate(em.gps):
        m, s = gp.predict(u, return_std=True)
        noise = gp.kernel_.k2.noise_level
        assert mean[:, j] == pytest.approx(em.y_mean[j] + em.y_sd[j] * m, abs=1e-9)
        # the variance's n x n product runs in single precision: its rounding error is at
        # most about n x 2^-23 of the kernel's variance (the smooth part's constant)
        c = gp.kernel_.k1.k1.constant_value
        tol = em.y_sd[j] ** 2 * c * len(x) * 2.0**-23
        assert var[:, j] == pytest.approx(em.y_sd[j] ** 2 * np.maximum(s**2 - noise, 0), abs=tol)
    # and it reproduces the function it was fitted to (a linear map: near exact)
    assert np.max(np.abs(mean - toy(u))) < 0.01


def test_variance_from_the_latest_runs_bounds_the_full_one():
    """variance_points: the variance conditioned on the last runs only is never below
    the full variance (up to the single-precision bound of the test above), is above it
    somewhere (it is not the same computation), equals sklearn's GP fitted on those runs
    with the same kernel, and the mean is untouched."""
    from sklearn.gaussian_process import GaussianProcessRegressor

    rng = np.random.default_rng(8)
    x = rng.uniform(size=(80, 2))
    f = np.column_stack([np.sin(6 * x[:, 0]) + np.cos(5 * x[:, 1]), x[:, 0] * x[:, 1]])
    em = E.Emulator.fit(x, f + rng.normal(0.0, 0.01, f.shape), 0)
    part = E.Emulator.from_gps(em.gps, em.y_mean, em.y_sd, variance_points=20)
    u = np.random.default_rng(4).uniform(size=(200, 2))
    m0, v0 = em.predict(u)
    m1, v1 = part.predict(u)
    assert np.array_equal(m0, m1)
    tol = np.array([sd**2 * gp.kernel_.k1.k1.constant_value * len(x) * 2.0**-23
                    for gp, sd in zip(em.gps, em.y_sd, strict=True)])  # fmt: skip
    assert np.all(v1 >= v0 - tol)
    assert np.all(np.max(v1 - v0, axis=0) > 10 * tol)
    for j, gp in enumerate(em.gps):
        ref = GaussianProcessRegressor(gp.kernel_, optimizer=None).fit(
            gp.X_train_[-20:], gp.y_train_[-20:]
        )
        _, s = ref.predict(u, return_std=True)
        want = em.y_sd[j] ** 2 * np.maximum(s**2 - gp.kernel_.k2.noise_level, 0)
        assert v1[:, j] == pytest.approx(want, abs=tol[j])
    same = E.Emulator.from_gps(em.gps, em.y_mean, em.y_sd, variance_points=len(x))
    assert np.array_equal(same.predict(u)[1], v0)


def test_hyperparameters_from_a_subset_then_every_point(toy_emulator):
    """hyper_points: the kernel is estimated on a seeded subset, the prediction conditions
    on every run (as an sklearn GP with that kernel fixed); a subset as large as the
    design is the ordinary fit."""
    from sklearn.gaussian_process import GaussianProcessRegressor

    x, y, full = toy_emulator
    sub = E.Emulator.fit(x, y, 0, hyper_points=25)
    u = np.random.default_rng(4).uniform(size=(9, 2))
    mean, _ = sub.predict(u)
    for j, gp in enumerate(sub.gps):
        assert len(gp.X_train_) == len(x)  # conditioned on every run
        ref = GaussianProcessRegressor(gp.kernel_, optimizer=None).fit(
            x, (y[:, j] - sub.y_mean[j]) / sub.y_sd[j]
        )
        assert mean[:, j] == pytest.approx(sub.y_mean[j] + sub.y_sd[j] * ref.predict(u), abs=1e-9)
    # a different subset would give different hyperparameters (so the subset is used)
    theta = [gp.kernel_.theta for gp in full.gps]
    assert any(not np.allclose(gp.kernel_.theta, t) for gp, t in zip(sub.gps, theta, strict=True))
    same = E.Emulator.fit(x, y, 0, hyper_points=len(x))
    assert all(np.array_equal(gp.kernel_.theta, t) for gp, t in zip(same.gps, theta, strict=True))
    assert np.max(np.abs(mean - toy(u))) < 0.02  # still reproduces the linear map


def test_parallel_fit_is_the_same_emulator(toy_emulator):
    """The targets' GPs fitted on 2 worker processes give the in-process emulator exactly
    (each fit a pure function of its data and seed, on one BLAS thread)."""
    from sim.engine.executors import ordered_map

    x, y, em = toy_emulator
    ex = load_config(["executor=processes", "executor.workers=2"]).executor
    with ordered_map(ex) as run:
        par = E.Emulator.fit(x, y, 0, run=run)
    u = np.random.default_rng(6).uniform(size=(11, 2))
    for a, b in zip(em.predict(u), par.predict(u), strict=True):
        assert np.array_equal(a, b)
    assert all(
        np.array_equal(g.kernel_.theta, h.kernel_.theta)
        for g, h in zip(em.gps, par.gps, strict=True)
    )


def test_history_matching_keeps_the_truth_and_drops_the_implausible(toy_emulator):
    _, _, em = toy_emulator
    v = SE**2
    u, share = E.nroy_points(em, Z, v, 50, 3.0, 2, seed=3, candidates=4000)
    mean, var = em.predict(u)
    assert np.all(E.implausibility(mean, var, Z, v).max(axis=1) < 3.0)
    assert 0.0 < share < 0.5  # the data rule out most of the cube
    cov = np.linalg.inv(A.T @ np.diag(1 / v) @ A)
    truth = 0.5 + cov @ A.T @ np.diag(1 / v) @ Z
    m, s2 = em.predict(truth[None, :])
    assert E.implausibility(m, s2, Z, v).max() < 3.0


@pytest.mark.parametrize("moves", E.MOVES)
def test_mcmc_on_the_emulator_recovers_the_closed_form_posterior(toy_emulator, moves):
    x, _, em = toy_emulator
    v = SE**2
    mean, var = em.predict(x)
    start = E.start_points(x, E.implausibility(mean, var, Z, v).max(axis=1), 24, 1)
    ch = E.sample(em, Z, v, start, 24, 2200, 300, 2000, seed=2, moves=moves)
    assert ch.converged and 0.2 < ch.acceptance < 0.9
    si = np.diag(1 / v)
    cov = np.linalg.inv(A.T @ si @ A)
    mu = 0.5 + cov @ A.T @ si @ Z
    sd = np.sqrt(np.diag(cov))
    ess = ch.ess.min()
    # Monte Carlo error of an MCMC mean (sd / sqrt(ESS)) and sd (sd / sqrt(2 ESS)), 4 SE,
    # plus the emulator's own error (< 0.01 in the mean of a linear map, test above)
    assert np.all(np.abs(ch.samples.mean(axis=0) - mu) < 4 * sd / np.sqrt(ess) + 0.005)
    assert np.all(np.abs(ch.samples.std(axis=0) - sd) < 4 * sd / np.sqrt(2 * ess) + 0.005)
    r = np.corrcoef(ch.samples, rowvar=False)[0, 1]
    r_true = cov[0, 1] / (sd[0] * sd[1])
    assert abs(r - r_true) < 4 * (1 - r_true**2) / np.sqrt(ess) + 0.02


@pytest.mark.parametrize("logit", [True, False])
def test_mcmc_against_the_cube_face(toy_emulator, logit):
    """Data whose best fit lies outside the cube: the posterior is a normal truncated at
    u_0 = 0, the case where the logit coordinates' Jacobian matters. Its mean and sd by
    quadrature on a fine grid; the chain within 4 Monte Carlo SE (+ the emulator's 0.005)."""
    x, _, em = toy_emulator
    v = SE**2
    z = toy(np.array([[-0.05, 0.6]]))[0]  # u_0 = -0.05: outside
    g = (np.arange(801) + 0.5) / 801
    uu = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
    dens = np.exp(-0.5 * np.sum((toy(uu) - z) ** 2 / v, axis=1))
    dens /= dens.sum()
    mu = dens @ uu
    sd = np.sqrt(dens @ (uu - mu) ** 2)
    assert mu[0] < 3 * sd[0]  # the mass sits against the face
    mean, var = em.predict(x)
    start = E.start_points(x, E.implausibility(mean, var, z, v).max(axis=1), 24, 1)
    ch = E.sample(em, z, v, start, 24, 3000, 300, 2000, seed=3, moves="de", logit=logit)
    ess = ch.ess.min()
    assert ch.converged
    assert np.all(np.abs(ch.samples.mean(axis=0) - mu) < 4 * sd / np.sqrt(ess) + 0.005)
    assert np.all(np.abs(ch.samples.std(axis=0) - sd) < 4 * sd / np.sqrt(2 * ess) + 0.005)


def test_threads_give_the_same_chain(toy_emulator):
    x, _, em = toy_emulator
    start = E.start_points(x, np.arange(len(x), dtype=float), 8, 1)
    a = E.sample(em, Z, SE**2, start, 8, 60, 10, 50, seed=5, moves="de").samples
    b = E.sample(em, Z, SE**2, start, 8, 60, 10, 50, seed=5, moves="de", threads=2).samples
    assert np.array_equal(a, b)


@pytest.mark.parametrize("moves", E.MOVES)
def test_same_seed_same_chain(toy_emulator, moves):
    x, _, em = toy_emulator
    start = E.start_points(x, np.arange(len(x), dtype=float), 8, 1)
    a = E.sample(em, Z, SE**2, start, 8, 60, 10, 50, seed=5, moves=moves).samples
    b = E.sample(em, Z, SE**2, start, 8, 60, 10, 50, seed=5, moves=moves).samples
    assert np.array_equal(a, b)
    if moves == "de":  # a different proposal: a different chain from the same start
        c = E.sample(em, Z, SE**2, start, 8, 60, 10, 50, seed=5).samples
        assert not np.array_equal(a, c)


# emcee's stretch move needs at least 2 x parameters + 2 walkers (sim/evidence/validate.py)
D = len(prior_params(load_config(["+experiment=posterior"])))  # the box + posterior.assumptions
MIN_WALKERS = 2 * D + 2
TINY = [
    "+experiment=posterior",
    "posterior.waves=2",
    f"posterior.design_per_wave={D + 2}",  # >= parameters + 2
    "posterior.n_per_scenario=80",
    "posterior.candidates=500",
    f"posterior.walkers={MIN_WALKERS}",
    "posterior.steps=120",
    "posterior.burn=40",
    "posterior.draws=60",
    "posterior.ppc_draws=3",
    "posterior.mrs_map.n=200",  # each draw's mRS map from 200 patients (default 4,000)
    # The tiny run's emulator and chain are crude, so its draws move with any model
    # change; with the TOFINGO-fitted 0.25-day natalizumab receptor lag one of its 60
    # draws kills every HIV patient (0 of 1,000 alive) and the mRS map rightly refuses
    # it. The fixture keeps the 14-day lag it was built with: it tests the pipeline,
    # not the default model (a real posterior puts no mass on such draws: HIV SOC
    # survival is a fit target).
    "model.natalizumab_desaturation_half_life_days=14",
    "executor=inprocess",
    "output.progress=false",
    "output.print_summary=false",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    cfg = load_config(TINY)
    out = tmp_path_factory.mktemp("posterior")
    run_task(cfg, out)
    return cfg, out


def test_task_writes_draws_inside_the_prior_and_diagnostics(tiny_run):
    cfg, out = tiny_run
    for f in ("posterior.csv", "posterior_parameters.csv", "posterior_correlation.csv",
              "posterior_ppc.csv", "emulator_check.csv", "design.csv", "waves.csv",
              "posterior.md", "posterior.png", "ppc.png", "run.json"):  # fmt: skip
        assert (out / f).is_file(), f
    draws = pd.read_csv(out / "posterior.csv")
    assert len(draws) == 60
    params = prior_params(cfg)
    assert len(params) == len(cfg.calibration.params) + len(cfg.posterior.assumptions)
    from sim.evidence.mrs_map import COLUMNS

    # the sampled parameters, then each draw's own mRS map (increasing cut points)
    assert [c for c in draws.columns if c != "draw"] == [p.key for p in params] + COLUMNS
    assert (draws[COLUMNS].diff(axis=1).iloc[:, 1:] > 0).all().all()
    for p in params:
        assert draws[p.key].between(p.low, p.high).all(), p.key
    design = pd.read_csv(out / "design.csv")
    assert list(design["wave"].value_counts().sort_index()) == [D + 2, D + 2]  # design_per_wave
    # the assumption parameters were varied over their ranges, not left at one value
    for key in cfg.posterior.assumptions:
        assert design[key].nunique() == len(design), key
    ppc = pd.read_csv(out / "posterior_ppc.csv")
    fit_ids = [t.id for t in cfg.targets.items if t.role == "fit"]
    assert list(ppc["target_id"]) == fit_ids  # fit targets only: validation stays untouched
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["draws"] == 60
    phases = meta["phase_seconds"]  # where the wall time went, for the 30-minute budget
    assert set(phases) == {"simulate", "emulate", "mcmc", "predictive_check", "mrs_map"}
    assert all(v >= 0 for v in phases.values())
    assert sum(phases.values()) <= meta["wall_seconds"] + 0.5  # rounding to 0.1 s each
    corr = pd.read_csv(out / "posterior_correlation.csv").set_index("parameter")
    assert np.allclose(np.diag(corr.to_numpy()), 1.0)


def test_design_runs_equal_a_direct_evaluation(tiny_run):
    """Run 3 of the design re-simulated with the calibration's own Evaluator gives the
    same simulated targets (the task stores what the simulator said)."""
    from sim.evidence.calibrate import fit_targets
    from sim.evidence.targets import RATIOS, Evaluator, on_scale

    cfg, out = tiny_run
    design = pd.read_csv(out / "design.csv")
    values = {p.key: float(design.loc[3, p.key]) for p in prior_params(cfg)}
    targets = fit_targets(cfg)
    sim = Evaluator(cfg, targets, cfg.posterior.n_per_scenario).evaluate(values)
    for t in targets:
        got, x = design.loc[3, f"sim:{t.id}"], sim[t.id]
        ok = np.isfinite(x) and (t.quantity not in RATIOS or x > 0)
        want = on_scale(t, x) if ok else np.nan
        assert got == pytest.approx(want, rel=1e-9, nan_ok=True), t.id


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("posterior.walkers=4", f"posterior.walkers: must be an integer >= {MIN_WALKERS}"),
        ("posterior.steps=10", "posterior.steps: must be an integer >= 41"),
        ("posterior.draws=100000", "posterior.draws: must be <= walkers x (steps - burn)"),
        ("posterior.moves=gibbs", "posterior.moves: unknown name 'gibbs'; allowed: de, stretch"),
        ("posterior.hyper_points=-1", "posterior.hyper_points: must be an integer >= 0"),
        ("posterior.variance_points=-2", "posterior.variance_points: must be an integer >= 0"),
        (
            "posterior.assumptions=[model.nonsense]",
            "posterior.assumptions: 'model.nonsense' has no range",
        ),
        (
            "posterior.assumptions=[model.death_damage_hill,model.death_damage_hill]",
            "posterior.assumptions: 'model.death_damage_hill' is listed twice or is already in",
        ),
        ("posterior.ranges=nowhere", "posterior.ranges: no ranges file nowhere.yaml"),
    ],
)
def test_bad_posterior_input(override, fragment):
    from sim.config import ConfigError

    bad = [*TINY, override]
    if override.startswith("posterior.steps"):
        bad = [*TINY, "posterior.burn=40", override]
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_config(bad)
