"""Decision uncertainty from the PSA: CEAC, CEAF, EVPI and EVPPI.

For each willingness to pay lambda, a draw's net monetary benefit of strategy s is
NB_s = lambda * QALY_s - cost_s.

* CEAC: the share of draws in which each strategy has the highest NB (sums to 1).
* CEAF: the strategy with the highest *expected* NB at each lambda (the one to adopt),
  with its CEAC probability (Fenwick et al. 2001, Health Econ 10:779).
* EVPI = E[max_s NB_s] - max_s E[NB_s]: what resolving all parameter uncertainty is
  worth per patient (Claxton 1999).
* EVPPI of a parameter group phi = E_phi[max_s E(NB_s | phi)] - max_s E[NB_s]. The inner
  expectation is estimated by regressing each strategy's incremental NB on phi
  (Strong, Oakley & Brennan 2014, Med Decis Making 34:311): a cubic polynomial for one
  parameter, linear + quadratic + pairwise terms for several, as long as there are at
  least ROWS_PER_TERM draws per term; a larger group drops the pairwise terms, then the
  squares (a 47-parameter group has 1,176 full terms: on 1,000 draws that regression
  would reproduce the noise and call it information). For a group with few
  distinct values (e.g. resampled calibration-ensemble members) the conditional means
  are taken directly.
* EVPPI noise floor: with few draws both estimators are biased upward (a regression or
  a group mean fits some noise, and the max of noisy means exceeds the mean of the
  max). The floor is the EVPPI of the same group after its parameter rows are randomly
  permuted across draws, which removes any information they carry: its mean estimates
  the bias, and an EVPPI below its 95th percentile cannot be told from noise
  (`noise_mean`, `noise_p95`, `above_noise`; `evppi_noise_warnings` words the groups
  that are not above it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DISCRETE_SHARE = 0.2  # a group with <= this share of distinct rows is treated as discrete
NOISE_QUANTILE = 0.95  # an EVPPI above this quantile of the permutation floor is signal
MATERIAL_SHARE = 0.05  # a floor below this share of the largest EVPPI is not warned about
# draws per regression term: Harrell's rule of thumb against overfitting, about n/10-n/20
# terms for n observations (Regression Modeling Strategies, 2nd ed. 2015, s.4.4)
ROWS_PER_TERM = 10
# an EVPPI equal to the EVPI up to rounding (a group of every parameter) is not "capped"
EVPI_RTOL, EVPI_ATOL = 1e-9, 1e-9


class EVPPINoiseWarning(UserWarning):
    """An EVPPI that cannot be told from the small-sample bias of its estimator."""


def wtp_grid(wtp_max: float, points: int) -> np.ndarray:
    return np.linspace(0.0, wtp_max, points)


def _matrices(psa: pd.DataFrame, strategies: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(draws x strategies) cost and QALY matrices, columns in `strategies` order."""
    cost = psa.pivot(index="draw", columns="strategy", values="cost")[strategies].to_numpy()
    qaly = psa.pivot(index="draw", columns="strategy", values="qaly")[strategies].to_numpy()
    return cost, qaly


def net_benefit(psa: pd.DataFrame, strategies: list[str], wtp: np.ndarray) -> np.ndarray:
    """(wtp x draws x strategies) net monetary benefit."""
    cost, qaly = _matrices(psa, strategies)
    return wtp[:, None, None] * qaly[None] - cost[None]


def ceac(psa: pd.DataFrame, strategies: list[str], wtp: np.ndarray) -> pd.DataFrame:
    """Tidy CEAC: wtp, strategy, probability, plus `on_frontier` (the CEAF strategy)."""
    nb = net_benefit(psa, strategies, wtp)
    best = nb.argmax(axis=2)  # ties go to the earlier strategy: each draw counts once
    prob = np.stack([(best == k).mean(axis=1) for k in range(len(strategies))], axis=1)
    optimal = nb.mean(axis=1).argmax(axis=1)
    rows = [
        {
            "wtp": float(w),
            "strategy": s,
            "probability": float(prob[i, k]),
            "on_frontier": bool(optimal[i] == k),
        }
        for i, w in enumerate(wtp)
        for k, s in enumerate(strategies)
    ]
    return pd.DataFrame(rows)


def evpi(psa: pd.DataFrame, strategies: list[str], wtp: np.ndarray) -> pd.DataFrame:
    nb = net_benefit(psa, strategies, wtp)
    return pd.DataFrame({"wtp": wtp, "evpi": _regret(nb)})


def _regret(nb: np.ndarray) -> np.ndarray:
    """E[max_s NB_s - NB_s*], s* = the strategy with the highest mean NB: the same as
    E[max NB] - max E[NB], written so it is exactly 0 when s* wins in every draw."""
    best = nb.mean(axis=-2).argmax(axis=-1)
    chosen = np.take_along_axis(nb, best[..., None, None], axis=-1)[..., 0]
    return (nb.max(axis=-1) - chosen).mean(axis=-1)


