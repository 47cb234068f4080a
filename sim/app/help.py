"""`pml-sim --help`: a short usage page, built from the config folders without Hydra
(so it prints in a fraction of a second). `pml-sim --hydra-help` shows Hydra's own."""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

COMMANDS = (
    ("pml-sim", "default: 9 strategies x 5,000 patients + 200 posterior draws"),
    ("pml-sim uncertainty=none", "one parameter set: fast, Monte Carlo CIs only"),
    ("pml-sim strategy=il7 cohort=hiv cohort.n=20000", "one strategy, one condition"),
    ("pml-sim 'strategy=[soc,il7,pd1]' horizon_days=730", "a few strategies, 2 years"),
    ("pml-sim -m strategy=soc,il7 seed=1,2,3", "a sweep (one run folder per job)"),
    ("pml-sim-collect SWEEP_DIR", "merge a sweep into one table"),
    ("pml-sim +experiment=seed000", "seed 000 (rhIL-7) as a virtual study"),
    ("pml-sim +experiment=calibrate", "fit (adopt: pml-sim-install-model DIR)"),
    ("pml-sim +experiment=cea | +experiment=psa", "costs, QALYs, ICERs; PSA, VOI"),
    ("pml-sim +experiment=trial_sizing", "size a PD-1 vs SOC trial"),
    ("pml-sim --config-dir DIR strategy=mine", "your configs: DIR/strategy/mine.yaml"),
    ("pml-sim --cfg job", "the composed config (validated)"),
)


def _groups(dirs: list[Path]) -> dict[str, list[str]]:
    groups: dict[str, set[str]] = {}
    for d in dirs:
        for sub in sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("_")):
            names = {f.stem for f in sub.glob("*.yaml")}
            if names:
                groups.setdefault(sub.name, set()).update(names)
    return {g: sorted(v) for g, v in sorted(groups.items())}


def _defaults(conf: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (yaml.safe_load((conf / "config.yaml").read_text()) or {}).get("defaults", []):
        if isinstance(item, dict):
            for k, v in item.items():
                out[k] = ",".join(v) if isinstance(v, list) else str(v)
    return out


def usage(conf: Path, user_dirs: list[Path] | None = None, version: str = "") -> str:
    width = max(len(c) for c, _ in COMMANDS)
    lines = [
        f"pml-sim {version}: discrete-event simulation of treatment strategies for",
        "progressive multifocal leukoencephalopathy (PML): virtual cohorts, survival, IRIS,",
        "costs and QALYs, virtual trials. A Hydra app: settings are GROUP=OPTION or KEY=VALUE.",
        "",
        "Commands:",
        *(f"  {c:<{width}}  {what}" for c, what in COMMANDS),
        "",
        "Config groups (GROUP=OPTION; * = default):",
    ]
    defaults = _defaults(conf)
    for group, names in _groups([conf, *(user_dirs or [])]).items():
        if group in ("experiment",):
            continue
        chosen = set(defaults.get(group, "").split(","))
        shown = ", ".join(f"{n}*" if n in chosen else n for n in names)
        lines += textwrap.wrap(
            shown, 88, initial_indent=f"  {group + ':':<13}", subsequent_indent=" " * 15
        )
    experiments = _groups([conf, *(user_dirs or [])]).get("experiment", [])
    lines += [
        f"  {'+experiment=':<13}{', '.join(experiments)}",
        "",
        "Top-level keys: seed, horizon_days, monitoring.*, engine.kind (batch|reference),",
        "  engine.chunk_size, executor.workers, output.* (pml-sim --cfg job lists them all).",
        "",
        "Outputs: results/<date>/<time>-<id>/ (sweeps: results/multirun/...): summary.csv,",
        "  patients/events/labs.parquet, plots, report.html, config.yaml, run.json (last).",
        "  Set the folder with hydra.run.dir=DIR. Bad input exits 2 with one line.",
        "",
        f"Configs: {conf}",
        "More: README.md and docs/; Hydra's own options: pml-sim --hydra-help",
    ]
    return "\n".join(lines) + "\n"
