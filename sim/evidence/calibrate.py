"""Calibration: fit chosen model parameters to chosen published figures.

Distance. Each fit target j contributes ((sim_j - pub_j) / se_j)^2, with se_j the
published figure's standard error (sim.evidence.targets): a figure from 370 patients pulls
harder than one from 17. Odds ratios are compared on the log scale.

Optimiser. Bounded Nelder-Mead (scipy) on the unit cube (log scale for parameters
marked `log`), started from the current config's values, restarted from the best
point so far `restarts` times. Every evaluation simulates each target population
with the same seed: common random numbers make the distance a smooth function of the
parameters, so a direct-search optimiser does not chase Monte Carlo noise.

Ensemble (history matching). Around the optimum a Latin hypercube of parameter
sets is screened; a set is kept if every fit target's implausibility
|sim - pub| / sqrt(se_pub^2 + se_mc^2) is below `ensemble_cutoff` (3 is the usual
choice, by Pukelsheim's three-sigma rule). The kept sets are the parameter
uncertainty that later analyses (PSA) can draw from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from scipy.optimize import minimize
from scipy.stats import qmc

from sim.config.ensemble import load_ensemble  # noqa: F401  (re-exported)
from sim.config.schema import CalibParam, ConfigError, RunConfig, Target
from sim.evidence.targets import (
    RATIOS,
    Evaluator,
    get_value,
    mc_standard_error,
    on_scale,
    published_ci,
    standard_error,
    with_values,
)

PENALTY = 1.0e6  # distance of a parameter set whose simulated figure is undefined


@dataclass
class Fit:
    best: dict[str, float]
    distance: float
    trace: pd.DataFrame  # one row per optimiser evaluation
    ensemble: pd.DataFrame  # one row per screened set; `accepted` marks the ensemble


def fit_targets(cfg: RunConfig) -> list[Target]:
    """The targets named in calibration.fit, or every role: fit target."""
    items = {t.id: t for t in cfg.targets.items}
    if cfg.calibration.fit:
        missing = [i for i in cfg.calibration.fit if i not in items]
        if missing:
            raise ConfigError(
                "calibration.fit", f"unknown target ids {missing}; known: {', '.join(items)}"
            )
        return [items[i] for i in cfg.calibration.fit]
    chosen = [t for t in cfg.targets.items if t.role == "fit"]
    if not chosen:
        raise ConfigError("calibration.fit", "no targets: list ids or mark targets role: fit")
    return chosen


class Space:
    """Map between the unit cube the optimiser sees and parameter values."""

    def __init__(self, params: list[CalibParam]) -> None:
        self.params = params
        self.lo = np.array([math.log(p.low) if p.log else p.low for p in params])
        self.hi = np.array([math.log(p.high) if p.log else p.high for p in params])

    def values(self, u: np.ndarray) -> dict[str, float]:
        x = self.lo + np.clip(u, 0.0, 1.0) * (self.hi - self.lo)
        return {
            p.key: float(math.exp(v) if p.log else v) for p, v in zip(self.params, x, strict=True)
        }

    def unit(self, values: dict[str, float]) -> np.ndarray:
        x = np.array([math.log(values[p.key]) if p.log else values[p.key] for p in self.params])
        return np.clip((x - self.lo) / (self.hi - self.lo), 0.0, 1.0)


def distance(sim: dict[str, float], targets: list[Target]) -> float:
    total = 0.0
    for t in targets:
        x = sim[t.id]
        if not math.isfinite(x) or (t.quantity in RATIOS and x <= 0):
            return PENALTY
        total += ((on_scale(t, x) - on_scale(t, t.value)) / standard_error(t)) ** 2
    return total


def implausibility(t: Target, sim: float, n: int) -> float:
    if not math.isfinite(sim) or (t.quantity in RATIOS and sim <= 0):
        return math.inf
    se = math.hypot(standard_error(t), mc_standard_error(t, sim, n))
    return abs(on_scale(t, sim) - on_scale(t, t.value)) / se


def calibrate(
    cfg: RunConfig,
    evaluator: Evaluator | None = None,
    on_eval: Callable[[int, float], None] | None = None,
) -> Fit:
    """Optimise, then screen an ensemble around the optimum (see module doc)."""
    cal = cfg.calibration
    targets = fit_targets(cfg)
    ev = evaluator or Evaluator(cfg, targets, cal.n_per_scenario)
    space = Space(list(cal.params))
    rows: list[dict] = []

    def objective(u: np.ndarray) -> float:
        values = space.values(u)
        sim = ev.evaluate(values)
        d = distance(sim, targets)
        rows.append({"evaluation": len(rows), **values, "distance": d, **sim})
        if on_eval is not None:
            on_eval(len(rows), d)
        return d

    start = {p.key: min(max(get_value(cfg, p.key), p.low), p.high) for p in cal.params}
    u = space.unit(start)
    budget = cal.max_evals
    for _ in range(1 + cal.restarts):
        if budget <= 0:
            break
        used = len(rows)
        res = minimize(
            objective,
            u,
            method="Nelder-Mead",
            bounds=[(0.0, 1.0)] * len(u),
            options={"maxfev": budget, "xatol": 1e-3, "fatol": 1e-3, "adaptive": len(u) > 4},
        )
        budget -= len(rows) - used
        u = np.clip(res.x, 0.0, 1.0)
    trace = pd.DataFrame(rows)
    best_row = trace.loc[trace["distance"].idxmin()]
    best = {p.key: float(best_row[p.key]) for p in cal.params}
    ensemble = screen(cfg, ev, space, best, targets, on_eval)
    return Fit(best, float(best_row["distance"]), trace, ensemble)


def screen(
    cfg: RunConfig,
    ev: Evaluator,
    space: Space,
    best: dict[str, float],
    targets: list[Target],
    on_eval: Callable[[int, float], None] | None = None,
) -> pd.DataFrame:
    """History matching in waves of Latin hypercubes.

    Wave 1 screens a box of half-width `ensemble_width` (share of each range) around
    the optimum; each later wave screens the box spanned by the sets kept so far,
    padded by a quarter of its width, so the draws concentrate where the targets are
    met (Vernon et al. 2010, Bayesian Analysis 5:619).
    """
    cal = cfg.calibration
    k = len(space.params)
    centre = space.unit(best)
    waves = max(1, cal.ensemble_waves)
    n_draws = cal.ensemble_draws
    per_wave = [n_draws // waves + (w < n_draws % waves) for w in range(waves)]
    lo = np.clip(centre - cal.ensemble_width, 0.0, 1.0)
    hi = np.clip(centre + cal.ensemble_width, 0.0, 1.0)
    rows: list[dict] = []
    kept: list[np.ndarray] = []

    def screen_one(u: np.ndarray, wave: int) -> None:
        values = space.values(u)
        sim = ev.evaluate(values)
        imp = max(implausibility(t, sim[t.id], cal.n_per_scenario) for t in targets)
        rows.append(
            {
                "draw": len(rows),
                "wave": wave,
                **values,
                "distance": distance(sim, targets),
                "max_implausibility": imp,
                "accepted": imp < cal.ensemble_cutoff,
                **sim,
            }
        )
        if rows[-1]["accepted"]:
            kept.append(u)
        if on_eval is not None:
            on_eval(len(rows), rows[-1]["distance"])

    screen_one(centre, 0)
    for wave, n in enumerate(per_wave, start=1):
        if wave > 1 and kept:
            pts = np.array(kept)
            span = np.maximum(pts.max(axis=0) - pts.min(axis=0), 1e-3)
            lo = np.clip(pts.min(axis=0) - span / 4, 0.0, 1.0)
            hi = np.clip(pts.max(axis=0) + span / 4, 0.0, 1.0)
        draws = qmc.LatinHypercube(d=k, seed=cfg.seed + wave).random(n) if n else np.zeros((0, k))
        for u in lo + draws * (hi - lo):
            screen_one(u, wave)
    return pd.DataFrame(rows)


def fit_table(
    cfg: RunConfig, fit: Fit, at_best: dict[str, float], ensemble_sims: pd.DataFrame
) -> pd.DataFrame:
    """Each target: published vs the fitted model, within CI or not, ensemble range."""
    fit_ids = {t.id for t in fit_targets(cfg)}
    n = cfg.calibration.n_per_scenario
    rows = []
    for t in cfg.targets.items:
        sim = at_best.get(t.id, math.nan)
        lo, hi = published_ci(t)
        col = ensemble_sims[t.id] if t.id in ensemble_sims else pd.Series(dtype=float)
        col = col[np.isfinite(col)]
        rows.append(
            {
                "target_id": t.id,
                "role": "fit" if t.id in fit_ids else t.role,
                "quantity": t.quantity,
                "population": f"{t.population.cohort}/{t.population.strategy}"
                + ("" if t.population.condition == "all" else f"/{t.population.condition}"),
                "published": t.value,
                "published_low": lo,
                "published_high": hi,
                "se": standard_error(t),
                "simulated": sim,
                "implausibility": implausibility(t, sim, n),
                "within_ci": bool(math.isfinite(sim) and lo <= sim <= hi),
                "ensemble_low": float(col.quantile(0.025)) if len(col) else math.nan,
                "ensemble_high": float(col.quantile(0.975)) if len(col) else math.nan,
                "source": t.source,
            }
        )
    return pd.DataFrame(rows)


def _leaves(node: object, prefix: str = "") -> dict[str, object]:
    """Flatten a model config into dotted keys (lists are leaves)."""
    if is_dataclass(node):
        node = {f.name: getattr(node, f.name) for f in fields(node)}
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def base_model_name(cfg: RunConfig, conf_model_dir: Path) -> str:
    """The model the written config extends: the one calibrated, or (when that is the
    output itself, a re-calibration) the one it extended."""
    name = cfg.model.name
    if name != cfg.calibration.output_model:
        return name
    old = OmegaConf.load(conf_model_dir / f"{name}.yaml")
    return str(old.get("defaults", ["default"])[0])


def model_yaml(
    cfg: RunConfig, fit: Fit, run_dir: str, commit: str, fit_ids: list[str], base: RunConfig
) -> str:
    """A model config that extends `base` and sets every value the calibration ran with
    that differs from it: the fitted values, and any earlier calibrated or overridden
    value (so `model=<name>` reproduces exactly the model that was fitted)."""
    cal = cfg.calibration
    fitted = {p.key: p for p in cal.params}
    ran = _leaves(with_values(cfg, fit.best).model, "model.")
    ref = _leaves(base.model, "model.")
    lines = [
        f"# Calibrated model, written by `pml-sim +experiment=calibrate` (run {run_dir},",
        f"# commit {commit}). Extends model={base.model.name}.",
        f"# Fit targets (conf/targets/{cfg.targets.name}.yaml): {', '.join(fit_ids)}.",
        f"# Distance at the optimum: {fit.distance:.3g}; ensemble:"
        f" {int(fit.ensemble['accepted'].sum())} of {len(fit.ensemble)} screened sets kept"
        f" ({cal.output_model}_ensemble.csv).",
        "defaults:",
        f"  - {base.model.name}",
        "  - _self_",
        "",
        f"name: {cal.output_model}",
    ]
    entries: dict[str, tuple[str, str]] = {}
    for key, value in ran.items():
        if key == "model.name" or (key in ref and ref[key] == value):
            continue
        if key in fitted:
            p = fitted[key]
            note = f"CALIBRATED (pml-sim +experiment=calibrate; searched [{p.low:g}, {p.high:g}])"
        else:
            note = f"as run by the calibration (from model={cfg.model.name} or an override)"
        entries[key] = (f"{value:.6g}" if isinstance(value, float) else str(value), note)
    return "\n".join(lines + annotated_lines(entries)) + "\n"


def annotated_lines(entries: dict[str, tuple[str, str]]) -> list[str]:
    """YAML lines of a model file: each dotted key `model.a.b.c` -> (value text, note) as
    the nested mapping a: b: c: value  # note, keys in the order given."""
    nested: dict = {}
    for key, entry in entries.items():
        node = nested
        parts = key.split(".")[1:]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = entry
    lines: list[str] = []

    def emit(node: dict, indent: int) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                lines.append(" " * indent + f"{k}:")
                emit(v, indent + 2)
            else:
                text, note = v
                lines.append(" " * indent + f"{k}: {text}  # {note}")

    emit(nested, 0)
    return lines


