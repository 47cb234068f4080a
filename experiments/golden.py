"""The golden baseline: the numbers of five reference runs, stored in tests/golden/.

    python experiments/golden.py            # run them, compare with the stored baseline
    python experiments/golden.py --update   # deliberately replace the baseline

An unintended change to the model, engine, outcomes, economics or trial code moves one
of these numbers and fails `tests/test_golden.py`; an intended one is made visible by
`--update` as a reviewed diff of tests/golden/*.csv in the commit.
Values are compared to a relative 1e-9 (below any model effect, above last-digit
floating-point noise between library versions).

The runs use numpy's baseline kernels only (`NPY_DISABLE_CPU_FEATURES` lists every SIMD
extension numpy dispatches to at run time). numpy picks its exp/log/power kernels by
the CPU, and they differ in the last bit: on a host with AVX512_SPR one sizing trial
in 6,400 stopped at another look than on the host the baseline was made on (expected
n under H0 126.91 -> 127.37). Pinning the kernels makes the baseline the same on every
x86-64 host with the same numpy; a user's own runs keep the fast kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
RTOL = 1e-9
QUIET = ["output.progress=false", "output.print_summary=false", "output.plots=false",
         "output.report=false"]  # fmt: skip
# name: (command-line overrides, the files kept from its run folder)
RUNS: dict[str, tuple[list[str], list[str]]] = {
    "default": (
        ["uncertainty=none"],
        ["summary.csv"],
    ),  # one parameter set (issue 14 default: posterior)
    "seed000": (["+experiment=seed000"], ["study_table.csv"]),
    # natalizumab PML: the default mix has none, so its dynamics (washout, receptor
    # desaturation, plasma exchange) would otherwise change unseen
    "natalizumab": (
        ["cohort=natalizumab_ms", "cohort.n=2000", "uncertainty=none"],
        ["summary.csv"],
    ),
    "psa": (
        ["+experiment=psa", "economics.psa.draws=20", "cohort.n=500", "executor=inprocess"],
        ["cea.csv", "ceac.csv", "evpi.csv", "evppi.csv", "dsa.csv", "uncertainty.csv"],
    ),
    "trial": (
        ["+experiment=trial_sizing", "trial.sizing.trials=100"],
        ["operating_characteristics.csv"],
    ),  # fmt: skip
}


def dispatched_simd() -> list[str]:
    """The SIMD extensions this numpy build may dispatch to above its baseline."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    return list(__cpu_dispatch__)


def baseline_env() -> dict[str, str]:
    """The environment of a reference run: numpy restricted to its baseline kernels."""
    return {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(dispatched_simd())}


def run_all(workdir: Path) -> dict[str, Path]:
    """Run every reference run; returns name -> run folder."""
    out = {}
    env = baseline_env()
    for name, (overrides, _) in RUNS.items():
        folder = workdir / name
        cmd = [sys.executable, "-m", "sim", *overrides, *QUIET, f"hydra.run.dir={folder}"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(cmd)} failed:\n{r.stderr}")
        out[name] = folder
    return out


def compare(expected: pd.DataFrame, actual: pd.DataFrame) -> list[str]:
    """Differences in words (empty: same columns, rows, strings and numbers to RTOL)."""
    if list(expected.columns) != list(actual.columns):
        return [f"columns {list(expected.columns)} -> {list(actual.columns)}"]
    if len(expected) != len(actual):
        return [f"{len(expected)} rows -> {len(actual)}"]
    diffs = []
    for col in expected.columns:
        e, a = expected[col], actual[col]
        if pd.api.types.is_numeric_dtype(e) and pd.api.types.is_numeric_dtype(a):
            ev, av = e.to_numpy(float), a.to_numpy(float)
            same = np.isclose(ev, av, rtol=RTOL, atol=0.0, equal_nan=True)
            for i in np.flatnonzero(~same)[:5]:
                diffs.append(f"{col}[row {i}]: {float(ev[i])!r} -> {float(av[i])!r}")
        else:
            bad = (e.fillna("<NA>").astype(str) != a.fillna("<NA>").astype(str)).to_numpy()
            for i in np.flatnonzero(bad)[:5]:
                diffs.append(f"{col}[row {i}]: {e.iloc[i]!r} -> {a.iloc[i]!r}")
    return diffs


def check(runs: dict[str, Path]) -> dict[str, list[str]]:
    """name/file -> differences against tests/golden/."""
    report = {}
    for name, (_, files) in RUNS.items():
        for f in files:
            stored = GOLDEN / name / f
            if not stored.is_file():
                report[f"{name}/{f}"] = ["no stored baseline (run with --update)"]
                continue
            d = compare(pd.read_csv(stored), pd.read_csv(runs[name] / f))
            if d:
                report[f"{name}/{f}"] = d
    return report


def update(runs: dict[str, Path]) -> None:
    for name, (_, files) in RUNS.items():
        (GOLDEN / name).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(runs[name] / f, GOLDEN / name / f)
    meta = {
        name: {"command": ["pml-sim", *ov, *QUIET], "files": files}
        for name, (ov, files) in RUNS.items()
    }
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    (GOLDEN / "golden.json").write_text(
        json.dumps(
            {
                "made_at_commit": commit,
                "rtol": RTOL,
                "numpy": np.__version__,
                "numpy_disabled_simd": dispatched_simd(),
                "runs": meta,
            },
            indent=2,
        )
        + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="replace the stored baseline")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = run_all(Path(tmp))
        if args.update:
            update(runs)
            print(f"baseline written to {GOLDEN}; review `git diff tests/golden` and commit it")
            return
        report = check(runs)
    for key, diffs in report.items():
        print(f"{key}:")
        for d in diffs:
            print(f"  {d}")
    print("golden baseline: " + ("CHANGED" if report else "unchanged"))
    sys.exit(1 if report else 0)


if __name__ == "__main__":
    main()
