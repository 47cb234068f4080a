"""Mutation score per module (mutmut 3): how many deliberate small bugs the tests catch.

    pip install -e '.[mutation]'
    python experiments/mutation_score.py                  # every module below (~1 h on 2 cores)
    python experiments/mutation_score.py sim/model/schedule.py
    python experiments/mutation_score.py --write-docs     # update the table in docs/testing.md

Each module is mutated in a fresh copy of the tracked tree (the work tree is never
touched) and only the test files listed for it are run, so a run takes minutes, not
hours. Score = (killed + timed out) / all mutants; a mutant no listed test reaches
counts as surviving. Survivors are listed in docs/mutation/<module>.txt, to be killed by
a new test or explained as equivalent in docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "testing.md"
SURVIVORS = ROOT / "docs" / "mutation"
# module -> the test files that exercise it (the fast ones; CLI tests run in subprocesses,
# which never see mutmut's mutants)
MODULES: dict[str, list[str]] = {
    "sim/model/schedule.py": ["tests/test_rules.py", "tests/test_engine.py"],
    "sim/model/strategies.py": ["tests/test_rules.py", "tests/test_engine.py"],
    "sim/model/rules.py": ["tests/test_rules.py"],
    "sim/model/therapies.py": ["tests/test_dynamics.py", "tests/test_mechanisms.py"],
    "sim/model/dynamics.py": ["tests/test_dynamics.py", "tests/test_mechanisms.py"],
    "sim/outcomes/survival.py": ["tests/test_survival.py"],
    "sim/economics/decision.py": ["tests/test_economics.py"],
    "sim/economics/voi.py": ["tests/test_economics.py"],
    "sim/trial/boundaries.py": ["tests/test_trial_boundaries.py"],
}
BEGIN, END = "<!-- mutation-table:begin -->", "<!-- mutation-table:end -->"


def _copy_tree(dest: Path) -> None:
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def score(module: str, tests: list[str]) -> dict:
    """Run mutmut on one module; returns its counts, score and surviving mutant names."""
    tests = [t for t in tests if (ROOT / t).is_file()]
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        cfg = (
            "\n[tool.mutmut]\n"
            'source_paths = ["sim"]\n'
            f"only_mutate = [{json.dumps(module)}]\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            'also_copy = ["conf", "experiments", "examples"]\n'
        )
        with (work / "pyproject.toml").open("a") as f:
            f.write(cfg)
        started = time.time()
        run = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "2"],
                             cwd=work, capture_output=True, text=True)  # fmt: skip
        if run.returncode not in (0, 1):
            raise RuntimeError(f"mutmut failed on {module}:\n{run.stderr[-3000:]}")
        subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work,
                       capture_output=True, check=True)  # fmt: skip
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        results = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work,
                                 capture_output=True, text=True).stdout  # fmt: skip
    survivors = re.findall(r"^\s*(\S+): (survived|no tests)", results, re.M)
    killed = stats["killed"] + stats["timeout"]
    return {
        "module": module,
        "tests": tests,
        "total": stats["total"],
        "killed": stats["killed"],
        "timeout": stats["timeout"],
        "survived": stats["survived"],
        "no_tests": stats["no_tests"],
        "score": killed / stats["total"] if stats["total"] else float("nan"),
        "seconds": round(time.time() - started),
        "survivors": [f"{name} ({kind})" for name, kind in survivors],
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| module | mutants | killed | timed out | survived | not reached | score | tests |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['module']}` | {r['total']} | {r['killed']} | {r['timeout']} | "
            f"{r['survived']} | {r['no_tests']} | {100 * r['score']:.0f}% | "
            f"{', '.join(Path(t).name for t in r['tests'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="modules to score (default: all listed)")
    ap.add_argument("--write-docs", action="store_true", help="update docs/testing.md")
    args = ap.parse_args()
    chosen = args.modules or list(MODULES)
    rows = []
    for m in chosen:
        r = score(m, MODULES.get(m, []))
        print(f"{m}: {100 * r['score']:.0f}% of {r['total']} ({r['seconds']} s)", flush=True)
        rows.append(r)
        SURVIVORS.mkdir(parents=True, exist_ok=True)
        out = SURVIVORS / (m.replace("/", ".").removesuffix(".py") + ".txt")
        out.write_text("\n".join(r["survivors"]) + "\n")
    print(table(rows))
    if args.write_docs:
        text = DOCS.read_text()
        new = f"{BEGIN}\n{table(rows)}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), new, text, flags=re.S)
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
