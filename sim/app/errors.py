"""Hydra's composition errors, condensed to the one line a user needs.

Hydra reports a bad override over several lines (what failed, the options available,
a hint); the useful parts are kept: the key, the bad value, what is allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

# config sections that are not config groups: `engine=reference` is a slip for
# `engine.kind=reference`
_SECTIONS = {
    "engine": "kind=reference",
    "monitoring": "cd4_cv=0.2",
    "output": "plots=false",
    "study": "replicates=100",
}


def precheck(argv: list[str]) -> str | None:
    """A one-line error for slips Hydra reports badly, before Hydra starts."""
    from dataclasses import fields

    from sim.config.schema import RunConfig

    sections = {f.name: f for f in fields(RunConfig)}
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+~")
        if key in _SECTIONS and key in sections:
            from typing import get_type_hints

            tp = get_type_hints(RunConfig)[key]
            keys = ", ".join(f.name for f in fields(tp))
            return (
                f"pml-sim: config error: {key}: is a section, not a config group; set one of "
                f"its keys, e.g. {key}.{_SECTIONS[key]} (keys: {keys}); got {key}={value}"
            )
    return None


def _group_options(group: str, user_dirs: list[Path]) -> list[str]:
    from sim.app.help import _groups
    from sim.config.load import config_dir

    return _groups([config_dir(), *user_dirs]).get(group, [])


def _traceback_line(lines: list[str]) -> str:
    """The exception at the end of a traceback, with a YAML error's file and line."""
    last = lines[-1]
    m = re.search(r"(\w+Error): \[Errno \d+\] ([^:]+): '([^']+)'", last)
    if m:
        return f"pml-sim: cannot write {m.group(3)}: {m.group(2)} (check hydra.run.dir)"
    for i, ln in enumerate(lines):
        if re.match(r"yaml\.\w+\.\w+Error:", ln):
            where = next((x for x in lines[i + 1 :] if x.startswith("in ")), "")
            return f"pml-sim: config error: malformed YAML {where}: {ln.split(': ', 1)[1]}"
    if "ConfigError: " in last:
        return f"pml-sim: config error: {last.split('ConfigError: ', 1)[1]}"
    return f"pml-sim: error: {last}"


def one_line(text: str, user_dirs: list[Path] | None = None) -> str:
    """Condense Hydra/OmegaConf's multi-line composition error into one line."""
    user_dirs = user_dirs or []
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("Set the environment variable HYDRA_FULL")]
    if any(ln.startswith("Traceback (most recent call last)") for ln in lines):
        return _traceback_line(lines)
    head = "pml-sim: config error: "
    m = re.search(r"Could not (?:find|load) '([\w/]+)/([^']+)'", text)
    if m:
        group, name = m.group(1), m.group(2)
        opts = _group_options(group, user_dirs)
        key = "experiment" if group == "experiment" else group
        return f"{head}{key}: unknown option {name!r}; available: {', '.join(opts)}"
    m = re.search(r"Could not override '([\w.]+)'", text)
    if m and "not in" in text:
        from sim.config.keys import allowed_at
        from sim.config.schema import RunConfig

        key = m.group(1)
        return f"{head}{key}: unknown key; allowed: {', '.join(allowed_at(key, RunConfig))}"
    if "Ambiguous value for argument" in text:
        m = re.search(r"argument '([^']+)'", text)
        bad = m.group(1) if m else ""
        k, _, v = bad.partition("=")
        return (
            f"{head}{k}: {bad!r} is ambiguous: for a list use {k}=[{v}], to sweep add -m "
            f"(pml-sim -m {bad}), for a string quote it: {k}='\"{v}\"'"
        )
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), None)
    msg = next(
        (
            ln
            for ln in lines
            if not ln.startswith(("full_key:", "object_type", "reference_type", "Error merging"))
            and not ln.startswith("In '")
        ),
        lines[0] if lines else "invalid configuration",
    )
    if key is None:
        m = re.search(r"override '?([\w.\[\]]+)'?", text) or re.search(r"Key '(\w+)'", text)
        key = m.group(1) if m else None
    return f"{head}{key + ': ' if key else ''}{msg}"
