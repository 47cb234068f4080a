"""Speed of pml-sim against a toy model, figure by figure (issue 13).

    python benchmarks/speed.py                    # every figure (PSA in full: minutes)
    python benchmarks/speed.py --quick            # small sizes, PSA extrapolated: a smoke run
    python benchmarks/speed.py --million          # + 1,000,000 patients' peak RSS (slow)
    python benchmarks/speed.py --json speed.json  # the table as JSON too

Prints one row per figure: figure, ours, toy, ratio (= ours / toy), goal. The toy
(benchmarks/toy.py, ~30 lines of numpy) is run in this process next to each
measurement, so a busy machine slows both: the ratio is steadier than either number.
Its reference for a figure is the same work at the toy's one-core speed measured at
the engine rows' cohort size (PSA: two cores, so twice that speed; start-up: a
Python that imports numpy and the toy; memory: the toy's own peak RSS at 1,000,000
patients). For patient-years/s higher is better; for seconds and MB lower is better.
Patient-years are nominal: patients x strategies x horizon / 365 days.

Timings on a shared machine are noisy: each timed figure is the best of `--repeats`
runs (`--median`: their median; every run's value is in the JSON), and the load
average before and after, and at each figure, is recorded. No test asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import startup  # noqa: E402
import toy  # noqa: E402

YEAR = 365.0
PSA_GOAL_DRAWS = 1000


@dataclass
class Row:
    """One figure: ours and the toy's reference in `unit`, and the goal in words."""

    figure: str
    unit: str
    ours: float
    toy: float
    goal: str
    note: str = ""
    samples: list[float] = field(default_factory=list)  # every run of `ours`
    load: float | None = None  # 1-minute load average when the figure was taken

    @property
    def ratio(self) -> float:
        return self.ours / self.toy

    def as_dict(self) -> dict:
        return asdict(self) | {"ratio": self.ratio}


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does (the issue's sizes, or --quick's)."""

    engine_n: int = 50_000
    cli_n: int = 100_000
    psa_draws: tuple[int, ...] = (PSA_GOAL_DRAWS,)  # two values: extrapolate linearly
    psa_patients: int = 1000
    psa_overrides: tuple[str, ...] = ()
    calibration_n: int = 2000
    calibration_evals: int = 5
    repeats: int = 3
    startup_repeats: int = 5


QUICK = Sizes(
    engine_n=2000,
    cli_n=2000,
    psa_draws=(1, 4),
    psa_patients=100,
    psa_overrides=(
        "cohort.n=200",
        "economics.dsa.params=[]",
        "economics.psa.evppi=false",
        "output.plots=false",
    ),
    calibration_n=200,
    calibration_evals=1,
    repeats=1,
    startup_repeats=1,
)


SAMPLES: list[float] = []  # the runs of the last `best` call
MEDIAN = False  # set by --median: `best` returns the median of the runs


def best(fn: Callable[[], float], repeats: int, smallest: bool = True) -> float:
    """The best of `repeats` runs (the smallest, or the largest for a speed); with
    --median the median. The runs are left in SAMPLES."""
    xs = [fn() for _ in range(repeats)]
    SAMPLES[:] = xs
    if MEDIAN:
        return statistics.median(xs)
    return min(xs) if smallest else max(xs)


def _runs() -> list[float]:
    return list(SAMPLES)


def _load() -> float:
    return os.getloadavg()[0]


def toy_speed(n: int, repeats: int) -> float:
    """The toy's patient-years/s at n patients x 1 year, one core (best of repeats)."""
    return best(lambda: toy.patient_years_per_s(n), repeats, smallest=False)


CPU: list[float] = []  # CPU seconds (user + system) of each `_pml_sim` run, in order


