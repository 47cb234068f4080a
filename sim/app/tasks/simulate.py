"""`task=simulate` (the default `pml-sim` run): every strategy over the same cohort.

Streams patients / events / labs to Parquet chunk by chunk (memory stays bounded),
then writes summary.csv, the Kaplan-Meier and IRIS plots, config.yaml and run.json
(last: a directory without it is not a result). Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf
from tqdm import tqdm

from sim.app.tasks.finish import begin, finish
from sim.config import RunConfig
from sim.core import io
from sim.engine.run import chunks
from sim.outcomes.summary import REQUIRED_COLUMNS, format_summary, summarise


def validate(cfg: RunConfig) -> None:
    """The uncertainty section (uncertainty=posterior needs the posterior draws)."""
    from sim.outcomes.uncertainty import check

    check(cfg)


def run(cfg: RunConfig, out: Path, resolved_yaml: str) -> pd.DataFrame:
    """Simulate and write the run directory; returns the summary table."""
    out, started, prov = begin(out, resolved_yaml)
    streams = {
        name: (io.ParquetParts if cfg.output.partitioned else io.ParquetStream)(
            out / f"{name}.parquet"
        )
        for name, on in (
            ("patients", cfg.output.write_patients),
            ("events", cfg.output.write_events),
            ("labs", cfg.output.write_labs),
        )
        if on
    }
    kept: list[pd.DataFrame] = []
    total = cfg.cohort.n * len(cfg.strategy)
    bar = tqdm(
        total=total,
        unit="patient",
        unit_scale=True,
        desc="simulating",
        disable=not cfg.output.progress,
        mininterval=0.5,
    )
    try:
        for c in chunks(cfg, bar):
            bar.set_postfix_str(c.strategy)
            kept.append(c.patients[REQUIRED_COLUMNS])  # the rest is streamed to disk
            for name, frame in (("patients", c.patients), ("events", c.events), ("labs", c.labs)):
                if name in streams:
                    streams[name].append(frame)
    except BaseException:
        io.abort_all(streams.values())
        raise
    finally:
        bar.close()
    # appends run on a writer thread, so a write error (a full disk) can surface at any
    # commit: then the streams not yet committed must not leave their temp files behind
    pending = list(streams.values())
    try:
        while pending:
            pending[0].commit()
            pending.pop(0)
    except BaseException:
        io.abort_all(pending)  # the one whose commit failed too: its file may be half-moved
        raise

    table = pd.concat(kept, ignore_index=True)
    summary = summarise(table, t_survival=cfg.output.survival_day)
    band = None
    if cfg.uncertainty.name != "none":
        summary, band = add_uncertainty(cfg, summary, out)
    io.write_csv(out / "summary.csv", summary)
    if cfg.output.plots:
        from sim.outcomes import plots  # matplotlib: imported only when plots are drawn

        plots.plot_km(table, out / "km.png", t_max=cfg.horizon_days, band=band)
        plots.plot_km_by_condition(table, out / "km_by_condition.png")
        plots.plot_iris_cif(table, out / "iris_cuminc.png")
    finish(
        out,
        cfg,
        resolved_yaml,
        started,
        prov,
        n_patients=cfg.cohort.n,
        strategies=list(cfg.strategy),
        horizon_days=cfg.horizon_days,
        engine=cfg.engine.kind,
        chunk_size=cfg.engine.chunk_size,
    )
    if cfg.output.print_summary:
        print(format_summary(summary))
        if "survival_1y_ui_lo" in summary.columns:
            print(format_ui(summary, cfg.uncertainty.level))
        print(f"\nresults: {out}")
    return summary


def add_uncertainty(cfg: RunConfig, summary: pd.DataFrame, out: Path):
    """Nested simulation over parameter draws: the summary gains the UI columns;
    uncertainty_draws.csv and survival_band.csv are written."""
    from sim.outcomes.uncertainty import nested, survival_band, ui_table

    u = cfg.uncertainty
    bar = tqdm(total=u.draws, desc="uncertainty", unit="draw", disable=not cfg.output.progress)
    try:
        draws, curves = nested(cfg, on_draw=lambda k: bar.update(k - bar.n))
    finally:
        bar.close()
    ui = ui_table(draws, list(cfg.strategy), u.level)
    band = survival_band(curves, u.level)
    io.write_csv(out / "uncertainty_draws.csv", draws)
    io.write_csv(out / "survival_band.csv", band)
    merged = summary.merge(ui, on=["strategy", "condition"], how="left")
    return merged, band


def format_ui(summary: pd.DataFrame, level: float) -> str:
    """All-conditions rows: 1-year survival with both intervals side by side.

    The Monte Carlo CI is the sampling error of this run's patients under the one
    calibrated parameter set; the uncertainty interval (UI) is the central `level` range
    of the survival of `ui_draws` posterior draws (each with its own patients), so it
    holds parameter uncertainty plus the draws' own Monte Carlo error. The last column
    is the share of the draws' variance that is parameter variance (the rest is Monte
    Carlo error of n_per_draw patients: a low share means raise uncertainty.n_per_draw).
    """
    rows = summary[summary["condition"] == "all"]
    pct = f"{100 * level:.0f}%"
    draws = int(rows["ui_draws"].iloc[0])
    first = rows["strategy"].iloc[0]

    def rng_(lo: float, hi: float, signed: bool = False) -> str:
        f = "{:+.1f}" if signed else "{:.1f}"
        return f"{f.format(100 * lo)} to {f.format(100 * hi)}"

    head = (
        f"{'strategy':<22} {'survival':>8}  {'MC 95% CI':>13}  {'UI ' + pct:>13}"
        f"  {'vs ' + first + ' (UI)':>24}  {'P(best)':>7}  {'param. share':>12}"
    )
    lines = [
        f"\n1-year survival, all conditions: Monte Carlo 95% CI (this run's patients, one "
        f"parameter set) and parameter-uncertainty interval (UI: central {pct} of {draws} "
        "posterior draws)",
        head,
    ]
    for r in rows.to_dict("records"):
        var_p, var_mc = r["survival_1y_var_parameter"], r["survival_1y_var_mc"]
        share = var_p / (var_p + var_mc) if var_p + var_mc > 0 else float("nan")
        d_ui = rng_(r["survival_1y_diff_ui_lo"], r["survival_1y_diff_ui_hi"], signed=True)
        diff = f"{100 * r['survival_1y_diff']:+.1f} ({d_ui})"
        lines.append(
            f"{r['strategy']:<22} {100 * r['survival_1y']:>7.1f}%"
            f"  {rng_(r['survival_1y_lo'], r['survival_1y_hi']):>13}"
            f"  {rng_(r['survival_1y_ui_lo'], r['survival_1y_ui_hi']):>13}"
            f"  {diff:>24}  {r['prob_best']:>7.2f}  {100 * share:>11.0f}%"
        )
    return "\n".join(lines)


def resolved_yaml(cfg_node) -> str:
    return OmegaConf.to_yaml(cfg_node, resolve=True)
