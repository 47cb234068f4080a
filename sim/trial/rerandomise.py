"""Re-randomisation p-values for the log-rank-type tests (log-rank, Fleming-Harrington,
MaxCombo) at one look: a small-sample alternative to their normal approximations.

Under the sharp null (the arm changes no patient's outcome) every patient's follow-up
time and death are what they are whatever arm the randomisation gave them, so the test
statistic's null distribution is its distribution over the allocations the
randomisation could have made (Fisher 1935; Rosenberger & Lachin 2016, Randomization in
Clinical Trials, ch. 6). The trial allocates by permuted blocks within randomisation
strata (sim.trial.randomise); given the arms that fell in each block, every
arrangement of them within the block was equally likely (for the last, truncated
block too: the first m places of a uniformly shuffled block are exchangeable). So
shuffling the arm labels within each block draws from the exact conditional
randomisation distribution, and with B shuffles p = (1 + #{T_b >= T}) / (B + 1)
satisfies P(p <= alpha) <= alpha at every sample size (Phipson & Smyth 2010, Stat Appl
Genet Mol Biol 9:39), whatever the strata, ties or censoring, provided censoring does
not depend on the arm (loss to follow-up and the analysis date do not here; the date
of an event-driven analysis counts deaths of both arms, which a shuffle leaves alone).

The statistic T is the design's own z: the (stratified) log-rank z, the FH(rho, gamma)
z, or MaxCombo's largest FH z (max_k Z_k, each standardised by its own variance; the
asymptotic p's correlation step is not needed, since the reference distribution is
simulated). The pooled Kaplan-Meier weights, the numbers at risk and the deaths at each
death time do not depend on the labels, so one shuffle costs a few vector operations.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import ndtri

from sim.trial.analyses import TestResult
from sim.trial.weighted import fh_weights, km_before


def _stratum_parts(
    time: np.ndarray, event: np.ndarray, labels: np.ndarray, weights
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted O - E (B, K) and its hypergeometric variance (B, K) in one stratum, for
    each of B label rows (B, n) at once; zeros without deaths."""
    b, k = labels.shape[0], len(weights)
    u, var = np.zeros((b, k)), np.zeros((b, k))
    if not event.any():
        return u, var
    order = np.argsort(time, kind="stable")
    t, d, g = time[order], event[order], labels[:, order]
    n = len(t)
    at_risk = n - np.arange(n)
    at_risk_e = np.cumsum(g[:, ::-1], axis=1)[:, ::-1]
    _, first = np.unique(t, return_index=True)
    d_all = np.add.reduceat(d.astype(float), first)
    d_e = np.add.reduceat((g & d).astype(float), first, axis=1)
    keep = d_all > 0
    nj, dj = at_risk[first][keep].astype(float), d_all[keep]
    nej, dej = at_risk_e[:, first][:, keep], d_e[:, keep]
    frac = nej / nj
    tie = np.where(nj > 1, (nj - dj) / np.maximum(nj - 1.0, 1.0), 1.0)
    terms = dej - dj * frac
    v = dj * frac * (1.0 - frac) * tie
    w = fh_weights(km_before(nj, dj), weights)  # the pooled curve: the same for every row
    return terms @ w.T, v @ (w**2).T


def statistics(
    time: np.ndarray,
    event: np.ndarray,
    labels: np.ndarray,
    weights,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """max_k Z_k for each label row (B, n) -> (B,): Z_k = -U_k / sqrt(V_k) of the FH
    statistics `weights` ((rho, gamma) pairs; [(0, 0)] is the log-rank test), U and V
    summed over strata. A row with no variance (one arm empty) gets 0."""
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    labels = np.atleast_2d(np.asarray(labels, dtype=bool))
    u = np.zeros((labels.shape[0], len(weights)))
    v = np.zeros_like(u)
    groups = [slice(None)] if strata is None else [strata == s for s in np.unique(strata)]
    for on in groups:
        du, dv = _stratum_parts(time[on], event[on], labels[:, on], weights)
        u += du
        v += dv
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(v > 0.0, -u / np.sqrt(np.where(v > 0.0, v, 1.0)), 0.0)
    return z.max(axis=1)


def shuffles(
    labels: np.ndarray, blocks: np.ndarray, count: int, gen: np.random.Generator
) -> np.ndarray:
    """`count` re-randomisations (count, n): the labels rearranged at random within each
    block (patients sharing a block id), each block keeping its own labels.

    A block with m members of which a are experimental takes a uniformly random a-subset
    of its members as experimental: each member draws a uniform key, and the a members
    with the smallest keys in the block are experimental. The members are laid out as a
    (blocks x largest block) table, so a key's rank in its block is a count of smaller
    keys in its row (blocks are small: no sort needed)."""
    labels = np.asarray(labels, dtype=bool)
    _, block, size = np.unique(np.asarray(blocks), return_inverse=True, return_counts=True)
    n, width = len(labels), int(size.max()) if len(size) else 0
    order = np.argsort(block, kind="stable")
    slot = np.arange(n) - np.repeat(np.cumsum(size) - size, size)  # place within its block
    table = np.full((len(size), width), -1, dtype=np.int64)
    table[block[order], slot] = order
    real = table >= 0
    experimental = np.bincount(block, weights=labels, minlength=len(size))
    keys = gen.random((count, *table.shape))
    keys[:, ~real] = 2.0  # empty slots rank above every member
    rank = (keys[..., :, None] > keys[..., None, :]).sum(axis=-1)
    out = np.empty((count, n), dtype=bool)
    out[:, table[real]] = (rank < experimental[:, None])[:, real]
    return out


def p_value(observed: float, reference: np.ndarray) -> float:
    """(1 + #{T_b >= T}) / (B + 1): never below 1 / (B + 1), exact size (Phipson & Smyth
    2010)."""
    return float((1 + np.count_nonzero(reference >= observed)) / (len(reference) + 1))


def rerandomised(
    result: TestResult,
    time: np.ndarray,
    event: np.ndarray,
    experimental: np.ndarray,
    blocks: np.ndarray,
    weights,
    strata: np.ndarray | None,
    count: int,
    gen: np.random.Generator,
) -> TestResult:
    """`result` (the asymptotic test on these data) with its p replaced by the
    re-randomisation p of T = max_k Z_k and z by Phi^-1(1 - p), so that "z >= the
    boundary" stays "p <= alpha" (z from p clipped to [1 / (B + 1), B / (B + 1)], so it
    stays finite when every shuffle reaches T); the estimate and death counts are
    unchanged."""
    e = np.asarray(experimental, dtype=bool)
    observed = float(statistics(time, event, e, weights, strata)[0])
    reference = statistics(time, event, shuffles(e, blocks, count, gen), weights, strata)
    p = p_value(observed, reference)
    edge = 1.0 / (count + 1)
    return replace(result, z=float(ndtri(1.0 - min(max(p, edge), 1.0 - edge))), p=p)
