"""The package layout: imports run one way, down the stages, and never in a circle.

Every import counts, including the ones inside functions (a lazy import still ties
two modules together). Stages, bottom to top: config, core -> model -> engine ->
outcomes -> evidence | economics | trial (siblings, independent) -> app (and sim.api).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIM = ROOT / "sim"
RANK = {
    "config": 0,
    "core": 0,
    "model": 1,
    "engine": 2,
    "outcomes": 3,
    "evidence": 4,
    "economics": 4,
    "trial": 4,
    "app": 5,
    "api": 5,
    "__main__": 6,
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SIM.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of sim/ that `path` imports (a `from a import b` names a.b if b is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        deps = _imports(path, modules)
        # importing sim.a.b runs sim/a/__init__.py too, but that is not an edge we count
        graph[name] = {d for d in deps if d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_cycle_inside_sim():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_a_cycle():
    # the checker itself can fail: a -> b -> c -> a is reported
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_run_down_the_stages():
    upward = []
    for mod, deps in _graph().items():
        src = _stage(mod)
        for dep in deps:
            dst = _stage(dep)
            if src is None or dst is None or src == dst:
                continue
            if RANK[dst] > RANK[src] or (RANK[dst] == RANK[src] == 4):
                upward.append(f"{mod} -> {dep}")
    assert upward == []


def test_every_module_belongs_to_a_stage():
    stray = [m for m in _modules() if m != "sim" and _stage(m) not in RANK]
    assert stray == []


def test_pyproject_lists_every_package():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in SIM.rglob("__init__.py")} | {
        "sim.conf"
    }
    assert listed == on_disk
