"""The map from residual damage to the modified Rankin Scale, fitted to survivors.

Damage has no unit of its own: its scale is set by the damage rate, the lesion burden at
diagnosis and the death threshold. So the cut points that turn a survivor's residual
damage into an mRS level (`model.mrs_cutpoints`, sim/model/disability.py) are not a
property of the brain but a measurement model, fitted after the dynamics: simulate HIV
patients under standard of care and put the cut points at the damage quantiles of the
survivors that match a published mRS distribution of long-term survivors (the counts in
`posterior.mrs_map.counts`, Lima 2010). A parameter set with another damage scale gets
another map (a faster damage rate raises the upper cut points; survival selection can
lower the first); one fixed map read through every posterior draw would put one draw's
survivors at mRS 4-5 and another's at mRS 0-1 however well each reproduced the counts.
`per_draw` therefore fits the map once per draw, the same way, and the draws carry it as
the columns `model.mrs_cutpoints.0` .. `.4`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config.paths import with_values
from sim.config.schema import MrsMapConfig, RunConfig

COLUMNS = [f"model.mrs_cutpoints.{j}" for j in range(5)]


def cutpoints(residual: np.ndarray, counts: list[float]) -> list[float]:
    """Cut points 1..5: the quantiles of the survivors' residual damage at the cumulative
    shares of mRS < j in `counts` (mRS 0..5)."""
    c = np.asarray(counts, dtype=float)
    shares = np.cumsum(c)[:-1] / c.sum()
    return [float(x) for x in np.quantile(residual, shares)]


def population(base: RunConfig, m: MrsMapConfig) -> RunConfig:
    """The population the map is fitted on: base's model and therapies, m's cohort
    preset, strategy, size and seed, in process and quiet."""
    from sim.config.load import load

    cfg = load([f"cohort={m.cohort}", f"strategy={m.strategy}"])
    cfg.model, cfg.therapies, cfg.monitoring = base.model, base.therapies, base.monitoring
    cfg.engine, cfg.horizon_days = base.engine, base.horizon_days
    cfg.cohort.n, cfg.seed = m.n, m.seed
    cfg.output.progress = False
    return cfg


def per_draw(base: RunConfig, draws: pd.DataFrame, m: MrsMapConfig) -> pd.DataFrame:
    """Each draw's cut points (columns COLUMNS, one row per draw, draws' index): the
    draw's values applied to the fitting population, the same patients for every draw."""
    from sim.engine.run import simulate

    pop = population(base, m)
    params = draws.drop(columns=["draw", *COLUMNS], errors="ignore")
    rows = []
    for i, row in params.iterrows():
        pts, _, _ = simulate(with_values(pop, {k: float(v) for k, v in row.items()}))
        alive = pts["residual_disability"].dropna().to_numpy()
        if len(alive) < len(m.counts):
            raise RuntimeError(
                f"posterior draw {i}: {len(alive)} of {m.n} patients alive at the horizon, "
                "too few to fit an mRS map; raise posterior.mrs_map.n"
            )
        rows.append([round(c, 6) for c in cutpoints(alive, m.counts)])
    return pd.DataFrame(rows, columns=COLUMNS, index=draws.index)
