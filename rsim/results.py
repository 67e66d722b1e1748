"""Results folders: Parquet tables, the history of the commands that wrote them, failure records.

A results folder ``<output>/<name>/`` is laid out so that ``pandas.read_parquet`` and
``pyarrow.dataset`` read it as it is, as the main table: its top level holds only that table's
``part-<digest>.parquet`` files (one per stored unit: a simulation cell, whose later runs add
samples, betas or gradients to the same file; one job of the other experiments). Everything
else has a name starting with ``_`` or ``.``, which both readers skip:

* ``_tables/<table>/part-<digest>.parquet``: the sub-tables (:func:`table_folder`: ``paths``
  of cells, ``regimes`` of ode), and ``_tables/*.csv``, the summaries a run writes
  (``summary.csv``, ``report.csv``, ``orders.csv``...; :func:`tables_folder`);
* ``_figures/*.png``: the figures (:func:`figures_folder`); ``_report.md`` shows them;
* ``_sweep.json`` (:data:`MANIFEST`): the history of the commands that wrote to the folder
  (each with its jobs); :func:`rsim.experiments.base.status` and the end of a run look at the
  latest. ``_failed-<digest>.json`` records a job that raised (:func:`failure_path`);
* ``.hydra/`` (Hydra's configs and job logs), ``.lock-<digest>``, ``.<name>.<host>...tmp``.

Rules:

* **A row means one draw, once.** Each file's metadata names the columns that identify a
  row (``row_key``: for cells every option that changes a draw, then ``beta`` and
  ``sample``); :func:`load` keeps one copy of a row found twice and says so (``strict``:
  refuses).
* **One code version per folder.** Every file records ``code_version``
  (:func:`code_version`: a digest of rsim's source, the jax and jaxlib versions and the
  PRNG settings); :func:`load` and a resumed run refuse a folder whose files disagree,
  naming them. ``git_revision`` is provenance only.
* **Every file is written atomically** (:func:`atomic_write`, the one writer of every file
  rsim makes, extracted dataset files included; downloads are ``pooch.retrieve``'s): a
  temporary dot-name with the host, the PID and a random part, fsync, rename;
  :func:`remove_leftovers` deletes the temporaries of writers that died. Parquet pages carry
  CRC checksums, verified on reading.

Dot-prefixed names are temporary or private and are never read.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rsim.schema import RATIOS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_METADATA_KEY = b"rsim"
MANIFEST = "_sweep.json"  # the folder's history
FIGURES = "_figures"  # the PNG figures
TABLES = "_tables"  # the sub-tables (a folder each) and the CSV summaries
REPORT = "_report.md"  # the theory report (rsim.report)
PACKAGE = Path(__file__).resolve().parent
# A temporary file older than this is a dead writer's, whatever host wrote it.
_STALE_TEMPORARY_SECONDS = 3600


class ResultsError(RuntimeError):
    """A results file or folder that cannot be used; the message (one line) names it."""


class StorageError(OSError):
    """A write to the results folder failed (disk full, read-only, quota): the run stops."""


# --- atomic files -------------------------------------------------------------------------------


def _temporary_name(path: Path) -> Path:
    host = socket.gethostname().split(".")[0] or "host"
    return path.with_name(f".{path.name}.{host}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Make ``path`` appear whole or not at all: ``write(temporary)`` writes a dot-named
    temporary beside it, which is fsynced and renamed over ``path`` (and the folder fsynced).
    A failed write removes the temporary and raises :class:`StorageError`.

    Args:
        path: the file (its folder is created).
        write: writes the content into the path it is given.

    Returns:
        ``path``.

    Raises:
        StorageError: the write failed (nothing is left behind).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = atomic_write(Path(tmp) / "a.bin", lambda tmp: tmp.write_bytes(b"ab"))
        ...     print(path.read_bytes(), [p.name for p in Path(tmp).iterdir()])
        b'ab' ['a.bin']
    """
    path = Path(path)
    tmp = _temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # not every file system syncs a folder
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as error:
        raise StorageError(
            error.errno or errno.EIO, f"cannot write {path}: {error.strerror or error}"
        ) from error
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``path`` with ``text`` (UTF-8), atomically.

    Args:
        path: the file (its folder is created).
        text: the content.

    Returns:
        ``path``.

    Raises:
        StorageError: the write failed (nothing is left behind).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_text(Path(tmp) / "notes" / "a.txt", "hello")
        ...     print(path.name, path.read_text())
        a.txt hello
    """
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """``frame`` as CSV without its index, atomically.

    Args:
        frame: the table.
        path: the file (its folder is created).

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write_csv(pd.DataFrame({"beta": [0.5]}), Path(tmp) / "a.csv")
        ...     print(path.read_text().split())
        ['beta', '0.5']
    """
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def save_figure(fig: Figure, path: str | os.PathLike, **options: Any) -> Path:
    """``fig.savefig(path, **options)``, atomically (the format from ``path``'s suffix).

    Args:
        fig: the matplotlib figure.
        path: the file (its folder is created).
        **options: passed to ``fig.savefig`` (``dpi``, ``bbox_inches``...).

    Returns:
        ``path``.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, **options))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporaries of writers that died in ``folder``, its sub-tables and figures:
    this host's whose process is gone, any host's older than an hour.

    Args:
        folder: a results folder (absent: nothing to do).

    Returns:
        The temporaries removed.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = (Path(tmp) / ".part-x.parquet.tmp").write_text("")  # no host, no PID
        ...     print([p.name for p in remove_leftovers(tmp)])
        ['.part-x.parquet.tmp']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host = socket.gethostname().split(".")[0] or "host"
    removed = []
    for tmp in [*folder.glob(".*.tmp"), *folder.glob("*/.*.tmp"), *folder.glob("*/*/.*.tmp")]:
        parts = tmp.name.rsplit(".", 4)  # .<name>.<host>.<pid>.<random>.tmp
        try:
            dead = len(parts) == 5 and parts[1] == host and not _pid_alive(int(parts[2]))
            old = time.time() - tmp.stat().st_mtime > _STALE_TEMPORARY_SECONDS
        except (ValueError, OSError):
            continue
        if dead or old or len(parts) < 5:
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


