"""Validation under parameter uncertainty: posterior predictive intervals (issue 14).

The single-set validation check (`sim.evidence.targets.check_validation`) compares each
published figure with the model at one parameter set, with Monte Carlo error only.
Here the same figure is simulated at many posterior draws of the fitted parameters
(`conf/model/<model>_posterior.csv`, made from the fit targets alone: a validation
target never informs a parameter, it is only simulated):

* per population (cohort preset x strategy), n patients: the smallest n whose planned
  Monte Carlo se is at most 1/4 of every one of its targets' published se (the rule
  `check_validation` starts from), capped at n_max;
* per draw, the population is simulated with the draw's parameters and the same seed
  for every draw (common random numbers: the draws differ by their parameters only, so
  the spread between draws is parameter uncertainty, not the noise of new patients);
* per target, the statistic of each draw; the 95% predictive interval is the central
  95% of the draws' values (on the log scale for ratios, which is the same ordering);
* verdict **reproduced** when the published 95% CI and the 95% predictive interval
  overlap (closed intervals: sharing an end point counts), **miss** when they are
  disjoint, **not estimable** when no draw gave a finite value.

Also reported, for comparison with the fit targets' check (`sim.evidence.posterior.
predictive_check`): the 95% interval of a replicate study (each draw's value plus
the published figure's own sampling noise) and whether the published value is inside.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from sim.config.schema import RunConfig, Target
from sim.engine.executors import ordered_map
from sim.evidence.targets import (
    MC_FRACTION,
    N_GRID,
    RATIOS,
    Evaluator,
    on_scale,
    planning_n,
    published_ci,
    scenario_of,
    standard_error,
)

VERDICTS = ("reproduced", "miss", "not estimable")


def predictive_verdict(pub_low: float, pub_high: float, pi_low: float, pi_high: float) -> str:
    """reproduced: [pub_low, pub_high] and [pi_low, pi_high] overlap (touching counts);
    miss: disjoint; not estimable: a bound is not a number."""
    bounds = (pub_low, pub_high, pi_low, pi_high)
    if not all(isinstance(b, (int, float)) and not math.isnan(b) for b in bounds):
        return "not estimable"
    if pub_low > pub_high or pi_low > pi_high:
        raise ValueError(f"an interval with low > high: {bounds}")
    return "reproduced" if max(pub_low, pi_low) <= min(pub_high, pi_high) else "miss"


def population_sizes(
    targets: Iterable[Target], fraction: float = MC_FRACTION, n_max: int = N_GRID[-1]
) -> list[tuple[list[str], int]]:
    """[(target ids of one population, n patients per draw)], populations in first-seen
    order: n = the largest planning_n of the population's targets, at most n_max."""
    groups: dict = {}
    for t in targets:
        groups.setdefault(scenario_of(t), []).append(t)
    return [
        ([t.id for t in mine], min(max(planning_n(t, fraction) for t in mine), n_max))
        for mine in groups.values()
    ]


_EVALUATORS: dict[bytes, list[Evaluator]] = {}


def _evaluators(base: RunConfig, groups: list[tuple[list[str], int]]) -> list[Evaluator]:
    """One Evaluator per population, built once per process and run (building one
    composes a config per population: seconds)."""
    key = hashlib.sha256(pickle.dumps((base, groups))).digest()
    if key not in _EVALUATORS:
        by_id = {t.id: t for t in base.targets.items}
        _EVALUATORS.clear()  # one run at a time: keep memory flat
        _EVALUATORS[key] = [Evaluator(base, [by_id[i] for i in ids], n) for ids, n in groups]
    return _EVALUATORS[key]


def predict_batch(
    base: RunConfig, groups: list[tuple[list[str], int]], rows: list[dict[str, float]]
) -> list[dict[str, float]]:
    """Each target's statistic at each parameter set of `rows` (natural scale). A pure
    function of its arguments (the same seed for every row), so any worker."""
    evs = _evaluators(base, groups)
    return [{k: v for ev in evs for k, v in ev.evaluate(values).items()} for values in rows]


def predictive_draws(
    base: RunConfig,
    groups: list[tuple[list[str], int]],
    sets: pd.DataFrame,
    batch: int = 5,
    on_draws: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """One row per parameter set (column `draw`), one column per target: the statistic."""
    rows = [{k: float(v) for k, v in r.items()} for _, r in sets.iterrows()]
    chunks = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    out: list[dict[str, float]] = []
    with ordered_map(base.executor) as run:
        for part in run(predict_batch, ((base, groups, c) for c in chunks)):
            out.extend(part)
            if on_draws is not None:
                on_draws(len(out))
    table = pd.DataFrame(out)
    table.insert(0, "draw", np.arange(len(table)))
    return table


def predictive_table(
    targets: list[Target],
    draws: pd.DataFrame,
    sizes: dict[str, int],
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Per target: the published CI, the draws' median and central `level` predictive
    interval, the verdict, and the replicate-study interval (see module doc)."""
    a = (1.0 - level) / 2.0
    rng = np.random.default_rng(seed)
    rows = []
    for t in targets:
        raw = draws[t.id].to_numpy(float)
        ok = np.isfinite(raw) & ((raw > 0) if t.quantity in RATIOS else True)
        s = np.array([on_scale(t, x) for x in raw[ok]])
        back = np.exp if t.quantity in RATIOS else (lambda x: x)
        plo, phi = published_ci(t)
        r = {"target_id": t.id, "role": t.role, "quantity": t.quantity,
             "published": t.value, "published_low": plo, "published_high": phi,
             "n": sizes[t.id], "draws": int(ok.sum())}  # fmt: skip
        if len(s):
            lo, hi = np.quantile(s, [a, 1.0 - a])
            rep = s + rng.normal(0.0, standard_error(t), len(s))
            rlo, rhi = np.quantile(rep, [a, 1.0 - a])
            r.update(
                pp_median=float(back(np.median(s))),
                pp_low=float(back(lo)),
                pp_high=float(back(hi)),
                replicate_low=float(back(rlo)),
                replicate_high=float(back(rhi)),
                published_inside_replicate=bool(rlo <= on_scale(t, t.value) <= rhi),
            )
        else:
            r.update(pp_median=math.nan, pp_low=math.nan, pp_high=math.nan,
                     replicate_low=math.nan, replicate_high=math.nan,
                     published_inside_replicate=False)  # fmt: skip
        r["pp_verdict"] = predictive_verdict(plo, phi, r["pp_low"], r["pp_high"])
        rows.append(r)
    return pd.DataFrame(rows)


def validate_under_uncertainty(
    base: RunConfig,
    targets: list[Target],
    sets: pd.DataFrame,
    fraction: float = MC_FRACTION,
    n_max: int = N_GRID[-1],
    level: float = 0.95,
    batch: int = 5,
    on_draws: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-target predictive table, per-draw statistics) for `targets` over the
    parameter sets `sets` (one row per draw, columns = dotted parameter keys)."""
    groups = population_sizes(targets, fraction, n_max)
    sizes = {i: n for ids, n in groups for i in ids}
    draws = predictive_draws(base, groups, sets, batch, on_draws)
    return predictive_table(targets, draws, sizes, level, base.seed), draws