def check_params(cfg: RunConfig) -> None:
    cal = cfg.calibration
    if not cal.params:
        raise ConfigError("calibration.params", "list at least one {key, low, high} to fit")
    for i, p in enumerate(cal.params):
        key = f"calibration.params[{i}]"
        if not p.key.startswith("model."):
            raise ConfigError(f"{key}.key", f"must be a model value (model.<name>), got {p.key!r}")
        get_value(cfg, p.key)
        if not p.low < p.high:
            raise ConfigError(f"{key}.low", f"must be < high ({p.high}), got {p.low}")
        if p.log and p.low <= 0:
            raise ConfigError(f"{key}.low", f"must be > 0 on a log scale, got {p.low}")
    fit_targets(cfg)  # names known and at least one
    if cal.n_per_scenario < 10:
        raise ConfigError("calibration.n_per_scenario", f"must be >= 10, got {cal.n_per_scenario}")
    if cal.max_evals < 1:
        raise ConfigError("calibration.max_evals", f"must be >= 1, got {cal.max_evals}")
    for key in ("restarts", "ensemble_draws"):
        if getattr(cal, key) < 0:
            raise ConfigError(f"calibration.{key}", f"must be >= 0, got {getattr(cal, key)}")
    if cal.ensemble_waves < 1:
        raise ConfigError("calibration.ensemble_waves", f"must be >= 1, got {cal.ensemble_waves}")
    if not 0.0 < cal.ensemble_width <= 1.0:
        raise ConfigError(
            "calibration.ensemble_width", f"must be in (0, 1], got {cal.ensemble_width}"
        )
    if cal.ensemble_cutoff <= 0:
        raise ConfigError("calibration.ensemble_cutoff", "must be > 0")
    if not cal.output_model.replace("_", "").isalnum() or cal.output_model == "default":
        raise ConfigError(
            "calibration.output_model",
            f"must be a plain name other than 'default', got {cal.output_model!r}",
        )
