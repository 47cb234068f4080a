"""A short Markdown report that ties the economic outputs together."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from sim.config.schema import RunConfig
from sim.economics.decision import CEA_COLUMNS
from sim.economics.inflation import price_table

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


def decision_thresholds(cfg: RunConfig) -> list[float]:
    """economics.wtp and economics.wtp_thresholds, sorted, each once."""
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
    extras: ReportExtras | None = None,
) -> str:
    e = cfg.economics
    money = {"cost": ",.0f", "inc_cost": ",.0f", "icer": ",.0f", "nmb": ",.0f"}
    thresholds = decision_thresholds(cfg)
    assumed = _assumed_prices(cfg)
    x = extras or ReportExtras()
    out = [
        f"# Economic evaluation: {', '.join(cfg.strategy)}",
        "",
        "## Methods and inputs",
        "",
        f"- Population: {cfg.cohort.name} mix of underlying conditions "
        f"({_mix(cfg)}); comparators: {', '.join(cfg.strategy)} (conf/strategy/).",
        "- Model: individual-patient discrete-event simulation of PML from diagnosis "
        f"(virus, immunity, lesions, therapies and their rules) for {cfg.horizon_days:g} days, "
        "then a lifetime extension by residual disability (docs/economics.md s.1-2; "
        "calibration: docs/calibration.md).",
        f"- Perspective: {perspective_text(e)}; costs in {e.currency} ({e.price_year} prices).",
        f"- Utilities: {e.utilities.source or 'source not stated (economics.utilities.source)'}"
        + (
            "; after the horizon multiplied by the general population's EQ-5D at each age "
            "over that at diagnosis (age-adjusted, NICE DSU TSD 12)."
            if e.utilities.age_adjusted
            else "; not age-adjusted over the lifetime."
        ),
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
    if e.prices:
        prices = price_table(cfg)
        for col in ("value", "config_value"):  # to the unit from 1,000; pence below
            prices[col] = [f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}" for v in prices[col]]
        out += [
            f"- Price date: {e.price_year}. Each sourced price is inflated from its price "
            f"year to {e.inflation.base_year} ({e.inflation.source}); `current`: taken as a "
            f"{e.inflation.base_year} price. ASSUMPTION prices are {e.price_year} prices.",
            "",
            _md(
                prices[["key", "value", "year", "index", "factor", "config_value", "source"]],
                {"factor": ".4f"},
            ),
            "",
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
            cols = [c for c in ("group", "evppi", "noise_mean", "noise_p95", "above_noise",
                                "capped_at_evpi")
                    if c in ew]  # fmt: skip
            out += [
                "",
                f"EVPPI per patient at {w:,.0f} per QALY ({e.currency}; evppi.csv). "
                "`noise_mean` / `noise_p95`: the EVPPI of the same group with its parameters "
                "randomly permuted across draws (no information), i.e. the estimator's "
                "small-sample bias; an EVPPI not above `noise_p95` cannot be told from it. "
                "`capped_at_evpi`: the regression's estimate exceeded the EVPI, which no "
                "EVPPI can; shown as the EVPI, and not to be read as information.",
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
    out += _extra_sections(cfg, x, thresholds, cea)
    out += _impact_inventory(cfg, breakdown)
    out += _limitations(cfg)
    out += _cheers(cfg, x, dsa is not None and len(dsa) > 0, evpi is not None)
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(out) + "\n"


@dataclass
class ReportExtras:
    """The tables of issue 15's features, each None when not computed."""

    psa_summary: pd.DataFrame | None = None
    by_condition: pd.DataFrame | None = None
    scenarios: pd.DataFrame | None = None
    threshold_prices: pd.DataFrame | None = None
    two_way: pd.DataFrame | None = None
    severity: pd.DataFrame | None = None
    budget_impact: pd.DataFrame | None = None
    evsi: pd.DataFrame | None = None


def _mix(cfg: RunConfig) -> str:
    mix = {k: float(v) for k, v in cfg.cohort.mix.items() if v}
    total = sum(mix.values())
    if not total:
        return "all conditions"
    return ", ".join(f"{k} {v / total:.0%}" for k, v in mix.items())


def _money(v: float) -> str:
    return "-" if v != v else f"{v:,.0f}"


def _interval(r, name: str, fmt: str) -> str:
    mean, lo, hi = getattr(r, name), getattr(r, f"{name}_lo"), getattr(r, f"{name}_hi")
    if mean != mean:
        return "-"
    return f"{format(mean, fmt)} ({format(lo, fmt)} to {format(hi, fmt)})"


