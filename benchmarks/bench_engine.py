"""Engine benchmark: patients per second and peak memory.

    python benchmarks/bench_engine.py              # 100k patients x 1 year, batch engine
    python benchmarks/bench_engine.py --million    # + 1,000,000 patients through the CLI
    python benchmarks/bench_engine.py --n 20000 --reference 100

Targets (issue 2): 100,000 patients x 1 year under one strategy in <= 10 s;
1,000,000 patients with peak memory < 2 GB (results streamed to disk).
Each measurement runs in a fresh subprocess so peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
from sim.api import load_config
from sim.engine.run import chunks
overrides = json.loads(sys.argv[1])
cfg = load_config(overrides + ["output.progress=false"])
t = time.perf_counter(); n = 0
for c in chunks(cfg):
    n += len(c.patients)
wall = time.perf_counter() - t
print(json.dumps({"patients": n, "seconds": wall,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def in_process(overrides: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(overrides)], capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["patients_per_s"] = r["patients"] / r["seconds"]
    return r


def cli_million(strategy: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "sim",
                "cohort.n=1000000",
                f"strategy={strategy}",
                "output.progress=false",
                "output.print_summary=false",
                f"hydra.run.dir={d}/run",
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t
        if out.returncode:
            raise SystemExit(out.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        size = sum(
            p.stat().st_size for p in __import__("pathlib").Path(d, "run").iterdir() if p.is_file()
        )
    return {
        "patients": 1_000_000,
        "seconds": wall,
        "peak_rss_mb": peak,
        "patients_per_s": 1e6 / wall,
        "output_mb": size / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--strategy", default="il7")
    ap.add_argument("--cohort", default="mixed_seed000")
    ap.add_argument("--reference", type=int, default=0, help="also time the reference engine")
    ap.add_argument("--million", action="store_true")
    a = ap.parse_args()
    base = [f"cohort={a.cohort}", f"strategy={a.strategy}", "horizon_days=365"]
    rows = {"batch": in_process([*base, f"cohort.n={a.n}"])}
    if a.reference:
        rows["reference"] = in_process([*base, f"cohort.n={a.reference}", "engine.kind=reference"])
    if a.million:
        rows["cli_1M"] = cli_million(a.strategy)
    print(f"{'run':<10} {'patients':>9} {'seconds':>8} {'patients/s':>11} {'peak RSS MB':>12}")
    for name, r in rows.items():
        print(
            f"{name:<10} {r['patients']:>9} {r['seconds']:>8.2f} {r['patients_per_s']:>11.0f} "
            f"{r['peak_rss_mb']:>12.0f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
