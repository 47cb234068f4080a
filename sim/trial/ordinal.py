"""Ordinal endpoint (modified Rankin scale 0-6 at 12 months, 6 = dead): the
proportional-odds (cumulative logit) analysis and Whitehead's sample size.

* Model (McCullagh 1980): P(Y <= k | arm) = expit(theta_k + beta x), x = 1 for the
  experimental arm, so beta > 0 (common odds ratio exp(beta) > 1) means lower, better
  mRS in the experimental arm. Fitted by maximum likelihood on the 2 x K table of
  counts (the data reduce to it; Fisher scoring), with Wald z = beta / SE (expected
  information); categories nobody reached are dropped (their thresholds are not
  identified). Stratified: the model adjusted for stratum effects (theta_k + beta x +
  gamma_s), for a stratified randomisation. Checked against statsmodels' OrderedModel
  in tests/test_trial_mrs.py.
* Sample size (Whitehead 1993, Stat Med 12:2257-2271): N = 3 (z_(1-alpha) +
  z_(1-beta))^2 / (r (1 - r) log(OR)^2 (1 - sum_k pbar_k^3)), r the experimental share
  and pbar_k the category probabilities averaged over the arms; with two categories
  it is the usual log-odds-ratio formula (1 - sum pbar^3 = 3 p (1 - p)).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from sim.trial.analyses import TestResult, _upper

MRS_CATEGORIES = 7  # mRS 0-5 alive, 6 dead


def _score_information(
    psi: np.ndarray, counts: np.ndarray, design: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Score, expected (Fisher) information and log-likelihood of the grouped
    cumulative-logit model.
    psi = (theta_1..theta_(K-1), b); cell i has covariates design[i] (arm first, then
    stratum indicators) and category counts counts[i]."""
    k = counts.shape[1]
    m = len(psi)
    theta, b = psi[: k - 1], psi[k - 1 :]
    score, info, ll = np.zeros(m), np.zeros((m, m)), 0.0
    rows = np.arange(k)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for v, row in zip(design, counts, strict=True):
            _add_cell(v, row, theta, b, rows, score, info)
            ll += _cell_loglik(v, row, theta, b)
    return score, info, ll


