"""Parameter draws for the probabilistic sensitivity analysis (second-order uncertainty).

Each uncertain input has a marginal distribution chosen for its kind of quantity:
beta for probabilities and utilities, gamma for costs, log-normal for ratios and rates,
normal (optionally truncated), uniform, Dirichlet for shares that must sum to one (e.g.
the condition mix), or fixed. Correlated inputs are linked through a Gaussian copula
with the declared *Spearman* (rank) correlations: a Spearman rho_s becomes the copula's
Pearson correlation r = 2 sin(pi rho_s / 6) (the exact relation for a Gaussian copula,
which no monotone marginal changes), standard normals are correlated with the Cholesky
factor of that matrix (one factor per group of inputs linked by correlations, inputs in
key order), turned into uniforms, then into each marginal by its quantile function.
Utility draws by mRS are then made non-increasing with mRS (`order_utilities`).
Calibrated natural-history parameters can instead be resampled, as whole sets, from the
calibration ensemble (sim.evidence.calibrate.load_ensemble), which keeps their joint structure.

Each input draws from its own generator, named by its config key (`sim.core.rng`):
adding, removing or reordering an input leaves every other input's draws unchanged
(an input correlated with it apart). All draws are made before any patient is
simulated: the parameter sets do not depend on workers, chunks or execution order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.config.economics import PSAConfig, PSAParam
from sim.core.rng import generator

DIST_KINDS = ("beta", "gamma", "lognormal", "normal", "uniform", "dirichlet", "fixed")


def beta_shape(mean: float, sd: float) -> tuple[float, float]:
    """Method of moments: Beta(a, b) with this mean and sd."""
    k = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * k, (1.0 - mean) * k


def gamma_shape(mean: float, sd: float) -> tuple[float, float]:
    """Method of moments: Gamma(shape, scale) with this mean and sd."""
    return (mean / sd) ** 2, sd**2 / mean


def quantile(p: PSAParam, u: np.ndarray) -> np.ndarray:
    """The marginal's quantile function at uniforms u (not for dirichlet)."""
    if p.kind == "fixed":
        return np.full(u.shape, p.mean)
    if p.kind == "beta":
        a, b = beta_shape(p.mean, p.sd)
        return stats.beta.ppf(u, a, b)
    if p.kind == "gamma":
        shape, scale = gamma_shape(p.mean, p.sd)
        return stats.gamma.ppf(u, shape, scale=scale)
    if p.kind == "lognormal":
        return p.mean * np.exp(np.log(p.sd) * stats.norm.ppf(u))
    if p.kind == "uniform":
        return p.low + (p.high - p.low) * u
    if p.kind == "normal":
        if p.sd == 0.0:
            return np.full(u.shape, p.mean)
        lo, hi = (p.low - p.mean) / p.sd, (p.high - p.mean) / p.sd
        return stats.truncnorm.ppf(u, lo, hi, loc=p.mean, scale=p.sd)
    raise ValueError(f"unknown distribution {p.kind!r}")


def copula_correlation(spearman: float | np.ndarray) -> np.ndarray:
    """The Gaussian copula's Pearson correlation that gives this Spearman correlation:
    r = 2 sin(pi rho_s / 6) (inverse of rho_s = 6 / pi asin(r / 2))."""
    return 2.0 * np.sin(np.pi * np.asarray(spearman, dtype=float) / 6.0)


def correlation_matrix(psa: PSAConfig, keys: list[str]) -> np.ndarray:
    """The Gaussian copula's correlation matrix among `keys`, in their order (others
    ignored), from the declared Spearman correlations."""
    r = np.eye(len(keys))
    for c in psa.correlations:
        if c.a in keys and c.b in keys:
            i, j = keys.index(c.a), keys.index(c.b)
            r[i, j] = r[j, i] = copula_correlation(c.rho)
    return r


UTILITY_KEY = "economics.utilities.by_mrs."


def order_utilities(params: pd.DataFrame, base: list[float]) -> tuple[pd.DataFrame, int]:
    """Make each draw's utilities non-increasing with mRS (a worse state is never valued
    above a better one): going from mRS 1 to 5, a utility above the one before it is set
    to that one (levels not sampled keep their base value `base`). Returns the frame
    (sampled columns changed in place of a copy) and the number of draws changed."""
    cols = {k: f"{UTILITY_KEY}{k}" for k in range(len(base))}
    if not any(c in params for c in cols.values()):
        return params, 0
    u = np.column_stack(
        [
            params[c].to_numpy(dtype=float) if c in params else np.full(len(params), base[k])
            for k, c in cols.items()
        ]
    )
    ordered = np.minimum.accumulate(u, axis=1)
    changed = int((ordered != u).any(axis=1).sum())
    out = params.copy()
    for k, c in cols.items():
        if c in out:
            out[c] = ordered[:, k]
    return out, changed


def correlated_groups(psa: PSAConfig) -> list[list[str]]:
    """The inputs linked by declared correlations, as groups (connected components of
    the correlation graph), each sorted by key; inputs without correlations are in none."""
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.setdefault(k, k) != k:
            k = parent[k]
        return k

    for c in psa.correlations:
        parent[root(c.a)] = root(c.b)
    groups: dict[str, list[str]] = {}
    for k in parent:
        groups.setdefault(root(k), []).append(k)
    return sorted(sorted(g) for g in groups.values())


def draw_parameters(
    psa: PSAConfig, seed: int, ensemble: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per draw, one column per dotted config key (plus `ensemble_member`)."""
    n = psa.draws
    scalar = {p.key: p for p in psa.params if p.kind != "dirichlet"}
    z = {k: generator(seed, f"psa/param/{k}").standard_normal(n) for k in scalar}
    for group in correlated_groups(psa):
        chol = np.linalg.cholesky(correlation_matrix(psa, group))
        linked = np.column_stack([z[k] for k in group]) @ chol.T
        z.update({k: linked[:, i] for i, k in enumerate(group)})
    out: dict[str, np.ndarray] = {}
    for k, p in scalar.items():
        out[k] = quantile(p, stats.norm.cdf(z[k]))
    for p in psa.params:
        if p.kind == "dirichlet":
            gen = generator(seed, "psa/dirichlet/" + ",".join(p.keys))
            g = gen.gamma(np.asarray(p.counts, dtype=float), size=(n, len(p.counts)))
            share = g / g.sum(axis=1, keepdims=True)
            for j, k in enumerate(p.keys):
                out[k] = share[:, j]
    if ensemble is not None and len(ensemble):
        member = generator(seed, "psa/ensemble_member").integers(0, len(ensemble), size=n)
        out["ensemble_member"] = member
        for col in ensemble.columns:
            out[col] = ensemble[col].to_numpy(dtype=float)[member]
    frame = pd.DataFrame(out)
    frame.insert(0, "draw", np.arange(n))
    return frame


def groups(psa: PSAConfig, ensemble: pd.DataFrame | None) -> dict[str, list[str]]:
    """EVPPI groups: declared `group` labels, each parameter on its own otherwise, and
    the calibration ensemble as one group."""
    out: dict[str, list[str]] = {}
    for p in psa.params:
        keys = list(p.keys) if p.kind == "dirichlet" else [p.key]
        if p.kind == "fixed":
            continue
        out.setdefault(p.group or (p.key or ",".join(p.keys)), []).extend(keys)
    if ensemble is not None and len(ensemble):
        out[f"calibrated model ({psa.ensemble} ensemble)"] = list(ensemble.columns)
    return out