@contextlib.contextmanager
def locked(folder: Path, name: str) -> Iterator[None]:
    """An exclusive lock on ``<folder>/.lock-<name>`` (``flock``; NFS clients emulate it
    with POSIX locks): the jobs that store into one file take turns.

    Args:
        folder: the results folder (created if absent).
        name: the lock's name (the digest of the file it guards).

    Returns:
        A context manager that holds the lock.

    Raises:
        StorageError: the lock file cannot be created or locked.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp, locked(Path(tmp), "abc"):
        ...     print(sorted(p.name for p in Path(tmp).iterdir()))
        ['.lock-abc']
    """
    import fcntl

    path = folder / f".lock-{name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # closed in the finally below
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except OSError as error:
        raise StorageError(
            error.errno or errno.EIO, f"cannot lock {path}: {error.strerror or error}"
        ) from error
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


# --- provenance ---------------------------------------------------------------------------------


def git_revision() -> str | None:
    """HEAD of the git checkout that rsim's package sits in (a clone, an editable install),
    with '+dirty' for local changes (provenance only: the code version that decides resuming
    is :func:`code_version`). An installed package (a wheel in site-packages) records none,
    never the revision of whatever repository it happens to run from.

    Returns:
        The revision, e.g. ``'3db4854...+dirty'``; ``'unknown'`` in a checkout where git does
        not answer; None outside a checkout.
    """
    root = PACKAGE.parent
    if not (root / ".git").exists():  # a folder in a clone, a file in a git worktree
        return None
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


