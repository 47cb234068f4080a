"""`pml-sim-install-model RUN_DIR [--into DIR]`: make a calibration's fit a model config.

A calibration writes only into its run directory. This separate, explicit step copies
its `model_<name>.yaml` and `<name>_ensemble.csv` into a config folder (default: the
shipped `conf/model/`, so `model=<name>` selects it; `--into DIR` for a user config
folder used with `--config-dir`) and says what it replaces.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from sim.config.load import config_dir
from sim.core import io


class InstallError(ValueError):
    pass


def _describe(yaml_path: Path, csv_path: Path) -> str:
    if not yaml_path.is_file():
        return "nothing (new file)"
    m = re.search(r"Distance at the optimum: ([\d.eE+-]+)", yaml_path.read_text())
    sets = sum(1 for _ in csv_path.open()) - 1 if csv_path.is_file() else 0
    dist = m.group(1) if m else "unknown"
    return f"{yaml_path} (distance {dist}, {sets} ensemble sets)"


def install_model(run_dir: Path, into: Path | None = None) -> str:
    """Copy the fit of a complete calibration run; returns what was replaced, in words."""
    run_dir = Path(run_dir)
    meta_path = run_dir / "run.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InstallError(f"{meta_path}: not a complete run ({e})") from None
    if meta.get("status") != "complete" or meta.get("task") != "calibrate":
        raise InstallError(f"{run_dir}: not a complete calibration run (task {meta.get('task')})")
    fitted = sorted(run_dir.glob("model_*.yaml"))
    if len(fitted) != 1:
        raise InstallError(f"{run_dir}: expected one model_<name>.yaml, found {len(fitted)}")
    name = fitted[0].stem.removeprefix("model_")
    ensemble = run_dir / f"{name}_ensemble.csv"
    if not ensemble.is_file():
        raise InstallError(f"{ensemble}: missing")
    folder = Path(into) / "model" if into is not None else config_dir() / "model"
    folder.mkdir(parents=True, exist_ok=True)
    target_yaml, target_csv = folder / f"{name}.yaml", folder / f"{name}_ensemble.csv"
    old = _describe(target_yaml, target_csv)
    text = fitted[0].read_text()
    io.write_text(target_csv, ensemble.read_text())
    io.write_text(target_yaml, text)
    new = f"distance {meta.get('distance', 'unknown')}, {meta.get('ensemble_kept', '?')} sets"
    return f"installed model={name} from {run_dir} ({new}); replaced {old}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="pml-sim-install-model",
        description="Make a calibration run's fit the model config model=<name>.",
    )
    ap.add_argument("run_dir", type=Path, help="a complete `pml-sim +experiment=calibrate` run")
    ap.add_argument(
        "--into",
        type=Path,
        default=None,
        help="a user config folder (written to DIR/model/); default: the shipped conf/model/",
    )
    args = ap.parse_args(argv)
    try:
        print(install_model(args.run_dir, args.into))
    except InstallError as e:
        print(f"pml-sim-install-model: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
