"""The speed benchmark (benchmarks/speed.py) and its yardstick, the toy model.

No timings are asserted: the toy must agree with a closed form, and the quick run must
produce every figure with finite numbers and ratio = ours / toy.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import speed  # noqa: E402
import toy  # noqa: E402


def test_toy_survival_matches_the_closed_form_with_constant_hazards():
    n = 100_000
    simulated, exact = toy.constant_hazard_survival(n, days=365, seed=3)
    assert 0.3 < exact < 0.95
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(simulated - exact) < 4 * se


def test_toy_is_a_pml_like_model():
    r = toy.simulate(20_000, days=365, seed=1)
    assert 0.2 < r["survival"] < 0.8  # PML: about half die within a year
    assert 0.0 < r["iris"] < 0.5
    faster_control = toy.ToyParams(kill_log10_per_day=0.3)
    assert toy.simulate(20_000, 365, 1, faster_control)["survival"] > r["survival"]


def test_table_ratio_is_ours_over_toy():
    rows = [speed.Row("a", "s", 3.0, 2.0, "ours < 1 s"), speed.Row("b", "MB", 10.0, 40.0, "x")]
    assert [r.as_dict()["ratio"] for r in rows] == [1.5, 0.25]
    text = speed.format_table(rows)
    assert "a (s)" in text and "1.5" in text and "0.25" in text


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return json.loads(out.read_text())


def test_quick_run_gives_every_figure(quick):
    figures = [r["figure"] for r in quick["rows"]]
    for words in (
        "start-up",
        "--help",
        "engine in process, soc",
        "engine in process, il7",
        "engine in process, pd1",
        "CLI run il7",
        "process start -> first chunk",
        "calibration objective",
        "PSA",
    ):
        assert sum(words in f for f in figures) == 1, words
    assert quick["quick"] is True and quick["non_finite"] == []
    assert quick["statistic"] == "best"


def test_quick_rows_are_finite_and_ratio_is_ours_over_toy(quick):
    for r in quick["rows"]:
        assert math.isfinite(r["ours"]) and r["ours"] > 0, r
        assert math.isfinite(r["toy"]) and r["toy"] > 0, r
        assert r["ratio"] == pytest.approx(r["ours"] / r["toy"], rel=1e-12), r
        assert r["load"] is None or r["load"] >= 0, r
        if r["samples"]:  # the figure is the best of its runs (the largest for a speed)
            pick = min if r["unit"] in ("s", "MB") else max
            assert r["ours"] == pick(r["samples"]), r
    psa = next(r for r in quick["rows"] if r["figure"].startswith("PSA"))
    assert "EXTRAPOLATED" in psa["note"] and "1,000 x" in psa["figure"]
