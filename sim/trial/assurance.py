"""Assurance: the probability of trial success averaged over parameter uncertainty.

Power is computed at one parameter set, the calibrated point estimate. Assurance
(O'Hagan, Stevens & Campbell 2005) averages it over the parameters' uncertainty: for
each of `trial.assurance.draws` parameter sets (the Bayesian calibration's posterior by
default) the referral pool is simulated again (`assurance.pool_per_arm` patients per
arm, their own seed per draw), the arms' true values are measured on it, and the
design's analytic power is evaluated at those values with the boundaries and analysed
sizes planned at the point estimate. Assurance is the mean over draws, with its Monte
Carlo SE. Single-arm designs are left out (NaN): their exact power is computed per
simulated trial, not from the arms' values.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.config.paths import with_values
from sim.config.schema import RunConfig
from sim.core import rng
from sim.engine.executors import ordered_map
from sim.outcomes.uncertainty import load_sets
from sim.trial.design import Spec, superpopulation
from sim.trial.pool import build_pool


def draw_seed(seed: int, draw: int) -> int:
    return rng.derived_seed(seed, "trial/assurance_seed", draw)


def one_draw(cfg: RunConfig, values: dict[str, float], draw: int) -> dict[str, dict]:
    """The arms' true values of every design endpoint under one parameter set."""
    c = with_values(cfg, values)
    c.seed = draw_seed(cfg.seed, draw)  # with_values returned a deep copy: c is ours
    c.trial.pool_per_arm = cfg.trial.assurance.pool_per_arm
    spec = Spec(c.seed, c.trial, build_pool(c))
    endpoints = {d.endpoint for d in cfg.trial.designs.values()}
    return {e: superpopulation(spec, e) for e in sorted(endpoints)}


def draws(cfg: RunConfig, on_draw: Callable[[int], None] | None = None) -> list[dict]:
    a = cfg.trial.assurance
    if a.draws == 0 or cfg.trial.comparator == "historical":
        return []
    sets = load_sets(cfg.model.name, a.source, a.draws, "trial.assurance.source")
    tasks = ((cfg, {k: float(v) for k, v in r.items()}, d) for d, r in sets.iterrows())
    out = []
    # `auto`: each draw simulates a referral pool of pool_per_arm patients in two arms
    work = a.draws * a.pool_per_arm * 2
    with ordered_map(cfg.executor, outer_patients=work) as run:
        for part in run(one_draw, tasks):
            out.append(part)
            if on_draw is not None:
                on_draw(len(out))
    return out
