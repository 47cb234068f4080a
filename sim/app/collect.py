"""Merge the run directories of a sweep into one tidy table, and draw it.

    pml-sim-collect results/multirun/2026-11-24/10-00-00      # or any folder of runs

Every run directory below the folder that has a complete `run.json` contributes its
`summary.csv` rows (study runs: `study_table.csv`; calibrations:
`calibration_fit.csv`; economic evaluations: `cea.csv`), with one column per
command-line override of that job (read from Hydra's `.hydra/overrides.yaml`, values
parsed as YAML so numbers stay numbers) and the job's path. Directories without a
complete `run.json` (crashed, killed, still running) are listed in `collect_status.csv`
with the reason, never merged.

Writes, atomically, into the folder: `merged_summary.parquet` and `.csv` (and
`merged_study.csv`, `merged_calibration.csv`, `merged_cea.csv`, `merged_trial.csv` when
such runs exist), `collect_status.csv`, and for each swept numeric parameter `sweep_<param>.png`
(1-year survival and IRIS, all conditions, one line per strategy).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from sim.core import io
from sim.outcomes.summary import SUMMARY_COLUMNS

TABLES = {  # task -> (file in the run directory, merged file name)
    "simulate": ("summary.csv", "merged_summary"),
    "study": ("study_table.csv", "merged_study"),
    "calibrate": ("calibration_fit.csv", "merged_calibration"),
    "economics": ("cea.csv", "merged_cea"),
    "trial": ("operating_characteristics.csv", "merged_trial"),
}


def overrides(run_dir: Path) -> dict[str, object]:
    """The job's command-line overrides as {key: value} (leading +/~ dropped)."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    out: dict[str, object] = {}
    for item in yaml.safe_load(path.read_text()) or []:
        key, _, value = str(item).partition("=")
        key = key.lstrip("+~")
        if key.startswith("hydra.") or key.startswith("output."):
            continue  # where and how results are written is not a scenario parameter
        try:
            out[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            out[key] = value
        if isinstance(out[key], str):  # YAML 1.1 reads 1e-3 as text; Hydra reads a float
            try:
                out[key] = float(out[key])
            except ValueError:
                pass
        if isinstance(out[key], list | dict):
            out[key] = json.dumps(out[key])
    return out


def scan(root: Path) -> tuple[list[tuple[Path, dict]], pd.DataFrame]:
    """Complete runs (path, run.json) and a status row for every candidate directory."""
    done, status = [], []
    candidates = {p.parent for p in root.rglob("run.json")}
    candidates |= {p.parent.parent for p in root.rglob(".hydra/overrides.yaml")}
    for d in sorted(candidates):
        meta_path = d / "run.json"
        reason = ""
        meta: dict = {}
        if not meta_path.is_file():
            err = d / "error.txt"
            reason = err.read_text().strip().splitlines()[-1] if err.is_file() else "no run.json"
        else:
            try:
                meta = json.loads(meta_path.read_text())
            except json.JSONDecodeError:
                reason = "unreadable run.json"
            else:
                if meta.get("status") != "complete":
                    reason = f"status {meta.get('status')!r}"
        status.append(
            {"run_dir": str(d.relative_to(root)), "complete": not reason, "reason": reason}
        )
        if not reason:
            done.append((d, meta))
    return done, pd.DataFrame(status, columns=["run_dir", "complete", "reason"])


def merge(root: Path) -> dict[str, pd.DataFrame]:
    """One table per task kind: the runs' own tables plus override columns."""
    done, _ = scan(root)
    parts: dict[str, list[pd.DataFrame]] = {}
    for d, meta in done:
        task = meta.get("task", "simulate")
        fname, merged = TABLES.get(task, (None, None))
        if fname is None or not (d / fname).is_file():
            continue
        table = pd.read_csv(d / fname)
        params = overrides(d)
        front = {"run_dir": str(d.relative_to(root)), "seed": meta.get("seed")}
        front |= {k: v for k, v in params.items() if k not in table.columns}
        for i, (k, v) in enumerate(front.items()):
            table.insert(i, k, v)
        parts.setdefault(merged, []).append(table)
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


def swept_numeric(table: pd.DataFrame, skip: set[str]) -> list[str]:
    """Override columns that take more than one numeric value across the jobs."""
    out = []
    for c in table.columns:
        if c in skip or table[c].dtype == object:
            continue
        if pd.api.types.is_numeric_dtype(table[c]) and table[c].nunique() > 1:
            out.append(c)
    return out


def plot_sweeps(table: pd.DataFrame, root: Path, params: list[str]) -> list[Path]:
    from sim.outcomes.plots import _save_atomic, plt

    rows = table[table["condition"] == "all"] if "condition" in table else table
    written = []
    for param in params:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, (col, label) in zip(
            axes,
            (("survival_1y", "1-year survival (KM)"), ("iris_rate", "PML-IRIS share")),
            strict=True,
        ):
            for strategy, g in rows.groupby("strategy", sort=True):
                g = g.groupby(param, as_index=False)[col].mean().sort_values(param)
                ax.plot(g[param], g[col], marker="o", label=strategy)
            values = sorted(rows[param].dropna().unique())
            if len(values) <= 8:  # label the swept values themselves
                ax.set_xticks(values, [f"{v:g}" for v in values], rotation=30)
            ax.set_xlabel(param)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8, frameon=False)
        fig.suptitle(f"Outcome vs {param} (mean over other swept values)")
        written.append(_save_atomic(fig, root / f"sweep_{param.replace('/', '_')}.png"))
    return written


def collect(root: Path) -> dict[str, pd.DataFrame]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    _, status = scan(root)
    io.write_csv(root / "collect_status.csv", status)
    merged = merge(root)
    for name, table in merged.items():
        io.write_csv(root / f"{name}.csv", table)
        if name == "merged_summary":
            io.write_atomic(root / f"{name}.parquet", lambda p, t=table: t.to_parquet(p))
            plot_sweeps(table, root, swept_numeric(table, {*SUMMARY_COLUMNS, "seed"}))
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pml-sim-collect", description="Merge a sweep's run directories into one table."
    )
    parser.add_argument("folder", type=Path, help="a multirun folder (or any folder of runs)")
    args = parser.parse_args(argv)
    try:
        merged = collect(args.folder)
    except FileNotFoundError as e:
        print(f"pml-sim-collect: {e}", file=sys.stderr)
        return 2
    status = pd.read_csv(args.folder / "collect_status.csv")
    bad = status[~status["complete"]]
    for name, table in merged.items():
        print(f"{name}: {len(table)} rows from {table['run_dir'].nunique()} runs")
    if len(bad):
        print(f"{len(bad)} incomplete run(s) left out (see collect_status.csv):")
        for r in bad.itertuples():
            print(f"  {r.run_dir}: {r.reason}")
    if not merged:
        print("no complete runs found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
