"""Parameter uncertainty in the summary (issue 14): the nested-simulation estimators
against synthetic draws with a known parameter variance, the draws against a direct
run, reproducibility and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.api import load_config, simulate
from sim.config import ConfigError
from sim.config.paths import with_values
from sim.outcomes import uncertainty as U


def synthetic(p_sd: float, draws: int, n: int, seed: int) -> pd.DataFrame:
    """Two strategies; strategy b's survival p_d ~ N(0.5, p_sd) per draw, then a
    binomial sample of n patients; a = b - 0.1 exactly (same patients)."""
    rng = np.random.default_rng(seed)
    p = np.clip(rng.normal(0.5, p_sd, draws), 0.01, 0.99)
    s = rng.binomial(n, p) / n
    rows = []
    for d in range(draws):
        rows.append({"draw": d, "strategy": "b", "condition": "all", "n": n,
                     "survival_1y": s[d], "iris_rate": 0.1})  # fmt: skip
        rows.append({"draw": d, "strategy": "a", "condition": "all", "n": n,
                     "survival_1y": s[d] - 0.1, "iris_rate": 0.1})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("p_sd", [0.0, 0.05])
def test_variance_split_recovers_the_parameter_variance(p_sd):
    draws, n = 400, 200
    ui = U.ui_table(synthetic(p_sd, draws, n, 1), ["a", "b"], 0.95).set_index("strategy")
    b = ui.loc["b"]
    mc = 0.25 / n
    assert b["survival_1y_var_mc"] == pytest.approx(mc, rel=0.05)
    # the sample variance of 400 draws has relative SD sqrt(2/399) = 7%: 4 SD on the total
    tol = 4 * np.sqrt(2 / (draws - 1)) * (p_sd**2 + mc)
    assert abs(b["survival_1y_var_parameter"] - p_sd**2) < tol
    assert ui.loc["a", "survival_1y_diff"] == 0.0  # the first strategy against itself
    assert b["survival_1y_diff"] == pytest.approx(0.1)
    assert b["survival_1y_diff_ui_lo"] == pytest.approx(0.1)  # same patients: no spread
    assert b["prob_best"] == 1.0 and ui.loc["a", "prob_best"] == 0.0


SMALL = ["uncertainty=posterior", "uncertainty.source=ensemble", "uncertainty.draws=6",
         "uncertainty.n_per_draw=60", "strategy=[soc,il7]", "cohort.n=60",
         "output.progress=false"]  # fmt: skip


def test_a_draw_equals_a_direct_run():
    cfg = load_config([*SMALL, "executor=inprocess"])
    draws, curves = U.nested(cfg)
    sets = U.parameter_sets(cfg)
    c = with_values(cfg, {k: float(v) for k, v in sets.iloc[3].items()})
    c.seed, c.cohort.n = U.draw_seed(cfg.seed, 3), 60
    pts, _, _ = simulate(c)
    day = cfg.output.survival_day
    for s, p in pts.groupby("strategy"):
        row = draws[(draws["draw"] == 3) & (draws["strategy"] == s) & (draws["condition"] == "all")]
        alive = 1.0 - (p["died"] & (p["time_days"] < day)).mean()
        assert row["survival_1y"].iloc[0] == pytest.approx(alive, abs=1e-12)
        assert row["iris_rate"].iloc[0] == pytest.approx(p["iris"].mean(), abs=1e-12)
        curve = curves[(curves["draw"] == 3) & (curves["strategy"] == s)]
        at = curve.loc[curve["day"] == day, "alive"].iloc[0]
        assert at == pytest.approx(1.0 - (p["died"] & (p["time_days"] <= day)).mean())
    # draws cycle through the file in order
    assert len(sets) == 6 and (sets.iloc[0] == U.parameter_sets(cfg).iloc[0]).all()


def test_same_numbers_on_processes():
    a, _ = U.nested(load_config([*SMALL, "executor=inprocess"]))
    b, _ = U.nested(load_config([*SMALL, "executor=processes", "executor.workers=2"]))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("uncertainty.draws=1", "uncertainty.draws: must be an integer >= 2"),
        ("uncertainty.level=1.5", "uncertainty.level: must be in (0, 1)"),
        ("uncertainty.source=bogus", "uncertainty.source: unknown name"),
    ],
)
def test_bad_input(override, fragment):
    with pytest.raises(ConfigError) as e:
        load_config([*SMALL, override])
    assert fragment in str(e.value)


def test_missing_posterior_names_the_command():
    with pytest.raises(ConfigError) as e:
        load_config(["uncertainty=posterior", "model=default"])
    assert "uncertainty.source" in str(e.value) and "+experiment=posterior" in str(e.value)
