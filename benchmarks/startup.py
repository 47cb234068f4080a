"""Start-up time of `pml-sim`: from process start to the first call of the engine.

    python benchmarks/startup.py                 # default run, 5 repeats, min / median
    python benchmarks/startup.py --repeats 9 strategy=il7 output.plots=false

Each repeat starts a fresh `python -m sim ARGS` whose `sim.engine.run.simulate_chunk`
is wrapped (by an import hook, so no import happens earlier than it would) to print the
wall-clock time at its first call and exit: everything before that line (interpreter,
imports, Hydra composition, validation, run folder) is start-up. The clock starts in
the parent just before the child is spawned. `pml-sim --help` is timed whole.
Timings on a shared machine are noisy: report the minimum of several repeats.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time

PROBE = r"""
import importlib.abc, importlib.util, os, sys, time

T0 = float(os.environ["PML_STARTUP_T0"])


class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "sim.engine.run":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)

            def first_chunk(*args, **kwargs):
                wall, cpu = time.time() - T0, time.process_time()
                sys.__stdout__.write(f"PML_STARTUP {wall:.4f} {cpu:.4f}\n")
                sys.__stdout__.flush()
                os._exit(0)

            module.simulate_chunk = first_chunk

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Probe())
sys.argv = ["pml-sim", *sys.argv[1:]]
from sim.app.cli import main

main()
"""


@functools.cache
def precompile() -> None:
    """Byte-compile pml-sim's modules once, as installing a package does. Where
    PYTHONDONTWRITEBYTECODE is set (this project's sandbox sets it) Python writes no
    .pyc, so every start would compile again each module edited since its last .pyc
    (0.1-0.2 s after a day's edits), which no installed copy pays."""
    import compileall
    from pathlib import Path

    import sim

    compileall.compile_dir(Path(sim.__file__).parent, quiet=1)


def to_engine(args: list[str], cwd: str | None = None, cpu: bool = False) -> float:
    """Seconds from spawning `pml-sim ARGS` to its first engine call (one fresh process);
    `cpu`: the child's CPU seconds by then instead (less sensitive to other load)."""
    precompile()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, PML_STARTUP_T0=repr(time.time()))
        out = subprocess.run(
            [sys.executable, "-c", PROBE, *args, f"hydra.run.dir={d}/run"],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd or d,
        )
    for line in out.stdout.splitlines():
        if line.startswith("PML_STARTUP "):
            return float(line.split()[1 + cpu])
    raise RuntimeError(f"the engine was never called:\n{out.stdout}\n{out.stderr}")


def help_seconds() -> float:
    """Wall seconds of a whole `pml-sim --help` (one fresh process)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, check=True)
    return time.perf_counter() - t


def repeat(fn, n: int) -> list[float]:
    return [fn() for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("overrides", nargs="*", help="pml-sim arguments (default run if none)")
    a = ap.parse_args()
    rows = {
        "pml-sim --help": repeat(help_seconds, a.repeats),
        f"pml-sim {' '.join(a.overrides)}".strip() + " -> engine": repeat(
            lambda: to_engine(a.overrides), a.repeats
        ),
    }
    for name, xs in rows.items():
        print(
            f"{name:<40} min {min(xs):.3f} s  median {statistics.median(xs):.3f} s  "
            f"({len(xs)} runs)"
        )


if __name__ == "__main__":
    main()
