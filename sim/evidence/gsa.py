"""Global sensitivity analysis of the model: which uncertain inputs move the outputs.

What varies (the *factors*):

* every ASSUMPTION parameter with a stated plausible range
  (`conf/ranges/<gsa.ranges>.yaml`, the same ranges as the one-at-a-time screen);
* the calibrated parameters, in one of two ways (`gsa.fitted`):
  `ensemble_range`: each independently over the range its calibration ensemble spans
  (`conf/model/<model>_ensemble.csv`, log scale where the calibration searches on the log
  scale), which gives each fitted parameter its own index but ignores the ensemble's
  correlations; `ensemble_member`: one factor that picks a whole kept set, so the joint
  structure is kept and the fitted parameters share one index; `none`: fixed at the model.

What is measured (the *outputs*), per condition x strategy: 1-year survival and the
share with IRIS by 1 year, and each strategy's difference to the first strategy.

How: every evaluation simulates the same virtual patients (`n_per_condition` of each
condition, same seed: common random numbers), so the output is a deterministic function
of the factors and its differences between evaluations are the factors' effects, not
patient-sampling noise. The indices therefore describe a finite cohort of that size;
`gsa.md` gives the binomial standard error of a cell for scale.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from sim.config.ensemble import load_ensemble
from sim.config.errors import ConfigError
from sim.config.load import config_dir
from sim.config.paths import get_value, with_values
from sim.config.schema import CONDITIONS, RunConfig
from sim.engine.executors import ordered_map
from sim.engine.run import simulate_strategies
from sim.evidence import sensitivity

MEMBER = "ensemble_member"  # the factor that picks a calibration set (gsa.fitted)
FITTED_MODES = ("ensemble_range", "ensemble_member", "none")
OUTPUTS = ("survival_1y", "iris_1y")  # per cell; "<output>_diff": minus the first strategy


@dataclass(frozen=True)
class Factor:
    """One varied input: a dotted config key (or MEMBER) over [low, high]."""

    key: str
    low: float
    high: float
    log: bool
    source: str  # assumption | fitted | ensemble
    why: str

    def values(self, u: np.ndarray) -> np.ndarray:
        """Unit-interval points mapped onto the range (log-uniform when `log`)."""
        if self.key == MEMBER:
            return np.minimum(np.floor(u * self.high), self.high - 1.0)
        if self.log:
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


def ranges_file(name: str) -> Path:
    return config_dir() / "ranges" / f"{name}.yaml"


def read_ranges(name: str, key: str) -> list[dict]:
    """The rows of conf/ranges/<name>.yaml (ConfigError naming `key` if it is missing)."""
    path = ranges_file(name)
    if not path.is_file():
        raise ConfigError(key, f"no ranges file {path.name} in conf/ranges/")
    return yaml.safe_load(path.read_text())["ranges"]


def factors(cfg: RunConfig) -> list[Factor]:
    """The varied inputs of cfg.gsa, checked (ConfigError names the key)."""
    g = cfg.gsa
    rows = read_ranges(g.ranges, "gsa.ranges")
    fitted_keys: list[str] = []
    ens = None
    if g.fitted != "none":
        ens = load_ensemble(cfg.model.name)
        fitted_keys = list(ens.columns)
    out: list[Factor] = []
    for r in rows:
        if r["key"] in fitted_keys:
            continue  # fitted: its range comes from the ensemble, not from an assumption
        out.append(
            Factor(
                r["key"],
                float(r["low"]),
                float(r["high"]),
                bool(r.get("log", False)),
                "assumption",
                str(r.get("why", "")),
            )  # fmt: skip
        )
    if ens is not None and g.fitted == "ensemble_range":
        logs = {p.key: p.log for p in cfg.calibration.params}
        for k in fitted_keys:
            lo, hi = float(ens[k].min()), float(ens[k].max())
            log = logs.get(k, lo > 0.0) and lo > 0.0
            out.append(Factor(k, lo, hi, log, "fitted", f"range of {len(ens)} calibrated sets"))
    elif ens is not None:
        out.append(Factor(MEMBER, 0.0, float(len(ens)), False, "ensemble",
                          f"one of {len(ens)} calibrated sets, joint"))  # fmt: skip
    if g.only:
        known = {f.key for f in out}
        for k in g.only:
            if k not in known:
                raise ConfigError("gsa.only", f"{k!r} is not a factor; allowed: {sorted(known)}")
        out = [f for f in out if f.key in set(g.only)]
    for f in out:
        if f.key != MEMBER:
            get_value(cfg, f.key)  # the key exists and is numeric
        if not f.low < f.high:
            raise ConfigError(f"gsa ranges: {f.key}", f"low must be < high, got {f.low}, {f.high}")
        if f.log and f.low <= 0.0:
            raise ConfigError(f"gsa ranges: {f.key}", f"log scale needs low > 0, got {f.low}")
    if len(out) < 2:
        raise ConfigError("gsa.only", f"needs at least 2 factors, got {len(out)}")
    return out


def conditions(cfg: RunConfig) -> list[str]:
    return list(cfg.gsa.conditions) or list(CONDITIONS)


def eval_config(cfg: RunConfig) -> RunConfig:
    """The run config every evaluation starts from: equal numbers of each condition."""
    c = copy.deepcopy(cfg)
    conds = conditions(cfg)
    c.cohort.mix = {k: 1.0 for k in conds}
    c.cohort.n = cfg.gsa.n_per_condition * len(conds)
    return c


def cell_outputs(cfg: RunConfig, values: dict[str, float], members: pd.DataFrame | None) -> dict:
    """One evaluation: outputs keyed (output, condition, strategy)."""
    values = dict(values)
    if MEMBER in values:
        values.update(members.iloc[int(values.pop(MEMBER))].to_dict())
    c = with_values(cfg, values)
    day = cfg.output.survival_day
    out: dict[tuple[str, str, str], float] = {}
    first: dict[tuple[str, str], float] = {}
    for i, ch in enumerate(simulate_strategies(c, 0, c.cohort.n, labs=False, events=False)):
        sname, p = ch.strategy, ch.patients
        died = p["died"].to_numpy(bool) & (p["time_days"].to_numpy(float) < day)
        iris = p["iris"].to_numpy(bool) & (p["iris_onset_days"].to_numpy(float) <= day)
        cond = p["condition"].astype(str).to_numpy()
        for k in conditions(cfg):
            m = cond == k
            for name, x in (("survival_1y", 1.0 - died[m].mean()), ("iris_1y", iris[m].mean())):
                out[(name, k, sname)] = float(x)
                if i == 0:
                    first[(name, k)] = float(x)
                else:
                    out[(f"{name}_diff", k, sname)] = float(x) - first[(name, k)]
    return out


def evaluate_batch(
    cfg: RunConfig, rows: list[dict[str, float]], start: int, members: pd.DataFrame | None
) -> pd.DataFrame:
    """Evaluations start, start + 1, ...: a pure function of its arguments (any worker)."""
    recs = []
    for j, values in enumerate(rows):
        for (name, k, s), v in cell_outputs(cfg, values, members).items():
            recs.append((start + j, name, k, s, v))
    return pd.DataFrame(recs, columns=["evaluation", "output", "condition", "strategy", "value"])


def run_gsa(
    cfg: RunConfig, on_batch: Callable[[int, int], None] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[Factor]]:
    """(samples: one row per evaluation with factor values; outputs: long table;
    factors). Same config and seed give the same numbers on any executor."""
    g = cfg.gsa
    fs = factors(cfg)
    names = [f.key for f in fs]
    u = sensitivity.design(g.method, names, g.base_samples, cfg.seed)
    samples = pd.DataFrame({f.key: f.values(u[:, i]) for i, f in enumerate(fs)})
    members = load_ensemble(cfg.model.name) if g.fitted == "ensemble_member" else None
    base = eval_config(cfg)
    records = samples.to_dict("records")
    tasks = ((base, records[i : i + g.batch], i, members) for i in range(0, len(records), g.batch))
    parts = []
    with ordered_map(cfg.executor) as run:
        for part in run(evaluate_batch, tasks):
            parts.append(part)
            if on_batch is not None:
                on_batch(min(len(parts) * g.batch, len(records)), len(records))
    samples.insert(0, "evaluation", np.arange(len(samples)))
    for i, f in enumerate(fs):
        samples[f"u:{f.key}"] = u[:, i]
    return samples, pd.concat(parts, ignore_index=True), fs


def index_table(cfg: RunConfig, samples: pd.DataFrame, outputs: pd.DataFrame, fs: list[Factor]):
    """gsa.csv: one row per output x condition x strategy x parameter x index."""
    names = [f.key for f in fs]
    u = samples[[f"u:{k}" for k in names]].to_numpy()
    meta = pd.DataFrame(
        {
            "parameter": names,
            "source": [f.source for f in fs],
            "low": [f.low for f in fs],
            "high": [f.high for f in fs],
            "log_scale": [f.log for f in fs],
        }  # fmt: skip
    )
    parts = []
    for (name, k, s), grp in outputs.groupby(["output", "condition", "strategy"], sort=False):
        y = grp.sort_values("evaluation")["value"].to_numpy()
        t = sensitivity.indices(cfg.gsa.method, names, u, y, cfg.seed, cfg.gsa.resamples)
        t.insert(0, "strategy", s)
        t.insert(0, "condition", k)
        t.insert(0, "output", name)
        t["output_sd"] = float(np.std(y, ddof=1))
        t["informative"] = t["output_sd"] >= noise_floor(cfg)
        parts.append(t)
    table = pd.concat(parts, ignore_index=True).merge(meta, on="parameter", how="left")
    table.insert(0, "method", cfg.gsa.method)
    return table


def noise_floor(cfg: RunConfig) -> float:
    """The binomial SE of a cell's proportion at 50% for the cohort of one evaluation.
    An output that varies less than this over the whole parameter space is flat: its
    variance is a few patients flipping, and apportioning it says nothing (Sobol
    estimators on such outputs give indices far above 1 with intervals to match)."""
    return math.sqrt(0.25 / cfg.gsa.n_per_condition)


def ranking(table: pd.DataFrame, fixable_below: float) -> pd.DataFrame:
    """Per parameter: its largest total effect over the informative cells (ST for Sobol,
    |PRCC|) and whether it may stay fixed (the upper end of every interval below
    `fixable_below`). Flat outputs (`informative` false) are left out."""
    kind = "ST" if (table["index"] == "ST").any() else "PRCC"
    t = table[(table["index"] == kind) & table["informative"]].copy()
    t["size"] = t["value"].abs()
    t["upper"] = np.maximum(t["ci_hi"].abs(), t["ci_lo"].abs()) if kind == "PRCC" else t["ci_hi"]
    idx = t.groupby("parameter")["size"].idxmax()
    top = t.loc[idx.to_numpy(), ["parameter", "source", "output", "condition", "strategy",
                                 "value", "ci_lo", "ci_hi"]]  # fmt: skip
    top["max_upper"] = t.groupby("parameter")["upper"].max().reindex(top["parameter"]).to_numpy()
    top["index"] = kind
    top["can_stay_fixed"] = top["max_upper"] < fixable_below
    top = top.reindex(top["value"].abs().sort_values(ascending=False).index)
    return top.reset_index(drop=True)