def _extra_sections(
    cfg: RunConfig, x: ReportExtras, thresholds: list[float], cea: pd.DataFrame
) -> list[str]:
    e = cfg.economics
    cur = e.currency
    out: list[str] = []
    if x.psa_summary is not None and len(x.psa_summary):
        s = x.psa_summary[x.psa_summary["wtp"] == float(e.wtp)]
        rows = []
        for r in s.itertuples():
            rows.append(
                {
                    "strategy": r.strategy,
                    "cost": _interval(r, "cost", ",.0f"),
                    "QALYs": _interval(r, "qaly", ",.3f"),
                    "vs": r.comparator or "-",
                    "ICER probabilistic": _money(r.icer),
                    "ICER deterministic": _money(r.icer_deterministic),
                    "incremental NMB": _interval(r, "inc_nmb", ",.0f"),
                    "P(inc. NMB > 0)": "-"
                    if r.p_inc_nmb_positive != r.p_inc_nmb_positive
                    else f"{r.p_inc_nmb_positive:.2f}",
                    "status": (r.dominance or "") + (" optimal" if r.optimal else ""),
                }
            )
        out += [
            "",
            "## Probabilistic results (psa_summary.csv)",
            "",
            f"Means over the {e.psa.draws:,} PSA draws with 95% intervals (2.5th to 97.5th "
            f"percentile of the draws), in {cur}; the frontier and ICERs of the expected "
            "costs and QALYs (probabilistic ICER = mean incremental cost / mean incremental "
            "QALYs) beside the deterministic ICER of cea.csv; incremental NMB against the "
            f"probabilistic comparator at {e.wtp:,.0f} per QALY (psa_summary.csv has every "
            "threshold).",
            "",
            _md(pd.DataFrame(rows)),
        ]
    if x.by_condition is not None and len(x.by_condition):
        b = x.by_condition
        cols = ["condition", "n_patients", "strategy", "cost", "qaly", "icer", "nmb",
                "dominance", "optimal"]  # fmt: skip
        out += [
            "",
            "## Subgroups by underlying condition (cea_by_condition.csv)",
            "",
            "The incremental table of each condition's patients (the same patients under "
            f"every strategy), costs and NMB at {e.wtp:,.0f} per QALY in {cur}. Small "
            "subgroups carry large Monte Carlo error (see the `*_se` columns of the CSV).",
            "",
            _md(b[cols], {"cost": ",.0f", "icer": ",.0f", "nmb": ",.0f", "qaly": ",.3f"}),
        ]
    if x.scenarios is not None and len(x.scenarios):
        sc = x.scenarios.copy()
        sc["status"] = [
            (str(d) if isinstance(d, str) else "") + (" optimal" if o else "")
            for d, o in zip(sc["dominance"], sc["optimal"], strict=True)
        ]
        best = sc[sc["optimal"].astype(bool)]
        out += [
            "",
            "## Scenario analysis (scenarios.csv)",
            "",
            "Each scenario's whole incremental table (economics inputs re-cost the base-case "
            "patients; other inputs re-simulate them with the same seed); costs and NMB at "
            f"{e.wtp:,.0f} per QALY in {cur}. Optimal: "
            + "; ".join(f"{r.scenario} {r.strategy}" for r in best.itertuples())
            + ".",
            "",
            _md(
                sc[
                    [
                        "scenario",
                        "label",
                        "strategy",
                        "cost",
                        "qaly",
                        "comparator",
                        "icer",
                        "nmb",
                        "status",
                    ]
                ],
                {"cost": ",.0f", "qaly": ",.3f", "icer": ",.0f", "nmb": ",.0f"},
            ),  # fmt: skip
        ]
    if x.threshold_prices is not None and len(x.threshold_prices):
        t = x.threshold_prices.copy()
        out += [
            "",
            "## Threshold prices (threshold_prices.csv)",
            "",
            f"The price per dose (or day) in {cur} at which a strategy's incremental NMB "
            "against its comparator is zero (`threshold_price`), and the highest price at "
            "which it has the highest NMB of all strategies (`value_based_price`; "
            "`binding_strategy` is the competitor that sets it). NMB is linear in the price: "
            "price + incremental NMB / discounted doses per patient. A negative price: not "
            "cost-effective even if free; '-': the price does not enter or no price makes "
            "the strategy optimal. `*_per_course`: per dose x the doses of a full course "
            "(therapies.<t>.n_doses).",
            "",
            _md(
                t[
                    [
                        "wtp",
                        "therapy",
                        "per",
                        "strategy",
                        "comparator",
                        "price_base",
                        "units",
                        "threshold_price",
                        "value_based_price",
                        "binding_strategy",
                        "threshold_price_per_course",
                        "value_based_price_per_course",
                    ]
                ],
                {
                    "wtp": ",.0f",
                    "price_base": ",.0f",
                    "units": ",.2f",
                    "threshold_price": ",.0f",
                    "value_based_price": ",.0f",
                    "threshold_price_per_course": ",.0f",
                    "value_based_price_per_course": ",.0f",
                },
            ),
        ]
    if x.two_way is not None and len(x.two_way):
        tw = x.two_way
        xt, yt = tw["x_therapy"].iloc[0], tw["y_therapy"].iloc[0]
        shares = (tw.groupby(["wtp", "optimal"]).size() / tw.groupby("wtp").size()).reset_index(
            name="share of the grid"
        )
        out += [
            "",
            "## Two-way price analysis (twoway.csv, twoway.png)",
            "",
            f"The optimal strategy on a grid of the {xt} and {yt} prices "
            f"({tw['x_price'].min():,.0f}-{tw['x_price'].max():,.0f} and "
            f"{tw['y_price'].min():,.0f}-{tw['y_price'].max():,.0f} {cur}), exact from the "
            "discounted doses per patient (costs are linear in prices); share of the grid "
            "where each strategy is optimal:",
            "",
            _md(shares, {"wtp": ",.0f", "share of the grid": ".0%"}),
        ]
    if x.severity is not None and len(x.severity):
        sv = x.severity
        w = float(sv["weight"].iloc[0])
        out += [
            "",
            "## Severity modifier (severity.csv)",
            "",
            f"Expected discounted QALYs from diagnosis of the general population of the same "
            f"age and sex against the patients' under current care "
            f"({sv['current_strategy'].iloc[0]}), and the QALY weight the shortfall earns "
            "(economics.severity.steps); the whole cohort first, then each condition.",
            "",
            _md(
                sv.drop(columns="current_strategy"),
                {
                    "mean_age": ",.1f",
                    "share_male": ".0%",
                    "qaly_general_population": ",.2f",
                    "qaly_current_care": ",.2f",
                    "absolute_shortfall": ",.2f",
                    "proportional_shortfall": ".2f",
                    "weight": "g",
                },
            ),  # fmt: skip
        ]
        if w != 1.0:
            best = []
            for t in thresholds:
                nmb = w * t * cea["qaly"] - cea["cost"]
                best.append(f"{t:,.0f}: {cea['strategy'].iloc[int(nmb.to_numpy().argmax())]}")
            out += [
                "",
                f"With QALYs weighted x{w:g} (the whole cohort's weight), the optimal strategy "
                "at " + "; ".join(best) + ".",
            ]
    if x.budget_impact is not None and len(x.budget_impact):
        bi = x.budget_impact
        b = e.budget_impact
        out += [
            "",
            "## Budget impact (budget_impact.csv)",
            "",
            f"{bi['new_strategy'].iloc[0]} replacing {bi['current_strategy'].iloc[0]} for "
            f"{bi['incident_patients'].iloc[0]:,.1f} incident patients a year (population "
            f"{b.population:,.0f} x {b.incidence_per_100k:g} per 100,000 person-years), "
            f"undiscounted {cur} by budget year; uptake of the new strategy by year of "
            "diagnosis as configured (economics.budget_impact).",
            "",
            _md(
                bi[
                    [
                        "year",
                        "uptake",
                        "cost_current_scenario",
                        "cost_new_scenario",
                        "budget_impact",
                        "cumulative_impact",
                    ]
                ],
                {
                    "uptake": ".0%",
                    "cost_current_scenario": ",.0f",
                    "cost_new_scenario": ",.0f",
                    "budget_impact": ",.0f",
                    "cumulative_impact": ",.0f",
                },
            ),
        ]
    if x.evsi is not None and len(x.evsi):
        v = x.evsi
        ev = e.evsi
        best = v[v["optimal_n"].astype(bool)]
        lines = [
            f"{r.wtp:,.0f} per QALY: n = {r.n:,} ({r.n_experimental:,} + {r.n_control:,}), "
            f"ENBS {r.enbs:,.0f} {cur}"
            for r in best.itertuples()
        ]
        out += [
            "",
            "## Value of sample information (evsi.csv)",
            "",
            f"A trial of {v['experimental'].iloc[0]} vs {v['control'].iloc[0]} with n "
            "randomised patients (split by the allocation ratio) observing "
            "1-year survival; EVSI per patient by regression on the simulated trial "
            "statistic (Strong et al. 2015), times the patients the decision reaches "
            + (
                "(`population`: incident patients diagnosed after the trial reports, "
                f"`trial_years` from now, until {ev.decision_years:g} years, discounted; "
                "Eckermann & Willan 2008)"
                if ev.accrual_delay
                else f"({v['population'].iloc[0]:,.1f}: incident patients over "
                f"{ev.decision_years:g} years, discounted)"
            )
            + f"; trial cost {ev.fixed_cost:,.0f} + "
            f"{ev.cost_per_patient:,.0f} per patient (ASSUMPTIONS).",
            "",
            _md(
                v[
                    [
                        "wtp",
                        "n",
                        "n_experimental",
                        "n_control",
                        "trial_years",
                        "population",
                        "evsi_per_patient",
                        "evpi_per_patient",
                        "evsi_population",
                        "trial_cost",
                        "enbs",
                        "noise_p95",
                    ]
                ],
                {
                    "wtp": ",.0f",
                    "evsi_per_patient": ",.0f",
                    "evpi_per_patient": ",.0f",
                    "evsi_population": ",.0f",
                    "trial_years": ".1f",
                    "population": ",.1f",
                    "trial_cost": ",.0f",
                    "enbs": ",.0f",
                    "noise_p95": ",.0f",
                },
            ),
            "",
            "`noise_p95`: the EVSI of the trial statistic permuted across draws (no "
            "information: the regression's small-sample bias); an EVSI not above it cannot "
            "be told from noise.",
            "",
            "ENBS-optimal sample size (on the grid): "
            + "; ".join(lines)
            + "."
            + (
                " A negative ENBS everywhere: no trial on the grid is worth its cost."
                if (best["enbs"] < 0).all()
                else ""
            ),
        ]
    return out


