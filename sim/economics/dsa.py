"""Deterministic (one-way) sensitivity analysis and its tornado diagram data.

Each input listed in `economics.dsa.params` is set to its low, then its high value,
everything else at base case. Prices, utilities and discount rates only re-cost the
base-case patients; model or therapy inputs re-simulate them with the same seed, so the
same virtual patients are compared (common random numbers) and the bars show the input's
effect, not sampling noise. The outcome is the incremental net monetary benefit (and
ICER) of one strategy against its comparator.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pandas as pd

from sim.config.paths import get_value, with_values
from sim.config.schema import RunConfig
from sim.economics.values import patient_values
from sim.engine.run import simulate

DSA_COLUMNS = [
    "key",
    "label",
    "base_value",
    "low",
    "high",
    "inc_nmb_low",
    "inc_nmb_high",
    "icer_low",
    "icer_high",
    "inc_nmb_base",
    "swing",
]


def _frames(cfg: RunConfig, strategies: list[str]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Patients and events of these strategies (the run's executor, same seed)."""
    c = copy.copy(cfg)
    c.strategy = {s: cfg.strategy[s] for s in strategies}
    patients, events, _ = simulate(c)
    return {
        s: (patients[patients["strategy"] == s], events[events["strategy"] == s])
        for s in strategies
    }


def _compare(
    cfg: RunConfig, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], strategy: str, comp: str
) -> tuple[float, float]:
    """(incremental NMB at the base WTP, ICER) of strategy vs comparator."""
    means = {}
    for s in (strategy, comp):
        pts, ev = frames[s]
        v = patient_values(
            pts, ev, cfg.economics, cfg.model, cfg.monitoring, cfg.therapies, cfg.horizon_days
        )
        means[s] = (v["cost"].mean(), v["qaly"].mean())
    dc = means[strategy][0] - means[comp][0]
    dq = means[strategy][1] - means[comp][1]
    icer = dc / dq if dq != 0 else math.nan
    return float(cfg.economics.wtp * dq - dc), float(icer)


def one_way(
    cfg: RunConfig, strategy: str, comparator: str, on_step: Callable[[], None] | None = None
) -> pd.DataFrame:
    base_frames = _frames(cfg, [strategy, comparator])
    base_nmb, _ = _compare(cfg, base_frames, strategy, comparator)
    rows = []
    for p in cfg.economics.dsa.params:
        row = {"key": p.key, "label": p.label or p.key, "base_value": get_value(cfg, p.key)}
        for side, value in (("low", p.low), ("high", p.high)):
            c = with_values(cfg, {p.key: value})
            frames = (
                base_frames
                if p.key.startswith("economics.")
                else _frames(c, [strategy, comparator])
            )
            row[side] = value
            row[f"inc_nmb_{side}"], row[f"icer_{side}"] = _compare(c, frames, strategy, comparator)
            if on_step is not None:
                on_step()
        row["inc_nmb_base"] = base_nmb
        row["swing"] = abs(row["inc_nmb_high"] - row["inc_nmb_low"])
        rows.append(row)
    table = pd.DataFrame(rows, columns=DSA_COLUMNS)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "comparator", comparator)
    table.insert(0, "strategy", strategy)
    return table
