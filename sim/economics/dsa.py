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
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from sim.config.paths import get_value, with_values
from sim.config.schema import RunConfig
from sim.economics.values import patient_values
from sim.engine.executors import ordered_map
from sim.engine.run import Chunk, chunk_spans, simulate_then
from sim.model.therapies import LEVER_ONLY_PARAMS

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


def enters_comparison(key: str, used: set[str], levers: set[str] | None = None) -> bool:
    """False for an input of a therapy neither strategy gives (its price or a lever), or
    for a model parameter that acts only through a lever none of their therapies moves
    (`LEVER_ONLY_PARAMS`; `levers`: the levers of `used`, None = any): it cannot change
    their costs or QALYs. Any other input may."""
    for prefix in ("economics.costs.therapies.", "therapies."):
        if key.startswith(prefix):
            return key[len(prefix) :].split(".")[0] in used
    lever = LEVER_ONLY_PARAMS.get(key)
    if lever is not None and levers is not None:
        return lever in levers
    return True


def levers_of(cfg: RunConfig, therapies: set[str]) -> set[str]:
    """The levers these therapies move (a non-zero magnitude)."""
    out: set[str] = set()
    for t in therapies & set(cfg.therapies):
        out |= {lv for lv, x in cfg.therapies[t].levers.items() if x != 0.0}
    return out


def cost_qaly(cfg: RunConfig, c: Chunk, overrides: list[dict[str, float]]) -> np.ndarray:
    """Per-patient cost and QALYs of one chunk valued under `cfg` with each of
    `overrides` (dotted key -> value; {} = cfg itself): shape (overrides, 2, patients).
    Runs in the worker that simulated the chunk (`simulate_then`)."""
    out = np.empty((len(overrides), 2, len(c.patients)))
    memo: dict = {}  # shared by the configs that differ from cfg in economics inputs only
    for k, o in enumerate(overrides):
        v = with_values(cfg, o) if o else cfg
        econ_only = all(key.startswith("economics.") for key in o)
        pv = patient_values(
            c.patients,
            c.events,
            v.economics,
            v.model,
            v.monitoring,
            v.therapies,
            v.horizon_days,
            memo=memo if econ_only else None,
        )
        out[k, 0] = pv["cost"].to_numpy()
        out[k, 1] = pv["qaly"].to_numpy()
    return out


def _valued(
    jobs: list[tuple[RunConfig, list[dict[str, float]]]], pair: list[str]
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Each job (a config to simulate, overrides to value its patients under) for the
    strategies of `pair`: (job index, strategy -> `cost_qaly` of all its patients), as
    each job completes. All jobs' chunks go through one stream of the run's executor,
    so the workers do not wait at the end of each job."""
    spans = []
    for j, (sim_cfg, _) in enumerate(jobs):
        c = copy.copy(sim_cfg)
        c.strategy = {s: sim_cfg.strategy[s] for s in pair}  # simulate the pair only
        spans += [(j, c, s, lo, hi) for s, lo, hi in chunk_spans(c)]
    last = {j: k for k, (j, *_) in enumerate(spans)}
    tasks = ((c, s, lo, hi, cost_qaly, (jobs[j][1],)) for j, c, s, lo, hi in spans)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in pair}
    with ordered_map(jobs[0][0].executor) as run:
        for k, ((j, _, s, _, _), out) in enumerate(
            zip(spans, run(simulate_then, tasks), strict=True)
        ):
            parts[s].append(out)
            if last[j] == k:
                yield j, {s: np.concatenate(p, axis=2) for s, p in parts.items()}
                parts = {s: [] for s in pair}


def _nmb(
    c: RunConfig, means: dict[str, tuple[float, float]], strategy: str, comp: str
) -> tuple[float, float]:
    """(incremental NMB at the WTP of c, ICER) of strategy vs comparator from their mean
    (cost, QALYs)."""
    dc = means[strategy][0] - means[comp][0]
    dq = means[strategy][1] - means[comp][1]
    icer = dc / dq if dq != 0 else math.nan
    return float(c.economics.wtp * dq - dc), float(icer)


def one_way(
    cfg: RunConfig, strategy: str, comparator: str, on_step: Callable[[], None] | None = None
) -> pd.DataFrame:
    """The one-way table (DSA_COLUMNS). Inputs that leave the simulated patients as they
    were (economics inputs, levers of a therapy neither strategy gives) re-value the
    base-case patients; the others re-simulate them with the same seed. Every valuation
    runs where its chunk is simulated; the numbers are those of simulating the pair and
    valuing all its patients in one call (tests/test_decision.py checks), chunk by chunk."""
    pair = [strategy, comparator]
    used = therapies_used(cfg, strategy) | therapies_used(cfg, comparator)
    levers = levers_of(cfg, used)
    steps = []  # (row, param, side, value, job index, override index)
    same: list[dict[str, float]] = [{}]  # the base case first
    jobs: list[tuple[RunConfig, list[dict[str, float]]]] = [(cfg, same)]
    for i, p in enumerate(cfg.economics.dsa.params):
        enters = enters_comparison(p.key, used, levers)
        for side, value in (("low", p.low), ("high", p.high)):
            # an economics input, a lever of a therapy neither strategy gives, or a model
            # parameter acting only through a lever neither gives, leaves the simulated
            # patients as they were (tests/test_decision.py checks the last two)
            if p.key.startswith("economics.") or not enters:
                same.append({p.key: value})
                steps.append((i, p, side, value, 0, len(same) - 1))
            else:
                jobs.append((with_values(cfg, {p.key: value}), [{}]))
                steps.append((i, p, side, value, len(jobs) - 1, 0))
    means: dict[tuple[int, int], dict[str, tuple[float, float]]] = {}
    for j, arrays in _valued(jobs, pair):
        for k in range(len(jobs[j][1])):
            means[j, k] = {
                s: (float(pd.Series(a[k, 0]).mean()), float(pd.Series(a[k, 1]).mean()))
                for s, a in arrays.items()
            }
            if on_step is not None and (j, k) != (0, 0):
                on_step()
    base_nmb, _ = _nmb(cfg, means[0, 0], strategy, comparator)
    rows: dict[int, dict] = {}
    for i, p, side, value, j, k in steps:
        row = rows.setdefault(
            i,
            {
                "key": p.key,
                "label": p.label or p.key,
                "base_value": get_value(cfg, p.key),
                "enters": enters_comparison(p.key, used, levers),
                "unit": p.unit,
            },
        )
        c = with_values(cfg, {p.key: value}) if j == 0 else jobs[j][0]
        row[side] = value
        row[f"inc_nmb_{side}"], row[f"icer_{side}"] = _nmb(c, means[j, k], strategy, comparator)
    for row in rows.values():
        row["inc_nmb_base"] = base_nmb
        row["swing"] = abs(row["inc_nmb_high"] - row["inc_nmb_low"])
    table = pd.DataFrame(list(rows.values()), columns=DSA_COLUMNS)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "comparator", comparator)
    table.insert(0, "strategy", strategy)
    return table
