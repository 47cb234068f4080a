"""Threshold (value-based) prices: the price of a therapy at which its strategy becomes
cost-effective.

A strategy's mean cost is linear in the price p of one of its therapies (per dose, or
per day on therapy): cost(p) = cost(p0) + (p - p0) U, where U is the mean number of
discounted doses (days) per patient (`values.patient_values(..., units=...)`), and the
other costs and the QALYs do not depend on p. So the NMB at willingness to pay lambda is
NMB(p) = NMB(p0) - (p - p0) U, and against a comparator c that gives U_c of the therapy

    incremental NMB(p) = dNMB(p0) - (p - p0) (U - U_c) = 0
    <=>  p* = p0 + dNMB(p0) / (U - U_c)          (threshold price vs c)

The *value-based price* is the highest price at which the strategy has the highest NMB
of all compared strategies: the smallest p* over the others with U_o < U (a strategy
that gives at least as much of the therapy bounds the price from below, or not at all).
A negative price means the strategy is not cost-effective even if the therapy were
free. Tested against a brute-force search that re-costs the same patients at each price.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.config.schema import TherapyConfig

PRICE_COLUMNS = [
    "wtp",
    "therapy",
    "per",
    "strategy",
    "comparator",
    "price_base",
    "units",
    "units_comparator",
    "inc_nmb_base",
    "threshold_price",
    "value_based_price",
    "binding_strategy",
    "doses_per_course",
    "threshold_price_per_course",
    "value_based_price_per_course",
]


def unit_column(therapy: str, per: str) -> str:
    """The per-patient column of `patient_values(..., units=...)` that prices scale."""
    return f"{'doses' if per == 'dose' else 'days'}_{therapy}"


def base_price(econ: EconomicsConfig, therapy: str, per: str) -> float:
    tc = econ.costs.therapies[therapy]
    return float(tc.per_dose if per == "dose" else tc.per_day)


def threshold_prices(
    values: pd.DataFrame,
    econ: EconomicsConfig,
    strategies: list[str],
    thresholds: list[float],
    therapies: dict[str, TherapyConfig] | None = None,
) -> pd.DataFrame:
    """values: per-patient base-case values of every strategy, with the unit columns of
    each `economics.threshold_prices` item. One row per threshold and item (items whose
    strategy or comparator is not compared in this run are left out). With the therapy
    catalog, prices per dose are also given per full course (x `n_doses`: the list price
    of a course whose every dose is given)."""
    means = values.groupby("strategy", sort=False).mean(numeric_only=True)
    rows = []
    for w in thresholds:
        nmb = {s: w * means.loc[s, "qaly"] - means.loc[s, "cost"] for s in strategies}
        for item in econ.threshold_prices:
            s = item.strategy
            c = item.comparator or strategies[0]
            if s not in strategies or c not in strategies:  # not compared in this run
                continue
            col = unit_column(item.therapy, item.per)
            units = {o: float(means.loc[o, col]) for o in strategies}
            p0 = base_price(econ, item.therapy, item.per)
            d_units = units[s] - units[c]
            inc = nmb[s] - nmb[c]
            threshold = p0 + inc / d_units if d_units > 0 else math.nan
            per_course = math.nan
            if item.per == "dose" and therapies is not None and item.therapy in therapies:
                per_course = float(therapies[item.therapy].n_doses)
            vbp, binding = value_based_price({o: nmb[o] for o in strategies}, units, s, p0)
            rows.append(
                {
                    "wtp": float(w),
                    "therapy": item.therapy,
                    "per": item.per,
                    "strategy": s,
                    "comparator": c,
                    "price_base": p0,
                    "units": units[s],
                    "units_comparator": units[c],
                    "inc_nmb_base": inc,
                    "threshold_price": threshold,
                    "value_based_price": vbp,
                    "binding_strategy": binding,
                    "doses_per_course": per_course,
                    "threshold_price_per_course": threshold * per_course,
                    "value_based_price_per_course": vbp * per_course,
                }
            )
    return pd.DataFrame(rows, columns=PRICE_COLUMNS)


def value_based_price(
    nmb: dict[str, float], units: dict[str, float], strategy: str, p0: float
) -> tuple[float, str]:
    """The highest price at which `strategy` has the highest NMB (NMB and units at the
    base price p0), and the strategy that binds it; (nan, '') if no price makes it
    optimal or the price does not enter (no units)."""
    upper, lower, binding = math.inf, -math.inf, ""
    for o in nmb:
        if o == strategy:
            continue
        a = nmb[strategy] - nmb[o]  # incremental NMB at p0
        du = units[strategy] - units[o]  # the increment falls by du per unit of price
        if du > 0:
            bound = p0 + a / du
            if bound < upper:
                upper, binding = bound, o
        elif du < 0:
            lower = max(lower, p0 + a / du)
        elif a < 0:  # the price moves both alike: never ahead of o
            return math.nan, o
    if not np.isfinite(upper) or upper < lower:
        return math.nan, binding
    return upper, binding


TWOWAY_COLUMNS = ["wtp", "x_therapy", "x_price", "y_therapy", "y_price", "optimal", "nmb"]


def two_way(
    values: pd.DataFrame, econ: EconomicsConfig, strategies: list[str], thresholds: list[float]
) -> pd.DataFrame:
    """The optimal strategy on a grid of two therapy prices (`economics.two_way`), at each
    threshold: NMB_s(px, py) = NMB_s - (px - px0) U_s^x - (py - py0) U_s^y, exact because
    costs are linear in prices (the same patients re-costed would give the same). One
    row per threshold and grid point; `nmb` is the optimum's. Ties go to the strategy
    listed first."""
    tw = econ.two_way
    means = values.groupby("strategy", sort=False).mean(numeric_only=True).loc[strategies]
    ax_x, ax_y = tw.axes
    gx = np.linspace(ax_x.low, ax_x.high, tw.points)
    gy = np.linspace(ax_y.low, ax_y.high, tw.points)
    px, py = np.meshgrid(gx, gy, indexing="xy")
    ux = means[unit_column(ax_x.therapy, ax_x.per)].to_numpy()
    uy = means[unit_column(ax_y.therapy, ax_y.per)].to_numpy()
    x0, y0 = base_price(econ, ax_x.therapy, ax_x.per), base_price(econ, ax_y.therapy, ax_y.per)
    parts = []
    for w in thresholds:
        nmb0 = w * means["qaly"].to_numpy() - means["cost"].to_numpy()
        nmb = (
            nmb0[None, None, :]
            - (px - x0)[..., None] * ux[None, None, :]
            - (py - y0)[..., None] * uy[None, None, :]
        )
        best = nmb.argmax(axis=-1)
        parts.append(
            pd.DataFrame(
                {
                    "wtp": float(w),
                    "x_therapy": ax_x.therapy,
                    "x_price": px.ravel(),
                    "y_therapy": ax_y.therapy,
                    "y_price": py.ravel(),
                    "optimal": np.asarray(strategies)[best.ravel()],
                    "nmb": np.take_along_axis(nmb, best[..., None], axis=-1).ravel(),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)[TWOWAY_COLUMNS]
