"""Run-directory tasks, found by name: `task: <name>` in a config runs the module
`sim.app.tasks.<name>`, which defines

* `validate(cfg)`: checks of the config sections that only this task reads;
* `run(cfg, out, resolved_yaml)`: writes the run directory (atomically, run.json last).

Adding a task is adding a module here; the CLI holds no list of them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

_NOT_TASKS = {"finish"}


def names() -> tuple[str, ...]:
    """Every task's name (module names, not imported)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _NOT_TASKS))


def load(name: str) -> ModuleType:
    if name not in names():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name}")
