"""What a contributor may touch: the public API of rsim, rsim.analysis and rsim.views is their
``__all__`` (every name there exists, is documented and lives in a public module), the
docs' Python page (docs/pages/guide/python.md, once the README's Python section) names exactly
``rsim.__all__``, every dotted ``rsim.`` name that README.md, the docs pages and the tutorials
mention resolves, and the docstrings' examples are collected by the default ``pytest``."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
import tomllib
import types
from pathlib import Path

import pytest

import rsim

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(rsim.__file__).resolve().parent
README = (ROOT / "README.md").read_text()
PYTHON_PAGE = (ROOT / "docs" / "pages" / "guide" / "python.md").read_text()
# What a reader is shown: the front page, the site's pages and the tutorial notebooks.
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "docs" / "tutorials").glob("*.py")),
]
PACKAGES = ("rsim", "rsim.analysis", "rsim.views")
# Modules importing which runs something (python -m rsim); pytest ignores them too.
NOT_IMPORTED = {"rsim.__main__"}
# The docstrings' examples (>>> lines) in rsim/ when this test was written: 159; the floor
# catches a collection that silently finds none, not a removed example or two.
MIN_EXAMPLES = 120


def _module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in NOT_IMPORTED:
            names.append(name)
    return names


def _public_module(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists_is_documented_and_public(package):
    module = importlib.import_module(package)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{package}.__all__ repeats a name"
    for name in exported:
        assert not name.startswith("_"), f"{package}.__all__ exports the private {name}"
        obj = getattr(module, name)  # raises AttributeError for a stale entry
        assert (inspect.getdoc(obj) or "").strip(), f"{package}.{name} has no docstring"
        home = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
        assert home.startswith("rsim") and _public_module(home), (
            f"{package}.{name} comes from the private module {home}"
        )


@pytest.mark.parametrize("package", PACKAGES)
def test_dir_shows_only_the_exported_names(package):
    """Nothing public leaks: dir() lists __all__ and (once imported) the subpackages."""
    module = importlib.import_module(package)
    public = {n for n in dir(module) if not n.startswith("_")}
    leaked = {n for n in public - set(module.__all__) if not inspect.ismodule(getattr(module, n))}
    assert not leaked, f"{package} shows {sorted(leaked)} outside its __all__"


def test_the_python_page_names_exactly_the_public_api():
    section = PYTHON_PAGE
    mentioned = set(re.findall(r"\brsim\.([A-Za-z]\w*)(?![\w.])", section))
    named = {n for n in mentioned if not inspect.ismodule(_resolve(f"rsim.{n}"))}  # not rsim.views
    assert named == set(rsim.__all__), (
        f"docs/pages/guide/python.md names {sorted(named - set(rsim.__all__))} outside "
        f"rsim.__all__ and misses {sorted(set(rsim.__all__) - named)}"
    )


def _resolve(dotted: str) -> object:
    """The object ``dotted`` names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rsim_name_the_docs_mention_resolves(document):
    text = document.read_text(encoding="utf-8")
    names = sorted(set(re.findall(r"\brsim(?:\.[A-Za-z]\w*)+", text)))
    names = [n for n in names if not n.endswith((".md", ".py"))]  # file names (api/rsim.md)
    unresolved = []
    for dotted in names:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            unresolved.append(dotted)
    assert not unresolved, f"{document.relative_to(ROOT)} names {unresolved}, which do not exist"


def test_the_docs_mention_many_rsim_names():
    text = "".join(p.read_text(encoding="utf-8") for p in DOCUMENTS)
    names = set(re.findall(r"\brsim(?:\.[A-Za-z]\w*)+", text))
    assert len(names) > 15, names  # the reader itself finds them


def test_the_default_pytest_run_collects_the_examples():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    options = options["ini_options"]
    assert "rsim" in options["testpaths"] and "--doctest-modules" in options["addopts"]
    finder = doctest.DocTestFinder()
    examples = {
        name: sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
        for name in _module_names()
    }
    assert sum(examples.values()) >= MIN_EXAMPLES, examples


def test_importing_a_module_has_no_side_effect_on_matplotlib():
    """Collecting the examples imports every module: none may pick a backend (matplotlib.use)
    or start pyplot's global state; views draw on matplotlib.figure.Figure."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # what runs at import: the module's own statements
            text = ast.unparse(node)
            if "matplotlib.use(" in text or "matplotlib.pyplot" in text:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_package_ships_its_annotations():
    assert (PACKAGE / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in data["package-data"]["rsim"]
