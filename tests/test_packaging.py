"""Installable like any Python tool: the wheel carries the configs, and pml-sim runs
from any folder, with a user's own configs beside the shipped ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cli_helper import pml_sim

ROOT = Path(__file__).resolve().parent.parent
USERCONF = ROOT / "examples" / "userconf"


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """The wheel built from this tree, unpacked into its own folder (no editable finder)."""
    base = tmp_path_factory.mktemp("wheel")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(base)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    (whl,) = base.glob("pml_sim-*.whl")
    site = base / "site"
    with zipfile.ZipFile(whl) as z:
        z.extractall(site)
    return whl, site


def _run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_wheel_ships_every_config(wheel_site):
    whl, _ = wheel_site
    names = set(zipfile.ZipFile(whl).namelist())
    shipped = {
        "sim/conf/" + str(p.relative_to(ROOT / "conf"))
        for p in (ROOT / "conf").rglob("*")
        if p.suffix in (".yaml", ".csv")
    }
    assert shipped and shipped <= names


def test_installed_wheel_runs_from_another_folder(wheel_site, tmp_path):
    _, site = wheel_site
    h = _run_installed(site, tmp_path, "--help")
    assert h.returncode == 0 and f"Configs: {site / 'sim' / 'conf'}" in h.stdout
    r = _run_installed(site, tmp_path, "cohort.n=60", "strategy=[soc]", "output.progress=false")
    assert r.returncode == 0, r.stderr
    (meta,) = tmp_path.glob("results/*/*/run.json")
    assert json.loads(meta.read_text())["status"] == "complete"
    s = _run_installed(
        site,
        tmp_path,
        "+experiment=seed000",
        "study.replicates=2",
        "output.progress=false",
        "hydra.run.dir=study",
    )
    assert s.returncode == 0, s.stderr
    # the installed configs are the repo's: the same numbers as a run from this tree
    here = tmp_path / "here"
    for args, name, files in (
        (["cohort.n=60", "strategy=[soc]"], "run", ["summary.csv"]),
        (["+experiment=seed000", "study.replicates=2"], "study", ["study_table.csv"]),
    ):
        ref = pml_sim(*args, "output.progress=false", f"hydra.run.dir={here / name}")
        assert ref.returncode == 0, ref.stderr
        (installed,) = tmp_path.glob("results/*/*") if name == "run" else [tmp_path / "study"]
        for f in files:
            assert (installed / f).read_bytes() == (here / name / f).read_bytes(), f


def test_user_config_dir(tmp_path):
    out = tmp_path / "run"
    r = pml_sim(
        "--config-dir",
        str(USERCONF),
        "strategy=[soc,il7_delayed]",
        "cohort=ms_and_heme",
        "cohort.n=300",
        "output.progress=false",
        f"hydra.run.dir={out}",
    )
    assert r.returncode == 0, r.stderr
    import pandas as pd

    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["strategy"]) == {"soc", "il7_delayed"}
    assert set(summary["condition"]) == {"all", "natalizumab_ms", "hematologic_malignancy"}
    events = pd.read_parquet(out / "events.parquet")
    fired = events[(events.strategy == "il7_delayed") & (events.detail == "il7_if_lymphopenic")]
    assert len(fired) > 0  # the user's rule acted


def test_user_config_dir_from_python():
    from sim.api import load_config

    cfg = load_config(["strategy=il7_delayed", "cohort=ms_and_heme"], config_dirs=[str(USERCONF)])
    assert list(cfg.strategy) == ["il7_delayed"] and cfg.cohort.mix == {
        "natalizumab_ms": 2.0,
        "hematologic_malignancy": 1.0,
    }


def test_a_missing_reference_package_fails_the_session_instead_of_skipping():
    """lifelines is what our Kaplan-Meier and Aalen-Johansen are checked against: without
    it the test session must stop with a usage error, not skip those tests silently."""
    code = (
        "import sys; sys.modules['lifelines'] = None; import pytest; "
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_survival.py::test_km_first_row_and_sorted']))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == pytest.ExitCode.USAGE_ERROR, r.stdout + r.stderr
    assert "test dependencies missing: lifelines" in r.stdout + r.stderr
    assert "passed" not in r.stdout and "skipped" not in r.stdout