def _basis(x: np.ndarray) -> np.ndarray:
    """Standardised polynomial terms: cubic for one parameter; for several, linear +
    squares + pairwise products, fewer when the draws cannot support them (see above)."""
    z = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    n, p = z.shape
    cols = [np.ones(n)]
    if p == 1:
        return np.column_stack(cols + [z[:, 0], z[:, 0] ** 2, z[:, 0] ** 3])
    cols += [z[:, j] for j in range(p)]
    pairs = p * (p - 1) // 2
    if 1 + 2 * p + pairs <= n / ROWS_PER_TERM:
        cols += [z[:, j] ** 2 for j in range(p)]
        cols += [z[:, i] * z[:, j] for i in range(p) for j in range(i + 1, p)]
    elif 1 + 2 * p <= n / ROWS_PER_TERM:
        cols += [z[:, j] ** 2 for j in range(p)]
    return np.column_stack(cols)


def conditional_means(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """E[y | x] at each row: group means if x has few distinct rows, else a regression."""
    n = len(x)
    _, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if len(counts) <= DISCRETE_SHARE * n:
        sums = np.zeros((len(counts), y.shape[1]))
        np.add.at(sums, inverse, y)
        return (sums / counts[:, None])[inverse]
    basis = _basis(x)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return basis @ coef


def _group_evppi(x: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """EVPPI per wtp of one group (x: draws x params) from nb (wtp x draws x strategies):
    all wtp fitted at once (the conditional means are linear in the responses)."""
    n_w, n, k = nb.shape
    if k < 2:
        return np.zeros(n_w)
    inc = nb[:, :, 1:] - nb[:, :, :1]  # vs the first strategy
    y = inc.transpose(1, 0, 2).reshape(n, n_w * (k - 1))
    fitted = conditional_means(x, y).reshape(n, n_w, k - 1).transpose(1, 0, 2)
    full = np.concatenate([np.zeros((n_w, n, 1)), fitted], axis=2)
    return np.maximum(_regret(full), 0.0)


def evppi(
    psa: pd.DataFrame,
    params: pd.DataFrame,
    strategies: list[str],
    wtp: np.ndarray,
    groups: dict[str, list[str]],
    permutations: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Tidy EVPPI: group, wtp, evppi, capped_at_evpi (one row per group and wtp); with
    `permutations` > 0 also the permutation noise floor (noise_mean, noise_p95) and
    above_noise. EVPPI <= EVPI always; an estimate above the EVPI is reported as the EVPI
    with capped_at_evpi true (the regression's error: read that group's EVPPI as
    unreliable at that threshold)."""
    from sim.core.rng import generator

    nb = net_benefit(psa, strategies, wtp)  # rows in draw order (pivot sorts by draw)
    p = params.sort_values("draw")
    full = _regret(nb)  # the EVPI: no group's EVPPI can exceed it
    rows = []
    for name, keys in groups.items():
        present = [k for k in keys if k in p.columns]
        if not present:
            continue
        x = p[present].to_numpy(dtype=float)
        value = _group_evppi(x, nb)
        # a regression estimate above the EVPI is the estimator's error (a linear fit in
        # many dimensions extrapolating at a few draws), not information: capped, flagged
        capped = value > full * (1.0 + EVPI_RTOL) + EVPI_ATOL
        value = np.minimum(value, full)
        floor = None
        if permutations > 0:
            gen = generator(seed, f"psa/evppi_permutation/{name}")
            floor = np.stack(
                [_group_evppi(x[gen.permutation(len(x))], nb) for _ in range(permutations)]
            )
        for i, w in enumerate(wtp):
            row = {"group": name, "wtp": float(w), "evppi": float(value[i]),
                   "capped_at_evpi": bool(capped[i])}  # fmt: skip
            if floor is not None:
                row["noise_mean"] = float(floor[:, i].mean())
                row["noise_p95"] = float(np.quantile(floor[:, i], NOISE_QUANTILE))
                row["above_noise"] = bool(value[i] > row["noise_p95"])
            rows.append(row)
    return pd.DataFrame(rows)


def evppi_noise_warnings(table: pd.DataFrame, wtp: float, draws: int) -> list[str]:
    """One sentence per group whose EVPPI at the grid point nearest `wtp` is positive
    but not above its permutation noise floor's 95th percentile, where that floor is
    material (at least MATERIAL_SHARE of the largest EVPPI there): a floor of 1 beside
    an EVPPI of 900 only says the group is worth nothing, not that draws are few."""
    if "noise_p95" not in table or table.empty:
        return []
    w = table["wtp"].unique()[np.abs(table["wtp"].unique() - wtp).argmin()]
    at = table[table["wtp"] == w]
    material = at["noise_p95"] >= MATERIAL_SHARE * at["evppi"].max()
    at = at[(at["evppi"] > 0) & ~at["above_noise"].astype(bool) & material]
    return [
        f"EVPPI of {r.group!r} at {w:,.0f} per QALY ({r.evppi:,.0f}) is not above the "
        f"noise floor of {draws:,} draws (its parameters permuted: mean {r.noise_mean:,.0f}, "
        f"95th percentile {r.noise_p95:,.0f}), the estimator's small-sample bias; raise "
        "economics.psa.draws"
        for r in at.itertuples()
    ]
