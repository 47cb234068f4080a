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


def _assumed_prices(cfg: RunConfig) -> list[str]:
    """'therapy price unit' of the priced therapies the compared strategies can give
    whose price is an ASSUMPTION (no source found)."""
    from sim.economics.dsa import therapies_used

    used: set[str] = set()
    for name in cfg.strategy:
        used |= therapies_used(cfg, name)
    out = []
    for t, tc in cfg.economics.costs.therapies.items():
        if t not in used or not tc.source.startswith("ASSUMPTION"):
            continue
        label = cfg.therapies[t].label if t in cfg.therapies else t
        if tc.per_dose:
            out.append(f"{label} ({t}) {tc.per_dose:,.0f} per dose")
        if tc.per_day:
            out.append(f"{label} ({t}) {tc.per_day:,.2f} per day")
    return out


def _thresholds(cfg: RunConfig) -> list[float]:
    e = cfg.economics
    return sorted({float(w) for w in [*e.wtp_thresholds, e.wtp]})


def _by_threshold(cea: pd.DataFrame, thresholds: list[float], currency: str) -> list[str]:
    """NMB of each strategy and the optimal one at each threshold."""
    table = pd.DataFrame({"strategy": cea["strategy"]})
    best = []
    for w in thresholds:
        nmb = w * cea["qaly"] - cea["cost"]
        table[f"NMB at {w:,.0f}"] = nmb.to_numpy()
        best.append(f"{w:,.0f}: {cea['strategy'].iloc[int(nmb.to_numpy().argmax())]}")
    return [
        _md(table, {c: ",.0f" for c in table.columns[1:]}),
        "",
        f"Optimal (highest NMB, {currency}) at " + "; ".join(best) + ".",
    ]


def _uncertainty_rows(unc: pd.DataFrame) -> pd.DataFrame:
    """Mean, between-draw SD and first-order share per strategy and outcome, as text
    (costs to the unit with thousands separators, QALYs to 3 decimals)."""
    rows = []
    for r in unc[unc["outcome"] != "life_years"].itertuples():
        fmt = ",.0f" if r.outcome == "cost" else ",.3f"
        rows.append(
            {
                "strategy": r.strategy,
                "outcome": r.outcome,
                "mean": format(r.mean, fmt),
                "sd_between_draws": format(r.sd_between_draws, fmt),
                "share_first_order": format(r.share_first_order, ".1%"),
            }
        )
    return pd.DataFrame(rows)


