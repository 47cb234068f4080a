"""The golden baseline (experiments/golden.py): the default run, a natalizumab run, the
seed 000 study, a small PSA and a small sizing run give the stored numbers. An intended
change is made with `python experiments/golden.py --update` and shows as a diff of
tests/golden/."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "experiments"))
import golden  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return golden.run_all(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize(
    "name_file",
    [f"{n}/{f}" for n, (_, files) in golden.RUNS.items() for f in files],
)
def test_matches_the_golden_baseline(runs, name_file):
    name, f = name_file.split("/")
    stored = golden.GOLDEN / name / f
    assert stored.is_file(), "no stored baseline: python experiments/golden.py --update"
    diffs = golden.compare(pd.read_csv(stored), pd.read_csv(runs[name] / f))
    assert diffs == [], "\n".join(diffs)


def test_compare_sees_a_change():
    a = pd.DataFrame({"strategy": ["soc", "il7"], "survival_1y": [0.55, 0.61]})
    assert golden.compare(a, a.copy()) == []
    b = a.copy()
    b.loc[1, "survival_1y"] = 0.61 * (1 + 1e-6)  # far below any model effect: still caught
    assert golden.compare(a, b) == [f"survival_1y[row 1]: 0.61 -> {0.61 * (1 + 1e-6)!r}"]
    c = a.copy()
    c.loc[0, "strategy"] = "pd1"
    assert golden.compare(a, c) == ["strategy[row 0]: 'soc' -> 'pd1'"]
    assert golden.compare(a, a.iloc[:1]) == ["2 rows -> 1"]
