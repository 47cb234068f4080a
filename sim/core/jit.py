"""numba's `njit`, for every compiled function of pml-sim, without numba's BLAS probe.

The first time a process compiles or loads a compiled function from numba's cache,
numba loads its array-math implementations, and that module asks once whether a BLAS
is available by importing `scipy.linalg` (`numba.np.arraymath._check_blas`): about
0.13 s of CPU in every run and every worker process, for a library pml-sim's compiled
code never calls (no `np.dot`, `@`, `np.linalg`). scipy is a dependency of pml-sim, so
the answer is known: yes. `njit` here is numba's own; importing this module makes that
one probe answer yes without the import. Every other use of numba's BLAS check (typing
an `np.dot`, say) is numba's real one, which imports scipy.linalg when it is needed.
The compiled code is the same either way: the probe only chooses how numba would
compile functions that use BLAS.
"""

from __future__ import annotations

import sys

from numba import njit
from numba.np import linalg as _linalg

__all__ = ["njit"]


def _answer_blas_probe() -> None:
    if "numba.np.arraymath" in sys.modules or getattr(_linalg.ensure_blas, "real", None):
        return  # probed already, or answered already
    real = _linalg.ensure_blas

    def ensure_blas() -> None:
        if sys._getframe(1).f_code.co_name == "_check_blas":  # the import-time probe
            return None
        return real()

    ensure_blas.real = real  # type: ignore[attr-defined]
    _linalg.ensure_blas = ensure_blas


_answer_blas_probe()
