"""Bayesian calibration: a posterior sample of the fitted parameters (issue 14).

Prior: uniform over the calibration box (`conf/calibration/<name>.yaml`, log-uniform
where a parameter is searched on the log scale): ASSUMPTION, wide and physically
possible ranges, stated there. Data: every role: fit target with its published
standard error (`sim.evidence.targets.standard_error`), on the distance scale (log for
ratios). The simulator's Monte Carlo variance at `n_per_scenario` patients is added to
each target's variance (`mc_standard_error` at the published value).

Method (`sim.evidence.emulator`): waves of simulator runs, each followed by Gaussian-
process emulators and history matching that rule out implausible space; then MCMC on
the emulators. Chosen over ABC-SMC (pyabc) and neural posterior estimation (sbi):
with about a second per simulator evaluation on this 2-core machine, a 30-minute budget
allows ~10^3 evaluations, which an emulator uses fully and ABC cannot. The emulator is
checked on runs it was not fitted to (`emulator_check`), and the posterior predictive
check re-runs the simulator itself at posterior draws, so an emulator error shows.
"""

from __future__ import annotations

import functools
import hashlib
import math
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import qmc

from sim.config.errors import ConfigError
from sim.config.schema import CalibParam, RunConfig, Target
from sim.engine.executors import ordered_map
from sim.evidence import emulator as em_mod
from sim.evidence.calibrate import Space, fit_targets
from sim.evidence.targets import (
    RATIOS,
    Evaluator,
    mc_standard_error,
    on_scale,
    standard_error,
)

_EVALUATORS: dict[bytes, Evaluator] = {}


def _evaluator(cfg: RunConfig, ids: list[str], n: int) -> Evaluator:
    """One Evaluator per process and run: building one composes a config per target
    population (seconds), so batches reuse it. Keyed by the pickled arguments, so a
    different config never gets a stale one."""
    key = hashlib.sha256(pickle.dumps((cfg, ids, n))).digest()
    if key not in _EVALUATORS:
        targets = [t for t in cfg.targets.items if t.id in set(ids)]
        targets.sort(key=lambda t: ids.index(t.id))
        _EVALUATORS.clear()  # one run at a time: keep memory flat
        _EVALUATORS[key] = Evaluator(cfg, targets, n)
    return _EVALUATORS[key]


def evaluate_batch(cfg: RunConfig, ids: list[str], n: int, rows: list[dict]) -> np.ndarray:
    """Simulated targets (distance scale) at each parameter set: rows x targets. A pure
    function of its arguments (same seed: common random numbers), so any worker."""
    ev = _evaluator(cfg, ids, n)
    targets = ev.targets
    out = np.full((len(rows), len(targets)), np.nan)
    for i, values in enumerate(rows):
        sim = ev.evaluate(values)
        for j, t in enumerate(targets):
            x = sim[t.id]
            if math.isfinite(x) and (t.quantity not in RATIOS or x > 0):
                out[i, j] = on_scale(t, x)
    return out


