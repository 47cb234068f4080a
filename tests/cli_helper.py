"""Run the pml-sim command line in a subprocess, as a user would."""

import subprocess
import sys


def pml_sim(*args: str, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )
