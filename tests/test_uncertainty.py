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


def test_tied_strategies_share_the_probability_of_being_best():
    # c has b's outcomes in every draw: they tie wherever b is best, so each gets half
    d = synthetic(0.05, 200, 100, 2)
    d = pd.concat([d, d[d["strategy"] == "b"].assign(strategy="c")], ignore_index=True)
    ui = U.ui_table(d, ["a", "b", "c"], 0.95).set_index("strategy")
    assert ui.loc["b", "prob_best"] == ui.loc["c", "prob_best"] == 0.5
    assert ui.loc["a", "prob_best"] == 0.0
    assert ui["prob_best"].sum() == pytest.approx(1.0)


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


@pytest.mark.parametrize("threshold, pooled", [(720, True), (721, False)])
def test_auto_sends_a_large_enough_draw_loop_to_processes(monkeypatch, threshold, pooled):
    """executor=auto: the draws (6 x 60 patients x 2 strategies = 720 patient-strategies)
    go to local processes from `min_parallel_patients` on, with the same numbers."""
    import sim.engine.executors as ex

    used = []
    real = ex._process_pool
    monkeypatch.setattr(ex, "_process_pool", lambda w: used.append(w) or real(w))
    monkeypatch.setattr(ex, "_AUTO_PROCESSES", [True])  # as under the pml-sim command
    monkeypatch.setattr(ex, "usable_cores", lambda: 2)  # whatever machine runs the test
    a, _ = U.nested(load_config([*SMALL, "executor=inprocess"]))
    auto = [*SMALL, "executor=auto", f"executor.min_parallel_patients={threshold}"]
    b, _ = U.nested(load_config(auto))
    pd.testing.assert_frame_equal(a, b)
    assert used == ([2] if pooled else [])


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


def test_posterior_is_the_default_and_names_its_sizes():
    """Issue 14: the plain run carries parameter uncertainty; the sizes are the ones in
    conf/uncertainty/posterior.yaml (read here independently of the loader)."""
    import yaml

    from sim.config.load import config_dir

    spec = yaml.safe_load((config_dir() / "uncertainty" / "posterior.yaml").read_text())
    u = load_config([]).uncertainty
    assert u.name == "posterior" and u.source == "posterior"
    assert (u.draws, u.n_per_draw, u.level) == (spec["draws"], spec["n_per_draw"], spec["level"])
    assert load_config(["uncertainty=none"]).uncertainty.name == "none"


def test_a_model_without_posterior_asks_for_uncertainty_none():
    with pytest.raises(ConfigError) as e:
        load_config(["model=gross_calibrated"])  # the default uncertainty=posterior
    assert str(e.value).startswith("uncertainty.source") and "uncertainty=none" in str(e.value)
    assert load_config(["model=gross_calibrated", "uncertainty=none"]).model.name == (
        "gross_calibrated"
    )


def test_default_run_writes_and_prints_both_intervals(tmp_path):
    """The default run (small: 20 draws x 200 patients) writes the UI columns beside the
    Monte Carlo CI, the UI is wider than the MC CI of the 2,000-patient run, the UI is the
    central 95% of uncertainty_draws.csv, and the console shows both intervals."""
    from cli_helper import pml_sim

    out = tmp_path / "run"
    r = pml_sim("strategy=[soc,il7]", "cohort.n=2000", "uncertainty.draws=20",
                "uncertainty.n_per_draw=200", "output.progress=false", "output.plots=false",
                "output.report=false", f"hydra.run.dir={out}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    # round_trip: the exact floats the console formatted (a bound at x.x5 + 4e-17 read
    # with pandas' fast parser loses the 4e-17 and rounds the other way)
    s = pd.read_csv(out / "summary.csv", float_precision="round_trip")
    cols = ["survival_1y_lo", "survival_1y_hi", "survival_1y_ui_lo", "survival_1y_ui_hi",
            "iris_rate_ui_lo", "iris_rate_ui_hi", "survival_1y_diff_ui_lo",
            "survival_1y_diff_ui_hi", "prob_best"]  # fmt: skip
    assert set(cols) <= set(s.columns)
    rows = s[s["condition"] == "all"].set_index("strategy")
    draws = pd.read_csv(out / "uncertainty_draws.csv")
    for name, row in rows.iterrows():
        mc = row["survival_1y_hi"] - row["survival_1y_lo"]
        ui = row["survival_1y_ui_hi"] - row["survival_1y_ui_lo"]
        assert ui > mc, (name, ui, mc)
        x = draws[(draws["strategy"] == name) & (draws["condition"] == "all")]["survival_1y"]
        assert len(x) == 20
        assert row["survival_1y_ui_lo"] == pytest.approx(np.quantile(x, 0.025))
        assert row["survival_1y_ui_hi"] == pytest.approx(np.quantile(x, 0.975))
        pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
        block = r.stdout.split("parameter-uncertainty interval")[1].splitlines()
        line = next(ln for ln in block if ln.startswith(f"{name} "))
        assert f"{pct(row['survival_1y_lo'])} to {pct(row['survival_1y_hi'])}" in line
        assert f"{pct(row['survival_1y_ui_lo'])} to {pct(row['survival_1y_ui_hi'])}" in line
    assert "Monte Carlo 95% CI" in r.stdout and "parameter-uncertainty interval" in r.stdout


def test_survival_curve_of_a_draw_is_the_share_not_dead_by_each_day():
    """alive_on counts deaths by a binary search; the reference is the mean of the
    day x patient indicator, which it must equal bit for bit (ties at a grid day
    included: a death on day d is dead on d), and a hand count on a tiny case."""
    from sim.outcomes.uncertainty import alive_on

    gen = np.random.default_rng(5)
    t = np.round(gen.uniform(0.0, 400.0, 777), 0)  # many deaths exactly on grid days
    died = gen.random(777) < 0.6
    grid = np.arange(0.0, 366.0, 1.0)
    reference = 1.0 - np.mean(died[None, :] & (t[None, :] <= grid[:, None]), axis=1)
    assert np.array_equal(alive_on(t, died, grid), reference)
    # 4 patients: deaths on days 1 and 3, one censored on day 2, one alive at 5
    t4, d4 = np.array([1.0, 2.0, 3.0, 5.0]), np.array([True, False, True, False])
    assert alive_on(t4, d4, np.array([0.0, 1.0, 2.0, 3.0, 4.0])).tolist() == [
        1,
        0.75,
        0.75,
        0.5,
        0.5,
    ]
