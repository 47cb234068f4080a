"""Parameter uncertainty in a simulation's summary: nested simulation (issue 14).

Outer loop: `uncertainty.draws` parameter sets drawn (in order, cycling if there are
fewer) from `conf/model/<model>_<source>.csv`, the Bayesian calibration's posterior by
default. Inner loop: `n_per_draw` new virtual patients per draw (their own seed, derived
from the run seed and the draw), the same patients under every strategy (common random
numbers), so a strategy difference within a draw carries no between-patient noise.

The spread of the draws' means has two parts: the parameter uncertainty wanted and the
Monte Carlo error of n_per_draw patients. Their split (`*_var_parameter`,
`*_var_mc`, with var_parameter = var(draw means) - mean(MC variance), floored at 0)
tells whether n_per_draw is large enough for the interval to mean parameter uncertainty.
The interval (`*_ui_lo`, `*_ui_hi`) is the central `level` range of the draw means.
`prob_best`: the share of draws in which a strategy has the highest 1-year survival; a
draw where k strategies tie for the highest counts 1/k for each (strategies with the
same outcomes, e.g. il7 and il7_maraviroc outside HIV, share), so the column sums to 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from sim.config.errors import ConfigError
from sim.config.load import config_dir
from sim.config.paths import with_values
from sim.config.schema import RunConfig
from sim.core import rng
from sim.engine.executors import ordered_map
from sim.engine.run import simulate_strategies

SOURCES = ("posterior", "ensemble")
MODES = ("none", "posterior")


def parameter_sets(cfg: RunConfig) -> pd.DataFrame:
    """The outer draws: rows of the chosen parameter file, in order, cycled to `draws`."""
    u = cfg.uncertainty
    return load_sets(cfg.model.name, u.source, u.draws, "uncertainty.source")


def load_sets(model: str, source: str, draws: int, key: str) -> pd.DataFrame:
    """`draws` rows of conf/model/<model>_<source>.csv, in order, cycled; ConfigError
    naming `key` if the file is missing."""
    path = config_dir() / "model" / f"{model}_{source}.csv"
    if not path.is_file():
        how = (
            f"run `pml-sim +experiment=posterior posterior.install=true` for model={model}"
            if source == "posterior"
            else "run `pml-sim +experiment=calibrate` and install the model"
        )
        if key.startswith("uncertainty"):
            how += ", or add uncertainty=none (one parameter set: Monte Carlo intervals only)"
        raise ConfigError(key, f"{path.name} not found in conf/model/: {how}")
    sets = pd.read_csv(path).drop(columns=["draw"], errors="ignore")
    return sets.iloc[np.arange(draws) % len(sets)].reset_index(drop=True)


def draw_seed(seed: int, draw: int) -> int:
    return rng.derived_seed(seed, "uncertainty/patient_seed", draw)


def alive_on(t: np.ndarray, died: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of the patients not dead by each day of `grid` (death at t <= day): the
    deaths counted by a binary search in their sorted times (the same numbers as the
    mean of the day x patient indicator, count / n, without the matrix)."""
    deaths = np.sort(t[died])
    return 1.0 - np.searchsorted(deaths, grid, side="right") / len(t)


