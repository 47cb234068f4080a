"""Deterministic (one-way) sensitivity analysis and its tornado diagram data.

Each input listed in `economics.dsa.params` is set to its low, then its high value,
everything else at base case. Prices, utilities and discount rates only re-cost the
base-case patients; model or therapy inputs re-simulate them with the same seed, so the
same virtual patients are compared (common random numbers) and the bars show the input's
effect, not sampling noise. The outcome is the incremental net monetary benefit (and
ICER) of one strategy against its comparator.

The pair compared (`default_pair`): by default the optimal strategy (highest NMB at the
WTP) against its nearest frontier neighbour (the frontier strategy whose NMB is closest
to the optimum's: the decision the inputs could overturn); `economics.dsa.strategy` and
`economics.dsa.comparator` ask for any other pair. An input of a therapy neither
strategy can give (its price, its levers) cannot move the comparison: the row is kept
in dsa.csv with `enters` False and left out of the tornado (`enters_comparison`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
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
    "enters",
    "unit",
]


def default_pair(cea: pd.DataFrame, strategy: str = "", comparator: str = "") -> tuple[str, str]:
    """(strategy, comparator) of the one-way analysis from the incremental table.

    strategy: as given, else the optimal one (highest NMB; the first of the table on a
    tie). comparator: as given, else the frontier strategy other than `strategy` whose
    NMB is closest to its own (for the optimal strategy, one of its frontier neighbours:
    NMB falls on both sides of the optimum along the frontier); with no other frontier
    strategy, the closest of the rest.
    """
    t = cea.reset_index(drop=True)
    s = strategy or str(t.loc[t["nmb"].to_numpy().argmax(), "strategy"])
    if comparator:
        return s, comparator
    nmb_s = float(t.loc[t["strategy"] == s, "nmb"].iloc[0])
    others = t[t["strategy"] != s]
    pool = others[~others["dominated"].astype(bool)]
    pool = pool if len(pool) else others
    gap = (pool["nmb"] - nmb_s).abs().to_numpy()
    return s, str(pool["strategy"].iloc[int(np.argmin(gap))])


def therapies_used(cfg: RunConfig, name: str) -> set[str]:
    """The therapies a strategy can give: its own, those its rules start or stop, and the
    standard of care of the cohort's conditions (all conditions if the mix is empty)."""
    st = cfg.strategy[name]
    used = {t.therapy for t in st.therapies}
    for r in st.rules:
        used |= set(r.start) | set(r.stop)
    if st.standard_of_care:
        conds = [c for c, w in cfg.cohort.mix.items() if w > 0] or list(cfg.model.conditions)
        for c in conds:
            if c in cfg.model.conditions:
                used |= set(cfg.model.conditions[c].soc_therapies)
    return used


def enters_comparison(key: str, used: set[str]) -> bool:
    """False for an input of a therapy neither strategy gives (its price or a lever):
    it cannot change their costs or QALYs. Any other input may."""
    for prefix in ("economics.costs.therapies.", "therapies."):
        if key.startswith(prefix):
            return key[len(prefix) :].split(".")[0] in used
    return True


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
    used = therapies_used(cfg, strategy) | therapies_used(cfg, comparator)
    rows = []
    for p in cfg.economics.dsa.params:
        row = {"key": p.key, "label": p.label or p.key, "base_value": get_value(cfg, p.key)}
        row["enters"] = enters_comparison(p.key, used)
        row["unit"] = p.unit
        for side, value in (("low", p.low), ("high", p.high)):
            c = with_values(cfg, {p.key: value})
            # an economics input, or a lever of a therapy neither strategy gives, leaves
            # the simulated patients as they were (tests/test_decision.py checks the latter)
            same_patients = p.key.startswith("economics.") or not row["enters"]
            frames = base_frames if same_patients else _frames(c, [strategy, comparator])
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
