"""Parquet results: one file per cell, written atomically, read back into pandas.

A results folder ``<output>/<name>/`` holds ``part-<cell digest>.parquet`` files. Each file's
schema metadata (JSON under the key ``rsim``) records the cell spec, package versions, the
PRNG settings, the precision, the device and the git revision. Dot-prefixed names are
temporary or private and are never read.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rsim.config import CellSpec

METADATA_KEY = b"rsim"
# Plain ratios that ``load`` derives from the stored natural logs.
RATIOS = ("hidden_ratio", "hidden_diff", "hidden_maxdiff", "jvp_ratio", "jvp_diff",
          "grad_ratio", "grad_diff")


def cell_path(folder: Path, spec: CellSpec) -> Path:
    return Path(folder) / f"part-{spec.digest()}.parquet"


def provenance(spec: CellSpec) -> dict:
    """What produced a file: spec, versions, PRNG settings, precision, device, git revision."""
    import jax
    import jaxlib

    from rsim import engine

    return {
        "spec": spec.identity(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "numpy": np.__version__,
                     "pandas": pd.__version__, "pyarrow": pa.__version__},
        "prng": engine.PRNG_SETTINGS,
        "block": spec.kernel().block,  # samples vmapped together: fixes the float rounding
        "x64": spec.precision == "float64",
        "device": str(jax.devices()[0].device_kind),
        "git_revision": git_revision(),
    }


def git_revision() -> str:
    """HEAD of the checkout rsim runs from, with '+dirty' for local changes; 'unknown' if none."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
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
        raise ResultsError(f"{path}: unreadable Parquet file ({type(error).__name__}: "
                           f"{error})") from error


# What must match for a rerun to add to an existing cell instead of mixing two codes.
RESUME_KEYS = ("versions", "prng", "x64", "block", "git_revision")


def resume_conflict(path: Path, current: dict) -> str | None:
    """Why the existing file at ``path`` must not be taken as this run's result, or None.

    The cell digest already fixes the spec (precision included); this compares what the
    digest does not: package versions, PRNG settings, the sample block and the git
    revision. A different code version could change the numbers, so it is refused rather
    than mixed silently."""
    try:
        existing = read_metadata(path)
    except Exception as error:
        return f"{path} is unreadable ({type(error).__name__}); delete it to recompute"
    for key in RESUME_KEYS:
        if existing.get(key) != current.get(key):
            return (f"{path} was written with {key}={existing.get(key)!r}, this run has "
                    f"{key}={current.get(key)!r}; use another output folder, or delete the "
                    f"file to recompute it")
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