def data(targets: list[Target], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Published values z and their variances v (published + the simulator's MC)."""
    z = np.array([on_scale(t, t.value) for t in targets])
    v = np.array([standard_error(t) ** 2 + mc_standard_error(t, t.value, n) ** 2 for t in targets])
    return z, v


@dataclass
class Posterior:
    draws: pd.DataFrame  # one row per posterior draw: draw, then one column per parameter
    unit: np.ndarray  # the same draws on the unit cube
    design: pd.DataFrame  # every simulator run: wave, parameters, simulated targets
    waves: pd.DataFrame  # per wave: runs, NROY share of the cube before it
    check: pd.DataFrame  # emulator check on the last wave's runs, per target
    chain: em_mod.Chain
    targets: list[Target]
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per phase


def prior_params(cfg: RunConfig) -> list[CalibParam]:
    """The calibrated parameters and their uniform priors: the calibration box, then each
    key of `posterior.assumptions` over its stated plausible range in
    conf/ranges/<posterior.ranges>.yaml (log-uniform where the range says `log`).

    Why the ranges. The global sensitivity analysis finds some ASSUMPTION parameters
    (lesion burden at diagnosis, the death Hill exponent, the IRIS reference rate)
    more influential than most fitted ones; calibrating them jointly lets the fit
    targets narrow what they can, and carries the rest of their range into every output
    that reads the posterior, instead of fixing them at one unsourced value."""
    p = cfg.posterior
    out = list(cfg.calibration.params)
    if not p.assumptions:
        return out
    from sim.evidence.gsa import ranges_file, read_ranges

    ranges = {r["key"]: r for r in read_ranges(p.ranges, "posterior.ranges")}
    name = ranges_file(p.ranges).name
    boxed = {q.key for q in out}
    for key in p.assumptions:
        if key not in ranges:
            raise ConfigError(
                "posterior.assumptions",
                f"{key!r} has no range in {name}; allowed: {sorted(ranges)}",
            )
        if key in boxed:
            raise ConfigError(
                "posterior.assumptions",
                f"{key!r} is listed twice or is already in the calibration box",
            )
        r = ranges[key]
        out.append(CalibParam(key, float(r["low"]), float(r["high"]), bool(r.get("log", False))))
        boxed.add(key)
    return out


def run_posterior(cfg: RunConfig, on_runs: Callable[[int], None] | None = None) -> Posterior:
    p = cfg.posterior
    targets = fit_targets(cfg)
    ids = [t.id for t in targets]
    space = Space(prior_params(cfg))
    d = len(space.params)
    z, v = data(targets, p.n_per_scenario)

    def simulate(u: np.ndarray) -> np.ndarray:
        rows = [space.values(r) for r in u]
        chunks = [rows[i : i + p.batch] for i in range(0, len(rows), p.batch)]
        parts = []
        with ordered_map(cfg.executor) as run:
            tasks = ((cfg, ids, p.n_per_scenario, c) for c in chunks)
            for part in run(evaluate_batch, tasks):
                parts.append(part)
                if on_runs is not None:
                    on_runs(len(part))
        return np.vstack(parts)

    seconds = {"simulate": 0.0, "emulate": 0.0, "mcmc": 0.0}  # wall seconds per phase

    def timed(phase: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        seconds[phase] += time.perf_counter() - t0
        return out

    def emulate(x: np.ndarray, y: np.ndarray, seed: int, warm=None) -> em_mod.Emulator:
        with ordered_map(cfg.executor) as run:  # the targets' GPs fitted in parallel
            return em_mod.Emulator.fit(x, y, seed, p.hyper_points, run, warm, p.variance_points)

    xs = [qmc.LatinHypercube(d=d, seed=cfg.seed).random(p.design_per_wave)]
    ys = [timed("simulate", simulate, xs[0])]
    wave_rows = [{"wave": 1, "runs": len(xs[0]), "nroy_share_before": 1.0}]
    check = pd.DataFrame()
    em = None  # each wave's emulator starts the next one's hyperparameter search
    for w in range(2, p.waves + 1):
        x, y = np.vstack(xs), np.vstack(ys)
        em = timed("emulate", emulate, x, y, cfg.seed + w, em)
        u, share = timed(
            "emulate", em_mod.nroy_points,
            em, z, v, p.design_per_wave, p.cutoff, d, cfg.seed + w, p.candidates,
        )  # fmt: skip
        y_new = timed("simulate", simulate, u)
        if w == p.waves:
            check = emulator_check(em, u, y_new, ids)
        xs.append(u)
        ys.append(y_new)
        wave_rows.append({"wave": w, "runs": len(u), "nroy_share_before": share})
    x, y = np.vstack(xs), np.vstack(ys)
    em = timed("emulate", emulate, x, y, cfg.seed, em)
    mean, var = em.predict(x)
    score = np.nansum((mean - z) ** 2 / (var + v), axis=1)
    start = em_mod.start_points(x, score, p.walkers, cfg.seed)
    # the MCMC runs in this process while the workers idle: a local pool's cores share
    # the emulator's targets at each step (the same chain either way)
    threads = cfg.executor.workers if cfg.executor.address is None else 1
    mcmc = functools.partial(
        em_mod.sample, moves=p.moves, logit=True, threads=threads, progress=cfg.output.progress
    )
    chain = timed("mcmc", mcmc, em, z, v, start, p.walkers, p.steps, p.burn, p.draws, cfg.seed)
    draws = pd.DataFrame([space.values(r) for r in chain.samples])
    draws.insert(0, "draw", np.arange(len(draws)))
    design = pd.DataFrame([space.values(r) for r in x])
    design.insert(0, "wave", np.repeat(np.arange(1, len(xs) + 1), [len(a) for a in xs]))
    for j, t in enumerate(ids):
        design[f"sim:{t}"] = y[:, j]
    waves = pd.DataFrame(wave_rows)
    return Posterior(draws, chain.samples, design, waves, check, chain, targets, seconds)


def emulator_check(em: em_mod.Emulator, u: np.ndarray, y: np.ndarray, ids: list[str]):
    """Standardised errors of the emulator (fitted on earlier waves) on new runs: a
    well-calibrated emulator has ~95% within 2 and ~99.7% within 3."""
    mean, var = em.predict(u)
    err = (y - mean) / np.sqrt(var + em.noise)
    rows = []
    for j, t in enumerate(ids):
        e = err[np.isfinite(err[:, j]), j]
        rows.append(
            {"target_id": t, "runs": len(e), "within_2": float(np.mean(np.abs(e) < 2)),
             "within_3": float(np.mean(np.abs(e) < 3)), "mean_error": float(np.mean(e))}
        )  # fmt: skip
    return pd.DataFrame(rows)


def parameter_table(post: Posterior, space: Space) -> pd.DataFrame:
    """Per parameter: prior and posterior 95% intervals, width ratio (on the search scale:
    log where `log`), posterior mean and median, and the effective sample size."""
    rows = []
    for i, prm in enumerate(space.params):
        x = post.draws[prm.key].to_numpy()
        u = post.unit[:, i]
        rows.append(
            {
                "parameter": prm.key,
                "log_scale": prm.log,
                "prior_low": prm.low,
                "prior_high": prm.high,
                "posterior_mean": float(np.mean(x)),
                "posterior_median": float(np.median(x)),
                "posterior_2.5%": float(np.quantile(x, 0.025)),
                "posterior_97.5%": float(np.quantile(x, 0.975)),
                # a uniform prior's central 95% spans 0.95 of the unit interval
                "width_ratio": float((np.quantile(u, 0.975) - np.quantile(u, 0.025)) / 0.95),
                "ess": float(post.chain.ess[i]),
                "autocorr_steps": float(post.chain.autocorr[i]),
            }
        )
    return pd.DataFrame(rows)


def correlation_table(post: Posterior, space: Space) -> pd.DataFrame:
    """Posterior correlations on the search scale (identifiability: |r| near 1 means two
    parameters trade off and the targets pin only their combination)."""
    keys = [p.key for p in space.params]
    c = np.corrcoef(post.unit, rowvar=False)
    return pd.DataFrame(c, index=keys, columns=keys).rename_axis("parameter").reset_index()


def predictive_check(
    cfg: RunConfig, post: Posterior, n_draws: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The simulator itself at `n_draws` posterior draws. Per target: the posterior
    predictive 95% interval of a replicate study (simulated value + the published
    figure's sampling noise) and whether the published value falls inside it."""
    p = cfg.posterior
    ids = [t.id for t in post.targets]
    keys = [c for c in post.draws.columns if c != "draw"]
    rows = post.draws.head(n_draws)[keys].to_dict("records")
    chunks = [rows[i : i + p.batch] for i in range(0, len(rows), p.batch)]
    with ordered_map(cfg.executor) as run:
        tasks = ((cfg, ids, p.n_per_scenario, c) for c in chunks)
        sims = np.vstack(list(run(evaluate_batch, tasks)))
    rng = np.random.default_rng(seed)
    out = []
    for j, t in enumerate(post.targets):
        s = sims[np.isfinite(sims[:, j]), j]
        rep = s + rng.normal(0.0, standard_error(t), len(s))
        lo, hi = np.quantile(rep, [0.025, 0.975]) if len(s) else (np.nan, np.nan)
        back = np.exp if t.quantity in RATIOS else (lambda a: a)
        out.append(
            {
                "target_id": t.id,
                "published": t.value,
                "simulated_median": float(back(np.median(s))) if len(s) else np.nan,
                "simulated_2.5%": float(back(np.quantile(s, 0.025))) if len(s) else np.nan,
                "simulated_97.5%": float(back(np.quantile(s, 0.975))) if len(s) else np.nan,
                "predictive_2.5%": float(back(lo)),
                "predictive_97.5%": float(back(hi)),
                "published_inside": bool(lo <= on_scale(t, t.value) <= hi),
                "draws": int(len(s)),
            }
        )
    return pd.DataFrame(out), sims
