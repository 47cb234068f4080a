"""Re-run the mutants listed in docs/mutation/<module>.txt, one by one, against the
module's test files: a quick check after adding tests, without mutmut's full run.

    nice -n 19 python experiments/mutation_recheck.py sim/model/rules.py [tests/...]

Like mutmut 3 (and with its mutation and trampoline code): the module is mutated in a
copy of the tracked tree, one parent process imports everything, and each mutant runs
pytest (-x) in a forked child with MUTANT_UNDER_TEST set. Prints KILLED / SURVIVED per
mutant. Tests are only ever added, so mutants killed before stay killed: the new score
is (killed before + killed here) / all mutants.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_score import MODULES, ROOT, SURVIVORS, _copy_tree  # noqa: E402

TIMEOUT = 300.0


def main() -> None:
    module, tests = sys.argv[1], sys.argv[2:] or MODULES[sys.argv[1]]
    listing = SURVIVORS / (module.replace("/", ".").removesuffix(".py") + ".txt")
    dotted = module.removesuffix(".py").replace("/", ".")
    names = [ln.split()[0] for ln in listing.read_text().splitlines() if ln.startswith(dotted)]
    work = Path(tempfile.mkdtemp(prefix="mutation-recheck-"))
    _copy_tree(work)
    cfg = Path(tempfile.mkdtemp())
    (cfg / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["sim"]\n')
    (cfg / "sim").mkdir()
    os.chdir(cfg)  # mutmut reads its configuration from the working directory
    from mutmut.mutation.file_mutation import mutate_file_contents

    (work / module).write_text(mutate_file_contents(module, (ROOT / module).read_text()).code)
    os.chdir(work)
    sys.path[:0] = [str(work), str(work / "tests")]
    os.environ["MUTANT_UNDER_TEST"] = ""
    import pytest
    from mutmut.mutation.trampoline import set_mutant_under_test

    importlib.import_module(dotted)
    for name in names:
        started = time.time()
        pid = os.fork()
        if pid == 0:
            os.environ["MUTANT_UNDER_TEST"] = name
            set_mutant_under_test(name)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os._exit(int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests])))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.time() - started > TIMEOUT:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                rc = "timeout"
                break
            time.sleep(0.2)
        verdict = "SURVIVED" if rc == 0 else "KILLED"
        print(f"{verdict} {name} ({time.time() - started:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
