"""Execute the tutorial notebooks (docs/tutorials/*.py, jupytext percent format) at one size and
render each to Markdown with its figures, for the docs site (docs/pages/tutorials/).

    python scripts/render_tutorials.py --size medium      # what docs/pages/tutorials/ holds
    python scripts/render_tutorials.py --size full        # the sizes of the sweeps
    python scripts/render_tutorials.py --size tiny --out /tmp/t --only 01_scaling   # the CI check

Each notebook runs in its own Jupyter kernel (nbclient), in a temporary folder, with
``RSIM_TUTORIAL_SIZE`` set; an error in a cell stops the script with exit code 1. Needs the
``docs`` extra (``pip install -e '.[docs]'``).
"""

import argparse
import base64
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "docs" / "tutorials"
PAGES = ROOT / "docs" / "pages" / "tutorials"
SIZES = ("tiny", "medium", "full")


def execute(source: Path, size: str, timeout: int) -> nbformat.NotebookNode:
    """Run every cell of one tutorial at ``size`` in a fresh kernel; the executed notebook."""
    notebook = jupytext.read(source)
    os.environ["RSIM_TUTORIAL_SIZE"] = size
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
    )
    # The kernel is this interpreter (the "python" its kernelspec names comes first on PATH).
    os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))
    with tempfile.TemporaryDirectory(prefix="rsim-tutorial-") as folder:
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": folder}},
        )
        client.execute()
    return notebook


def fence(text: str, language: str) -> list[str]:
    """``text`` as a fenced block."""
    return [f"```{language}", text.rstrip("\n"), "```", ""]


def to_markdown(notebook: nbformat.NotebookNode, name: str, out: Path, note: str) -> str:
    """The executed notebook as Markdown: its text cells, its code in fences, each output
    after its cell (text in a fence, images as PNG files in ``<name>_files/``). ``note`` goes
    after the first heading."""
    figures = out / f"{name}_files"
    figures.mkdir(parents=True, exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    lines: list[str] = []
    count = 0
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            lines += [cell.source, ""]
            if note:
                lines += [note, ""]
                note = ""
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        lines += fence(cell.source, "python")
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                lines += fence(output.text, "text")
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                if "image/png" in data:
                    count += 1
                    png = figures / f"figure_{count}.png"
                    png.write_bytes(base64.b64decode(data["image/png"]))
                    lines += [f"![figure {count}]({name}_files/{png.name})", ""]
                elif "text/plain" in data:
                    lines += fence(data["text/plain"], "text")
    return "\n".join(lines).rstrip("\n") + "\n"


def note_for(name: str, size: str, seconds: float) -> str:
    """How the page was made, and how to make it at another size."""
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    return (
        '!!! note "How this page was made"\n'
        f"    Executed by `python scripts/render_tutorials.py --size {size} --only {name}` "
        f"(the notebook `docs/tutorials/{name}.py`, size `{size}`) in {seconds:.0f} s on "
        f"{machine} shared with other jobs. At the sizes of the paper's sweeps: "
        f"`python scripts/render_tutorials.py --size full --only {name}`."
    )


def main(argv: list[str] | None = None) -> int:
    """Render the chosen tutorials; 0 when every one ran, 1 when a cell failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="medium")
    parser.add_argument("--only", nargs="*", help="tutorial names (default: every one)")
    parser.add_argument("--out", type=Path, default=PAGES, help="where the pages go")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    sources = sorted(SOURCES.glob("[0-9]*.py"))
    if args.only:
        unknown = set(args.only) - {s.stem for s in sources}
        if unknown:
            parser.error(
                f"no tutorial named {sorted(unknown)}; there are {[s.stem for s in sources]}"
            )
        sources = [s for s in sources if s.stem in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    for source in sources:
        start = time.perf_counter()
        try:
            notebook = execute(source, args.size, args.timeout)
        except CellExecutionError as error:
            print(
                f"render_tutorials: {source.name} failed at size {args.size}:\n{error}",
                file=sys.stderr,
            )
            return 1
        seconds = time.perf_counter() - start
        page = args.out / f"{source.stem}.md"
        page.write_text(
            to_markdown(notebook, source.stem, args.out, note_for(source.stem, args.size, seconds))
        )
        print(f"render_tutorials: {source.stem} at size {args.size} in {seconds:.1f} s -> {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
