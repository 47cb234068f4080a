"""`pml-sim` command line: a Hydra app over the shipped `conf/` (plus `--config-dir`).

    pml-sim                                  # default scenario
    pml-sim strategy=il7 cohort=natalizumab_ms cohort.n=20000 seed=7
    pml-sim --help                           # short usage page
    pml-sim --cfg job                        # the composed (and validated) config
    pml-sim -m strategy=soc,il7 seed=1,2     # sweep
    pml-sim +experiment=seed000              # virtual retrospective study (seed 000)
    pml-sim +experiment=calibrate            # fit the model to conf/targets/
    pml-sim +experiment=cea                  # costs, QALYs, ICERs (+experiment=psa: PSA)
    pml-sim +experiment=trial_sizing         # size a PD-1 vs SOC trial (sim/trial/)

Bad input exits with status 2 and one line naming the config key, the bad value and
what is allowed; the folder of a rejected run is removed. SIGTERM is handled like
Ctrl-C: temporary files are removed and the run exits 143 (130 for Ctrl-C).
"""

from __future__ import annotations

import io as _io
import signal
import sys
from pathlib import Path

from sim.app.errors import one_line, precheck

_real_stderr = sys.stderr


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that every cleanup path runs."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _user_dirs(argv: list[str]) -> list[Path]:
    dirs = []
    for i, a in enumerate(argv):
        if a in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
        elif a.startswith("--config-dir="):
            dirs.append(Path(a.split("=", 1)[1]))
    return dirs


def _help(argv: list[str]) -> None:
    import sim
    from sim.app.help import usage
    from sim.config.load import config_dir

    sys.stdout.write(usage(config_dir(), _user_dirs(argv), sim.__version__))


def _validate_cfg_request(argv: list[str]) -> None:
    """`--cfg job` prints the config without running the app: validate it first."""
    from sim.api import load_config
    from sim.config import ConfigError

    skip = {"--cfg", "-c", "--package", "-p", "--config-dir", "-cd", "--resolve"}
    overrides, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in skip:
            i += 1 if a == "--resolve" else 2
            continue
        if not a.startswith("-"):
            overrides.append(a)
        i += 1
    try:
        load_config(overrides, [str(d) for d in _user_dirs(argv)])
    except ConfigError as e:
        print(f"pml-sim: config error: {e}", file=_real_stderr)
        sys.exit(2)


def main() -> None:
    """Console entry point; Hydra's composition errors are reported on one line."""
    argv = sys.argv[1:]
    if "--help" in argv or "-h" in argv:
        _help(argv)
        return
    problem = precheck(argv)
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGTERM, _on_sigterm)
    multirun = "-m" in argv or "--multirun" in argv
    buffer = _io.StringIO()
    sys.stderr = buffer
    from sim.config import cache

    try:
        from sim.app import hydra_app
        from sim.engine.executors import allow_auto_processes

        allow_auto_processes()  # workers re-import pml-sim's own main module: safe
        cache.install()  # after hydra_app's own loader hooks: a cache hit skips them all
        if "--cfg" in argv or "-c" in argv:
            _validate_cfg_request(argv)
        hydra_app.app()
    except SystemExit as e:
        sys.stderr = _real_stderr
        captured = buffer.getvalue()
        if e.code not in (0, None) and captured and "pml-sim: " not in captured:
            print(one_line(captured, _user_dirs(argv)), file=sys.stderr)
            sys.exit(2)
        if captured:
            sys.stderr.write(captured)
        raise
    except KeyboardInterrupt as e:
        sys.stderr = _real_stderr
        what = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(f"pml-sim: {what}; partial outputs removed", file=sys.stderr)
        sys.exit(143 if isinstance(e, Terminated) else 130)
    finally:
        cache.uninstall()
        if sys.stderr is buffer:
            sys.stderr = _real_stderr
            if buffer.getvalue():
                sys.stderr.write(buffer.getvalue())
    if multirun and hydra_app.FAILED:
        n = len(hydra_app.FAILED)
        print(
            f"pml-sim: {n} job(s) of the sweep failed: {', '.join(hydra_app.FAILED)}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
