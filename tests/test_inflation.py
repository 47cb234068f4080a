"""Cost inflation (sim/economics/inflation.py) and the price years of the UK config.

The index values are checked against the published table (typed from Unit Costs of
Health and Social Care 2024, Table 12.1.1 p.109 and Table 12.1.2 p.110), the chaining
against a hand computation, and every sourced price of conf/economics/uk_nhs.yaml
against its inflated source value.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sim.config.economics import EconomicsConfig
from sim.config.errors import ConfigError
from sim.config.paths import get_value
from sim.economics.inflation import (
    CURRENT,
    financial_year,
    index_values,
    inflate,
    inflation_factor,
    price_table,
    start_year,
    validate_prices,
)

ROOT = Path(__file__).resolve().parent.parent
UK = ROOT / "conf" / "economics" / "uk_nhs.yaml"

# Unit Costs of Health and Social Care 2024 (PSSRU), Table 12.1.1, NHSCII pay and prices,
# annual % increase on the previous year (NHS providers)
NHSCII_2024 = {
    "2015/16": 0.40,
    "2016/17": 2.09,
    "2017/18": 1.24,
    "2018/19": 1.60,
    "2019/20": 2.14,
    "2020/21": 2.49,
    "2021/22": 2.58,
    "2022/23": 7.32,
    "2023/24": 4.31,
}
# Table 12.1.2, PSS adult services, all sectors, pay and prices including capital
PSS_2024 = {
    "2008/09": 2.70,
    "2009/10": 0.90,
    "2010/11": 2.50,
    "2011/12": 1.10,
    "2012/13": 1.20,
    "2013/14": 1.60,
    "2014/15": 1.60,
    "2015/16": 1.70,
    "2016/17": 3.70,
    "2017/18": 3.60,
    "2018/19": 3.10,
    "2019/20": 3.10,
    "2020/21": 3.30,
    "2021/22": 3.90,
    "2022/23": 7.40,
    "2023/24": 7.00,
}


@pytest.fixture(scope="module")
def uk():
    return OmegaConf.to_object(
        OmegaConf.merge(OmegaConf.structured(EconomicsConfig), OmegaConf.load(UK))
    )


def test_the_shipped_indices_are_the_published_ones(uk):
    assert uk.inflation.base_year == "2023/24" == uk.price_year
    assert dict(uk.inflation.indices["nhscii_pay_prices"]) == NHSCII_2024
    assert dict(uk.inflation.indices["pss_pay_prices"]) == PSS_2024


def test_one_year_of_inflation_is_the_published_increase():
    # one step is one published increase
    assert inflate(100.0, "2022/23", "2023/24", NHSCII_2024) == pytest.approx(104.31, abs=1e-9)
    assert inflate(100.0, "2014/15", "2015/16", NHSCII_2024) == pytest.approx(100.40, abs=1e-9)
    assert inflate(100.0, "2021/22", "2022/23", PSS_2024) == pytest.approx(107.40, abs=1e-9)


def test_the_index_chains_the_increases_by_hand():
    by_hand = 1.0040 * 1.0209 * 1.0124 * 1.0160 * 1.0214 * 1.0249 * 1.0258 * 1.0732 * 1.0431
    v = index_values(NHSCII_2024)
    assert v["2014/15"] == 1.0
    assert v["2023/24"] == pytest.approx(by_hand, rel=1e-12)
    assert v["2023/24"] == pytest.approx(1.26739, abs=5e-6)  # 26.7% from 2014/15 to 2023/24
    # 2016/17 -> 2023/24: the last seven increases
    f = inflation_factor(NHSCII_2024, "2016/17", "2023/24")
    assert f == pytest.approx(by_hand / (1.0040 * 1.0209), rel=1e-12)
    assert inflate(313.0, "2016/17", "2023/24", NHSCII_2024) == pytest.approx(387.02, abs=0.005)


def test_deflating_inverts_inflating():
    up = inflation_factor(NHSCII_2024, "2017/18", "2023/24")
    down = inflation_factor(NHSCII_2024, "2023/24", "2017/18")
    assert up * down == pytest.approx(1.0, rel=1e-12)
    assert inflation_factor(NHSCII_2024, "2020/21", "2020/21") == 1.0


@pytest.mark.parametrize(
    "year, to_year",
    [("2013/14", "2023/24"), ("2015/16", "2024/25"), ("2016/18", "2023/24"), ("2016", "2023/24")],
)
def test_years_outside_the_index_or_malformed_are_refused(year, to_year):
    with pytest.raises(ConfigError):
        inflation_factor(NHSCII_2024, year, to_year)


def test_financial_years_round_trip_and_gaps_are_refused():
    assert start_year("1999/00") == 1999 and financial_year(1999) == "1999/00"
    assert financial_year(start_year("2023/24")) == "2023/24"
    with pytest.raises(ConfigError, match="consecutive"):
        index_values({"2015/16": 1.0, "2017/18": 1.0})


@dataclass
class _Run:  # a run config with only its economics part (get_value walks dataclasses)
    economics: EconomicsConfig


def _cfg(econ: EconomicsConfig) -> _Run:
    return _Run(econ)


def test_every_sourced_price_in_the_config_is_its_inflated_source_value(uk):
    table = price_table(_cfg(uk))
    assert len(table) == len(uk.prices) >= 6
    for row in table.itertuples():
        # the config stores cents (ART per day to the cent): within half a cent
        assert row.config_value == pytest.approx(row.base_year_value, abs=0.005), row.key
    by_key = table.set_index("key")
    assert by_key.loc["economics.costs.hospital_day", "factor"] == pytest.approx(
        inflation_factor(NHSCII_2024, "2016/17", "2023/24")
    )
    assert by_key.loc["economics.costs.long_term_care_per_year.5", "factor"] == pytest.approx(
        1.074 * 1.070
    )
    assert by_key.loc["economics.costs.mri", "factor"] == 1.0  # a 2023/24 unit cost


def test_the_hiv_condition_care_is_non_art_care_plus_generic_art(uk):
    c = uk.costs
    art_year = 1018.0 * inflation_factor(NHSCII_2024, "2014/15", "2023/24")
    assert c.therapies["art"].per_day == pytest.approx(art_year / 365.25, abs=0.005)
    non_art = 10478.0 - 19.82 * 365.25  # Beck 2011 minus the 2014 branded ART
    assert c.condition_care_acute_per_year["hiv"] == pytest.approx(non_art, abs=0.01)
    assert c.condition_care_per_year["hiv"] == pytest.approx(non_art + art_year, abs=0.01)


def test_the_old_ad_hoc_uplift_and_1991_mri_are_gone():
    text = UK.read_text()
    assert "1.45" not in text and "Szczepura" not in text and "BNF 2014, HIV i-Base" not in text


COST_LINE = re.compile(r"^\s{2,}(\w+):\s*(\{[^#]*\}|\[[^\]]*\]|-?[\d.]+)\s*(#.*)?$")


def test_every_cost_is_sourced_with_a_year_or_an_assumption(uk):
    """A cost line of costs: that is neither an ASSUMPTION nor derived must have an
    entry in prices (its price year); each listed price's key names a number."""
    listed = set()
    for p in uk.prices:
        parts = p.key.split(".")  # economics.costs.NAME[...] or economics.costs.therapies.NAME
        listed.add(parts[3] if parts[2] == "therapies" else parts[2])
    lines = UK.read_text().split("\ncosts:\n", 1)[1].split("\nutilities:\n", 1)[0]
    unlisted = []
    for line in lines.splitlines():
        m = COST_LINE.match(line)
        if not m or "days" in m.group(1):  # lengths of stay are not prices
            continue
        note = (m.group(3) or "") + m.group(2)
        if "ASSUMPTION" in note or "derived" in note or "share" in m.group(1):
            continue
        if m.group(1) not in listed:
            unlisted.append(line.strip()[:60])
    assert not unlisted, unlisted
    for p in uk.prices:
        assert math.isfinite(get_value(_cfg(uk), p.key))


