"""Mutation score per module (mutmut 3): how many deliberate small bugs the tests catch.

    pip install -e '.[mutation]'
    python experiments/mutation_score.py                  # every module below (~1 h on 2 cores)
    python experiments/mutation_score.py sim/model/schedule.py
    python experiments/mutation_score.py --write-docs     # update the table in docs/testing.md
    nice -n 19 python experiments/mutation_score.py --max-children 1 sim/model/rules.py

Survivors go to docs/mutation/<module>.txt, one block each: the mutant's name and status,
its diff (changed lines only), then one classification line kept across runs:
``KILLED-BY: <test>`` (a test added for it; then it no longer survives),
``EQUIVALENT: <reason>`` (same result for every valid input) or ``OPEN: <why>``.
The table counts equivalents separately and also gives the score without them.

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
    # fast unit tests first: mutation_recheck.py runs the files in this order with -x
    "sim/model/schedule.py": [
        "tests/test_schedule_unit.py",
        "tests/test_rules_unit.py",
        "tests/test_rules.py",
        "tests/test_engine.py",
        "tests/test_timestep.py",
    ],
    "sim/model/strategies.py": [
        "tests/test_rules.py",
        "tests/test_rules_unit.py",
        "tests/test_engine.py",
    ],
    "sim/model/rules.py": ["tests/test_rules.py", "tests/test_rules_unit.py"],
    "sim/model/therapies.py": [
        "tests/test_therapies_unit.py",
        "tests/test_rules_unit.py",
        "tests/test_dynamics.py",
        "tests/test_mechanisms.py",
        "tests/test_timestep.py",
    ],
    "sim/model/dynamics.py": [
        "tests/test_dynamics_unit.py",
        "tests/test_dynamics.py",
        "tests/test_mechanisms.py",
    ],
    # lever combination (moved out of dynamics.py on 2026-12-05)
    "sim/model/levers.py": ["tests/test_dynamics_unit.py", "tests/test_rng_names.py"],
    # issue 17, 2026-12: the modules measured last
    "sim/model/events.py": ["tests/test_events.py"],
    "sim/model/timegrid.py": ["tests/test_timegrid_unit.py", "tests/test_timestep.py"],
    "sim/model/course.py": ["tests/test_course_unit.py"],
    "sim/model/cohort.py": [
        "tests/test_cohort_unit.py",
        "tests/test_rng_cohort.py",
        "tests/test_age_sex.py",
        "tests/test_growth_structure.py",
    ],
    "sim/outcomes/survival.py": ["tests/test_survival.py", "tests/test_survival_edges.py"],
    "sim/economics/decision.py": ["tests/test_economics.py", "tests/test_decision.py"],
    "sim/economics/voi.py": ["tests/test_economics.py", "tests/test_voi.py"],
    "sim/trial/boundaries.py": [
        "tests/test_trial_boundaries.py",
        "tests/test_trial_exact.py",
        "tests/test_trial_boundaries_unit.py",
    ],
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


_DIFFS = """
import sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
for name in sys.argv[1:]:
    lines = get_diff_for_mutant(name, path=find_mutant(name).path).splitlines()
    changed = [l for l in lines if l[:1] in "+-" and l[:3] not in ("+++", "---")]
    print(name + "\\t" + "\\x1f".join(changed))
