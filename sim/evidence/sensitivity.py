"""Global sensitivity statistics on the unit hypercube, independent of the model.

Two methods, chosen by name:

* **sobol**: variance-based indices. Saltelli's design (SALib: N base rows, N x (D + 2)
  evaluations without second-order terms) and the Saltelli 2010 / Jansen estimators.
  S1 (first order) is the share of the output's variance a parameter explains alone;
  ST (total order) adds its interactions. A parameter whose ST is about 0 in every output
  can be fixed anywhere in its range without changing the output's variance (factor
  fixing, Saltelli 2008 ch. 4). Confidence intervals by bootstrap over the N rows.
* **prcc**: partial rank correlation on a Latin hypercube (Marino 2008). The correlation
  of the ranks of a parameter and the output after removing the linear effect of the
  other parameters' ranks: a monotone measure, cheap (n evaluations), with a Fisher-z
  interval and a t-test p-value. It misses non-monotone effects, which Sobol sees.

Both take the output vector in the order of the design's rows and return one row per
parameter and index (`S1`, `ST` or `PRCC`) with its 95% interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

METHODS = ("sobol", "prcc")
LEVEL = 0.95  # two-sided level of every interval


def problem(names: list[str]) -> dict:
    """SALib's problem on the unit hypercube (values are mapped afterwards)."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def design(method: str, names: list[str], n: int, seed: int) -> np.ndarray:
    """Rows of unit-hypercube points to evaluate, in the order the analysis expects."""
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        return sobol_sample.sample(
            problem(names), n, calc_second_order=False, scramble=True, seed=seed
        )
    if method == "prcc":
        return stats.qmc.LatinHypercube(d=len(names), seed=seed).random(n)
    raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")


def n_evaluations(method: str, n_params: int, n: int) -> int:
    return n * (n_params + 2) if method == "sobol" else n


def indices(
    method: str, names: list[str], x: np.ndarray, y: np.ndarray, seed: int, resamples: int
) -> pd.DataFrame:
    """Columns: parameter, index, value, ci_lo, ci_hi (and p_value for PRCC).

    An output that does not vary over the design has no variance to apportion: every
    index is 0 with a zero-width interval (not NaN), and `constant` says so."""
    y = np.asarray(y, dtype=float)
    constant = bool(np.ptp(y) == 0.0)
    if method == "sobol":
        out = _zero(names, ("S1", "ST")) if constant else _sobol(names, y, seed, resamples)
    elif method == "prcc":
        out = _zero(names, ("PRCC",)) if constant else _prcc(names, x, y)
    else:
        raise ValueError(f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    out["constant"] = constant
    return out


def _zero(names: list[str], kinds: tuple[str, ...]) -> pd.DataFrame:
    rows = [
        {"parameter": p, "index": k, "value": 0.0, "ci_lo": 0.0, "ci_hi": 0.0, "p_value": 1.0}
        for k in kinds
        for p in names
    ]
    return pd.DataFrame(rows)


def _sobol(names: list[str], y: np.ndarray, seed: int, resamples: int) -> pd.DataFrame:
    import warnings

    from SALib.analyze import sobol as sobol_analyze

    with warnings.catch_warnings():
        # a bootstrap resample or a parameter's column with no change in y is expected
        # (a parameter without effect on this output): its index is 0, not a problem
        warnings.filterwarnings("ignore", message="Constant values encountered")
        res = sobol_analyze.analyze(
            problem(names),
            y,
            calc_second_order=False,
            num_resamples=resamples,
            conf_level=LEVEL,
            seed=seed,
        )
    rows = []
    for kind in ("S1", "ST"):
        for p, v, half in zip(names, res[kind], res[f"{kind}_conf"], strict=True):
            rows.append(
                {
                    "parameter": p,
                    "index": kind,
                    "value": float(v),
                    "ci_lo": float(v - half),
                    "ci_hi": float(v + half),
                    "p_value": np.nan,
                }
            )
    return pd.DataFrame(rows)


def prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Partial rank correlation of each column of x with y given the other columns:
    from the inverse of the rank correlation matrix, -P_iy / sqrt(P_ii P_yy)."""
    ranks = np.column_stack([stats.rankdata(c) for c in np.column_stack([x, y]).T])
    p = np.linalg.pinv(np.corrcoef(ranks, rowvar=False))
    d = x.shape[1]
    return -p[:d, d] / np.sqrt(p[np.arange(d), np.arange(d)] * p[d, d])


def _prcc(names: list[str], x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    n, d = x.shape
    r = np.clip(prcc(x, y), -1.0 + 1e-12, 1.0 - 1e-12)
    # k = d - 1 controlled variables: t-test on n - 2 - k degrees of freedom, Fisher z
    # standard error 1 / sqrt(n - 3 - k)
    dof = n - 1 - d
    if dof < 2:
        raise ValueError(f"PRCC needs at least d + 3 evaluations (n = {n}, d = {d})")
    z = np.arctanh(r)
    half = stats.norm.ppf(0.5 + LEVEL / 2) / np.sqrt(dof - 1)
    t = r * np.sqrt(dof / (1.0 - r**2))
    return pd.DataFrame(
        {
            "parameter": names,
            "index": "PRCC",
            "value": r,
            "ci_lo": np.tanh(z - half),
            "ci_hi": np.tanh(z + half),
            "p_value": 2.0 * stats.t.sf(np.abs(t), dof),
        }
    )
