"""A short Markdown report that ties the economic outputs together."""

from __future__ import annotations

import pandas as pd

from sim.config.schema import RunConfig
from sim.economics.decision import CEA_COLUMNS

SE_COLUMNS = ["cost_se", "qaly_se", "inc_cost_se", "inc_qaly_se"]


def _md(df: pd.DataFrame, floatfmt: dict[str, str] | None = None) -> str:
    fmt = floatfmt or {}
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(cols, r, strict=True):
            if isinstance(v, float):
                cells.append("-" if v != v else format(v, fmt.get(c, ",.3f")))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    cfg: RunConfig,
    cea: pd.DataFrame,
    breakdown: pd.DataFrame,
    dsa: pd.DataFrame | None,
    evpi: pd.DataFrame | None,
    ceac: pd.DataFrame | None,
    uncertainty: pd.DataFrame | None,
    figures: list[str],
) -> str:
    e = cfg.economics
    money = {"cost": ",.0f", "inc_cost": ",.0f", "icer": ",.0f", "nmb": ",.0f"}
    out = [
        f"# Economic evaluation: {', '.join(cfg.strategy)}",
        "",
        f"- Perspective: {e.perspective}; costs in {e.currency} ({e.price_year} prices).",
        f"- Discounting: costs {e.discount.costs:.1%}, QALYs {e.discount.qalys:.1%} per year, "
        f"continuous ({e.discount.guideline}).",
        f"- Horizon: simulated acute phase {cfg.horizon_days:g} days, then "
        + (
            "lifetime (background + disease + disability mortality)."
            if e.lifetime.enabled
            else "nothing (lifetime extension off)."
        ),
        f"- Base case: {cfg.cohort.n:,} patients per strategy ({cfg.cohort.name} mix), seed "
        f"{cfg.seed}; willingness to pay {e.wtp:,.0f} per QALY.",
        "",
        "## Incremental analysis (cea.csv)",
        "",
        _md(
            cea[[c for c in CEA_COLUMNS if c not in ("comparator", "dominated")] + SE_COLUMNS],
            money | {"cost_se": ",.0f", "inc_cost_se": ",.0f"},
        ),
        "",
        "`*_se`: Monte Carlo (first-order) standard errors of the means; `inc_*_se` of the "
        "increments, from per-patient differences (same patients under every strategy).",
        "",
        "## Cost components (cost_breakdown.csv)",
        "",
        _md(breakdown, {c: ",.0f" for c in breakdown.columns}),
    ]
    if dsa is not None and len(dsa):
        s, c = dsa["strategy"].iloc[0], dsa["comparator"].iloc[0]
        shown = dsa[dsa["enters"].astype(bool)]
        left_out = list(dsa.loc[~dsa["enters"].astype(bool), "label"])
        out += [
            "",
            f"## One-way sensitivity (dsa.csv): {s} vs {c}",
            "",
            _md(
                shown[["label", "low", "high", "unit", "inc_nmb_low", "inc_nmb_high", "swing"]],
                {
                    "inc_nmb_low": ",.0f",
                    "inc_nmb_high": ",.0f",
                    "swing": ",.0f",
                    "low": "g",
                    "high": "g",
                },
            ),
        ]
        if left_out:
            out += [
                "",
                f"Not in this comparison (inputs of therapies neither {s} nor {c} gives): "
                + ", ".join(left_out)
                + ".",
            ]
    if evpi is not None and ceac is not None:
        at = ceac[ceac["wtp"] == ceac["wtp"].iloc[(ceac["wtp"] - e.wtp).abs().argmin()]]
        w = float(at["wtp"].iloc[0])
        ev = float(evpi.loc[(evpi["wtp"] - w).abs().idxmin(), "evpi"])
        out += [
            "",
            f"## Probabilistic analysis ({e.psa.draws} draws x {e.psa.n_patients} patients)",
            "",
            f"At {w:,.0f} per QALY: EVPI {ev:,.0f} {e.currency} per patient; "
            "probability each strategy is cost-effective:",
            "",
            _md(at[["strategy", "probability", "on_frontier"]]),
        ]
        if uncertainty is not None:
            out += [
                "",
                "First- vs second-order uncertainty of the draw means (uncertainty.csv): "
                "`share_first_order` is the part of the between-draw variance that is patient "
                "sampling noise; if it is large, raise `economics.psa.n_patients`.",
                "",
                _md(uncertainty[uncertainty["outcome"] != "life_years"], {"mean": ",.3f"}),
            ]
    out += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(out) + "\n"