# impact inventory (Second Panel, Sanders et al. JAMA 2016): sector, impact, the column
# of patient_values that holds it (None: not modelled), and whether the healthcare
# perspective counts it (the societal perspective counts every modelled impact)
IMPACTS = [
    ("formal health care", "drugs and administration", "cost_drugs", True),
    ("formal health care", "hospital days, IRIS management", "cost_hospital", True),
    ("formal health care", "visits, MRI, lumbar punctures", "cost_monitoring", True),
    ("formal health care", "adverse events", "cost_adverse_events", True),
    ("formal health care", "end-of-life care", "cost_end_of_life", True),
    ("formal health care and social care", "care after discharge until the horizon",
     "cost_post_discharge", True),
    ("formal health care and social care", "long-term care by mRS and condition care, lifetime",
     "cost_long_term", True),
    ("health", "QALYs (utility by mRS, IRIS, severe side effects), life-years", "qaly", True),
    ("informal care", "unpaid carers' time", "cost_informal_care", False),
    ("productivity", "patients' paid work", "cost_productivity", False),
    ("productivity", "carers' paid work", None, False),
    ("patient", "time and travel for care", None, False),
]  # fmt: skip


def perspective_text(e) -> str:
    """The perspective in words: the label of the set, plus what the societal one adds."""
    label = e.perspective_label or e.perspective
    if e.perspective == "societal":
        return (
            f"societal: {label}, plus patients' productivity losses "
            f"({e.societal.productivity_method.replace('_', '-')} method) and informal care "
            f"({e.societal.informal_care_method}-cost method)"
        )
    return label


