"""Global sensitivity analysis (issue 14): the statistics against closed forms and an
independent computation, the model side against what the mechanism must give.

* Sobol indices of the Ishigami function (a = 7, b = 0.1) have closed forms (Ishigami &
  Homma 1990; Saltelli 2008, p. 179): S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437.
* PRCC from the inverse rank-correlation matrix equals the textbook definition (the
  correlation of residuals of two rank regressions), computed here with lstsq.
* Common random numbers make the model a deterministic function of its inputs: a
  parameter the run never uses (the transferred-effector half-life without virus-specific
  T cells) or one of another condition (HIV lesion burden for haematological patients)
  must have an index of exactly 0; a sourced mechanism (HIV lesion burden on HIV survival)
  must not.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from cli_helper import pml_sim

from sim.api import load_config, run_task, simulate
from sim.config.paths import with_values
from sim.evidence import gsa, sensitivity

ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def ishigami(u: np.ndarray) -> np.ndarray:
    x = -np.pi + 2.0 * np.pi * u
    return np.sin(x[:, 0]) + 7.0 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


@pytest.mark.parametrize("seed", [1, 2])
def test_sobol_recovers_ishigami_closed_form(seed):
    names = ["x1", "x2", "x3"]
    u = sensitivity.design("sobol", names, 2048, seed)
    assert u.shape == (2048 * 5, 3)
    t = sensitivity.indices("sobol", names, u, ishigami(u), seed, 200)
    for kind, truth in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        r = t[t["index"] == kind].set_index("parameter").loc[names]
        se = (r["ci_hi"] - r["ci_lo"]).to_numpy() / (2 * 1.96)
        # bootstrap SE of the estimator; 4 SE: a 1-in-15,000 miss per index
        assert np.all(np.abs(r["value"].to_numpy() - truth) < 4 * se + 1e-3), (kind, r)
        assert np.all(se < 0.05)  # and the interval is informative


def test_prcc_equals_residual_definition():
    rng = np.random.default_rng(7)
    n, d = 400, 5
    x = rng.uniform(size=(n, d))
    y = np.exp(2 * x[:, 0]) - 3 * x[:, 1] + x[:, 2] * x[:, 3] + rng.normal(0, 0.5, n)
    got = sensitivity.prcc(x, y)
    rx = np.column_stack([pd.Series(c).rank().to_numpy() for c in x.T])
    ry = pd.Series(y).rank().to_numpy()
    for i in range(d):
        others = np.column_stack([np.ones(n), np.delete(rx, i, axis=1)])
        res_x = rx[:, i] - others @ np.linalg.lstsq(others, rx[:, i], rcond=None)[0]
        res_y = ry - others @ np.linalg.lstsq(others, ry, rcond=None)[0]
        assert got[i] == pytest.approx(np.corrcoef(res_x, res_y)[0, 1], abs=1e-10)
    assert got[0] > 0.5 and got[1] < -0.5 and abs(got[4]) < 0.2


def test_prcc_interval_covers_null_at_nominal_rate():
    """A parameter without effect: its 95% interval covers 0 in ~95% of designs
    (400 designs: binomial SD of the coverage 1.1 points; 4 SD band)."""
    names = ["a", "b", "c"]
    rng = np.random.default_rng(11)
    covered = 0
    reps = 400
    for s in range(reps):
        u = sensitivity.design("prcc", names, 60, s)
        y = u[:, 0] + rng.normal(0, 0.3, 60)
        t = sensitivity.indices("prcc", names, u, y, s, 10).set_index("parameter")
        covered += t.loc["c", "ci_lo"] <= 0.0 <= t.loc["c", "ci_hi"]
    sd = np.sqrt(0.95 * 0.05 / reps)
    assert abs(covered / reps - 0.95) < 4 * sd


def test_constant_output_gives_zero_not_nan():
    names = ["a", "b"]
    u = sensitivity.design("sobol", names, 8, 0)
    t = sensitivity.indices("sobol", names, u, np.full(len(u), 0.4), 0, 20)
    assert (t["value"] == 0.0).all() and t["constant"].all()


KEYS = [
    "model.transferred_effector_half_life_days",
    "model.conditions.hiv.lesion_burden.mean",
    "model.conditions.hematologic_malignancy.t_cell_function",
    "model.death_damage_half",
]
SMALL = [
    "+experiment=gsa",
    "gsa.base_samples=8",
    "gsa.n_per_condition=60",
    "gsa.conditions=[hiv,hematologic_malignancy]",
    f"gsa.only=[{','.join(KEYS)}]",
    "strategy=[soc,il7]",
    "executor=inprocess",
    "output.progress=false",
    "output.print_summary=false",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    cfg = load_config(SMALL)
    out = tmp_path_factory.mktemp("gsa")
    table = run_task(cfg, out)
    return cfg, out, table


def _st(table, output, condition, strategy, key):
    t = table[
        (table["index"] == "ST")
        & (table["output"] == output)
        & (table["condition"] == condition)
        & (table["strategy"] == strategy)
        & (table["parameter"] == key)
    ]
    assert len(t) == 1
    return t.iloc[0]


def test_unused_and_other_condition_parameters_have_exactly_zero_effect(small_run):
    _, _, table = small_run
    for cond in ("hiv", "hematologic_malignancy"):
        for s in ("soc", "il7"):
            for out in ("survival_1y", "iris_1y"):
                r = _st(table, out, cond, s, KEYS[0])
                assert r["value"] == 0.0 and r["ci_hi"] == 0.0
    for s in ("soc", "il7"):
        assert _st(table, "survival_1y", "hematologic_malignancy", s, KEYS[1])["value"] == 0.0
        assert _st(table, "survival_1y", "hiv", s, KEYS[2])["value"] == 0.0
    # lesion burden at diagnosis moves HIV survival (it starts the damage)
    assert _st(table, "survival_1y", "hiv", "soc", KEYS[1])["value"] > 0.0
    # the first strategy has no difference to itself
    assert not ((table["output"] == "survival_1y_diff") & (table["strategy"] == "soc")).any()


def test_outputs_recomputed_from_a_plain_run(small_run):
    """Evaluation 5's survival and IRIS per cell equal a normal run of the same
    patients with the same values (another route through sim.api)."""
    cfg, out, _ = small_run
    samples = pd.read_parquet(out / "gsa_samples.parquet")
    outputs = pd.read_parquet(out / "gsa_outputs.parquet")
    values = {k: float(samples.loc[5, k]) for k in KEYS}
    base = load_config(
        ["cohort=custom", "+cohort.mix={hiv: 1, hematologic_malignancy: 1}", "cohort.n=120",
         "strategy=[soc,il7]", "executor=inprocess", "output.progress=false"]
    )  # fmt: skip
    pts, _, _ = simulate(with_values(base, values))
    day = cfg.output.survival_day
    for (cond, s), p in pts.groupby(["condition", "strategy"], observed=True):
        alive = 1.0 - (p["died"] & (p["time_days"] < day)).mean()
        iris = (p["iris"] & (p["iris_onset_days"] <= day)).mean()
        got = outputs[(outputs["evaluation"] == 5) & (outputs["condition"] == cond)]
        got = got[got["strategy"] == s].set_index("output")["value"]
        assert got["survival_1y"] == pytest.approx(alive, abs=1e-12)
        assert got["iris_1y"] == pytest.approx(iris, abs=1e-12)


def test_files_and_provenance(small_run):
    cfg, out, table = small_run
    for f in ("gsa.csv", "gsa_ranking.csv", "gsa.md", "gsa.png", "config.yaml", "run.json"):
        assert (out / f).is_file(), f
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete" and meta["evaluations"] == 8 * (len(KEYS) + 2)
    cols = {"method", "output", "condition", "strategy", "parameter", "index", "value",
            "ci_lo", "ci_hi", "source", "low", "high", "log_scale"}  # fmt: skip
    assert cols <= set(pd.read_csv(out / "gsa.csv").columns)
    rank = pd.read_csv(out / "gsa_ranking.csv")
    assert KEYS[0] in set(rank.loc[rank["can_stay_fixed"], "parameter"])
    assert rank.loc[rank["parameter"] == KEYS[0], "max_upper"].iloc[0] == 0.0
    # every sampled value inside its stated range (log-uniform where log_scale)
    samples = pd.read_parquet(out / "gsa_samples.parquet")
    meta_p = table.drop_duplicates("parameter").set_index("parameter")
    for k in KEYS:
        lo, hi = meta_p.loc[k, "low"], meta_p.loc[k, "high"]
        assert samples[k].between(lo, hi).all()


def test_same_numbers_on_processes_and_other_batches(small_run, tmp_path):
    _, out, _ = small_run
    cfg = load_config([*SMALL[:-3], "executor=processes", "executor.workers=2", "gsa.batch=3",
                       "output.progress=false", "output.print_summary=false",
                       "output.plots=false"])  # fmt: skip
    run_task(cfg, tmp_path)
    a = pd.read_parquet(out / "gsa_outputs.parquet")
    b = pd.read_parquet(tmp_path / "gsa_outputs.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_member_mode_applies_whole_kept_sets():
    cfg = load_config([*SMALL[:4], "gsa.fitted=ensemble_member", "gsa.only=[]"])
    fs = gsa.factors(cfg)
    member = [f for f in fs if f.key == gsa.MEMBER]
    assert len(member) == 1
    k = int(member[0].high)
    v = member[0].values(np.array([0.0, 0.5, 0.999999, 1.0]))
    assert list(v) == [0.0, float(k // 2), float(k - 1), float(k - 1)]
    assert not any(f.source == "fitted" for f in fs)


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("gsa.method=bogus", "gsa.method: unknown name 'bogus'"),
        ("gsa.base_samples=6", "gsa.base_samples: must be a power of 2"),
        ("gsa.only=[model.nope,model.death_damage_half]", "gsa.only: 'model.nope' is not a factor"),
        ("gsa.conditions=[mars]", "gsa.conditions[0]: unknown name 'mars'"),
        ("gsa.fitted=all", "gsa.fitted: unknown name 'all'"),
    ],
)
def test_bad_gsa_input_one_line(tmp_path, override, fragment):
    r = pml_sim("+experiment=gsa", "executor=inprocess", override, f"hydra.run.dir={tmp_path}/r")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and fragment in r.stderr, r.stderr
    assert not (tmp_path / "r" / "run.json").exists()


def test_experiment_listed_in_help():
    r = subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, text=True)
    assert "gsa" in r.stdout


def test_ranking_ignores_flat_cells_and_fixes_only_small_upper_bounds():
    """A flat cell's noisy ST (here 2.0) must not rank a parameter; a parameter is
    fixable only if its interval's upper end is below the threshold everywhere."""
    rows = []
    for cell, informative, st in (
        ("a", True, {"p": 0.30, "q": 0.01}),
        ("b", False, {"p": 0.0, "q": 2.0}),
    ):
        for par, v in st.items():
            rows.append(
                {"index": "ST", "output": "survival_1y", "condition": cell, "strategy": "soc",
                 "parameter": par, "source": "assumption", "value": v, "ci_lo": v - 0.02,
                 "ci_hi": v + 0.02, "informative": informative}
            )  # fmt: skip
    top = gsa.ranking(pd.DataFrame(rows), 0.05).set_index("parameter")
    assert list(top.index) == ["p", "q"]
    assert top.loc["q", "value"] == 0.01 and bool(top.loc["q", "can_stay_fixed"])
    assert not bool(top.loc["p", "can_stay_fixed"])
