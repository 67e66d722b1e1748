"""The import graph of rsim, read statically (no module is executed): no import cycle, even
through an import inside a function, and no module reaches into another's private names. A
module that needs something private elsewhere gets a public name or an argument instead
(rsim.slurm receives rsim.cli's job record through ``slurm.install``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rsim

PACKAGE = Path(rsim.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the package (``rsim.core`` for its __init__)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str) -> tuple[set[str], list[str]]:
    """The rsim modules that ``name`` imports anywhere in its body (function-level imports
    too), and the private names it takes from other modules (``from m import _x``, ``m._x``)."""
    tree = ast.parse(MODULES[name].read_text())
    imported, aliases, private = set(), {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    imported.add(alias.name)
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rsim"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target in MODULES:
                    imported.add(target)
                    aliases[alias.asname or alias.name] = target
                else:
                    imported.add(node.module)
                    if alias.name.startswith("_"):
                        private.append(target)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and aliases.get(node.value.id, name) != name
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            private.append(f"{aliases[node.value.id]}.{node.attr}")
    return imported, private


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for child in graph[stack.pop()]:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def test_the_graph_sees_every_module_and_its_imports():
    # The reader itself must find what it checks: a known edge of each kind.
    assert {"rsim.core.engine", "rsim.cli", "rsim.slurm", "rsim.experiments.base"} <= set(MODULES)
    assert "rsim.core.keys" in _imports("rsim.core.engine")[0]
    assert "rsim.results" in _imports("rsim.experiments.base")[0]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_cycle(name):
    # A package's __init__ re-exports its modules, which import the package back by design:
    # the rule is about modules.
    graph = {m: {i for i in _imports(m)[0] if MODULES[i].name != "__init__.py"} for m in MODULES}
    if MODULES[name].name == "__init__.py":
        pytest.skip("a package's __init__ re-exports its modules")
    cycle = [other for other in graph[name] if name in _reachable(other, graph)]
    assert not cycle, f"{name} imports {cycle}, which import {name} back"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_across_modules(name):
    assert _imports(name)[1] == [], f"{name} uses private names of other modules"
