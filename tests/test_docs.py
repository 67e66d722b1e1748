"""The documentation: the site builds with warnings as errors and documents every public name;
README.md stays a short front page whose links resolve and from which every former section is
reachable; each tutorial notebook runs at its tiny size, and its rendered page shows the
notebook's current code. The site and notebook checks need the ``docs`` extra (CI installs it)
and are skipped, saying so, without it."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
PAGES = DOCS / "pages"
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9]*.py"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
# Every heading of README.md before it became the front page (issue 26): each must remain a
# heading of a docs page (or of README.md), so nothing the README said is lost.
FORMER_README_HEADINGS = [
    "Two commands",
    "GPU box",
    "Command line",
    "Weights correlated along the depth",
    "The critical beta",
    "The fourth architecture: multi-layer and convolutional branches",
    "Python",
    "Parquet results",
    "Figures",
    "Theory report",
    "Running on a GPU cluster (SLURM)",
    "Continuous-time limits (ODE, SDE)",
    "Training (optax)",
    "How the engine works (`rsim/core/engine.py`)",
    "Performance",
    "Samplers (`sampler=`)",
    "Devices",
    "Memory preflight",
    "Benchmark",
    "Scale (projection, 2 CPU cores, shared)",
    "Layout",
]
PUBLIC = {"rsim": "api/rsim", "rsim.analysis": "api/analysis", "rsim.views": "api/views"}


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _run(*command: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _headings(text: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", text, re.M)}


def test_readme_is_a_short_front_page():
    lines = README.count("\n")
    assert lines < 200, f"README.md has {lines} lines; the details belong in docs/pages"
    for command in (
        ".venv/bin/pip install -e . && .venv/bin/rsim +sweep=corollary1",
        ".venv/bin/pip install -q -e '.[test,docs]' && .venv/bin/python -m pytest -n 2",
    ):
        assert command in README, command
    assert "```python" in README and "](results/readme/" in README  # the example, one figure


def test_every_former_readme_heading_is_a_heading_of_the_docs():
    headings = _headings(README)
    for page in PAGES.rglob("*.md"):
        headings |= _headings(page.read_text(encoding="utf-8"))
    lost = [h for h in FORMER_README_HEADINGS if h not in headings]
    assert not lost, f"former README sections with no heading in docs/pages: {lost}"


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert len(local) > 20, local  # the reader itself finds them
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links to {missing}, which do not exist"


def test_the_site_builds_strictly_and_documents_every_public_name(tmp_path):
    missing = _missing("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
    if missing:
        pytest.skip(f"needs the docs extra (pip install -e '.[docs]'): {missing} not installed")
    site = tmp_path / "site"
    proc = _run(
        "-m", "mkdocs", "build", "--strict", "-f", str(DOCS / "mkdocs.yml"), "-d", str(site)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for package, page in PUBLIC.items():
        html = (site / page / "index.html").read_text(encoding="utf-8")
        anchors = set(re.findall(r'id="([^"]+)"', html))
        names = importlib.import_module(package).__all__
        undocumented = [n for n in names if f"{package}.{n}" not in anchors]
        assert not undocumented, f"{page} documents no {undocumented} of {package}.__all__"
    theory = (site / "theory" / "index.html").read_text(encoding="utf-8")
    assert "The mathematics behind rsim" in theory  # rsim/THEORY.md is included, not copied
    assert (site / "figures" / "heatmap.png").stat().st_size > 0  # README's figures join the site
    assert (site / "changelog" / "index.html").exists()


@pytest.mark.parametrize("notebook", TUTORIALS, ids=[t.stem for t in TUTORIALS])
def test_tutorial_runs_at_its_tiny_size(notebook, tmp_path):
    missing = _missing("jupytext", "nbclient", "ipykernel")
    if missing:
        pytest.skip(f"needs the docs extra (pip install -e '.[docs]'): {missing} not installed")
    proc = _run(
        "scripts/render_tutorials.py", "--size", "tiny", "--only", notebook.stem,
        "--out", str(tmp_path), timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp_path / f"{notebook.stem}.md").read_text(encoding="utf-8")
    figures = re.findall(rf"\]\(({notebook.stem}_files/[^)]+\.png)\)", page)
    assert figures and all((tmp_path / f).stat().st_size > 0 for f in figures), page[-2000:]
    assert "size `tiny`" in page and "Traceback" not in page


@pytest.mark.parametrize("notebook", TUTORIALS, ids=[t.stem for t in TUTORIALS])
def test_rendered_tutorial_page_shows_the_notebook_as_it_is(notebook):
    """The committed page (scripts/render_tutorials.py) holds the notebook's current code
    cells, in order, and says the size it ran at and how to run it at full size."""
    if _missing("jupytext"):
        pytest.skip("needs the docs extra (pip install -e '.[docs]'): jupytext not installed")
    import jupytext

    page = (PAGES / "tutorials" / f"{notebook.stem}.md").read_text(encoding="utf-8")
    shown = re.findall(r"^```python\n(.*?)\n```$", page, re.M | re.S)
    cells = [c.source for c in jupytext.read(notebook).cells if c.cell_type == "code"]
    assert shown == [c.strip("\n") for c in cells if c.strip()], (
        f"docs/pages/tutorials/{notebook.stem}.md is stale: "
        f"python scripts/render_tutorials.py --only {notebook.stem}"
    )
    assert f"--size full --only {notebook.stem}" in page
    for figure in re.findall(r"\]\(([^)]+\.png)\)", page):
        assert (PAGES / "tutorials" / figure).stat().st_size > 0, figure


def test_the_readme_python_example_runs():
    """The ten-line example of README.md, as written, in a fresh interpreter."""
    example = re.search(r"^```python\n(.*?)^```", README, re.M | re.S).group(1)
    proc = _run("-c", example)
    assert proc.returncode == 0, proc.stderr
    assert "beta* = " in proc.stdout and "mean_hidden_diff_sq" in proc.stdout


def test_the_api_pages_read_rsim_docstrings_as_written():
    """docs/griffe_docstrings.py: doctests become code blocks, a line naming several
    arguments one line per argument, Sphinx roles code spans; anything else unchanged."""
    if _missing("griffe"):
        pytest.skip("needs the docs extra (pip install -e '.[docs]'): griffe not installed")
    spec = importlib.util.spec_from_file_location(
        "griffe_docstrings", DOCS / "griffe_docstrings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Sum, see :func:`~rsim.load`.\n\nArgs:\n    a, b: the terms.\n\n>>> 1 + 1\n2\n\nEnd."
    rewritten = module.fence_doctests(module.split_arguments(module.ROLE.sub(r"`\1`", text)))
    assert rewritten == (
        "Sum, see `rsim.load`.\n\nArgs:\n    a: the terms.\n    b: the terms.\n\n"
        "```pycon\n>>> 1 + 1\n2\n```\n\nEnd."
    )
    prose = "Not an argument, so: a, b: stays.\n```\n>>> fenced already\n```"
    assert module.fence_doctests(module.split_arguments(prose)) == prose