@functools.cache
def source_digest(package: Path = PACKAGE) -> str:
    """SHA-256 of rsim's Python source (every ``.py`` under ``package``, by relative path):
    an edit to the code changes it, an edit to the README, the docs or a notebook does not.

    Args:
        package: the package folder (default: rsim's).

    Returns:
        The hex digest.

    Example:
        >>> len(source_digest())
        64
    """
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_version(prng: dict, versions: dict) -> str:
    """The version of the code that computes: a short digest of rsim's source, the jax and
    jaxlib versions and the PRNG settings (and jax's default matmul precision). Files of one
    folder must share it.

    Args:
        prng: the PRNG settings the experiment runs under.
        versions: the package versions (``jax`` and ``jaxlib`` are read).

    Returns:
        A 16-digit hex digest.

    Example:
        >>> version = code_version({"jax_threefry_partitionable": True}, {"jax": "0.0"})
        >>> len(version), version == code_version({"jax_threefry_partitionable": False}, {})
        (16, False)
    """
    import jax

    parts = {
        "source": source_digest(),
        "jax": versions.get("jax"),
        "jaxlib": versions.get("jaxlib"),
        "prng": prng,
        "matmul_precision": str(jax.config.jax_default_matmul_precision),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# --- Parquet tables -----------------------------------------------------------------------------


def write(frame: pd.DataFrame, path: Path, metadata: dict) -> Path:
    """Write ``frame`` to ``path`` atomically, with page checksums and ``metadata`` (JSON
    under the schema key ``rsim``).

    Args:
        frame: the table (its index is not stored).
        path: the Parquet file.
        metadata: what :func:`read_metadata` gives back (``row_key``, ``code_version``...).

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write(pd.DataFrame({"sample": [0, 1]}), Path(tmp) / "part-a.parquet",
        ...                  {"row_key": ["sample"]})
        ...     print(read_metadata(path), row_key(path), len(read_table(path)))
        {'row_key': ['sample']} ('sample',) 2
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[_METADATA_KEY] = json.dumps(metadata, default=str).encode()
    table = table.replace_schema_metadata(schema_metadata)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, write_page_checksum=True))


def read_metadata(path: Path) -> dict:
    """The rsim metadata of a result file (what :func:`write` stored).

    Args:
        path: a Parquet file written by :func:`write`.

    Returns:
        The metadata dict (see :func:`write` for an example).
    """
    return json.loads(pq.read_schema(path).metadata[_METADATA_KEY])


def read_table(path: Path) -> pd.DataFrame:
    """One rsim result file, its page checksums verified, or :class:`ResultsError` naming the
    file and what is wrong (unreadable or corrupted Parquet, or a Parquet file without rsim
    metadata: a foreign file).

    Args:
        path: a Parquet file written by :func:`write`.

    Returns:
        The table (see :func:`write` for an example).

    Raises:
        ResultsError: a damaged or foreign file.
    """
    _rsim_schema(path)
    try:
        return pq.read_table(path, page_checksum_verification=True).to_pandas()
    except Exception as error:  # pyarrow raises several types for damaged files
        raise _unreadable(path, error) from error


def result_files(path: Path) -> list[Path]:
    """The Parquet files of a folder, those ``pandas.read_parquet`` reads there (no name
    starting with ``.`` or ``_``, no sub-folder), or ``path`` itself.

    Args:
        path: a result file or a results folder.

    Returns:
        The files, sorted.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     for name in ("part-b.parquet", "part-a.parquet", ".part-c.parquet", "a.csv"):
        ...         _ = (Path(tmp) / name).write_text("")
        ...     print([p.name for p in result_files(Path(tmp))])
        ['part-a.parquet', 'part-b.parquet']
    """
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*.parquet") if not p.name.startswith((".", "_")))


def tables_folder(folder: str | os.PathLike) -> Path:
    """Where a results folder keeps its sub-tables and CSV summaries (pandas skips it).

    Args:
        folder: a results folder.

    Returns:
        ``<folder>/_tables``.

    Example:
        >>> tables_folder("results/x").as_posix()
        'results/x/_tables'
    """
    return Path(folder) / TABLES


def table_folder(folder: str | os.PathLike, table: str = "") -> Path:
    """The folder holding the Parquet files of ``table`` (``""``: the main table).

    Args:
        folder: a results folder.
        table: ``""`` or a sub-table's name (``paths``, ``regimes``).

    Returns:
        ``folder`` itself, or ``<folder>/_tables/<table>``.

    Example:
        >>> table_folder("results/x").as_posix(), table_folder("results/x", "paths").as_posix()
        ('results/x', 'results/x/_tables/paths')
    """
    return tables_folder(folder) / table if table else Path(folder)


def figures_folder(folder: str | os.PathLike) -> Path:
    """Where a results folder keeps its figures (pandas skips it).

    Args:
        folder: a results folder.

    Returns:
        ``<folder>/_figures``.

    Example:
        >>> figures_folder("results/x").as_posix()
        'results/x/_figures'
    """
    return Path(folder) / FIGURES


def folder_files(folder: Path) -> list[Path]:
    """Every result file of a folder: its main table's and its sub-tables'.

    Args:
        folder: a results folder (absent: none).

    Returns:
        The files, the main table's first.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     table_folder(tmp, "paths").mkdir(parents=True)
        ...     for name in ("part-a.parquet", "_tables/paths/part-a.parquet"):
        ...         _ = (Path(tmp) / name).write_text("")
        ...     print([p.relative_to(tmp).as_posix() for p in folder_files(Path(tmp))])
        ['part-a.parquet', '_tables/paths/part-a.parquet']
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    tables = tables_folder(folder)
    subfolders = sorted(p for p in tables.iterdir() if p.is_dir()) if tables.is_dir() else []
    return [f for sub in [folder, *subfolders] for f in result_files(sub)]


# (path, size, mtime in ns) -> the file's code version: a sweep's jobs each check the folder.
_VERSIONS: dict[tuple[str, int, int], str | None] = {}


def _version_of(path: Path) -> str | None:
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _VERSIONS:
            _VERSIONS[key] = read_metadata(path).get("code_version")
        return _VERSIONS[key]
    except Exception:  # unreadable files are reported where they are read
        return None


def version_conflicts(files: Sequence[Path], version: str | None = None) -> str | None:
    """Why ``files`` are not one code version (``version``: the one they must all have), as
    one line naming them and the way out; None when they agree.

    Args:
        files: result files (unreadable ones are left to the reader).
        version: the code version they must have (None: the most common one).

    Returns:
        The one-line reason, or None.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = write(pd.DataFrame({"sample": [0]}), Path(tmp) / "part-a.parquet",
        ...                  {"code_version": "v1"})
        ...     print(version_conflicts([path]), version_conflicts([path], "v2")[:47])
        None 1 file(s) were written by another code version
    """
    versions: dict[str | None, list[Path]] = {}
    for path in files:
        versions.setdefault(_version_of(path), []).append(path)
    versions.pop(None, None)
    if version is not None:
        others = {v: paths for v, paths in versions.items() if v != version}
    elif len(versions) > 1:
        common = max(versions, key=lambda v: len(versions[v]))
        version = common
        others = {v: paths for v, paths in versions.items() if v != common}
    else:
        return None
    if not others:
        return None
    stray = [p for paths in others.values() for p in paths]
    named = ", ".join(str(p) for p in stray[:3]) + (
        f" and {len(stray) - 3} more" if len(stray) > 3 else ""
    )
    return (
        f"{len(stray)} file(s) were written by another code version "
        f"({', '.join(sorted(others))}, not {version}): {named}; use another output folder, "
        "or move those files away (or delete them to recompute)"
    )


def row_key(path: Path) -> tuple[str, ...] | None:
    """The columns that identify a row of the file (its metadata's ``row_key``).

    Args:
        path: a Parquet file written by :func:`write`.

    Returns:
        The column names, or None when the file has none (see :func:`write` for an example).
    """
    key = read_metadata(path).get("row_key")
    return tuple(key) if key else None


def _deduplicate(
    frame: pd.DataFrame, key: Sequence[str], strict: bool, source: str
) -> pd.DataFrame:
    """One copy of each row identified by ``key`` (the copy with the most metrics filled);
    a repeated row is a warning naming ``source``, or with ``strict`` a :class:`ResultsError`."""
    key = [k for k in key if k in frame]
    repeated = frame.duplicated(key, keep=False)
    if not repeated.any():
        return frame
    copies = int(repeated.sum() - frame[repeated].drop_duplicates(key).shape[0])
    same = " and ".join(key[-2:])
    message = f"{source}: {copies} rows repeat draws already present (same {same} of a cell)"
    if strict:
        raise ResultsError(f"{message}; load without strict=True to keep one copy of each")
    warnings.warn(f"rsim.load: {message}: kept one copy of each", stacklevel=3)
    filled = frame.notna().sum(axis=1)
    order = np.argsort(-filled.to_numpy(), kind="stable")
    kept = frame.iloc[order].drop_duplicates(key).index
    return frame.loc[sorted(kept)].reset_index(drop=True)


def load(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    strict: bool = False,
    mixed_versions: bool = False,
    rows: Mapping[Path, Callable[[pd.DataFrame], pd.Series]] | None = None,
    columns: Sequence[str] | None = None,
    filters: pc.Expression | list | None = None,
) -> pd.DataFrame:
    """Read a results folder (or one file, or a list of them) into a DataFrame and add the
    plain ratios.

    The files are read through :mod:`pyarrow.dataset` (their columns unified: a column that a
    file lacks reads as null), so ``columns`` and ``filters`` are applied while reading. For
    every stored ``log_<name>`` column a ``<name>`` column holds ``exp(log_<name>)``
    (``hidden_ratio`` = ||h_L|| / ||h_0||, ...; :func:`with_ratios`); ratios past float64 range
    read as inf. Given several folders, a column ``folder`` names each row's (as given), and
    each folder is checked on its own (code version, repeated rows). A damaged, corrupted (page
    checksum) or foreign ``.parquet`` file is skipped with a warning naming it; a row stored
    twice (the same draw in two files) is kept once with a warning. ``strict``: both raise
    :class:`ResultsError` instead. Files of one folder written by different code versions are
    refused (:class:`ResultsError` naming them) unless ``mixed_versions``. Names starting with
    ``.`` or ``_`` (temporaries, sub-tables, figures) are never read, as in pandas and pyarrow.

    Args:
        path: a results folder, a result file, or a list of them.
        strict: raise on a damaged file or a row stored twice instead of warning.
        mixed_versions: read files of several code versions.
        rows: per file, a function of its table giving the mask of the rows to keep.
        columns: the columns to return, in this order (stored ones or plain ratios; None:
            all, with every plain ratio).
        filters: rows to keep, as :func:`pyarrow.parquet.read_table` takes them: a
            ``pyarrow.compute`` expression or a list of ``(column, op, value)`` tuples
            (stored columns only).

    Returns:
        The rows of every file, each draw once, with the plain ratios.

    Raises:
        ResultsError: files of several code versions, or (``strict``) a damaged file or a
            repeated row.
        ValueError: a column or a filter that names no stored column (one line).
        FileNotFoundError: no rsim Parquet file.

    Example:
        >>> import tempfile
        >>> frame = pd.DataFrame({"sample": [0, 1], "log_hidden_diff": [0.0, np.log(2.0)]})
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = write(frame, Path(tmp) / "part-a.parquet", {"row_key": ["sample"]})
        ...     table = load(tmp)
        ...     one = load(tmp, columns=["hidden_diff"], filters=[("sample", "=", 1)])
        >>> table["hidden_diff"].tolist(), one.to_dict("list")
        ([1.0, 2.0], {'hidden_diff': [2.0]})
    """
    several = not isinstance(path, (str, os.PathLike))
    paths = list(path) if several else [path]
    folders: dict[Path, Path] = {}  # file -> its folder as given (a file: its parent)
    for p in map(Path, paths):
        folders.update(dict.fromkeys(result_files(p), p.parent if p.is_file() else p))
    source = ", ".join(map(str, paths)) if several else str(path)
    readable: dict[Path, pa.Schema] = {}
    for file in folders:
        try:
            readable[file] = _rsim_schema(file)
        except ResultsError as problem:
            _skip(problem, strict)
    if not readable:
        raise FileNotFoundError(f"no rsim Parquet files in {source or path}")
    if not mixed_versions:
        for folder in dict.fromkeys(folders.values()):
            conflict = version_conflicts([f for f in folders if folders[f] == folder])
            if conflict:
                raise ResultsError(f"rsim.load: {conflict} (or load with mixed_versions=True)")
    schema = pa.unify_schemas(list(readable.values()), promote_options="permissive")
    stored = _stored_columns(schema, columns, rows, readable, source)
    try:  # binds the filter to the columns: nothing is read
        expression = pq.filters_to_expression(filters) if isinstance(filters, list) else filters
        ds.dataset(list(map(str, readable)), schema=schema).scanner(
            columns=stored, filter=expression
        )
    except (pa.ArrowException, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0].split(" in ")[0]  # pyarrow appends the schema
        raise ValueError(
            f"rsim.load: bad filters for {source}: {reason}; filter on stored columns (a plain "
            "ratio: on its log_ column)"
        ) from None
    label = len(set(folders.values())) > 1
    frames = []
    for file in readable:
        try:
            fragment = _PARQUET.make_fragment(os.path.abspath(file), pafs.LocalFileSystem())
            table = fragment.to_table(schema=schema, columns=stored, filter=expression)
        except Exception as error:  # pyarrow raises several types for damaged pages
            _skip(_unreadable(file, error), strict)
            continue
        frame = table.to_pandas()
        if rows and file in rows:
            frame = frame[np.asarray(rows[file](frame), dtype=bool)].reset_index(drop=True)
        if label:
            frame["folder"] = str(folders[file])
        frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no readable rsim Parquet files in {source}")
    frame = pd.concat(frames, ignore_index=True)
    keys = {row_key(file) for file in readable}
    if len(keys) == 1 and None not in keys:  # two files sharing draws: each draw once
        frame = _deduplicate(frame, (*(("folder",) if label else ()), *keys.pop()), strict, source)
    frame = with_ratios(frame)
    if columns is None:
        return frame
    return frame[list(columns) + (["folder"] if label and "folder" not in columns else [])]


_PARQUET = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)


