"""``python -m rsim.status results/<sweep>``: which jobs of a run or sweep are done, missing,
failed, for every experiment.

The expected jobs come from ``_sweep.json``, written into the results folder when a run or
sweep starts (the latest command's jobs). Exit code: 0 when every expected job is done and no
file is damaged, 1 otherwise (each missing or failed job and each damaged result file is
named), 2 on an error, said in one line on stderr: the folder has no manifest, its
``_sweep.json`` or a ``_failed-*.json`` record is damaged, or it cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rsim import results
from rsim.checks import ConfigError
from rsim.experiments import base


def _lines(folder: Path) -> tuple[list[str], bool]:
    """What to print, and whether the run is complete (raises on a damaged file)."""
    report = base.status(folder)
    lines = [report.line(folder)]
    for job in report.missing:
        lines.append(f"  missing: job {job['digest']} ({job['label']})")
    for job in report.failed:
        record = results.read_failure(folder, job["digest"])
        lines.append(f"  failed: job {job['digest']} ({job['label']}): {record['error']}")
    for message in report.unreadable:
        lines.append(f"  unreadable: {message}")
    return lines, report.complete


def main(argv: list[str] | None = None) -> int:
    """``python -m rsim.status FOLDER``: print the latest command's jobs by state.

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 complete, 1 jobs missing, failed or unreadable, 2 an error.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:  # no _sweep.json: an error
        ...     main([tmp])
        2
    """
    parser = argparse.ArgumentParser(
        prog="python -m rsim.status", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", help="a results folder, e.g. results/corollary1")
    folder = Path(parser.parse_args(argv).folder)
    if not (folder / results.MANIFEST).exists():
        print(
            f"rsim.status: error: {folder / results.MANIFEST} not found (not an rsim results "
            "folder, or written before manifests existed)",
            file=sys.stderr,
        )
        return 2
    try:
        lines, complete = _lines(folder)
    except (results.ResultsError, ConfigError, OSError) as error:
        # ResultsError: a damaged _sweep.json or failure record; ConfigError: a manifest whose
        # jobs this code refuses; OSError: a folder that cannot be read.
        print(f"rsim.status: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
