"""Decision analysis: the incremental cost-effectiveness table.

Strategies are ordered by cost. A strategy is *strongly dominated* when another costs
no more and gives at least as many QALYs (one of the two strictly). Among the rest,
ICERs are computed against the next cheaper strategy still in; a strategy whose ICER
is higher than that of the next more costly one is *extendedly dominated* (a mix of
its neighbours would do better), and is removed before ICERs are recomputed, until
ICERs rise along the frontier (Drummond et al. 2015, ch. 4; as dampack's
calculate_icers). Net monetary benefit at willingness to pay (WTP) lambda is
lambda * QALYs - cost; the strategy with the highest NMB is optimal at that WTP.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CEA_COLUMNS = [
    "strategy",
    "cost",
    "qaly",
    "life_years",
    "inc_cost",
    "inc_qaly",
    "comparator",
    "icer",
    "nmb",
    "dominated",
    "dominance",
    "optimal",
]


def frontier(cost: np.ndarray, effect: np.ndarray) -> tuple[list[int], dict[int, str]]:
    """Indices of the efficient frontier (by increasing cost) and the dominance of the rest."""
    cost, effect = np.asarray(cost, dtype=float), np.asarray(effect, dtype=float)
    order = list(np.lexsort((-effect, cost)))  # cost up; at equal cost, more effect first
    status: dict[int, str] = {}
    kept: list[int] = []
    for i in order:  # strong dominance: not more effective than a cheaper-or-equal one
        if kept and effect[i] <= max(effect[j] for j in kept):
            status[i] = "strong"
        else:
            kept.append(i)
    changed = True
    while changed and len(kept) > 2:
        changed = False
        icer = [
            (cost[kept[k]] - cost[kept[k - 1]]) / (effect[kept[k]] - effect[kept[k - 1]])
            for k in range(1, len(kept))
        ]
        for k in range(len(icer) - 1):
            if icer[k] > icer[k + 1]:  # kept[k + 1] is extendedly dominated
                status[kept[k + 1]] = "extended"
                del kept[k + 1]
                changed = True
                break
    return kept, status


def cea_table(means: pd.DataFrame, wtp: float) -> pd.DataFrame:
    """means: one row per strategy with cost, qaly, life_years (and any extra columns).

    Returns the contract table: the frontier in order of cost, then dominated strategies.
    """
    df = means.reset_index(drop=True).copy()
    kept, status = frontier(df["cost"].to_numpy(), df["qaly"].to_numpy())
    df["inc_cost"] = np.nan
    df["inc_qaly"] = np.nan
    df["comparator"] = ""
    df["icer"] = np.nan
    for prev, cur in zip(kept[:-1], kept[1:], strict=True):
        dc = df.at[cur, "cost"] - df.at[prev, "cost"]
        dq = df.at[cur, "qaly"] - df.at[prev, "qaly"]
        df.loc[cur, ["inc_cost", "inc_qaly", "icer"]] = [dc, dq, dc / dq]
        df.at[cur, "comparator"] = df.at[prev, "strategy"]
    df["nmb"] = wtp * df["qaly"] - df["cost"]
    df["dominance"] = [status.get(i, "") for i in range(len(df))]
    df["dominated"] = df["dominance"] != ""
    df["optimal"] = df["nmb"] == df["nmb"].max()
    rank = {i: r for r, i in enumerate(kept)}
    df["_order"] = [rank.get(i, len(kept) + i) for i in range(len(df))]
    df = df.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    extra = [c for c in df.columns if c not in CEA_COLUMNS]
    return df[CEA_COLUMNS + extra]


def format_cea(table: pd.DataFrame, currency: str, wtp: float) -> str:
    """The incremental table as text, for the terminal."""
    lines = [
        f"{'strategy':<24}{'cost':>12}{'QALYs':>9}{'LYs':>8}{'ICER':>14}{'NMB':>13}  status",
        "-" * 88,
    ]
    for r in table.itertuples():
        icer = f"{r.icer:,.0f}" if np.isfinite(r.icer) else "-"
        status = {"strong": "dominated", "extended": "ext. dominated"}.get(r.dominance, "")
        if r.optimal:
            status = (status + " optimal").strip()
        lines.append(
            f"{r.strategy:<24}{r.cost:>12,.0f}{r.qaly:>9.3f}{r.life_years:>8.2f}"
            f"{icer:>14}{r.nmb:>13,.0f}  {status}"
        )
    lines.append(
        f"costs in {currency}; ICER per QALY vs the next cheaper frontier strategy; "
        f"NMB at {wtp:,.0f} per QALY"
    )
    return "\n".join(lines)
