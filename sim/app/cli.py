"""`pml-sim` command line: a Hydra app over `conf/`.

    pml-sim                                  # default scenario
    pml-sim strategy=il7 cohort=natalizumab_ms cohort.n=20000 seed=7
    pml-sim --cfg job                        # show the composed config
    pml-sim -m strategy=soc,il7 seed=1,2     # sweep
    pml-sim +experiment=seed000              # virtual retrospective study (seed 000)
    pml-sim +experiment=calibrate            # fit the model to conf/targets/
    pml-sim +experiment=cea                  # costs, QALYs, ICERs (+experiment=psa: PSA)
    pml-sim +experiment=trial_sizing         # size a PD-1 vs SOC trial (sim/trial/)

Bad input exits with status 2 and one line naming the config key and what is
allowed; the run directory of a rejected run is removed.
"""

from __future__ import annotations

import io as _io
import re
import shutil
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sim.config import ConfigError
from sim.config.load import config_dir
from sim.config.schema import register, to_object

CONFIG_DIR = str(config_dir())
_real_stderr = sys.stderr

register()


def _discard_run_dir(out: Path) -> None:
    """Remove a run directory that holds nothing but Hydra's own bookkeeping."""
    bookkeeping = (".hydra", "main.log", "cli.log", "pml-sim.log")
    if out.is_dir() and all(p.name in bookkeeping for p in out.iterdir()):
        shutil.rmtree(out, ignore_errors=True)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _app(node: DictConfig) -> None:
    from sim.app.tasks.simulate import resolved_yaml
    from sim.app.validate import validate

    # composition succeeded: let progress bars through. (sys.__stderr__, not a module
    # global: the joblib launcher pickles this function, and a file object cannot be.)
    sys.stderr = sys.__stderr__
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        cfg = to_object(node)
        validate(cfg)
    except ConfigError as e:
        _discard_run_dir(out)
        print(f"pml-sim: config error: {e}", file=sys.stderr)
        sys.exit(2)
    yaml_text = resolved_yaml(node)
    if _already_complete(out, yaml_text):
        print(f"pml-sim: {out} is already complete with this config; skipped")
        return
    (out / "error.txt").unlink(missing_ok=True)  # from an earlier failed attempt
    try:
        _run_task(cfg, out, yaml_text)
    except Exception as e:  # one failed job must not stop a sweep
        (out / "error.txt").write_text(traceback.format_exc())
        print(
            f"pml-sim: run failed: {type(e).__name__}: {e} (traceback in {out / 'error.txt'})",
            file=sys.stderr,
        )
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            sys.exit(1)


def _run_task(cfg, out: Path, yaml_text: str) -> None:
    from sim.app import tasks

    tasks.load(cfg.task).run(cfg, out, yaml_text)


def _already_complete(out: Path, yaml_text: str) -> bool:
    """A complete run.json with the same config hash: re-running a sweep skips it."""
    import json

    from sim.core.io import config_hash

    meta_path = out / "run.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError:
        return False
    return meta.get("status") == "complete" and meta.get("config_hash") == config_hash(yaml_text)


def _one_line(text: str) -> str:
    """Condense Hydra/OmegaConf's multi-line composition error into one line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Set the environment variable HYDRA_FULL")]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), None)
    msg = next(
        (
            ln
            for ln in lines
            if not ln.startswith(("full_key:", "object_type", "reference_type", "Error merging"))
            and not ln.startswith("In '")
        ),
        lines[0] if lines else "invalid configuration",
    )
    if key is None:
        m = re.search(r"override '?([\w.\[\]]+)'?", text) or re.search(r"Key '(\w+)'", text)
        key = m.group(1) if m else None
    if "Could not find" in text and "options" not in msg.lower():
        opts = [ln for ln in lines if not ln.startswith(("In '", "Could not", "Config search"))]
        opts = [o for o in opts if re.fullmatch(r"[\w\-]+", o)]
        if opts:
            msg = f"{msg} Available: {', '.join(opts)}"
    return f"pml-sim: config error: {key + ': ' if key else ''}{msg}"


def main() -> None:
    """Console entry point; Hydra's composition errors are reported on one line."""
    buffer = _io.StringIO()
    sys.stderr = buffer
    try:
        _app()
    except SystemExit as e:
        sys.stderr = _real_stderr
        captured = buffer.getvalue()
        if e.code not in (0, None) and captured and "pml-sim: config error" not in captured:
            print(_one_line(captured), file=sys.stderr)
            sys.exit(2)
        if captured:
            sys.stderr.write(captured)
        raise
    finally:
        if sys.stderr is buffer:
            sys.stderr = _real_stderr
            if buffer.getvalue():
                sys.stderr.write(buffer.getvalue())


if __name__ == "__main__":
    main()
