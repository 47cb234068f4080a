"""`task=gsa` (`pml-sim +experiment=gsa`): global sensitivity analysis of the model.

Writes gsa.csv (every index), gsa_ranking.csv, gsa.md, gsa.png, gsa_samples.parquet
(factor values per evaluation) and gsa_outputs.parquet (outputs per evaluation), then
config.yaml and run.json (last). Every file is written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config import RunConfig
from sim.core import io
from sim.evidence.validate import validate_gsa as validate  # noqa: F401  (task hook)


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    from sim.evidence.gsa import conditions, factors, index_table, ranking, run_gsa
    from sim.evidence.sensitivity import n_evaluations

    out, started, prov = begin(out, resolved_yaml)
    g = cfg.gsa
    fs = factors(cfg)
    total = n_evaluations(g.method, len(fs), g.base_samples)
    n_pat = g.n_per_condition * len(conditions(cfg))
    print(
        f"global sensitivity ({g.method}): {len(fs)} factors, {total} evaluations x "
        f"{len(cfg.strategy)} strategies x {n_pat} patients"
    )
    bar = tqdm(total=total, desc="gsa", unit="eval", disable=not cfg.output.progress)

    def on_batch(done: int, _total: int) -> None:
        bar.update(done - bar.n)

    try:
        samples, outputs, fs = run_gsa(cfg, on_batch)
    finally:
        bar.close()
    table = index_table(cfg, samples, outputs, fs)
    top = ranking(table, g.fixable_below)
    io.write_csv(out / "gsa.csv", table)
    io.write_csv(out / "gsa_ranking.csv", top)
    io.write_atomic(out / "gsa_samples.parquet", lambda p: samples.to_parquet(p, index=False))
    io.write_atomic(out / "gsa_outputs.parquet", lambda p: outputs.to_parquet(p, index=False))
    md = markdown(cfg, top, table, total, n_pat)
    io.write_text(out / "gsa.md", md)
    if cfg.output.plots:
        from sim.evidence.plots import plot_gsa

        plot_gsa(table, top, out / "gsa.png")
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        evaluations=total,
        factors=[f.key for f in fs],
        can_stay_fixed=[str(p) for p in top.loc[top["can_stay_fixed"], "parameter"]],
    )
    if cfg.output.print_summary:
        print(md)
        print(f"results: {out}")
    return table


def markdown(
    cfg: RunConfig, top: pd.DataFrame, table: pd.DataFrame, evaluations: int, n_patients: int
) -> str:
    g = cfg.gsa
    cells = table.drop_duplicates(["output", "condition", "strategy"])
    n_cells = len(cells)
    flat_rows = cells[~cells["informative"]]
    n_flat = len(flat_rows)
    flat = [f"{r.output} {r.condition} {r.strategy}" for r in flat_rows.itertuples()]
    kind = str(top["index"].iloc[0])
    # binomial SE of a cell's survival near 50%: the scale of the finite cohort's noise
    se = math.sqrt(0.25 / g.n_per_condition)
    lines = [
        f"# Global sensitivity analysis ({g.method}, model={cfg.model.name})",
        "",
        f"{evaluations} evaluations of {n_patients} patients ({g.n_per_condition} per "
        f"condition, the same patients in every evaluation) under "
        f"{', '.join(cfg.strategy)}; seed {cfg.seed}. Fitted parameters: {g.fitted}. "
        f"A cell's binomial SE at 50% survival is {100 * se:.1f} points.",
        "",
        f"A parameter **can stay fixed** when the upper end of its {kind} interval is below "
        f"{g.fixable_below} in every output and cell (gsa.fixable_below). Cells whose output "
        f"varies by less than {100 * se:.1f} points over the whole parameter space are flat "
        f"and left out of the ranking ({n_flat} of {n_cells}: "
        f"{', '.join(flat) or 'none'}).",
        "",
        f"| parameter | source | largest {kind} (95% CI) | where | can stay fixed |",
        "|---|---|---|---|---|",
    ]
    for r in top.itertuples():
        lines.append(
            f"| `{r.parameter}` | {r.source} | {r.value:.3f} ({r.ci_lo:.3f} to {r.ci_hi:.3f}) "
            f"| {r.output}, {r.condition}, {r.strategy} | {'yes' if r.can_stay_fixed else ''} |"
        )
    n_fix = int(top["can_stay_fixed"].sum())
    lines += ["", f"**{len(top) - n_fix} parameters matter; {n_fix} can stay fixed.**"]
    return "\n".join(lines) + "\n"
