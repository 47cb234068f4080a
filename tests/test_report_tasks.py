"""Every task writes a report.html that renders in headless Chromium with every figure
of its run folder shown and nothing fetched (small real runs of each task)."""

from __future__ import annotations

import json

import pytest
from cli_helper import pml_sim
from test_report_html import _browser_check, _chromium, served  # noqa: F401  (fixture)

QUIET = ["output.progress=false", "output.print_summary=false"]
TASKS = {
    # the default uncertainty=posterior, small: the report also shows the uncertainty band
    "simulate": [
        "cohort.n=200",
        "strategy=[soc,il7]",
        "uncertainty.draws=3",
        "uncertainty.n_per_draw=50",
    ],
    "study": ["+experiment=seed000", "study.replicates=3"],
    "calibrate": [
        "+experiment=calibrate",
        "calibration.max_evals=2",
        "calibration.restarts=0",
        "calibration.ensemble_draws=2",
        "calibration.n_per_scenario=40",
    ],
    "economics": ["+experiment=cea", "cohort.n=200", "economics.dsa.params=[]"],
    "trial": ["+experiment=trial_sizing", "trial.sizing.trials=40", "trial.sizing.n=[60,120]"],
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_report_renders_for_every_task(task, tmp_path, served):  # noqa: F811
    out = tmp_path / task
    r = pml_sim(*TASKS[task], *QUIET, f"hydra.run.dir={out}", timeout=600)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["task"] == task and "report.html" in meta["outputs"]
    text = (out / "report.html").read_text()
    assert meta["git_commit"] in text and str(meta["seed"]) in text
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures  # every task draws something
    root, url, requests = served
    check = _browser_check(_chromium(), text, root, url, tmp_path / "profile")
    assert check == {"images": len(figures), "loaded": len(figures), "resources": []}
    assert requests == ["/check.html"]
