"""pml-sim-collect: a sweep's run directories become one tidy table."""

import pandas as pd
import pytest
from cli_helper import pml_sim

from sim.app.collect import main, overrides


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    r = pml_sim(
        "-m",
        "strategy=soc,il7",
        "model.damage_rate_per_day=0.003,0.005",
        "cohort.n=120",
        "uncertainty=none",
        "output.progress=false",
        "output.print_summary=false",
        "output.plots=false",
        f"hydra.sweep.dir={root}",
    )
    assert r.returncode == 0, r.stderr
    # a crashed job: Hydra's bookkeeping and an error, no run.json
    crashed = root / "9"
    (crashed / ".hydra").mkdir(parents=True)
    (crashed / ".hydra" / "overrides.yaml").write_text("- strategy=pd1\n")
    (crashed / "error.txt").write_text("Traceback ...\nMemoryError: out of memory\n")
    return root


def test_merged_table_has_one_column_per_override(sweep, monkeypatch):
    import sim.outcomes.plots as plots_mod

    figures, save = [], plots_mod._save_atomic
    monkeypatch.setattr(plots_mod, "_save_atomic", lambda f, p: figures.append(f) or save(f, p))
    assert main([str(sweep)]) == 0
    merged = pd.read_parquet(sweep / "merged_summary.parquet")
    csv = pd.read_csv(sweep / "merged_summary.csv", dtype={"run_dir": str})
    pd.testing.assert_frame_equal(merged, csv, check_dtype=False)  # the two files agree
    assert merged["run_dir"].nunique() == 4
    assert set(merged["strategy"]) == {"soc", "il7"}
    assert pd.api.types.is_float_dtype(merged["model.damage_rate_per_day"])
    assert set(merged["model.damage_rate_per_day"]) == {0.003, 0.005}
    # every job contributes its whole summary: one `all` row per job
    assert (merged["condition"] == "all").sum() == 4
    # the table's numbers are the jobs' own
    one = merged[merged["run_dir"] == merged["run_dir"].iloc[0]].drop(
        columns=["run_dir", "seed", "model.damage_rate_per_day", "cohort.n", "uncertainty"]
    )
    own = pd.read_csv(sweep / merged["run_dir"].iloc[0] / "summary.csv")
    pd.testing.assert_frame_equal(one.reset_index(drop=True), own, check_dtype=False)
    assert (sweep / "sweep_model.damage_rate_per_day.png").is_file()
    # the sweep figure: per strategy, each job's survival and IRIS share at its swept value
    (fig,) = figures
    rows = merged[merged["condition"] == "all"]
    for ax, col in zip(fig.axes, ("survival_1y", "iris_rate"), strict=True):
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        assert set(lines) == {"soc", "il7"}
        for strategy, line in lines.items():
            want = rows[rows["strategy"] == strategy].sort_values("model.damage_rate_per_day")
            assert list(line.get_xdata()) == [0.003, 0.005]
            assert list(line.get_ydata()) == pytest.approx(list(want[col]), abs=1e-12)
    # the crashed job is reported, not merged
    status = pd.read_csv(sweep / "collect_status.csv", dtype={"run_dir": str})
    row = status.set_index("run_dir").loc["9"]
    assert not row["complete"] and "MemoryError" in row["reason"]


def test_overrides_parse_numbers_and_drop_output_keys(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- +experiment=seed000\n- seed=3\n- model.x=1e-3\n- output.plots=false\n"
        "- 'strategy=[soc,il7]'\n"
    )
    got = overrides(tmp_path)
    assert got == {
        "experiment": "seed000",
        "seed": 3,
        "model.x": 0.001,
        "strategy": '["soc", "il7"]',
    }


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


SMALL = ["strategy=soc", "cohort.n=100", "output.progress=false", "output.plots=false",
         "uncertainty=none"]  # fmt: skip


def test_rerun_skips_a_complete_run_with_the_same_config(tmp_path):
    out = tmp_path / "run"
    first = pml_sim(*SMALL, f"hydra.run.dir={out}")
    assert first.returncode == 0, first.stderr
    stamp = (out / "run.json").read_text()
    again = pml_sim(*SMALL, "output.print_summary=false", f"hydra.run.dir={out}")
    assert again.returncode == 0 and "skipped" in again.stdout
    assert (out / "run.json").read_text() == stamp  # nothing rewritten
    other = pml_sim(*SMALL, "seed=9", f"hydra.run.dir={out}")  # other config: runs
    assert other.returncode == 0 and "skipped" not in other.stdout
    assert (out / "run.json").read_text() != stamp


def test_a_crashed_job_leaves_an_error_and_the_sweep_goes_on(tmp_path):
    # job 0 cannot write its summary (a directory is in the way): a real I/O failure
    (tmp_path / "0" / "summary.csv").mkdir(parents=True)
    r = pml_sim(
        "-m", "seed=1,2", *SMALL, "output.print_summary=false", f"hydra.sweep.dir={tmp_path}"
    )
    assert r.returncode == 1, r.stderr  # the sweep ran on, then says a job failed
    assert "run failed" in r.stderr and "1 job(s) of the sweep failed" in r.stderr
    assert (tmp_path / "0" / "error.txt").is_file() and not (tmp_path / "0" / "run.json").exists()
    assert (tmp_path / "1" / "run.json").is_file()  # the other job completed
    assert not list((tmp_path / "0").glob(".*.tmp"))  # no half-written files
    assert main([str(tmp_path)]) == 0
    status = pd.read_csv(tmp_path / "collect_status.csv", dtype={"run_dir": str})
    assert status.set_index("run_dir")["complete"].to_dict() == {"0": False, "1": True}
    # a single run that fails exits non-zero
    single = pml_sim(*SMALL, f"hydra.run.dir={tmp_path / '0'}")
    assert single.returncode == 1 and "run failed" in single.stderr


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        # the stand-in for submitit_slurm on a cluster: same plugin, local processes
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_launchers_give_the_same_numbers_as_the_basic_one(tmp_path, launcher):
    common = ["-m", "seed=1,2", *SMALL, "output.print_summary=false"]
    basic = pml_sim(*common, f"hydra.sweep.dir={tmp_path / 'basic'}")
    other = pml_sim(*common, *launcher, f"hydra.sweep.dir={tmp_path / 'other'}")
    assert basic.returncode == 0, basic.stderr
    assert other.returncode == 0, other.stderr
    for job in ("0", "1"):
        a = (tmp_path / "basic" / job / "summary.csv").read_text()
        b = (tmp_path / "other" / job / "summary.csv").read_text()
        assert a == b