def _cell_probabilities(theta: np.ndarray, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """(category probabilities, logistic density at each threshold padded with 0)."""
    cdf = expit(theta + shift)
    dens = np.r_[0.0, cdf * (1.0 - cdf), 0.0]
    return np.maximum(np.diff(np.r_[0.0, cdf, 1.0]), np.finfo(float).tiny), dens


def _cell_loglik(v: np.ndarray, row: np.ndarray, theta: np.ndarray, b: np.ndarray) -> float:
    p, _ = _cell_probabilities(theta, float(v @ b))
    return float(row @ np.log(p))


def _add_cell(
    v: np.ndarray,
    row: np.ndarray,
    theta: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    score: np.ndarray,
    info: np.ndarray,
) -> None:
    """Add one cell's score and expected information (in place)."""
    k = len(rows)
    p, dens = _cell_probabilities(theta, float(v @ b))
    jac = np.zeros((k, len(score)))  # dp_j / dpsi
    jac[rows[:-1], rows[:-1]] = dens[1:-1]
    jac[rows[1:], rows[:-1]] = -dens[1:-1]
    jac[:, k - 1 :] = (dens[1:] - dens[:-1])[:, None] * v[None, :]
    score += (row / p) @ jac
    info += row.sum() * jac.T @ (jac / p[:, None])


MAX_ITER = 50  # Fisher scoring iterations (converges in 4-8 from the pooled start)
TOL = 1e-10  # convergence: largest parameter step
MAX_HALVINGS = 30  # step halvings per iteration
# |log odds ratio| beyond which the MLE is taken not to exist (separation; an odds ratio
# of e^20): the score test at beta = 0 is used instead, and the estimate reported is this
MAX_LOG_OR = 20.0
_NONE = TestResult(0.0, 1.0, math.nan, math.nan, math.nan)


def proportional_odds(counts_e: np.ndarray, counts_c: np.ndarray) -> TestResult:
    """Counts per category (ordered best first) per arm, shape (K,), or per stratum and
    category, shape (S, K), for an analysis adjusted for the strata (a proportional-odds
    model with stratum effects, as for a stratified randomisation): the common odds
    ratio of a better outcome (estimate), its Wald z (expected information at the MLE)
    and one-sided p (H1: OR > 1), and each arm's mean category (experimental, control).
    Fitted by Fisher scoring from the pooled cumulative logits. Without a finite MLE
    (the arms separated), z is the score test of beta = 0 (Wilcoxon-type; defined for
    any data) and the estimate is e^(+-MAX_LOG_OR)."""
    all_e, all_c = np.atleast_2d(counts_e).astype(float), np.atleast_2d(counts_c).astype(float)
    if all_e.sum() == 0 or all_c.sum() == 0:
        return _NONE
    levels = np.arange(all_e.shape[1])
    mean_e = float(all_e.sum(axis=0) @ levels / all_e.sum())
    mean_c = float(all_c.sum(axis=0) @ levels / all_c.sum())
    # strata with one arm only, or whose patients all share one category, say nothing
    # about beta (and the latter's stratum effect has no finite MLE): left out; then
    # the categories nobody left reached
    both_arms = (all_e.sum(axis=1) > 0) & (all_c.sum(axis=1) > 0)
    used = both_arms & (((all_e + all_c) > 0).sum(axis=1) > 1)
    ce, cc = all_e[used], all_c[used]
    present = (ce + cc).sum(axis=0) > 0
    ce, cc = ce[:, present], cc[:, present]
    k, s = ce.shape[1], ce.shape[0]
    if s == 0 or k < 2 or ce.sum() == 0 or cc.sum() == 0:
        return TestResult(0.0, 1.0, math.nan, mean_e, mean_c)
    strata = np.eye(s)[:, 1:]  # indicators of strata 2..S
    design = np.vstack([np.c_[np.ones(s), strata], np.c_[np.zeros(s), strata]])
    counts = np.vstack([ce, cc])
    cum = np.cumsum(counts.sum(axis=0))[:-1] / counts.sum()
    psi = np.r_[np.log(cum / (1.0 - cum)), np.zeros(s)]
    free = np.ones(len(psi), dtype=bool)
    psi, info, converged = _fit(psi, counts, design, free)
    beta = float(psi[k - 1])
    if converged and abs(beta) < MAX_LOG_OR:
        var = float(np.linalg.pinv(info)[k - 1, k - 1])
        if var > 0:
            z = beta / math.sqrt(var)
            return TestResult(z, _upper(z), math.exp(beta), mean_e, mean_c)
    # no finite MLE (separation, or a sparse table): the score test of beta = 0 at the
    # constrained MLE (pseudo-inverse: parameters the sparse data do not identify)
    free[k - 1] = False
    psi0 = np.r_[np.log(cum / (1.0 - cum)), np.zeros(s)]
    psi0, _, _ = _fit(psi0, counts, design, free)
    score, info, _ = _score_information(psi0, counts, design)
    rest = np.flatnonzero(free)
    efficient = (
        info[k - 1, k - 1]
        - info[k - 1, rest] @ np.linalg.pinv(info[np.ix_(rest, rest)]) @ info[rest, k - 1]
    )
    if not (np.isfinite(efficient) and efficient > 0 and np.isfinite(score[k - 1])):
        return TestResult(0.0, 1.0, math.nan, mean_e, mean_c)
    z = float(score[k - 1] / math.sqrt(efficient))
    return TestResult(z, _upper(z), math.exp(math.copysign(MAX_LOG_OR, z)), mean_e, mean_c)


def _fit(
    psi: np.ndarray, counts: np.ndarray, design: np.ndarray, free: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Fisher scoring over the free parameters, step halving so that the likelihood
    never falls: (parameters, information, converged)."""
    score, info, ll = _score_information(psi, counts, design)
    idx = np.flatnonzero(free)
    for _ in range(MAX_ITER):
        step = np.zeros(len(psi))
        try:
            step[idx] = np.linalg.solve(info[np.ix_(idx, idx)], score[idx])
        except np.linalg.LinAlgError:  # not identified: the least-squares step
            step[idx] = np.linalg.lstsq(info[np.ix_(idx, idx)], score[idx], rcond=None)[0]
        if not np.all(np.isfinite(step)):
            return psi, info, False
        for _ in range(MAX_HALVINGS):
            new = _score_information(psi + step, counts, design)
            if np.isfinite(new[2]) and new[2] >= ll - TOL:
                break
            step = step / 2
        psi = psi + step
        score, info, ll = new
        if np.abs(step).max() < TOL:
            return psi, info, True
    return psi, info, False


def shifted(p_control: np.ndarray, odds_ratio: float) -> np.ndarray:
    """Category probabilities of the experimental arm under proportional odds:
    cumulative odds of control x odds_ratio."""
    cum = np.cumsum(p_control)[:-1]
    cum_e = expit(np.log(cum / (1 - cum)) + math.log(odds_ratio))
    return np.diff(np.r_[0.0, cum_e, 1.0])


def whitehead_n(
    p_control: np.ndarray, odds_ratio: float, alpha: float, beta: float, share_e: float
) -> float:
    """Total patients for power 1 - beta (one-sided alpha), Whitehead 1993."""
    pbar = share_e * shifted(p_control, odds_ratio) + (1 - share_e) * np.asarray(p_control)
    z = norm.isf(alpha) + norm.isf(beta)
    return 3 * z * z / (share_e * (1 - share_e) * math.log(odds_ratio) ** 2 * (1 - (pbar**3).sum()))


def whitehead_drift(p_control: np.ndarray, odds_ratio: float, n: float, share_e: float) -> float:
    """Expected z of the proportional-odds test with n patients (Whitehead 1993)."""
    pbar = share_e * shifted(p_control, odds_ratio) + (1 - share_e) * np.asarray(p_control)
    info = n * share_e * (1 - share_e) * (1 - (pbar**3).sum()) / 3
    return math.log(odds_ratio) * math.sqrt(info)
