"""The last files of every run directory: config.yaml, then run.json (written last:
a directory without a complete run.json is not a result)."""

from __future__ import annotations

import time
from pathlib import Path

from sim.config import RunConfig
from sim.core import io


def begin(out: Path, resolved_yaml: str) -> tuple[Path, float, dict]:
    """The run folder (created), the start time and the provenance, taken before the
    task runs (a calibration that installs its model dirties the tree only after)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out, time.time(), io.provenance(resolved_yaml)


def finish(
    out: Path, cfg: RunConfig, resolved_yaml: str, started: float, prov: dict, **extra
) -> None:
    """config.yaml, report.html, then run.json (last). `prov` is taken at the start of
    the run: a calibration that installs its model dirties the tree only after it ran."""
    from sim.app.report import write_report

    io.write_text(out / "config.yaml", resolved_yaml)
    meta = prov | {
        "task": cfg.task,
        "seed": cfg.seed,
        "wall_seconds": round(time.time() - started, 3),
        **extra,
    }
    if cfg.output.report:
        write_report(out, meta, resolved_yaml)
    meta |= {
        "outputs": sorted(p.name for p in out.iterdir() if not p.name.startswith(".")),
        "status": "complete",
    }
    io.write_json(out / "run.json", meta)