def report(
    cfg: RunConfig,
    cea: pd.DataFrame,
    breakdown: pd.DataFrame,
    dsa: pd.DataFrame | None,
    evpi: pd.DataFrame | None,
    ceac: pd.DataFrame | None,
    uncertainty: pd.DataFrame | None,
    figures: list[str],
    evppi: pd.DataFrame | None = None,
    notes: list[str] | None = None,
) -> str:
    e = cfg.economics
    money = {"cost": ",.0f", "inc_cost": ",.0f", "icer": ",.0f", "nmb": ",.0f"}
    thresholds = _thresholds(cfg)
    assumed = _assumed_prices(cfg)
    out = [
        f"# Economic evaluation: {', '.join(cfg.strategy)}",
        "",
        f"- Perspective: {e.perspective}; costs in {e.currency} ({e.price_year} prices).",
        f"- Utilities: {e.utilities.source or 'source not stated (economics.utilities.source)'}.",
        f"- Discounting: costs {e.discount.costs:.1%}, QALYs {e.discount.qalys:.1%} per year, "
        f"continuous ({e.discount.guideline}).",
        f"- Horizon: simulated acute phase {cfg.horizon_days:g} days, then "
        + (
            "lifetime (background + disease + disability mortality)."
            if e.lifetime.enabled
            else "nothing (lifetime extension off)."
        ),
        f"- Base case: {cfg.cohort.n:,} patients per strategy ({cfg.cohort.name} mix), seed "
        f"{cfg.seed}; willingness to pay {e.wtp:,.0f} per QALY; decision shown at "
        + " and ".join(f"{w:,.0f}" for w in thresholds)
        + " per QALY.",
    ]
    if assumed:
        out.append(
            f"- Prices that are ASSUMPTIONS (no source found; illustrative, in {e.currency}): "
            + "; ".join(assumed)
            + ". Results that depend on them are not evidence for a decision."
        )
    out += [
        "",
        "## Incremental analysis (cea.csv)",
        "",
        _md(
            cea[[c for c in CEA_COLUMNS if c not in ("comparator", "dominated")] + SE_COLUMNS],
            money
            | {"cost_se": ",.0f", "inc_cost_se": ",.0f", "life_years": ",.2f"}
            | {"qaly": ",.3f", "inc_qaly": ",.3f", "qaly_se": ",.3f", "inc_qaly_se": ",.3f"},
        ),
        "",
        f"Costs and NMB in {e.currency}, ICER in {e.currency} per QALY. `*_se`: Monte Carlo "
        "(first-order) standard errors of the means; `inc_*_se` of the increments, from "
        "per-patient differences (same patients under every strategy).",
        "",
        f"## Decision at each threshold ({e.currency} per QALY)",
        "",
        *_by_threshold(cea, thresholds, e.currency),
        "",
        "## Cost components (cost_breakdown.csv)",
        "",
        _md(breakdown, {c: ",.0f" for c in breakdown.columns}),
        "",
        f"Mean discounted cost per patient, {e.currency}.",
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
                    "low": ",g",
                    "high": ",g",
                },
            ),
            "",
            f"Incremental NMB of {s} vs {c} at {e.wtp:,.0f} {e.currency} per QALY, in "
            f"{e.currency}; base case {dsa['inc_nmb_base'].iloc[0]:,.0f}.",
        ]
        if left_out:
            out += [
                "",
                f"Not in this comparison (inputs of therapies neither {s} nor {c} gives): "
                + ", ".join(left_out)
                + ".",
            ]
    if evpi is not None and ceac is not None:
        grid = ceac["wtp"].unique()

        def nearest(w: float) -> float:
            return float(grid[abs(grid - w).argmin()])

        w = nearest(e.wtp)
        at = ceac[ceac["wtp"] == w]
        ev = float(evpi.loc[(evpi["wtp"] - w).abs().idxmin(), "evpi"])
        out += [
            "",
            f"## Probabilistic analysis ({e.psa.draws:,} draws x {e.psa.n_patients:,} patients)",
            "",
            f"At {w:,.0f} per QALY: EVPI {ev:,.0f} {e.currency} per patient; "
            "probability each strategy is cost-effective:",
            "",
            _md(at[["strategy", "probability", "on_frontier"]]),
            "",
            "At each threshold (nearest point of the CEAC grid):",
            "",
        ]
        table = pd.DataFrame({"strategy": at["strategy"].to_numpy()})
        evpis = []
        for t in thresholds:
            g = nearest(t)
            p = ceac[ceac["wtp"] == g].set_index("strategy")["probability"]
            table[f"P(cost-effective) at {g:,.0f}"] = p.loc[table["strategy"]].to_numpy()
            ev_t = float(evpi.loc[(evpi["wtp"] - g).abs().idxmin(), "evpi"])
            evpis.append(f"{ev_t:,.0f} at {g:,.0f}")
        out += [
            _md(table),
            "",
            f"EVPI per patient ({e.currency}): " + "; ".join(evpis) + ".",
        ]
        if evppi is not None and len(evppi):
            ew = evppi[evppi["wtp"] == nearest(e.wtp)]
            cols = [c for c in ("group", "evppi", "noise_mean", "noise_p95", "above_noise")
                    if c in ew]  # fmt: skip
            out += [
                "",
                f"EVPPI per patient at {w:,.0f} per QALY ({e.currency}; evppi.csv). "
                "`noise_mean` / `noise_p95`: the EVPPI of the same group with its parameters "
                "randomly permuted across draws (no information), i.e. the estimator's "
                "small-sample bias; an EVPPI not above `noise_p95` cannot be told from it.",
                "",
                _md(ew[cols], {"evppi": ",.0f", "noise_mean": ",.0f", "noise_p95": ",.0f"}),
            ]
        if uncertainty is not None:
            out += [
                "",
                "First- vs second-order uncertainty of the draw means (uncertainty.csv): "
                "`share_first_order` is the part of the between-draw variance that is patient "
                "sampling noise; if it is large, raise `economics.psa.n_patients`.",
                "",
                _md(_uncertainty_rows(uncertainty)),
            ]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(out) + "\n"