"""


def score(module: str, tests: list[str], max_children: int = 2) -> dict:
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
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
            cwd=work, capture_output=True, text=True,
        )  # fmt: skip
        if run.returncode not in (0, 1):
            raise RuntimeError(f"mutmut failed on {module}:\n{run.stderr[-3000:]}")
        subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work,
                       capture_output=True, check=True)  # fmt: skip
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        checked = sum(stats[k] for k in ("killed", "timeout", "survived", "no_tests"))
        if stats["total"] and not checked:
            # e.g. "Failed to run clean test": mutmut exits 1 and reports no mutant
            raise RuntimeError(f"mutmut checked no mutant of {module}:\n{run.stdout[-3000:]}")
        results = subprocess.run([sys.executable, "-m", "mutmut", "results"], cwd=work,
                                 capture_output=True, text=True).stdout  # fmt: skip
        survivors = re.findall(r"^\s*(\S+): (survived|no tests)", results, re.M)
        diffs = {}
        if survivors:
            out = subprocess.run(
                [sys.executable, "-c", _DIFFS, *(n for n, _ in survivors)],
                cwd=work, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            for line in out.splitlines():
                name, _, changed = line.partition("\t")
                diffs[name] = changed.split("\x1f") if changed else []
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
        "survivors": [(name, kind, diffs.get(name, [])) for name, kind in survivors],
    }


_CLASSES = ("KILLED-BY:", "EQUIVALENT:", "OPEN:")


def read_classes(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Mutant name -> (its classification line, its whole block), from a survivors file."""
    classes: dict[str, tuple[str, list[str]]] = {}
    blocks: dict[str, list[str]] = {}
    name = None
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                name = None
            elif line and not line[0].isspace():
                name = line.split()[0]
                blocks[name] = [line]
            elif name and line.strip():
                blocks[name].append(line)
                if line.strip().startswith(_CLASSES):
                    classes[name] = (line.strip(), blocks[name])
            else:
                name = None
    return classes


def write_survivors(path: Path, r: dict) -> dict[str, int]:
    """Write the survivors file, keeping earlier classifications; returns counts per class.

    Mutants classified KILLED-BY that no longer survive are kept in a section of their own,
    so the file records what each new test was written for."""
    old = read_classes(path)
    now = {name for name, _, _ in r["survivors"]}
    counts = {"equivalent": 0, "open": 0, "killed_by_new_test": 0}
    out = [
        f"# {r['module']}: surviving mutants (experiments/mutation_score.py)",
        "# each: name (status) / changed lines (- original, + mutant) / classification",
        "",
    ]
    for name, kind, changed in r["survivors"]:
        cls = old.get(name, ("OPEN: not yet classified", []))[0]
        if cls.startswith("KILLED-BY:"):
            cls = "OPEN: listed as killed by a test but survived again: " + cls
        counts["equivalent" if cls.startswith("EQUIVALENT:") else "open"] += 1
        out += [
            f"{name} ({kind})",
            *(f"    {c.strip()[:1]} {c[1:].strip()}" for c in changed),
            f"    {cls}",
            "",
        ]
    gone = [b for n, (c, b) in old.items() if n not in now and c.startswith("KILLED-BY:")]
    if gone:
        out += ["# killed by tests added for issue 17 (no longer survive)", ""]
        for block in gone:
            out += [*block, ""]
    counts["killed_by_new_test"] = len(gone)
    path.write_text("\n".join(out))
    return counts


def table(rows: list[dict]) -> str:
    lines = [
        "| module | mutants | killed | timed out | survived | not reached | equivalent | open "
        "| score | score excl. equivalents | tests |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.get("classes", {"equivalent": 0, "open": r["survived"] + r["no_tests"]})
        killed = r["killed"] + r["timeout"]
        net = r["total"] - c["equivalent"]
        lines.append(
            f"| `{r['module']}` | {r['total']} | {r['killed']} | {r['timeout']} | "
            f"{r['survived']} | {r['no_tests']} | {c['equivalent']} | {c['open']} | "
            f"{100 * r['score']:.0f}% | {100 * killed / net if net else float('nan'):.0f}% | "
            f"{', '.join(Path(t).name for t in r['tests'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="modules to score (default: all listed)")
    ap.add_argument("--write-docs", action="store_true", help="update docs/testing.md")
    ap.add_argument("--max-children", type=int, default=2, help="mutmut workers (default 2)")
    args = ap.parse_args()
    chosen = args.modules or list(MODULES)
    rows = []
    for m in chosen:
        r = score(m, MODULES.get(m, []), args.max_children)
        print(f"{m}: {100 * r['score']:.0f}% of {r['total']} ({r['seconds']} s)", flush=True)
        rows.append(r)
        SURVIVORS.mkdir(parents=True, exist_ok=True)
        out = SURVIVORS / (m.replace("/", ".").removesuffix(".py") + ".txt")
        r["classes"] = write_survivors(out, r)
        print(json.dumps({k: v for k, v in r.items() if k != "survivors"}), flush=True)
    print(table(rows))
    if args.write_docs:
        text = DOCS.read_text()
        new = f"{BEGIN}\n{table(rows)}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), new, text, flags=re.S)
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
