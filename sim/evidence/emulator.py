"""Gaussian-process emulation, history matching and MCMC on the emulator.

Model-free: the functions take design points on the unit cube and the simulated target
values at them; `sim.evidence.posterior` connects them to the model.

Why an emulator. One evaluation of the fit targets simulates six populations (about a
second on one core). ABC-SMC or MCMC on the simulator would need 10^4-10^5 of them; a
Gaussian process fitted to a few hundred runs predicts every target, with its own
uncertainty, in microseconds, so MCMC can run on it (Kennedy & O'Hagan 2001; Vernon 2010).

History matching (Vernon 2010; Andrianakis 2015). A point x is implausible for target j
when |E[f_j(x)] - z_j| / sqrt(Var_em_j(x) + v_j) > cutoff, with z_j the published value
and v_j its variance plus the simulator's Monte Carlo variance. Each wave runs the
simulator at new points drawn from the space not ruled out yet (NROY) and refits the
emulators there, where they matter.

Posterior. Uniform prior on the unit cube (the calibration box, log scale where the
parameter is searched on the log scale). Likelihood: independent normals
z_j ~ N(E[f_j(x)], Var_em_j(x) + v_j): the emulator's own uncertainty widens it where it
knows little. Sampled with emcee's affine-invariant ensemble (Goodman & Weare 2010).
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit
from scipy.special import logit as to_logit
from scipy.stats import qmc


@dataclass
class Emulator:
    """One Gaussian process per target (columns of y), inputs on the unit cube."""

    gps: list
    y_mean: np.ndarray
    y_sd: np.ndarray
    l_inv: list  # inverse Cholesky factor of each GP's training covariance (fast variance)
    noise: np.ndarray  # fitted white-noise variance per target (the simulator's own noise)
    var_from: list  # per target: first training row the variance conditions on

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, seed: int, hyper_points: int = 0, run=None,
        warm: Emulator | None = None, variance_points: int = 0,
    ) -> Emulator:  # fmt: skip
        """Matern 5/2 with one length scale per input, plus white noise (the simulator's
        finite-cohort noise). Non-finite outputs are left out of that target's fit.

        `hyper_points` > 0: the kernel's hyperparameters are estimated on at most that
        many design points (a seeded random subset), then the GP is conditioned on every
        point with those hyperparameters fixed. Maximising the marginal likelihood costs
        O(n^2 d) per iteration with one length scale per input, so in 20+ dimensions
        with ~800 runs it dominated the calibration's time; a few hundred points pin
        length scales well, and every run still informs the prediction.

        `run(fn, tasks)` (an executor's ordered map, `sim.engine.executors.ordered_map`)
        fits the targets' GPs in parallel; each fit is a pure function of its target's
        data and seed on one BLAS thread, so the emulator is the same either way.

        `warm`: an emulator of the same targets fitted on an earlier wave. Each target's
        hyperparameter search starts from that emulator's optimum, with no random
        restarts: the waves change the design a little at a time, so the optimum moves
        a little, and the search from it takes a fraction of the iterations of a cold
        start plus a restart (in 47 dimensions a cold fit of 15 targets took ~3 minutes
        on the 2 cores).

        `variance_points` > 0: see `from_gps`."""
        kernels = [None] * y.shape[1] if warm is None else [gp.kernel_ for gp in warm.gps]
        tasks = [(x, y[:, j], seed + j, hyper_points, kernels[j]) for j in range(y.shape[1])]
        parts = list(run(fit_target, tasks)) if run is not None else [fit_target(*t) for t in tasks]
        gps, means, sds = zip(*parts, strict=True)
        return cls.from_gps(list(gps), np.array(means), np.array(sds), variance_points)

    @classmethod
    def from_gps(
        cls, gps: list, means: np.ndarray, sds: np.ndarray, variance_points: int = 0
    ) -> Emulator:
        """`variance_points` > 0: each target's predictive variance is conditioned on its
        last `variance_points` training runs only (the latest waves, drawn where the data
        have not ruled the space out), the mean on every run. Conditioning a Gaussian
        process on fewer runs never lowers its variance, so this variance is an upper
        bound of the full one: the likelihood can only be flatter, never falsely sharp.
        Its cost is what makes MCMC affordable with ~1,000 runs: the variance's product
        grows with the square of the runs it conditions on, the mean only linearly."""
        from scipy.linalg import cholesky, solve_triangular

        l_inv, var_from = [], []
        for gp in gps:
            n = len(gp.X_train_)
            first = n - variance_points if 0 < variance_points < n else 0
            chol = gp.L_
            if first:  # the same kernel (white noise included) on the subset
                xs = gp.X_train_[first:]
                k = gp.kernel_(xs)
                k[np.diag_indices_from(k)] += gp.alpha
                chol = cholesky(k, lower=True)
            # single precision: all the variance product needs (and half the memory)
            eye = np.eye(len(chol))
            l_inv.append(solve_triangular(chol, eye, lower=True).astype(np.float32))
            var_from.append(first)
        noise = np.array([gp.kernel_.k2.noise_level for gp in gps]) * sds**2
        return cls(gps, means, sds, l_inv, noise, var_from)

    def __post_init__(self) -> None:
        # per target, what prediction needs: the kernel's constant and length scales,
        # the training inputs already divided by them (and their squared norms), the
        # weights alpha, and the inverse Cholesky factor in single precision
        self._parts = []
        for gp, l_inv, first in zip(self.gps, self.l_inv, self.var_from, strict=True):
            smooth = gp.kernel_.k1
            if getattr(smooth.k2, "nu", None) != 2.5:
                raise ValueError("the fast prediction assumes a Matern 5/2 kernel")
            d = gp.X_train_.shape[1]
            scale = np.broadcast_to(np.asarray(smooth.k2.length_scale, float), (d,))
            xs = gp.X_train_ / scale
            self._parts.append(
                (float(smooth.k1.constant_value), scale, xs, np.einsum("ij,ij->i", xs, xs),
                 np.asarray(gp.alpha_, float).ravel(), np.asarray(l_inv, np.float32), first)
            )  # fmt: skip

    def predict(
        self, x: np.ndarray, rows: int = 4096, pool: ThreadPoolExecutor | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each target at x (rows), on the targets' scale. The
        variance excludes the fitted white noise: it is the uncertainty about the
        smooth function, not the simulator's noise, which v_j carries.

        Computed from the fitted Cholesky factor as scikit-learn's predict does, without
        its per-call checks (which dominate inside MCMC): distances by the dot-product
        identity, and the variance's n x n product in single precision, which halves
        the MCMC's cost; its rounding error (about n x 2^-24 of the kernel's variance at
        worst) is far below any target's variance.

        `pool`: threads that share the targets (numpy's products release the GIL), each
        target computed exactly as without it, so the result is the same."""
        x = np.atleast_2d(np.asarray(x, float))
        mean = np.empty((len(x), len(self.gps)))
        var = np.empty_like(mean)
        targets = range(len(self.gps))
        for a in range(0, len(x), rows):
            xa, out = x[a : a + rows], slice(a, a + rows)
            if pool is None:
                self._predict_targets(xa, targets, mean[out], var[out])
                continue
            # one task per target: the pool spreads them over its threads
            done = [
                pool.submit(self._predict_targets, xa, [j], mean[out], var[out]) for j in targets
            ]
            for f in done:
                f.result()
        return mean, var

    def _predict_targets(self, xa, targets, mean, var) -> None:
        """Fill the columns `targets` of mean and var (views) at the points xa."""
        for j in targets:
            c, scale, xs, xs2, alpha, l_inv, first = self._parts[j]
            q = xa / scale
            d2 = np.einsum("ij,ij->i", q, q)[:, None] + xs2[None, :] - 2.0 * (q @ xs.T)
            r = np.sqrt(5.0 * np.maximum(d2, 0.0))  # sqrt(5) x distance
            k_star = c * (1.0 + r + r * r / 3.0) * np.exp(-r)  # Matern 5/2
            w = (l_inv @ k_star[:, first:].T.astype(np.float32)).astype(float)
            s2 = c - np.einsum("ij,ij->j", w, w)
            mean[:, j] = self.y_mean[j] + self.y_sd[j] * (k_star @ alpha)
            var[:, j] = self.y_sd[j] ** 2 * np.maximum(s2, 0.0)


def fit_target(x: np.ndarray, yj: np.ndarray, seed: int, hyper_points: int = 0, warm=None):
    """One target's GP (see `Emulator.fit`): (fitted GP, mean, sd of the finite outputs).
    `warm`: a fitted kernel to start the hyperparameter search from (no restarts)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
    from threadpoolctl import threadpool_limits

    d = x.shape[1]
    ok = np.isfinite(yj)
    mu, sd = float(yj[ok].mean()), float(yj[ok].std()) or 1.0
    kernel = ConstantKernel(1.0, (1e-3, 1e2)) * Matern(
        length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5
    ) + WhiteKernel(1e-2, (1e-8, 1.0))
    restarts = 1
    if warm is not None:
        kernel, restarts = warm, 0  # the fitted kernel keeps the bounds set above
    gp = GaussianProcessRegressor(
        kernel, normalize_y=False, n_restarts_optimizer=restarts, random_state=seed
    )
    xj, zj = x[ok], (yj[ok] - mu) / sd
    sub = np.arange(len(xj))
    if 0 < hyper_points < len(xj):
        sub = np.sort(np.random.default_rng(seed).choice(len(xj), hyper_points, False))
    with warnings.catch_warnings(), threadpool_limits(1):
        # bound warnings: a flat direction is fine. One BLAS thread: on a busy 2-core
        # machine threaded BLAS made each fit 7x slower (1.4 s vs 9.9 s)
        warnings.simplefilter("ignore")
        gp.fit(xj[sub], zj[sub])
        if len(sub) < len(xj):
            gp = GaussianProcessRegressor(gp.kernel_, optimizer=None, normalize_y=False)
            gp.fit(xj, zj)
    return gp, mu, sd


def implausibility(mean, var, z, v) -> np.ndarray:
    """Rows x targets: |mean - z| / sqrt(var + v)."""
    return np.abs(mean - z) / np.sqrt(var + v)


def nroy_points(
    em: Emulator, z, v, n: int, cutoff: float, d: int, seed: int, candidates: int
) -> tuple[np.ndarray, float]:
    """n points drawn at random from `candidates` Latin-hypercube points whose largest
    implausibility is below `cutoff`, and the share of the cube that is NROY. If fewer
    than n pass, the least implausible candidates fill the wave."""
    u = qmc.LatinHypercube(d=d, seed=seed).random(candidates)
    mean, var = em.predict(u)
    worst = implausibility(mean, var, z, v).max(axis=1)
    keep = np.flatnonzero(worst < cutoff)
    share = len(keep) / candidates
    rng = np.random.default_rng(seed)
    if len(keep) >= n:
        return u[rng.choice(keep, n, replace=False)], share
    return u[np.argsort(worst)[:n]], share


def log_posterior(u: np.ndarray, em: Emulator, z, v, pool=None) -> np.ndarray:
    """Vectorised over rows of u: uniform prior on the cube, normal likelihood with the
    emulator variance added."""
    u = np.atleast_2d(u)
    out = np.full(len(u), -np.inf)
    inside = np.all((u >= 0.0) & (u <= 1.0), axis=1)
    if inside.any():
        mean, var = em.predict(u[inside], pool=pool)
        tot = var + v
        out[inside] = -0.5 * np.sum((mean - z) ** 2 / tot + np.log(2 * math.pi * tot), axis=1)
    return out


def log_posterior_logit(w: np.ndarray, em: Emulator, z, v, pool=None) -> np.ndarray:
    """The same posterior in logit coordinates w = log(u / (1 - u)): u = expit(w), and
    the uniform prior on u becomes the density u (1 - u) per coordinate (the Jacobian).
    The sampler then never proposes outside the cube; see `sample`."""
    w = np.atleast_2d(w)
    jac = np.sum(log_expit(w) + log_expit(-w), axis=1)
    return log_posterior(expit(w), em, z, v, pool) + jac


@dataclass
class Chain:
    samples: np.ndarray  # kept draws (rows) on the unit cube
    acceptance: float  # mean acceptance fraction of the walkers
    autocorr: np.ndarray  # integrated autocorrelation time per parameter (steps)
    ess: np.ndarray  # effective sample size per parameter of the kept draws
    converged: bool  # chain length >= 50 autocorrelation times (emcee's rule of thumb)


MOVES = ("stretch", "de")


def _moves(name: str):
    """emcee's proposal. `stretch`: Goodman & Weare's affine-invariant stretch (emcee's
    default). `de`: differential evolution (80%) mixed with its snooker variant (20%),
    which emcee's docs suggest when the stretch move mixes slowly; on this model's
    14-parameter emulator posterior it halves the autocorrelation time
    (docs/uncertainty.md)."""
    import emcee

    if name == "de":
        return [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]
    return None  # emcee's default, the stretch move


def sample(
    em: Emulator, z, v, start: np.ndarray, walkers: int, steps: int, burn: int, draws: int,
    seed: int, moves: str = "stretch", logit: bool = True, threads: int = 1,
    progress: bool = False,
) -> Chain:  # fmt: skip
    """emcee from `start` (walkers x d points), then `draws` thinned draws after burn-in.

    `logit`: the walkers move in logit coordinates (`log_posterior_logit`), the same
    posterior. On the cube, every proposal that leaves it is rejected; with parameters
    the targets do not inform spread over their whole range, most are: the 22-parameter
    posterior accepted 9% of proposals. The autocorrelation times and effective sample
    sizes are those of the logit coordinates; the draws are returned on the cube.

    `threads`: threads that share the emulator's targets at each step (the same numbers).
    `progress`: emcee's progress bar (steps) on stderr."""
    import emcee

    d = start.shape[1]
    rng = np.random.default_rng(seed)
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    target = log_posterior_logit if logit else log_posterior
    s = emcee.EnsembleSampler(
        walkers, d, lambda w: target(w, em, z, v, pool), vectorize=True, moves=_moves(moves)
    )
    # emcee draws its proposals from a private RandomState: seed it for reproducibility
    s._random = np.random.RandomState(int(rng.integers(2**31)))
    from threadpoolctl import threadpool_limits

    # the start in logit coordinates: a start on the cube's face would be infinite
    x0 = to_logit(np.clip(start, 1e-6, 1.0 - 1e-6)) if logit else start
    try:
        with threadpool_limits(1):  # small matrix products: BLAS threads only add overhead
            s.run_mcmc(x0, steps, progress=progress)
    finally:
        if pool is not None:
            pool.shutdown()
    tau = s.get_autocorr_time(discard=burn, quiet=True)
    chain = s.get_chain(discard=burn, flat=True)
    if logit:
        chain = expit(chain)
    n_kept = len(chain)
    ess = n_kept / np.maximum(tau, 1.0)
    pick = rng.choice(n_kept, size=min(draws, n_kept), replace=False)
    converged = bool(steps - burn >= 50 * np.max(tau))
    return Chain(chain[np.sort(pick)], float(np.mean(s.acceptance_fraction)), tau, ess, converged)


def start_points(x: np.ndarray, score: np.ndarray, walkers: int, seed: int) -> np.ndarray:
    """The walkers' start: the best-scoring design points, jittered a little so no two
    walkers coincide (emcee needs a non-degenerate start)."""
    rng = np.random.default_rng(seed)
    best = x[np.argsort(score)[:walkers]]
    if len(best) < walkers:
        best = best[rng.integers(0, len(best), walkers)]
    return np.clip(best + rng.normal(0.0, 0.01, best.shape), 0.0, 1.0)