def _impact_inventory(cfg: RunConfig, breakdown: pd.DataFrame) -> list[str]:
    """What each perspective includes, sector by sector, and what this run counts, with
    the range over the strategies of its mean cost per patient."""
    societal = cfg.economics.perspective == "societal"
    # opportunity-cost method: carers' time is valued as their foregone earnings, so
    # carers' paid work is counted, inside cost_informal_care
    carers_work = cfg.economics.societal.informal_care_method == "opportunity"
    rows = []
    for sector, impact, col, healthcare in IMPACTS:
        inside_care = impact == "carers' paid work" and carers_work
        if inside_care:
            col = "cost_informal_care"
        if col is None:
            counted = "no (not modelled)"
        elif inside_care and societal:  # the same money as the row above: not added twice
            counted = "yes (inside unpaid carers' time: opportunity-cost method)"
        elif not (healthcare or societal):
            counted = "no (societal perspective only)"
        elif col in breakdown:
            values = breakdown[col].to_numpy(dtype=float)
            counted = f"yes ({values.min():,.0f}-{values.max():,.0f} per patient)"
        else:
            counted = "yes"
        rows.append(
            {
                "sector": sector,
                "impact": impact,
                "healthcare perspective": "yes" if healthcare else "no",
                "societal perspective": "yes" if col is not None else "no (not modelled)",
                "counted": counted,
            }
        )
    return [
        "",
        "## Impact inventory",
        "",
        f"Perspective: {perspective_text(cfg.economics)} (economics.perspective: "
        f"{cfg.economics.perspective}). Mean discounted cost per patient across "
        f"the strategies, {cfg.economics.currency} (cost_breakdown.csv).",
        "",
        _md(pd.DataFrame(rows)),
    ]


