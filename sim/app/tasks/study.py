"""`task=study` (`pml-sim +experiment=seed000`): the virtual retrospective study.

Writes study_table.csv / .md, study_forest.png, study_replicates.csv,
patients.parquet (the pooled large-n study), config.yaml and run.json.
As for simulations, every file is written atomically and run.json comes last.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.app.tasks.finish import begin, finish
from sim.config import RunConfig
from sim.core import io
from sim.engine.run import simulate
from sim.evidence.plots import plot_forest
from sim.evidence.validate import check_validation_citations
from sim.evidence.validate import validate_study as validate  # noqa: F401  (task hook)


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.evidence.study import (
        add_study_columns,
        comparison_table,
        markdown_table,
        replicate_table,
        study_config,
    )
    from sim.evidence.targets import add_therapy_side_effects

    out, started, prov = begin(out, resolved_yaml)
    pooled_cfg = study_config(cfg)
    sname = next(iter(cfg.strategy))  # validation guarantees one
    print(
        f"virtual study '{cfg.study.name}': {cfg.study.replicates} replicate studies of "
        f"n = {cfg.study.study_n} ({pooled_cfg.cohort.n} patients), strategy {sname}"
    )
    patients, events, _ = simulate(pooled_cfg)
    chosen = set(cfg.study.targets)
    targets = [t for t in cfg.targets.items if t.id in chosen] if chosen else []
    patients = add_therapy_side_effects(patients, events, [t.therapy for t in targets if t.therapy])
    patients = add_study_columns(patients[patients["strategy"] == sname], cfg)
    reps = replicate_table(patients, cfg.study, targets)
    table = comparison_table(targets, reps, patients, cfg.study)
    io.write_csv(out / "study_table.csv", table)
    md = markdown_table(table, cfg.study.study_n, check_validation_citations(cfg))
    io.write_text(out / "study_table.md", md)
    io.write_csv(out / "study_replicates.csv", reps)
    io.write_atomic(out / "patients.parquet", lambda p: patients.to_parquet(p, index=False))
    if cfg.output.plots:
        plot_forest(table, cfg.study.study_n, out / "study_forest.png")
    finish(out, cfg, resolved_yaml, started, prov, n_patients=len(patients), strategy=sname)
    if cfg.output.print_summary:
        print(md)
        print(f"results: {out}")
    return table
