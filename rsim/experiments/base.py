"""The experiment protocol and the one runner every experiment shares.

An experiment is three things (:class:`Experiment`):

* a **spec**: a frozen dataclass deriving from :class:`Spec`, whose fields are the
  experiment's options with their defaults (the only place they are written; the Hydra group
  ``experiment=<name>`` is generated from them) and whose ``validate`` raises
  :class:`rsim.ConfigError` with one line naming the key. Its ``identity()`` fixes the
  job's results; its storage protocol (``store_identity``, whose hash is the file name,
  ``row_key``, ``parts``, ``merge``, ``selects``, ``covered``) says where its rows live and
  what a rerun still has to compute (by default: one file per job, computed once).
* ``compute(spec, progress)``: the pure computation, returning the job's tables by name
  (``""`` is the main table; any other name is a sub-table, stored in
  ``_tables/<name>/``, e.g. ``regimes``).
* ``finish(folder, figures)``: the end of a run or sweep: summaries from the tables (analysis)
  and figures (views).

The runner (:func:`run_job`) does everything else, identically for every experiment: the path
from the digest, one code version per folder, the lock per file, computing only the missing
parts, the atomic Parquet writes with one provenance, the failure record;
:func:`job_manifest` lists the jobs that ``rsim.status`` expects, and :func:`load_run` reads
the rows of the latest command's jobs (what a finish summarises).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import platform
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from rsim import checks, results, schema
from rsim.checks import ConfigError

log = logging.getLogger(__name__)

# Field metadata (:func:`option`): ``help`` is the option's meaning (``rsim --help``);
# ``identity: "omitted at default"`` marks an option added after result files existed, left out
# of the identity at its default so the files of earlier specs keep their names; ``internal``
# a field that the runner sets, never the user (not an option, not in the identity).
OMITTED_AT_DEFAULT = "omitted at default"
# Packages whose versions every result file records.
PACKAGES = ("jax", "jaxlib", "numpy", "pandas", "pyarrow", "optax", "diffrax")

Progress = Callable[[int], None]  # called with the number of units just finished


def option(
    default: Any = dataclasses.MISSING,
    meaning: str = "",
    *,
    compare: bool = True,
    later: bool = False,
    internal: bool = False,
) -> Any:
    """A spec field with its default and its meaning, the one place both are written.

    Args:
        default: the default (``dataclasses.MISSING``: each subclass sets its own).
        meaning: what the option does, as ``rsim --help`` prints it (a subclass that only
            changes the default inherits it: :func:`meaning`).
        compare: False for an option that is no part of the identity (analysis only, or
            results that never depend on it).
        later: an option added after result files existed: left out of the identity at its
            default, so the files of earlier specs keep their names.
        internal: set by the runner, never by the user (not an option, not in the identity).

    Returns:
        A :func:`dataclasses.field`.

    >>> @dataclass(frozen=True)
    ... class Toy(Spec):
    ...     depth: int = option(10, "L")
    >>> meaning(Toy, "depth"), Toy.options()
    ('L', {'depth': 10})
    """
    metadata: dict[str, Any] = {"help": meaning}
    if later:
        metadata["identity"] = OMITTED_AT_DEFAULT
    if internal:
        metadata["internal"] = True
    return dataclasses.field(default=default, compare=compare and not internal, metadata=metadata)


def meaning(spec: type[Spec], name: str) -> str:
    """The meaning of option ``name`` of ``spec``: its own field's, or the nearest base class's
    where a subclass only sets another default.

    Args:
        spec: a spec class.
        name: one of its options.

    Returns:
        The meaning ("" if none is written).
    """
    for klass in spec.__mro__:
        field = vars(klass).get("__dataclass_fields__", {}).get(name)
        if field is not None and field.metadata.get("help"):
            return field.metadata["help"]
    return ""


def _is_option(field: dataclasses.Field) -> bool:
    """Whether a spec field is a user's option (not set by the runner)."""
    return not field.metadata.get("internal", False)


