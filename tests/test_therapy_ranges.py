"""The therapy catalog's ASSUMPTION ranges (conf/ranges/therapy_assumption_ranges.yaml),
which the one-at-a-time screen of issue 12 varies: each names a real, numeric value of the
default catalog that is marked ASSUMPTION next to it, and contains that value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sim.api import load_config
from sim.config.paths import get_value

ROOT = Path(__file__).resolve().parent.parent
RANGES = yaml.safe_load((ROOT / "conf" / "ranges" / "therapy_assumption_ranges.yaml").read_text())
CATALOG = (ROOT / "conf" / "therapies" / "default.yaml").read_text().splitlines()


def _config_line(therapy: str, field: str) -> str:
    """The line of conf/therapies/default.yaml holding `field` of `therapy` (`levers` for
    a lever: the levers sit on one line with their comment)."""
    start = CATALOG.index(f"{therapy}:")
    for line in CATALOG[start + 1 :]:
        if re.match(r"^\S", line):  # the next therapy
            break
        if re.match(rf"^\s+{field}:", line):
            return line
    raise AssertionError(f"{therapy}.{field} not in conf/therapies/default.yaml")


@pytest.mark.parametrize("r", RANGES["ranges"], ids=lambda r: r["key"])
def test_each_range_names_an_assumed_catalog_value_inside_it(r):
    cfg = load_config([])
    value = get_value(cfg, r["key"])
    assert r["low"] < r["high"]
    assert r["low"] <= value <= r["high"], f"{r['key']}: value {value} outside its range"
    parts = r["key"].split(".")
    assert parts[0] == "therapies" and len(parts) in (3, 4), r["key"]
    field = "levers" if parts[2] == "levers" else parts[2]
    assert "ASSUMPTION" in _config_line(parts[1], field), r["key"]
    assert r["why"].startswith("ASSUMPTION"), r["key"]
    # the key reaches the run: an override to an end of the range is what the run reads
    assert get_value(load_config([f"{r['key']}={r['low']}"]), r["key"]) == r["low"]


def test_the_screen_reads_both_range_files():
    import sys

    sys.path.insert(0, str(ROOT / "experiments"))
    import oat_screen

    keys = [r["key"] for r in oat_screen.screen_ranges("calibrated")]
    assert len(keys) == len(set(keys))
    assert {r["key"] for r in RANGES["ranges"]} <= set(keys)
    assert "model.death_damage_hill" in keys  # the model's (posterior-sampled) as before
