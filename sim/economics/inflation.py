"""Price years and cost inflation: a price from its price year to the base year.

`economics.inflation.indices` holds published annual increases (per cent on the previous
financial year, e.g. the NHS Cost Inflation Index, NHSCII pay and prices, of the PSSRU
Unit Costs of Health and Social Care). Chained, they give an index with the financial
year before the first listed one at 1:

    I(y0) = 1,  I(y_k) = prod_{j <= k} (1 + r_j / 100)
    price in year b = price in year y x I(b) / I(y)

`economics.prices` lists each sourced price of the config with its value in its source,
its price year and the index that carries it to `economics.inflation.base_year`; the
config holds the base-year value (tests/test_inflation.py checks one against the other,
and `price_table` gives both for the report). Financial years are written "2016/17".
"""

from __future__ import annotations

import re

import pandas as pd

from sim.config.economics import EconomicsConfig
from sim.config.errors import ConfigError
from sim.config.paths import get_value

FINANCIAL_YEAR = re.compile(r"^(\d{4})/(\d{2})$")
PERCENT = 100.0
CENTURY = 100
# index name for a price taken as current at the base year (e.g. a list price): factor 1
CURRENT = "current"


def start_year(year: str, key: str = "year") -> int:
    """2016 for "2016/17"; a ConfigError unless the second part is the next year."""
    m = FINANCIAL_YEAR.match(str(year))
    if not m or (int(m.group(1)) + 1) % CENTURY != int(m.group(2)):
        raise ConfigError(key, f"must be a financial year like '2016/17', got {year!r}")
    return int(m.group(1))


def financial_year(start: int) -> str:
    return f"{start}/{(start + 1) % CENTURY:02d}"


def index_values(rates: dict[str, float], key: str = "index") -> dict[str, float]:
    """The chained index by financial year from annual % increases (consecutive years);
    the year before the first increase is 1."""
    starts = sorted((start_year(y, f"{key}.{y}"), float(r)) for y, r in rates.items())
    if not starts:
        raise ConfigError(key, "needs at least one annual increase")
    for (a, _), (b, _) in zip(starts, starts[1:], strict=False):
        if b != a + 1:
            raise ConfigError(
                key, f"years must be consecutive: {financial_year(a)} then {financial_year(b)}"
            )
    values = {financial_year(starts[0][0] - 1): 1.0}
    level = 1.0
    for s, r in starts:
        level *= 1.0 + r / PERCENT
        values[financial_year(s)] = level
    return values


def inflation_factor(
    rates: dict[str, float], from_year: str, to_year: str, key: str = "index"
) -> float:
    """I(to_year) / I(from_year): the factor that carries a price from one financial
    year to another (below 1 going back)."""
    values = index_values(rates, key)
    for y in (from_year, to_year):
        start_year(y, key)
        if y not in values:
            raise ConfigError(key, f"has no value for {y}: covers {min(values)} to {max(values)}")
    return values[to_year] / values[from_year]


def inflate(price: float, from_year: str, to_year: str, rates: dict[str, float]) -> float:
    """`price` in `from_year` money, expressed in `to_year` money."""
    return price * inflation_factor(rates, from_year, to_year)


def price_factor(econ: EconomicsConfig, index: str, year: str, key: str = "index") -> float:
    """Factor from `year` to the base year with the named index (1 for `current`)."""
    if index == CURRENT:
        start_year(year, key)
        return 1.0
    indices = econ.inflation.indices
    if index not in indices:
        raise ConfigError(key, f"unknown index {index!r}; allowed: {sorted(indices)}, {CURRENT}")
    return inflation_factor(dict(indices[index]), year, econ.inflation.base_year, key)


PRICE_COLUMNS = [
    "key",
    "value",
    "year",
    "index",
    "factor",
    "base_year_value",
    "config_value",
    "source",
]


def price_table(cfg) -> pd.DataFrame:
    """One row per `economics.prices` entry: its source value and price year, the
    inflation factor to the base year, the inflated value and the value the config
    holds (equal for the shipped configs; a run's override shows as a difference)."""
    econ = cfg.economics
    rows = []
    for i, p in enumerate(econ.prices):
        factor = price_factor(econ, p.index, p.year, f"economics.prices.{i}")
        rows.append(
            {
                "key": p.key,
                "value": float(p.value),
                "year": p.year,
                "index": p.index,
                "factor": factor,
                "base_year_value": float(p.value) * factor,
                "config_value": float(get_value(cfg, p.key)),
                "source": p.source,
            }
        )
    return pd.DataFrame(rows, columns=PRICE_COLUMNS)


def validate_prices(cfg) -> None:
    """Every index covers the base year, every price's key names a number, its year a
    year of its index."""
    econ = cfg.economics
    if not econ.prices:  # indices without prices inflate nothing (e.g. a set that inherits them)
        return
    start_year(econ.inflation.base_year, "economics.inflation.base_year")
    if econ.inflation.base_year != str(econ.price_year):
        raise ConfigError(
            "economics.inflation.base_year",
            f"must equal economics.price_year ({econ.price_year}), got {econ.inflation.base_year}",
        )
    for name, rates in econ.inflation.indices.items():
        inflation_factor(
            dict(rates),
            econ.inflation.base_year,
            econ.inflation.base_year,
            f"economics.inflation.indices.{name}",
        )
    for i, p in enumerate(econ.prices):
        get_value(cfg, p.key)
        price_factor(econ, p.index, p.year, f"economics.prices.{i}.year")