def _limitations(cfg: RunConfig) -> list[str]:
    return [
        "",
        "## Limitations",
        "",
        "- Prices marked ASSUMPTION (above) are illustrative; results that hinge on them "
        "are not evidence for a decision (threshold prices show how far they may move).",
        f"- Utilities: {cfg.economics.utilities.source or 'source not stated'}.",
        "- Disability is assumed stable after the simulated horizon; life expectancy by mRS "
        "comes from stroke survivors (docs/economics.md s.2).",
        "- Monte Carlo error: base case `*_se` columns; PSA first-order share "
        "(uncertainty.csv); subgroups are smaller samples.",
        "- Budget impact: each year's cohort is diagnosed at the start of its year; no "
        "price changes or treatment displacement beyond the two strategies.",
    ]


# CHEERS 2022 (Husereau et al., BMJ 2022;376:e067975): item, topic, where it is reported
CHEERS_ITEMS = [
    (1, "Title", "title of this report"),
    (2, "Abstract", None),
    (3, "Background and objectives", None),
    (4, "Health economic analysis plan", None),
    (5, "Study population", "Methods and inputs"),
    (6, "Setting and location", "Methods and inputs"),
    (7, "Comparators", "Methods and inputs"),
    (8, "Perspective", "Methods and inputs"),
    (9, "Time horizon", "Methods and inputs"),
    (10, "Discount rate", "Methods and inputs"),
    (11, "Selection of outcomes", "Incremental analysis"),
    (12, "Measurement of outcomes", "Methods and inputs"),
    (13, "Valuation of outcomes", "Methods and inputs"),
    (14, "Measurement and valuation of resources and costs", "Impact inventory"),
    (15, "Currency, price date, and conversion", "Methods and inputs"),
    (16, "Rationale and description of model", "Methods and inputs"),
    (17, "Analytics and assumptions", "Limitations"),
    (18, "Characterising heterogeneity", "Subgroups by underlying condition"),
    (19, "Characterising distributional effects", None),
    (20, "Characterising uncertainty", "Probabilistic analysis"),
    (21, "Approach to engagement with patients and others affected", None),
    (22, "Study parameters", "Methods and inputs"),
    (23, "Summary of main results", "Incremental analysis"),
    (24, "Effect of uncertainty", "Probabilistic results"),
    (25, "Effect of engagement with patients and others affected", None),
    (26, "Study findings, limitations, generalisability, and current knowledge", "Limitations"),
    (27, "Source of funding", None),
    (28, "Conflicts of interest", None),
]


def _cheers(cfg: RunConfig, x: ReportExtras, has_dsa: bool, has_psa: bool) -> list[str]:
    """The checklist, each item pointing at the section of this report that answers it
    (sections not in this run fall back to the nearest that is; items a simulation
    cannot answer are left to the analyst)."""
    present = {
        "Probabilistic analysis": has_psa,
        "Probabilistic results": x.psa_summary is not None,
        "Subgroups by underlying condition": x.by_condition is not None,
        "One-way sensitivity": has_dsa,
        "Scenario analysis": x.scenarios is not None and len(x.scenarios) > 0,
    }
    # uncertainty without a PSA: the one-way analysis, else the scenarios
    fallback = ["One-way sensitivity", "Scenario analysis"]
    rows = []
    for item, topic, where in CHEERS_ITEMS:
        if where is not None and not present.get(where, True):
            where = next((f for f in fallback if present[f]), None)
        sections = [where] if where else []
        if item == 20 and present["Scenario analysis"] and "Scenario analysis" not in sections:
            sections.append("Scenario analysis")
        if not sections:
            loc = "not in this report (the analyst's text)"
        elif sections[0].startswith("title"):
            loc = sections[0]
        else:
            loc = ", ".join(f"section '{w}'" for w in sections)
        rows.append({"item": str(item), "topic": topic, "reported in": loc})
    return [
        "",
        "## CHEERS 2022 checklist",
        "",
        "Consolidated Health Economic Evaluation Reporting Standards 2022 (Husereau et al., "
        "BMJ 2022;376:e067975); sources of every input: the comments of "
        f"conf/economics/{cfg.economics.name}.yaml.",
        "",
        _md(pd.DataFrame(rows)),
    ]