def test_validation_names_a_bad_price_entry(uk):
    validate_prices(_cfg(uk))  # the shipped config passes
    bad = OmegaConf.to_object(
        OmegaConf.merge(OmegaConf.structured(EconomicsConfig), OmegaConf.load(UK))
    )
    bad.prices[0].year = "2012/13"  # before the NHSCII
    with pytest.raises(ConfigError, match=r"economics\.prices\.0"):
        validate_prices(_cfg(bad))
    bad.prices[0].year = "2016/17"
    bad.prices[0].index = "rpi"
    with pytest.raises(ConfigError, match="unknown index"):
        validate_prices(_cfg(bad))
    bad.prices[0].index = CURRENT
    bad.price_year = "2024/25"
    with pytest.raises(ConfigError, match="price_year"):
        validate_prices(_cfg(bad))


def test_the_composed_sets_validate_and_the_us_set_has_no_gbp_prices():
    from sim.api import load_config

    uk = load_config(["+experiment=cea"])
    us = load_config(["+experiment=cea", "economics=us_payer"])
    assert len(price_table(uk)) == len(uk.economics.prices) >= 6
    assert uk.economics.utilities.age_adjusted  # the NICE-style UK base case (TSD 12)
    assert us.economics.prices == [] and not us.economics.utilities.age_adjusted
