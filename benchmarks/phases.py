"""Where one `pml-sim` run spends its time: wall and CPU clock at each stage.

    python benchmarks/phases.py strategy=il7 cohort.n=100000 output.plots=false

Runs `pml-sim ARGS` in this process with an import hook that stamps the wall clock
(from process start, taken from the parent shell if PML_T0 is set, else from this
script's start) and this process's CPU seconds (all threads) when each listed module
starts and ends importing and when each listed function is entered and left, then
prints the stamps in order with the wall-clock step since the previous one. Nothing
is imported earlier than pml-sim would import it. For a profile by function use
cProfile (`python -m cProfile -o run.prof -m sim ARGS`); this is the coarse map.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import sys
import time

T0 = float(os.environ.get("PML_T0", time.time()))
LOG: list[tuple[float, float, str]] = []

WRAP = {  # module -> functions stamped on entry and exit
    "sim.app.errors": ["precheck"],
    "sim.app.hydra_app": ["app", "resolved_yaml"],
    "sim.config.load": ["to_object"],
    "sim.app.validate": ["validate"],
    "sim.engine.run": ["simulate_chunk"],
    "sim.core.io": ["provenance", "write_csv", "write_json"],
    "sim.app.report": ["write_report"],
    "sim.outcomes.summary": ["summarise"],
    "sim.app.tasks.simulate": ["run"],
    "sim.app.tasks.finish": ["finish"],
    "hydra.core.utils": ["_save_config", "run_job"],
    "pandas": [],
    "numba": [],
    "scipy.special": [],
    "pyarrow": [],
}


def mark(what: str) -> None:
    LOG.append((time.time() - T0, time.process_time(), what))


def _wrap(module, name: str) -> None:
    f = getattr(module, name)

    @functools.wraps(f)
    def stamped(*args, **kwargs):
        mark(f"> {module.__name__}.{name}")
        try:
            return f(*args, **kwargs)
        finally:
            mark(f"< {module.__name__}.{name}")

    setattr(module, name, stamped)


class Stamps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in WRAP:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            mark(f"import {name} ...")
            run(module)
            mark(f"import {name} done")
            for fn in WRAP[name]:
                _wrap(module, fn)

        spec.loader.exec_module = exec_module
        return spec


def main() -> None:
    sys.meta_path.insert(0, Stamps())
    sys.argv = ["pml-sim", *sys.argv[1:]]
    mark("script start")
    from sim.app.cli import main as cli

    try:
        cli()
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    mark("end")
    prev = 0.0
    for wall, cpu, what in LOG:
        print(f"{wall:8.3f} s (+{wall - prev:6.3f})  CPU {cpu:6.3f} s  {what}")
        prev = wall


if __name__ == "__main__":
    main()