def _pml_sim(args: list[str], run_dir: str) -> float:
    """Wall seconds of one `python -m sim ARGS` (quiet, into run_dir); raises on failure.
    Its CPU seconds (user + system, all threads) are appended to CPU."""
    quiet = ["output.progress=false", "output.print_summary=false", f"hydra.run.dir={run_dir}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "sim", *args, *quiet], capture_output=True)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if out.returncode:
        raise RuntimeError(f"pml-sim {' '.join(args)} failed:\n{out.stderr.decode()[-2000:]}")
    return seconds


# ----------------------------------------------------------------------------- figures


def engine_rows(sizes: Sizes, strategies: tuple[str, ...] = ("soc", "il7", "pd1")) -> list[Row]:
    """sim.engine.run.chunks in this process (executor=inprocess), one strategy at a time."""
    from sim.api import load_config
    from sim.engine.run import chunks

    def overrides(strategy: str, n: int) -> list[str]:
        return [f"strategy={strategy}", f"cohort.n={n}", "horizon_days=365"] + [
            "executor=inprocess",
            "output.progress=false",
        ]

    sum(1 for _ in chunks(load_config(overrides("il7", 500))))  # warm-up: imports, caches
    rows = []
    for s in strategies:
        cfg = load_config(overrides(s, sizes.engine_n))

        seeds = itertools.count(1)

        def once(cfg=cfg, seeds=seeds) -> float:
            # new patients every repeat: nothing remembered from the last one (the
            # cohort's beta draws are memoised for runs that redraw the same patients)
            cfg.seed = next(seeds)
            t = time.perf_counter()
            n = sum(len(c.patients) for c in chunks(cfg))
            return n * cfg.horizon_days / YEAR / (time.perf_counter() - t)

        ours = best(once, sizes.repeats, smallest=False)
        ref = toy_speed(sizes.engine_n, sizes.repeats)
        rows.append(
            Row(
                f"engine in process, {s}: {sizes.engine_n:,} x 1 y",
                "patient-years/s",
                ours,
                ref,
                "ratio >= 1.0",
            )
        )
    return rows


def cli_row(sizes: Sizes) -> Row:
    """The whole `pml-sim strategy=il7 cohort.n=N output.plots=false` run, start to end."""
    n = sizes.cli_n
    # uncertainty=none: the single-set run issue 13 timed (the default adds the nested
    # posterior simulation, timed in README.md)
    args = ["strategy=il7", f"cohort.n={n}", "horizon_days=365", "output.plots=false"]
    args.append("uncertainty=none")
    load = _load()
    CPU.clear()
    with tempfile.TemporaryDirectory() as d:
        seconds = best(lambda: _pml_sim(args, f"{d}/run{time.monotonic_ns()}"), sizes.repeats)
    runs = _runs()
    cpu = statistics.median(CPU)
    return Row(
        f"CLI run il7, plots off: {n:,} x 1 y",
        "patient-years/s",
        n / seconds,
        toy_speed(sizes.engine_n, sizes.repeats),
        "ratio >= 0.5",
        f"{seconds:.1f} s wall (runs {', '.join(f'{x:.1f}' for x in runs)} s; "
        f"median CPU {cpu:.1f} s)",
        samples=[n / x for x in runs],
        load=load,
    )


def first_chunk_row(sizes: Sizes) -> Row:
    """Start-up of the CLI run above (same arguments): seconds from spawning the
    process to its first call of the engine (benchmarks/startup.py's probe)."""
    args = ["strategy=il7", f"cohort.n={sizes.cli_n}", "horizon_days=365", "output.plots=false"]
    args += ["output.progress=false", "output.print_summary=false"]
    r = sizes.startup_repeats
    load = _load()
    floor = best(_toy_startup, r)
    cpu = best(lambda: startup.to_engine(args, cpu=True), r)
    cpus = _runs()
    wall = best(lambda: startup.to_engine(args), r)
    return Row(
        f"pml-sim il7 {sizes.cli_n:,} x 1 y: process start -> first chunk",
        "s",
        wall,
        floor,
        "ours < 1 s",
        f"runs {', '.join(f'{x:.2f}' for x in _runs())} s; CPU seconds of the same: {cpu:.2f} "
        f"(runs {', '.join(f'{x:.2f}' for x in cpus)})",
        samples=_runs(),
        load=load,
    )


def psa_row(sizes: Sizes, workers: int = 2) -> Row:
    """`pml-sim +experiment=psa` on `workers` local processes: wall seconds for 1,000
    draws x `psa_patients` x 4 strategies (extrapolated linearly from two smaller runs
    when `sizes.psa_draws` has two draw counts)."""
    n = sizes.psa_patients
    base = ["+experiment=psa", f"executor.workers={workers}", f"economics.psa.n_patients={n}"]
    times = {}
    with tempfile.TemporaryDirectory() as d:
        for draws in sizes.psa_draws:
            args = [*base, *sizes.psa_overrides, f"economics.psa.draws={draws}"]
            times[draws] = _pml_sim(args, f"{d}/psa{draws}")
    extra = " ".join(sizes.psa_overrides)
    if len(times) == 1:
        ((draws, seconds),) = times.items()
        note = f"{draws} draws measured {extra}".strip()
    else:
        (d1, t1), (d2, t2) = sorted(times.items())
        per_draw = (t2 - t1) / (d2 - d1)
        how = "linear"
        if per_draw <= 0:  # noise swamped the difference: charge all of t2 to its draws
            per_draw, how = t2 / d2, "upper bound (noisy: t2 / d2 per draw)"
        seconds = t2 + per_draw * (PSA_GOAL_DRAWS - d2)
        note = (
            f"EXTRAPOLATED ({how}) from {d1} and {d2} draws ({t1:.1f}, {t2:.1f} s; "
            f"{per_draw:.2f} s/draw) {extra}"
        ).strip()
        draws = PSA_GOAL_DRAWS
    patient_years = draws * n * 4 * 1.0
    ref = toy_speed(sizes.engine_n, sizes.repeats) * workers
    return Row(
        f"PSA +experiment=psa {draws:,} x {n:,} x 4 on {workers} cores",
        "s",
        seconds,
        patient_years / ref,
        "ours < 60 s (1,000 x 1,000)",
        note,
    )


def calibration_row(sizes: Sizes) -> Row:
    """Seconds per calibration objective evaluation (every fit population simulated)."""
    from sim.api import load_config
    from sim.evidence.calibrate import fit_targets
    from sim.evidence.targets import Evaluator

    cfg = load_config(["+experiment=calibrate", "output.progress=false"])
    ev = Evaluator(cfg, fit_targets(cfg), sizes.calibration_n)
    ev.evaluate()  # warm-up
    rate = cfg.model.damage_rate_per_day
    i = iter(range(10**6))

    def once() -> float:
        t = time.perf_counter()
        ev.evaluate({"model.damage_rate_per_day": rate * (1 + 0.01 * next(i))})
        return time.perf_counter() - t

    seconds = best(once, sizes.calibration_evals)
    patient_years = sum(
        c.cohort.n * len(c.strategy) * c.horizon_days / YEAR for c in ev.scenarios.values()
    )
    pops = len(ev.scenarios)
    return Row(
        f"calibration objective: {pops} x {sizes.calibration_n:,} patients",
        "s",
        seconds,
        patient_years / toy_speed(sizes.engine_n, sizes.repeats),
        "ours < 0.079 s (0.79 / 10)",
    )


def _peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS (MB) of `cmd`, run as the only child of a fresh wrapper process."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stderr.write(r.stderr.decode()[-2000:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 "
        "else -1)\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True)
    kb = float(out.stdout.strip() or -1)
    if kb < 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return kb / 1024


def million_row(n: int = 1_000_000) -> Row:
    """Peak RSS of `pml-sim cohort.n=1000000 strategy=il7` (default outputs)."""
    with tempfile.TemporaryDirectory() as d:
        args = ["strategy=il7", f"cohort.n={n}", "output.progress=false", "uncertainty=none"]
        ours = _peak_rss_mb(
            [sys.executable, "-m", "sim", *args, "output.print_summary=false", f"hydra.run.dir={d}"]
        )
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import toy; toy.simulate({n})"
    return Row(
        f"peak RSS, {n:,} patients il7 (CLI)",
        "MB",
        ours,
        _peak_rss_mb([sys.executable, "-c", code]),
        "ours < 2,048 MB",
    )


def _toy_startup() -> float:
    """Seconds to spawn a Python that imports numpy and the toy (a start-up floor)."""
    t = time.perf_counter()
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import numpy, toy"
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def startup_rows(sizes: Sizes) -> list[Row]:
    """`pml-sim` (default run): process start -> first engine call; `pml-sim --help`."""
    r = sizes.startup_repeats
    load = _load()
    floor = best(_toy_startup, r)
    cpu = best(lambda: startup.to_engine([], cpu=True), r)
    cpus = _runs()
    wall = best(lambda: startup.to_engine([]), r)
    walls = _runs()
    helps = best(startup.help_seconds, r)
    return [
        Row(
            "start-up, default run: process start -> engine",
            "s",
            wall,
            floor,
            "ours < 1 s",
            f"runs {', '.join(f'{x:.2f}' for x in walls)} s; CPU seconds of the same: "
            f"{cpu:.2f} (runs {', '.join(f'{x:.2f}' for x in cpus)})",
            samples=walls,
            load=load,
        ),
        Row(
            "pml-sim --help",
            "s",
            helps,
            floor,
            "ours < 1 s",
            f"runs {', '.join(f'{x:.2f}' for x in _runs())} s",
            samples=_runs(),
            load=load,
        ),
    ]


# ----------------------------------------------------------------------------- table


def format_table(rows: list[Row]) -> str:
    def num(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"

    head = ("figure", "ours", "toy", "ratio", "goal")
    body = [
        (f"{r.figure} ({r.unit})", num(r.ours), num(r.toy), f"{r.ratio:.3g}", r.goal) for r in rows
    ]
    w = [max(len(x[i]) for x in [head, *body]) for i in range(5)]
    fmt = f"{{:<{w[0]}}}  {{:>{w[1]}}}  {{:>{w[2]}}}  {{:>{w[3]}}}  {{:<{w[4]}}}"
    lines = [fmt.format(*head), fmt.format(*("-" * x for x in w))]
    lines += [fmt.format(*b) for b in body]
    lines += [f"  {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run(sizes: Sizes, million: bool = False, only: set[str] | None = None) -> dict:
    """Every figure (or those named in `only`); returns the JSON-ready report."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    figures: dict[str, Callable[[], list[Row]]] = {
        "startup": lambda: startup_rows(sizes),
        "engine": lambda: engine_rows(sizes),
        "cli": lambda: [first_chunk_row(sizes), cli_row(sizes)],
        "calibration": lambda: [calibration_row(sizes)],
        "psa": lambda: [psa_row(sizes)],
    }
    if million:
        figures["million"] = lambda: [million_row()]
    rows = []
    for name, fn in figures.items():
        if only and name not in only:
            continue
        for r in fn():  # as each figure is done (a full run takes minutes)
            print(f"  {r.figure}: ours {r.ours:.4g}, toy {r.toy:.4g} {r.unit}", file=sys.stderr)
            rows.append(r)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "quick": sizes == QUICK,
        "statistic": "median" if MEDIAN else "best",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "seconds": time.perf_counter() - started,
        "peak_rss_mb_harness": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": [r.as_dict() for r in rows],
        "_rows": rows,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, PSA extrapolated")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 patients' peak RSS")
    ap.add_argument("--json", type=Path, help="write the table here as JSON")
    ap.add_argument("--repeats", type=int, help="best of this many runs per timed figure")
    ap.add_argument("--median", action="store_true", help="the median of the runs, not the best")
    ap.add_argument(
        "--psa-draws",
        type=int,
        nargs="+",
        help="PSA draw counts to run (two: extrapolate to 1,000); default 1000 (--quick: 2 4)",
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=["startup", "engine", "cli", "calibration", "psa", "million"],
        help="just these figures",
    )
    a = ap.parse_args(argv)
    sizes = QUICK if a.quick else Sizes()
    if a.repeats:
        sizes = Sizes(**(asdict(sizes) | {"repeats": a.repeats, "startup_repeats": a.repeats}))
    if a.psa_draws:
        sizes = Sizes(**(asdict(sizes) | {"psa_draws": tuple(a.psa_draws)}))
    global MEDIAN
    MEDIAN = a.median
    only = set(a.only) if a.only else None
    report = run(sizes, a.million or bool(only and "million" in only), only)
    rows = report.pop("_rows")
    load = ", ".join(f"{x:.1f}" for x in report["load_average_before"])
    print(
        f"pml-sim speed vs toy ({'QUICK, indicative only' if report['quick'] else 'full'}"
        f"{', median of runs' if MEDIAN else ', best of runs'}; "
        f"commit {report['commit']}, {report['date']}, {report['cpus']} CPUs, "
        f"load average before {load})"
    )
    print(format_table(rows))
    if a.json:
        bad = [r["figure"] for r in report["rows"] if not math.isfinite(r["ratio"])]
        report["non_finite"] = bad
        a.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":  # worker processes are spawned: guard the entry point
    main()
