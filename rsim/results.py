"""Results folders: Parquet tables written atomically, the sweep manifest, failure records.

A results folder ``<output>/<name>/`` holds, for every job of any experiment,
``part-<digest>.parquet`` (and ``<table>/part-<digest>.parquet`` for its sub-tables). Each
file's schema metadata (JSON under the key ``rsim``) records its provenance
(:func:`rsim.experiments.base.provenance`). ``sweep.json`` lists the jobs a run or sweep
expects; ``failed-<digest>.json`` records a job that raised. Dot-prefixed names are temporary
or private and are never read.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rsim.schema import RATIOS

METADATA_KEY = b"rsim"
MANIFEST = "sweep.json"


def git_revision() -> str:
    """HEAD of the checkout rsim runs from, with '+dirty' for local changes; 'unknown' if none."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def write(frame: pd.DataFrame, path: Path, metadata: dict) -> None:
    """Write ``frame`` to ``path`` atomically: a dot-prefixed temp file, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = json.dumps(metadata).encode()
    table = table.replace_schema_metadata(schema_metadata)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_metadata(path: Path) -> dict:
    return json.loads(pq.read_schema(path).metadata[METADATA_KEY])


class ResultsError(RuntimeError):
    """A results file that cannot be used; the message names it."""


def read_table(path: Path) -> pd.DataFrame:
    """One rsim result file, or :class:`ResultsError` naming the file and what is wrong
    (unreadable Parquet, or a Parquet file without rsim metadata: a foreign file)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        if METADATA_KEY not in metadata:
            raise ResultsError(f"{path}: not an rsim result (no 'rsim' schema metadata)")
        return pd.read_parquet(path)
    except ResultsError:
        raise
    except Exception as error:  # pyarrow raises several types for damaged files
        raise ResultsError(
            f"{path}: unreadable Parquet file ({type(error).__name__}: {error})"
        ) from error


# What must match for a rerun to add to an existing job instead of mixing two codes.
RESUME_KEYS = ("versions", "prng", "x64", "block", "git_revision")


def resume_conflict(path: Path, current: dict) -> str | None:
    """Why the existing file at ``path`` must not be taken as this run's result, or None.

    The job digest already fixes the spec (precision included); this compares what the
    digest does not: package versions, PRNG settings, the sample block and the git
    revision. A different code version could change the numbers, so it is refused rather
    than mixed silently."""
    try:
        existing = read_metadata(path)
    except Exception as error:
        return f"{path} is unreadable ({type(error).__name__}); delete it to recompute"
    for key in RESUME_KEYS:
        if existing.get(key) != current.get(key):
            return (
                f"{path} was written with {key}={existing.get(key)!r}, this run has "
                f"{key}={current.get(key)!r}; use another output folder, or delete the "
                f"file to recompute it"
            )
    return None


def result_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.parquet") if not p.name.startswith("."))


def load(path: str | os.PathLike, strict: bool = False) -> pd.DataFrame:
    """Read a results folder (or one file) into a DataFrame and add the plain ratios.

    For every stored ``log_<name>`` column a ``<name>`` column holds ``exp(log_<name>)``
    (``hidden_ratio`` = ||h_L|| / ||h_0||, ...); ratios past float64 range read as inf.
    A damaged or foreign ``.parquet`` file is skipped with a warning naming it (``strict``:
    raise :class:`ResultsError` instead); dot-prefixed temporary files are never read.
    """
    tables = []
    for file in result_files(Path(path)):
        try:
            tables.append(read_table(file))
        except ResultsError as error:
            if strict:
                raise
            warnings.warn(f"rsim.load: skipping {error}", stacklevel=2)
    if not tables:
        raise FileNotFoundError(f"no rsim Parquet files in {path}")
    return with_ratios(pd.concat(tables, ignore_index=True))


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``<name> = exp(log_<name>)`` for every stored log metric not yet converted."""
    with np.errstate(over="ignore"):
        for name in RATIOS:
            if f"log_{name}" in frame and name not in frame:
                frame[name] = np.exp(frame[f"log_{name}"])
    return frame


# --- the manifest of a sweep, failure records, status -------------------------------------------


def write_manifest(folder: Path, experiment: str, jobs: list[dict]) -> Path:
    """``sweep.json``: the experiment and its expected jobs (``digest``, ``label``, ``values``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    path.write_text(json.dumps({"experiment": experiment, "jobs": jobs}, indent=1, default=str))
    return path


def read_manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text())


def failure_path(folder: Path, digest: str) -> Path:
    return Path(folder) / f"failed-{digest}.json"


@dataclass
class Status:
    """The jobs of a manifest sorted by state; ``unreadable`` lists damaged or foreign files."""

    experiment: str
    expected: list[dict]
    done: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.expected) and len(self.done) == len(self.expected) and not self.unreadable

    def line(self, folder: Path) -> str:
        return (
            f"{folder}: {self.experiment}: {len(self.expected)} jobs expected, "
            f"{len(self.done)} done, {len(self.missing)} missing, {len(self.failed)} failed, "
            f"{len(self.unreadable)} unreadable files"
        )


def status(folder: Path) -> Status:
    """Each expected job is done (its main table is a readable rsim file), failed (a failure
    record and no result) or missing."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    report = Status(manifest["experiment"], manifest["jobs"])
    files = [
        f
        for sub in [
            folder,
            *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        ]
        for f in result_files(sub)
    ]
    bad = set()
    for file in files:
        try:
            read_table(file)
        except ResultsError as error:
            report.unreadable.append(str(error))
            bad.add(file)
    for job in report.expected:
        part = folder / f"part-{job['digest']}.parquet"
        if part.exists() and part not in bad:
            report.done.append(job)
        elif failure_path(folder, job["digest"]).exists():
            report.failed.append(job)
        else:
            report.missing.append(job)
    return report