class Spec:
    """Base of every experiment's frozen spec dataclass (see the module doc)."""

    experiment: ClassVar[str]
    # The random stream the experiment's core runs under (recorded in every file it writes).
    prng: ClassVar[dict] = schema.PRNG_SETTINGS

    def tables(self) -> tuple[str, ...]:
        """Sub-tables written beside the main one
        (``<folder>/_tables/<table>/part-<digest>.parquet``)."""
        return ()

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The option names with their defaults (tuples as lists): the Hydra group's node."""
        values = {}
        for f in dataclasses.fields(cls):
            if not _is_option(f):
                continue
            default = f.default
            values[f.name] = list(default) if isinstance(default, tuple) else default
        return values

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> Spec:
        """Build a spec from plain values (validated on construction, like every spec); a key
        the experiment does not use is refused (runner keys such as ``output`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls) if _is_option(f)}
        for key in values:
            if key not in names and key not in schema.RUN_OPTIONS:
                raise ConfigError(
                    f"{key} is not an option of experiment={cls.experiment}; "
                    f"its options are {', '.join(sorted(names))}"
                )
        return cls(**{k: v for k, v in values.items() if k in names})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # lists from a config: hashable tuples
                object.__setattr__(self, f.name, tuple(value))
        self.normalise()
        self.validate()

    def normalise(self) -> None:
        """Put equivalent inputs in one form before validation (e.g. drop an option that the
        chosen law ignores, so that it does not change the identity)."""

    def validate(self) -> None:
        """Raise :class:`rsim.ConfigError` naming the first bad option."""
        raise NotImplementedError

    def _set(self, name: str, value: Any) -> None:
        """Assign a field of the frozen spec (for :meth:`normalise` only)."""
        object.__setattr__(self, name, value)

    def identity(self) -> dict[str, Any]:
        """The values that determine the results (``compare=False`` fields do not)."""
        values = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            omitted = f.metadata.get("identity") == OMITTED_AT_DEFAULT and value == f.default
            if not f.compare or omitted:
                continue
            values[f.name] = list(value) if isinstance(value, tuple) else value
        return values

    def digest(self) -> str:
        """A short stable hash of ``identity()``: the job's file name."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def label(self) -> str:
        """A few words naming the job in logs and in ``rsim.status``."""
        raise NotImplementedError

    def block(self) -> int:
        """Samples (or runs) computed together in one vmap: part of what fixes the float bits."""
        raise NotImplementedError

    def table_notes(self) -> dict[str, Any]:
        """What a reader of this spec's rows must know beyond its options (stored in the
        file's metadata under ``notes``). Nothing by default."""
        return {}

    def preflight(self) -> None:
        """Refuse, with :class:`rsim.ConfigError`, a job the device cannot hold (checked by the
        driver before any job runs; may start the JAX backend). Nothing to check by default."""

    def progress_total(self) -> int:
        """Units of work that ``compute`` reports through its progress callback."""
        return self.samples

    # --- storage: what a job adds to its folder (the defaults: one file per job) ---

    def store_identity(self) -> dict[str, Any]:
        """The identity of the file the job's rows are stored in (its hash is the name): by
        default the job's own; cells store every job of one cell in one file."""
        return self.identity()

    def store_digest(self) -> str:
        text = json.dumps(self.store_identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def row_key(self, table: str = "") -> tuple[str, ...] | None:
        """The columns that identify one draw in ``table`` (None: rows are told apart by
        their file only)."""
        return None

    def parts(self, stored: dict[str, pd.DataFrame] | None) -> list[Spec]:
        """The computations still needed, given the tables already stored (None: none)."""
        return [self] if stored is None else []

    def merge(
        self, stored: dict[str, pd.DataFrame] | None, computed: list[dict[str, pd.DataFrame]]
    ) -> dict[str, pd.DataFrame]:
        """The tables to store: the stored ones with the computed parts' rows."""
        (tables,) = computed
        return tables

    def selects(self, frame: pd.DataFrame) -> pd.Series:
        """The rows of a stored main table that belong to this job."""
        return pd.Series(True, index=frame.index)

    def covered(self, frame: pd.DataFrame) -> bool:
        """Whether a stored main table holds every row of this job."""
        return True


@dataclass(frozen=True)
class Experiment:
    """One experiment: the record that :data:`rsim.experiments.EXPERIMENTS` registers once
    under its spec's name (``experiment=<name>``); the cli, the runner and ``rsim.status``
    find everything about it here."""

    spec: type[Spec]  # its options, their defaults and checks; ``spec.experiment`` names it
    compute: Callable[[Any, Progress | None], dict[str, pd.DataFrame]]  # the pure computation
    finish: Callable[[Path, bool], None]  # summaries (analysis) and figures (views) of a run
    label: str  # what it computes, in a few words

    @property
    def name(self) -> str:
        """The value of the ``experiment`` option that selects it (its spec's)."""
        return self.spec.experiment


def get(name: str) -> Experiment:
    """The registered experiment called ``name``.

    Args:
        name: the value of the ``experiment`` option.

    Returns:
        Its record in :data:`rsim.experiments.EXPERIMENTS`.

    Raises:
        ConfigError: one line listing the experiments, for an unknown name.

    >>> get("ode").spec.__name__
    'OdeSpec'
    """
    from rsim import experiments

    checks.choice("experiment", name, tuple(experiments.EXPERIMENTS))
    return experiments.EXPERIMENTS[name]


def spec_from_config(values: Mapping[str, Any]) -> Spec:
    """The validated spec of a job's values (``experiment`` picks the experiment).

    Args:
        values: a job's option values (runner keys such as ``output`` are ignored).

    Returns:
        The experiment's spec, validated.
    """
    return get(str(values.get("experiment", "cells"))).spec.from_config(values)


# --- the runner ---------------------------------------------------------------------------------


def table_path(folder: Path, spec: Spec, table: str = "") -> Path:
    """The file that stores ``spec``'s rows of ``table`` (``""``: the main table)."""
    return results.table_folder(folder, table) / f"part-{spec.store_digest()}.parquet"


def provenance(spec: Spec) -> dict[str, Any]:
    """What produced a file, the same keys for every experiment: experiment, the stored
    unit's spec, versions (rsim's among them), PRNG settings, x64, the block, device, git
    revision (None for an installed package), the code version
    (:func:`rsim.results.code_version`), when (UTC) and by which command line. None of it is
    part of a file's name or a job's identity.

    Args:
        spec: the stored unit's spec.

    Returns:
        The metadata (JSON-able); the runner adds the table's ``row_key``.
    """
    import jax

    import rsim

    versions = {"rsim": rsim.__version__, **package_versions()}
    return {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
        "experiment": spec.experiment,
        "spec": spec.store_identity(),
        "versions": versions,
        "prng": spec.prng,
        "x64": getattr(spec, "precision", "float32") == "float64",
        "block": spec.block(),
        "device": str(jax.devices()[0].device_kind),
        "git_revision": results.git_revision(),
        "code_version": results.code_version(spec.prng, versions),
        "notes": spec.table_notes(),
    }


def package_versions() -> dict[str, str]:
    """Python's version and those of :data:`PACKAGES`."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    versions.update({package: metadata.version(package) for package in PACKAGES})
    return versions


def check_folder(folder: Path, spec: Spec) -> None:
    """Refuse (:class:`rsim.ConfigError`, one line) a folder holding files of another code
    version than this run's (no device is started)."""
    version = results.code_version(spec.prng, package_versions())
    conflict = results.version_conflicts(results.folder_files(folder), version)
    if conflict:
        raise ConfigError(f"cannot add to {folder}: {conflict}")


def stored_tables(spec: Spec, folder: Path) -> dict[str, pd.DataFrame] | None:
    """The tables already stored for ``spec``'s unit (None when its main table is absent);
    an unreadable one is refused, naming it."""
    paths = {table: table_path(folder, spec, table) for table in (*spec.tables(), "")}
    if not paths[""].exists():
        return None
    tables = {}
    for table, path in paths.items():
        if not path.exists():
            continue
        try:
            tables[table] = results.read_table(path)
        except results.ResultsError as error:
            raise ConfigError(f"cannot resume: {error}; delete it to recompute") from error
    return tables


def is_done(spec: Spec, folder: Path) -> bool:
    """Whether every row of ``spec`` is stored in a readable file of ``folder``."""
    path = table_path(folder, spec)
    if not path.exists():
        return False
    try:
        return spec.covered(results.read_table(path))
    except results.ResultsError:
        return False


def run_job(spec: Spec, folder: Path, progress: bool = False) -> Path:
    """Compute what one job still needs and store it, or find it stored by the same code.

    The folder must hold one code version (:func:`check_folder`). The jobs that store into one
    file take turns (a lock per file); each reads what is stored, computes only the missing
    parts (:meth:`Spec.parts`: for cells, new samples, betas or gradients), merges them
    (:meth:`Spec.merge`, a draw once) and writes every table atomically, sub-tables first and
    the main table last. An exception other than bad input leaves ``_failed-<digest>.json``
    (read by ``rsim.status``) before it propagates; a failed write raises
    :class:`rsim.results.StorageError` (the driver stops the sweep).
    """
    folder = Path(folder)
    results.remove_leftovers(folder)
    check_folder(folder, spec)
    paths = {table: table_path(folder, spec, table) for table in (*spec.tables(), "")}
    with results.locked(folder, spec.store_digest()):
        stored = stored_tables(spec, folder)
        parts = spec.parts(stored)
        if not parts:
            log.info("skip %s: its rows are in %s", spec.label(), paths[""])
            return paths[""]
        try:
            bar = progress_bar(spec, sum(p.progress_total() for p in parts), progress)
            computed = [get(spec.experiment).compute(part, bar) for part in parts]
            tables = spec.merge(stored, computed)
            metadata = provenance(spec)
            for table, path in paths.items():
                metadata["row_key"] = spec.row_key(table)
                if table in tables:
                    results.write(tables[table], path, metadata)
        except ConfigError:
            raise
        except Exception as error:
            _record_failure(folder, spec, error)
            raise
    results.failure_path(folder, spec.digest()).unlink(missing_ok=True)
    added = sum(len(t[""]) for t in computed)
    log.info("wrote %d rows to %s (%s)", added, paths[""], spec.label())
    return paths[""]


def _record_failure(folder: Path, spec: Spec, error: Exception) -> None:
    """``_failed-<digest>.json``; on a full disk this may fail too, which is then said."""
    record = {"error": f"{type(error).__name__}: {error}", "job": spec.identity()}
    try:
        results.write_failure(folder, spec.digest(), record)
    except results.StorageError as again:
        log.error("no failure record either: %s", again)


def run_specs(folder: Path) -> list[Spec]:
    """The specs of the latest command's jobs in ``folder`` (its manifest), in its order.

    Args:
        folder: a results folder holding a manifest (``_sweep.json``).

    Returns:
        One validated spec per job of the manifest.
    """
    return [spec_from_config(job["values"]) for job in results.read_manifest(folder)["jobs"]]


def load_run(
    folder: Path,
    table: str = "",
    strict: bool = False,
    jobs: Callable[[Spec], bool] | None = None,
) -> pd.DataFrame:
    """The rows of the jobs of the latest command that wrote to ``folder`` (its manifest),
    each draw once; without a manifest, the whole folder (:func:`rsim.results.load`).

    Args:
        folder: the results folder.
        table: ``""`` for the main table, or a sub-table's name (e.g. ``paths``).
        strict: refuse a damaged file instead of skipping it with a warning.
        jobs: keep only the manifest's jobs whose spec it accepts (e.g. one training study);
            None: every job. Ignored without a manifest.

    Returns:
        The rows, as :func:`rsim.results.load` reads them.
    """
    folder = Path(folder)
    if not (folder / results.MANIFEST).exists():
        return results.load(results.table_folder(folder, table), strict=strict)
    selected: dict[Path, list[Spec]] = {}  # file -> the jobs stored in it
    for spec in run_specs(folder):
        if jobs is not None and not jobs(spec):
            continue
        path = table_path(folder, spec, table)
        if path.exists():
            selected.setdefault(path, []).append(spec)
    if not selected:
        raise FileNotFoundError(f"no rsim Parquet files of the latest command in {folder}")
    if table:  # a sub-table: every row of the files
        return results.load(list(selected), strict=strict)
    # the rows of the jobs (cells: their betas and samples), each once
    rows = {
        path: lambda frame, specs=specs: np.logical_or.reduce([s.selects(frame) for s in specs])
        for path, specs in selected.items()
    }
    return results.load(list(selected), strict=strict, rows=rows)


def run_description(folder: Path) -> str:
    """Which jobs :func:`load_run` covers: ``the 3 jobs of the latest command (run 2 of
    <folder>/_sweep.json)``, or ``every file in <folder>``."""
    if not (Path(folder) / results.MANIFEST).exists():
        return f"every file in {folder}"
    manifest = results.read_manifest(folder)
    return (
        f"the {len(manifest['jobs'])} jobs of the latest command "
        f"(run {len(manifest['runs'])} of {Path(folder) / results.MANIFEST})"
    )


def progress_bar(spec: Spec, total: int, enabled: bool) -> Progress | None:
    """A tqdm bar's update over ``total`` units, closed when it reaches them; None (no bar)
    unless ``enabled`` and stderr is a terminal (a redirected stderr gets no ``\\r`` updates).

    Args:
        spec: the job (its label names the bar).
        total: the units of work.
        enabled: the run option ``progress``.

    Returns:
        The callback advancing the bar, or None.

    Example:
        >>> import io, contextlib
        >>> from rsim.experiments.cells import CellSpec
        >>> with contextlib.redirect_stderr(io.StringIO()):
        ...     print(progress_bar(CellSpec(), 10, enabled=True))
        None
    """
    if not enabled or total <= 0 or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=spec.label(), leave=False)

    def update(n: int) -> None:
        bar.update(n)
        if bar.n >= bar.total:
            bar.close()

    return update


def job_manifest(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expected jobs of a run or sweep: digest, label and values, one per distinct job."""
    jobs = {}
    for job in values:
        spec = spec_from_config(job)
        jobs.setdefault(
            spec.digest(), {"digest": spec.digest(), "label": spec.label(), "values": job}
        )
    return list(jobs.values())


def status(folder: Path) -> results.Status:
    """Each job of the latest command is done (its rows are stored in readable files),
    failed (a failure record and no result) or missing."""
    folder = Path(folder)
    manifest = results.read_manifest(folder)
    report = results.Status(manifest["experiment"], manifest["jobs"])
    tables = {}  # every readable file, each read (and its checksums verified) once
    for file in results.folder_files(folder):
        try:
            tables[file] = results.read_table(file)
        except results.ResultsError as error:
            report.unreadable.append(str(error))
    for job in report.expected:
        spec = spec_from_config(job["values"])
        stored = tables.get(table_path(folder, spec))
        if stored is not None and spec.covered(stored):
            report.done.append(job)
        elif results.failure_path(folder, job["digest"]).exists():
            report.failed.append(job)
        else:
            report.missing.append(job)
    return report