def run_draw(cfg: RunConfig, values: dict[str, float], draw: int, grid: np.ndarray):
    """One parameter set: per strategy x condition (and "all") the share alive at the
    survival day, the share with IRIS, n; and the survival curve of each strategy."""
    c = with_values(cfg, values)
    c.seed = draw_seed(cfg.seed, draw)
    n = cfg.uncertainty.n_per_draw
    c.cohort.n = n
    day = cfg.output.survival_day
    rows, curves = [], []
    for ch in simulate_strategies(c, 0, n, labs=False, events=False):
        sname, p = ch.strategy, ch.patients
        t = p["time_days"].to_numpy(float)
        died = p["died"].to_numpy(bool)
        iris = p["iris"].to_numpy(bool)
        cond = p["condition"].astype(str).to_numpy()
        for k in ["all", *sorted(set(cond))]:
            m = np.ones(len(p), bool) if k == "all" else cond == k
            rows.append(
                {"draw": draw, "strategy": sname, "condition": k, "n": int(m.sum()),
                 "survival_1y": 1.0 - float(np.mean(died[m] & (t[m] < day))),
                 "iris_rate": float(np.mean(iris[m]))}
            )  # fmt: skip
        alive = alive_on(t, died, grid)
        curves.append(pd.DataFrame({"draw": draw, "strategy": sname, "day": grid, "alive": alive}))
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def nested(
    cfg: RunConfig, on_draw: Callable[[int], None] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per draw x strategy x condition outcomes, per draw x strategy survival curves)."""
    sets = parameter_sets(cfg)
    step = cfg.model.dt_first_days
    grid = np.arange(0.0, cfg.horizon_days + step, step)
    tasks = ((cfg, {k: float(v) for k, v in r.items()}, d, grid) for d, r in sets.iterrows())
    outs, curves = [], []
    work = len(sets) * cfg.uncertainty.n_per_draw * len(cfg.strategy)
    with ordered_map(cfg.executor, outer_patients=work) as run:
        for o, cv in run(run_draw, tasks):
            outs.append(o)
            curves.append(cv)
            if on_draw is not None:
                on_draw(len(outs))
    return pd.concat(outs, ignore_index=True), pd.concat(curves, ignore_index=True)


def _quantiles(x: np.ndarray, level: float) -> tuple[float, float]:
    a = (1.0 - level) / 2.0
    return float(np.quantile(x, a)), float(np.quantile(x, 1.0 - a))


def ui_table(draws: pd.DataFrame, strategies: list[str], level: float) -> pd.DataFrame:
    """Per strategy x condition: intervals, differences to the first strategy,
    probability best and the variance split (see module doc)."""
    first = strategies[0]
    rows = []
    for k, g in draws.groupby("condition", sort=False):
        wide_s = g.pivot(index="draw", columns="strategy", values="survival_1y")[strategies]
        wide_i = g.pivot(index="draw", columns="strategy", values="iris_rate")[strategies]
        n = g.pivot(index="draw", columns="strategy", values="n")[strategies]
        x = wide_s.to_numpy()
        top = x == x.max(axis=1, keepdims=True)  # ties share the draw
        best_share = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
        for j, s in enumerate(strategies):
            xs, xi, nn = wide_s[s].to_numpy(), wide_i[s].to_numpy(), n[s].to_numpy()
            mc = np.mean(xs * (1 - xs) / np.maximum(nn, 1))
            r = {"strategy": s, "condition": k, "ui_draws": len(xs),
                 "survival_1y_mean": float(xs.mean()), "iris_rate_mean": float(xi.mean()),
                 "survival_1y_var_parameter": max(float(np.var(xs, ddof=1)) - mc, 0.0),
                 "survival_1y_var_mc": float(mc),
                 "prob_best": float(best_share[j])}  # fmt: skip
            r["survival_1y_ui_lo"], r["survival_1y_ui_hi"] = _quantiles(xs, level)
            r["iris_rate_ui_lo"], r["iris_rate_ui_hi"] = _quantiles(xi, level)
            ds = xs - wide_s[first].to_numpy()
            di = xi - wide_i[first].to_numpy()
            r["survival_1y_diff"] = float(ds.mean())
            r["survival_1y_diff_ui_lo"], r["survival_1y_diff_ui_hi"] = _quantiles(ds, level)
            r["iris_rate_diff"] = float(di.mean())
            r["iris_rate_diff_ui_lo"], r["iris_rate_diff_ui_hi"] = _quantiles(di, level)
            rows.append(r)
    return pd.DataFrame(rows)


def survival_band(curves: pd.DataFrame, level: float) -> pd.DataFrame:
    """Pointwise central `level` range of the draws' survival curves per strategy."""
    a = (1.0 - level) / 2.0
    g = curves.groupby(["strategy", "day"], sort=False)["alive"]
    out = pd.DataFrame({"lo": g.quantile(a), "hi": g.quantile(1.0 - a), "mean": g.mean()})
    return out.reset_index()


def check(cfg: RunConfig) -> None:
    """Config checks of the uncertainty section (ConfigError names the key)."""
    u = cfg.uncertainty
    if u.name not in MODES:
        raise ConfigError("uncertainty", f"unknown option {u.name!r}; allowed: none, posterior")
    if u.name == "none":
        return
    if u.source not in SOURCES:
        raise ConfigError("uncertainty.source", f"unknown name {u.source!r}; allowed: {SOURCES}")
    if u.draws < 2:
        raise ConfigError("uncertainty.draws", f"must be an integer >= 2, got {u.draws}")
    if u.n_per_draw < 1:
        raise ConfigError("uncertainty.n_per_draw", f"must be an integer >= 1, got {u.n_per_draw}")
    if not 0.0 < u.level < 1.0 or math.isnan(u.level):
        raise ConfigError("uncertainty.level", f"must be in (0, 1), got {u.level}")
    parameter_sets(cfg)
