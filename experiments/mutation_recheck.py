"""Re-run the mutants listed in docs/mutation/<module>.txt, one by one, against the
module's test files: a quick check after adding tests, without mutmut's full run.

    nice -n 19 python experiments/mutation_recheck.py sim/model/rules.py [tests/...]
    nice -n 19 python experiments/mutation_recheck.py --all sim/model/therapies.py tests/...
    python experiments/mutation_recheck.py --all --only record,doses sim/model/schedule.py

With --all, every mutant of the module is run (not only the listed survivors), and each
survivor's changed lines are printed: a whole re-measurement with fast test files, which
need not wait for mutmut's tracing pass. `--only f,g` restricts --all to the mutants of
the functions (or methods) named, so a long module can be measured in parts, and
`--done LOG` skips the mutants an earlier (interrupted) run's output LOG reports.
`--since REV` (with --all) keeps only the mutants whose function and changed lines no
mutant of the module at git revision REV had: after an edit, the mutants of the new
or changed lines, while those of lines that did not change keep REV's verdict.
`--strip-jit` removes `@njit(...)` lines before mutating (mutmut 3 skips decorated
functions, so a numba kernel would get no mutants) and runs with NUMBA_DISABLE_JIT=1.
`--timeout S` (default 300): a mutant whose tests run longer is reported TIMEOUT and
counted as killed (as mutmut does), so on a starved core raise it, or a slow survivor
passes for a kill.

Like mutmut 3 (and with its mutation and trampoline code): the module is mutated in a
copy of the tracked tree, one parent process imports everything, and each mutant runs
pytest (-x) in a forked child with MUTANT_UNDER_TEST set. Prints KILLED / SURVIVED per
mutant, and for a killed one the first test that failed (the files run in the order
given, so list the new unit tests first). Tests are only ever added, so mutants killed
before stay killed: the new score is (killed before + killed here) / all mutants.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_score import MODULES, ROOT, SURVIVORS, _copy_tree  # noqa: E402

TIMEOUT = 300.0


@functools.cache
def _functions(code: str) -> dict[str, str]:
    """Every function's source in the mutated module, by name (parsed once: the module
    holds a copy of a function per mutant, a megabyte for a long module)."""
    lines = code.splitlines()
    return {
        f.name: "\n".join(lines[f.lineno - 1 : f.end_lineno])
        for f in ast.walk(ast.parse(code))
        if isinstance(f, ast.FunctionDef) and f.end_lineno is not None
    }


def _changed_lines(code: str, name: str) -> list[str]:
    """The lines mutant `name` changes in its function ('- original', '+ mutant')."""
    funcs = _functions(code)
    short = name.rsplit(".", 1)[-1]
    orig = funcs.get(short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig") or ""
    diff = difflib.unified_diff(orig.splitlines(), (funcs.get(short) or "").splitlines(), n=0)
    return [
        f"{x[0]} {x[1:].strip()}"
        for x in diff
        if x[:1] in "+-" and x[:3] not in ("+++", "---") and not x[1:].lstrip().startswith("def ")
    ]


def _changed(code: str, name: str) -> tuple[str, ...]:
    return tuple(_changed_lines(code, name))


def _function(name: str) -> str:
    """The function (or method) a mutant's name belongs to: `f` of `mod.x_f__mutmut_3`,
    `m` of `mod.xǁClassǁm__mutmut_3`."""
    short = name.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    return short.split("ǁ")[-1] if "ǁ" in short else short.removeprefix("x_")


def main() -> None:
    args = sys.argv[1:]
    every = "--all" in args  # every mutant of the module, not only the listed survivors
    strip_jit = "--strip-jit" in args  # mutate numba-compiled functions too (run as Python)
    args = [a for a in args if a not in ("--all", "--strip-jit")]
    only: set[str] = set()  # with --all: only the mutants of these functions
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i : i + 2]
    timeout = TIMEOUT
    if "--timeout" in args:  # a survivor can take minutes on a starved core: not a kill
        i = args.index("--timeout")
        timeout = float(args[i + 1])
        del args[i : i + 2]
    since = ""  # with --all: only mutants whose (function, changed lines) are new since REV
    if "--since" in args:
        i = args.index("--since")
        since = args[i + 1]
        del args[i : i + 2]
    done: set[str] = set()  # mutants reported in an earlier output (--done LOG): skipped
    if "--done" in args:
        i = args.index("--done")
        reported = Path(args[i + 1]).read_text()
        done = set(re.findall(r"^(?:KILLED|SURVIVED|TIMEOUT) (\S+)", reported, re.M))
        del args[i : i + 2]
    module, tests = args[0], args[1:] or MODULES[args[0]]
    listing = SURVIVORS / (module.replace("/", ".").removesuffix(".py") + ".txt")
    dotted = module.removesuffix(".py").replace("/", ".")
    names = (
        []
        if every
        else [ln.split()[0] for ln in listing.read_text().splitlines() if ln.startswith(dotted)]
    )
    work = Path(tempfile.mkdtemp(prefix="mutation-recheck-"))
    _copy_tree(work)
    cfg = Path(tempfile.mkdtemp())
    (cfg / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["sim"]\n')
    (cfg / "sim").mkdir()
    os.chdir(cfg)  # mutmut reads its configuration from the working directory
    from mutmut.mutation.file_mutation import mutate_file_contents

    def strip(text: str) -> str:
        # mutmut 3 leaves decorated functions alone, so a numba kernel gets no mutants:
        # drop the @njit lines (the functions run as plain Python, JIT off elsewhere too)
        return re.sub(r"^[ \t]*@njit\(.*\)[ \t]*\n", "", text, flags=re.M) if strip_jit else text

    source = strip((ROOT / module).read_text())
    if strip_jit:
        os.environ["NUMBA_DISABLE_JIT"] = "1"
    seen: set[tuple[str, tuple[str, ...]]] = set()  # (function, changed lines) at REV
    if since:
        before = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{since}:{module}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        old = mutate_file_contents(module, strip(before))
        seen = {(_function(n), _changed(old.code, n)) for n in old.mutant_names}
        _functions.cache_clear()
    mutated = mutate_file_contents(module, source)
    (work / module).write_text(mutated.code)
    if every:
        names = [n if n.startswith(dotted + ".") else f"{dotted}.{n}" for n in mutated.mutant_names]
        if only:
            names = [n for n in names if _function(n) in only]
        if since:
            kept = [n for n in names if (_function(n), _changed(mutated.code, n)) not in seen]
            print(f"{len(names) - len(kept)} mutants as at {since} (not run)", flush=True)
            names = kept
    names = [n for n in names if n not in done]
    os.chdir(work)
    sys.path[:0] = [str(work), str(work / "tests")]
    os.environ["MUTANT_UNDER_TEST"] = ""
    import pytest
    from mutmut.mutation.trampoline import set_mutant_under_test

    importlib.import_module(dotted)
    # what tests/conftest.py imports in every child (about 1.3 s of CPU each): imported
    # once here, before the forks; none of it calls the mutated module at import time
    for mod in ("sim.api", "sim.engine.run", "scipy", "statsmodels", "lifelines"):
        importlib.import_module(mod)
    for name in names:
        started = time.time()
        out = work / "pytest-output.txt"
        pid = os.fork()
        if pid == 0:
            os.environ["MUTANT_UNDER_TEST"] = name
            set_mutant_under_test(name)
            sink = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(sink, 1)
            os.dup2(sink, 2)
            args = ["-x", "-q", "-rf", "--tb=no", "-p", "no:cacheprovider", *tests]
            os._exit(int(pytest.main(args)))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.time() - started > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                rc = "timeout"
                break
            time.sleep(0.2)
        verdict = "SURVIVED" if rc == 0 else "TIMEOUT" if rc == "timeout" else "KILLED"
        failed = re.findall(r"^FAILED (\S+)", out.read_text(errors="replace"), re.M)
        by = f" by {failed[0]}" if failed else ""
        print(f"{verdict} {name} ({time.time() - started:.0f} s){by}", flush=True)
        if every and rc == 0:
            for line in _changed_lines(mutated.code, name):
                print(f"    {line}", flush=True)
    if every:
        print(f"{len(names)} mutants", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
