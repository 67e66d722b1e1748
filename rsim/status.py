"""``python -m rsim.status results/<sweep>``: which jobs of a run or sweep are done, missing,
failed, for every experiment.

The expected jobs come from ``sweep.json``, written into the results folder when a run or
sweep starts. Exit code: 0 when every expected job is done and no file is damaged, 1
otherwise (each missing or failed job is named), 2 when the folder has no manifest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rsim import results


def main(argv: list[str] | None = None) -> int:
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
    report = results.status(folder)
    print(report.line(folder))
    for job in report.missing:
        print(f"  missing: part-{job['digest']} ({job['label']})")
    for job in report.failed:
        record = json.loads(results.failure_path(folder, job["digest"]).read_text())
        print(f"  failed: part-{job['digest']} ({job['label']}): {record['error']}")
    for message in report.unreadable:
        print(f"  unreadable: {message}")
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(main())
