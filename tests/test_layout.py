"""The structure of the code: imports point one way, and no module imports itself in a circle.

``ilsvrc`` (the evaluator) and ``features`` import nothing else of the project; ``baselines``
imports ``features`` and ``ilsvrc`` only; ``experiments`` may import all of them; nothing
imports ``benchmarks`` or the tests.  Every import, at the top of a module or inside a
function, is read from the source, so a function-local import cannot hide a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = ("ilsvrc", "features", "baselines", "experiments")
ALLOWED = {"ilsvrc": {"ilsvrc"}, "features": {"features"}, "baselines": {"baselines", "features", "ilsvrc"},
           "experiments": {"experiments", "baselines", "features", "ilsvrc"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set:
    """Project modules imported anywhere in ``path`` (absolute and relative imports)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from . import mod`` imports the submodule (the package is initialised anyway);
            # ``from .mod import name`` imports mod (and name, when it is a submodule)
            targets = ([] if node.level and not node.module else [module]) + [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in PACKAGES + ("benchmarks", "tests")}
    return out


def _graph() -> dict:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[_module_name(path)] = _imports(path)
    # keep the edges that name a module (``from pkg.mod import name`` also lists ``pkg.mod.name``)
    return {m: {t for t in targets if t in modules and t != m} for m, targets in modules.items()}


def test_imports_point_one_way():
    for module, targets in _graph().items():
        top = module.split(".")[0]
        for target in targets:
            assert target.split(".")[0] in ALLOWED[top], f"{module} imports {target}"
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            bad = {t for t in _imports(path) if t.split(".")[0] in ("benchmarks", "tests")}
            assert not bad, f"{path} imports {bad}"


def test_no_circular_imports():
    edges = _graph()
    state: dict = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("circular import: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