def _rsim_schema(path: Path) -> pa.Schema:
    """The schema of an rsim result file; a damaged or foreign file: :class:`ResultsError`
    naming it."""
    try:
        schema = pq.read_schema(path)
    except Exception as error:  # pyarrow raises several types for damaged files
        raise _unreadable(path, error) from error
    if _METADATA_KEY not in (schema.metadata or {}):
        raise ResultsError(f"{path}: not an rsim result (no 'rsim' schema metadata)")
    return schema


def _unreadable(path: Path, error: Exception) -> ResultsError:
    """The one-line error of a file that pyarrow cannot read."""
    return ResultsError(f"{path}: unreadable Parquet file ({type(error).__name__}: {error})")


def _skip(problem: ResultsError, strict: bool) -> None:
    """Raise ``problem`` (``strict``), or warn that :func:`load` skips its file."""
    if strict:
        raise problem
    warnings.warn(f"rsim.load: skipping {problem}", stacklevel=3)


def _stored_columns(
    schema: pa.Schema,
    columns: Sequence[str] | None,
    rows: Mapping | None,
    files: Mapping[Path, pa.Schema],
    source: str,
) -> list[str] | None:
    """The stored columns to read for ``columns`` (None: all): those named, the logs of the
    plain ratios named, and what identifies a row (to keep each draw once); with ``rows``
    (masks that may read any column), all. A name neither stored nor a ratio of a stored log:
    :class:`ValueError`, one line."""
    if columns is None or rows:
        return None
    if isinstance(columns, str):
        raise ValueError(f"rsim.load: columns={columns!r} must be a list of names")
    stored = set(schema.names)
    unknown = [c for c in columns if c not in stored and f"log_{c}" not in stored]
    if unknown:
        raise ValueError(
            f"rsim.load: no column {', '.join(map(repr, unknown))} in {source}; its columns are "
            f"{', '.join(schema.names)} and the ratios of its log_ columns"
        )
    keys = [k for f in files for k in (row_key(f) or ())]
    wanted = [c if c in stored else f"log_{c}" for c in columns]
    return list(dict.fromkeys([*wanted, *(k for k in keys if k in stored)]))


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``<name> = exp(log_<name>)`` for every stored log metric not yet converted.

    Args:
        frame: a table with ``log_<name>`` columns (modified in place).

    Returns:
        ``frame``.

    Example:
        >>> with_ratios(pd.DataFrame({"log_hidden_ratio": [0.0]}))
           log_hidden_ratio  hidden_ratio
        0               0.0           1.0
    """
    with np.errstate(over="ignore"):
        for name in RATIOS:
            if f"log_{name}" in frame and name not in frame:
                frame[name] = np.exp(frame[f"log_{name}"])
    return frame


# --- the history of a folder, failure records ---------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(
            f"{path} is damaged ({type(error).__name__}: {error}); move it away"
        ) from error


def read_manifest(folder: Path) -> dict:
    """``_sweep.json``: ``runs`` (the history: each command's time, command line, experiment
    and jobs, oldest first) with ``experiment`` and ``jobs`` of the latest. A damaged or
    foreign file raises :class:`ResultsError` (one line).

    Args:
        folder: a results folder.

    Returns:
        ``{"experiment", "jobs", "runs"}`` (see :func:`write_manifest` for an example).

    Raises:
        ResultsError: a damaged or foreign ``_sweep.json``.
    """
    path = Path(folder) / MANIFEST
    manifest = _read_json(path)
    if isinstance(manifest, dict) and "runs" not in manifest and "jobs" in manifest:
        manifest = {"runs": [manifest]}  # written before the history existed
    runs = manifest.get("runs") if isinstance(manifest, dict) else None
    if not runs or not all(_is_run(run) for run in runs):
        raise ResultsError(f"{path} is damaged (not a list of runs with jobs); move it away")
    latest = runs[-1]
    return {"experiment": latest.get("experiment"), "jobs": latest["jobs"], "runs": runs}


def _is_run(run: Any) -> bool:
    """A history entry: a dict whose jobs each have a digest, a label and values."""
    jobs = run.get("jobs") if isinstance(run, dict) else None
    return isinstance(jobs, list) and all(
        isinstance(job, dict)
        and isinstance(job.get("digest"), str)
        and isinstance(job.get("values"), dict)
        and "label" in job
        for job in jobs
    )


def write_manifest(
    folder: Path, experiment: str, jobs: list[dict], command: Sequence[str] | None = None
) -> Path:
    """Add this command (its time, command line, experiment and expected jobs: ``digest``,
    ``label``, ``values``) to the folder's history ``_sweep.json``. A damaged history is
    refused (:class:`ResultsError`), not overwritten.

    Args:
        folder: the results folder.
        experiment: the experiment's name.
        jobs: the jobs this command expects, each with ``digest``, ``label`` and ``values``.
        command: the command line (default ``sys.argv``).

    Returns:
        The path of ``_sweep.json``.

    Example:
        >>> import tempfile
        >>> job = {"digest": "abc", "label": "depth=8", "values": {"depth": 8}}
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = write_manifest(Path(tmp), "cells", [job], command=["rsim"])
        ...     _ = write_manifest(Path(tmp), "cells", [job, job], command=["rsim"])
        ...     manifest = read_manifest(Path(tmp))
        >>> manifest["experiment"], len(manifest["jobs"]), len(manifest["runs"])
        ('cells', 2, 2)
    """
    folder = Path(folder)
    path = folder / MANIFEST
    runs = read_manifest(folder)["runs"] if path.exists() else []
    runs.append(
        {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": list(sys.argv if command is None else command),
            "experiment": experiment,
            "jobs": jobs,
        }
    )
    return write_text(path, json.dumps({"runs": runs}, indent=1, default=str))


def failure_path(folder: Path, digest: str) -> Path:
    """Where the failure record of the job ``digest`` goes.

    Args:
        folder: the results folder.
        digest: the job's digest.

    Returns:
        ``<folder>/_failed-<digest>.json``.

    Example:
        >>> failure_path(Path("results/x"), "abc").as_posix()
        'results/x/_failed-abc.json'
    """
    return Path(folder) / f"_failed-{digest}.json"


def write_failure(folder: Path, digest: str, record: dict) -> Path:
    """Write the failure record of the job ``digest`` (atomically).

    Args:
        folder: the results folder.
        digest: the job's digest.
        record: the record, with at least ``error``.

    Returns:
        The path of the record (see :func:`read_failure` for an example).
    """
    return write_text(failure_path(folder, digest), json.dumps(record, default=str))


def read_failure(folder: Path, digest: str) -> dict:
    """A failure record, or :class:`ResultsError` (one line) when it is damaged.

    Args:
        folder: the results folder.
        digest: the job's digest.

    Returns:
        The record written by :func:`write_failure`.

    Raises:
        ResultsError: a damaged record (or one without ``error``).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = write_failure(Path(tmp), "abc", {"error": "ValueError: bad"})
        ...     print(read_failure(Path(tmp), "abc"))
        {'error': 'ValueError: bad'}
    """
    record = _read_json(failure_path(folder, digest))
    if not isinstance(record, dict) or "error" not in record:
        raise ResultsError(f"{failure_path(folder, digest)} is damaged (no error); move it away")
    return record


@dataclass
class Status:
    """The jobs of the latest command sorted by state; ``unreadable`` lists damaged or
    foreign files.

    Example:
        >>> status = Status("cells", expected=[{"digest": "a"}, {"digest": "b"}])
        >>> status.done.append({"digest": "a"})
        >>> status.complete, status.coverage()
        (False, '1 of 2 jobs missing')
    """

    experiment: str
    expected: list[dict]
    done: list[dict] = field(default_factory=list)
    missing: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every expected job is done and no file is unreadable.

        Returns:
            True when the latest command's jobs are all stored.
        """
        return bool(self.expected) and len(self.done) == len(self.expected) and not self.unreadable

    def coverage(self) -> str:
        """``all 4 jobs done``, or ``5 of 10 jobs missing`` (failed ones counted as missing).

        Returns:
            The coverage in words.
        """
        absent = len(self.expected) - len(self.done)
        if not absent:
            return f"all {len(self.expected)} jobs done"
        return f"{absent} of {len(self.expected)} jobs missing"

    def line(self, folder: Path) -> str:
        """The one-line status of ``folder`` (``python -m rsim.status``).

        Args:
            folder: the results folder, as named in the line.

        Returns:
            The line.
        """
        return (
            f"{folder}: {self.experiment}: {len(self.expected)} jobs expected, "
            f"{len(self.done)} done, {len(self.missing)} missing, {len(self.failed)} failed, "
            f"{len(self.unreadable)} unreadable files"
        )
