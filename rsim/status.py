"""``python -m rsim.status results/<sweep>``: which cells of a sweep are done, missing, failed.

The expected cells come from ``sweep.json``, written into the results folder when a run or
sweep starts (the base config and every combination of swept values). A cell is done when its
``part-<digest>.parquet`` is a readable rsim file; failed when ``failed-<digest>.json``
records an exception and no result exists; unreadable files are named. Exit code: 0 when
every expected cell is done, 1 otherwise, 2 when the folder has no manifest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsim import results
from rsim.config import CellSpec

MANIFEST = "sweep.json"


def job_values(base: dict[str, Any], swept: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The values of every job of a sweep: ``base`` with each combination of swept values."""
    keys = list(swept)
    return [{**base, **dict(zip(keys, combo))}
            for combo in itertools.product(*(swept[k] for k in keys))]


def job_digest(values: dict[str, Any]) -> str:
    """The cell digest of a ``cells`` job (its Parquet file name)."""
    return CellSpec.from_mapping(values).digest()


def write_manifest(folder: Path, experiment: str, jobs: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    digests = [job_digest(v) for v in jobs] if experiment == "cells" else None
    path = folder / MANIFEST
    path.write_text(json.dumps({"experiment": experiment, "digests": digests,
                                "jobs": jobs}, indent=1, default=str))
    return path


def failure_path(folder: Path, digest: str) -> Path:
    return Path(folder) / f"failed-{digest}.json"


@dataclass
class Status:
    expected: int
    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def line(self, folder: Path) -> str:
        return (f"{folder}: {self.expected} cells expected, {len(self.done)} done, "
                f"{len(self.missing)} missing, {len(self.failed)} failed, "
                f"{len(self.unreadable)} unreadable files")


def status(folder: Path) -> Status:
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    digests = manifest["digests"] or []
    report = Status(expected=len(digests))
    for file in results.result_files(Path(folder)):
        try:
            results.read_table(file)
        except results.ResultsError as error:
            report.unreadable.append(str(error))
    bad = {e.split(":")[0] for e in report.unreadable}
    for digest in digests:
        part = Path(folder) / f"part-{digest}.parquet"
        if part.exists() and str(part) not in bad:
            report.done.append(digest)
        elif failure_path(folder, digest).exists():
            report.failed.append(digest)
        else:
            report.missing.append(digest)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rsim.status", description=__doc__.split(
        "\n")[0])
    parser.add_argument("folder", help="a results folder, e.g. results/corollary1")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    if not (folder / MANIFEST).exists():
        print(f"rsim.status: error: {folder / MANIFEST} not found (not an rsim results folder, "
              "or written before manifests existed)", file=sys.stderr)
        return 2
    manifest = json.loads((folder / MANIFEST).read_text())
    report = status(folder)
    print(report.line(folder))
    jobs = dict(zip(manifest["digests"] or [], manifest["jobs"]))
    for label, digests in (("missing", report.missing), ("failed", report.failed)):
        for digest in digests:
            job = jobs[digest]
            print(f"  {label}: part-{digest} (depth={job.get('depth')}, width={job.get('width')},"
                  f" init={job.get('init')}, hurst={job.get('hurst')})")
    for message in report.unreadable:
        print(f"  unreadable: {message}")
    return 0 if len(report.done) == report.expected and not report.unreadable else 1


if __name__ == "__main__":
    sys.exit(main())
