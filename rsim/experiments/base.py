"""The experiment protocol and the one runner every experiment shares.

An experiment is three things (:class:`Experiment`):

* a **spec**: a frozen dataclass deriving from :class:`Spec`, whose fields are the
  experiment's options with their defaults (the only place they are written; the Hydra group
  ``experiment=<name>`` is generated from them) and whose ``validate`` raises
  :class:`rsim.ConfigError` with one line naming the key. Its ``identity()`` fixes the results:
  its hash is the file name.
* ``compute(spec, progress)``: the pure computation, returning the job's tables by name
  (``""`` is the main table; any other name is a sub-folder, e.g. ``regimes``).
* ``finish(folder, figures)``: the end of a run or sweep: summaries from the tables (analysis)
  and figures (views).

The runner (:func:`run_job`) does everything else, identically for every experiment: the path
from the digest, resume with the code-version check, the atomic Parquet writes with one
provenance, the failure record; :func:`job_manifest` lists the jobs that ``rsim.status``
expects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from rsim import checks, results, schema
from rsim.checks import ConfigError

# name -> module that defines EXPERIMENT (imported only when selected; none imports jax at
# import time, so specs are built and validated without touching a backend)
MODULES = {
    "cells": "rsim.experiments.cells",
    "ode": "rsim.experiments.limits",
    "sde": "rsim.experiments.limits",
    "training": "rsim.experiments.training",
}
# Options added after result files existed: left out of the identity at their default, so
# the files of earlier specs keep their names.
LATER_OPTION = {"identity": "omitted at default"}
# Packages whose versions every result file records.
PACKAGES = ("jax", "jaxlib", "numpy", "pandas", "pyarrow", "optax", "diffrax")

Progress = Callable[[int], None]  # called with the number of units just finished


class Spec:
    """Base of every experiment's frozen spec dataclass (see the module doc)."""

    experiment: ClassVar[str]
    # The random stream the experiment's core runs under (recorded in every file it writes).
    prng: ClassVar[dict] = schema.PRNG_SETTINGS

    def tables(self) -> tuple[str, ...]:
        """Sub-tables written beside the main one (``<folder>/<table>/part-<digest>.parquet``)."""
        return ()

    @classmethod
    def options(cls) -> dict[str, Any]:
        """The option names with their defaults (tuples as lists): the Hydra group's node."""
        values = {}
        for f in dataclasses.fields(cls):
            default = f.default
            values[f.name] = list(default) if isinstance(default, tuple) else default
        return values

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> Spec:
        """Build a spec from plain values (validated on construction, like every spec); a key
        the experiment does not use is refused (runner keys such as ``output`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
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
            if not f.compare or (f.metadata == LATER_OPTION and value == f.default):
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

    def preflight(self) -> None:
        """Refuse, with :class:`rsim.ConfigError`, a job the device cannot hold (checked by the
        driver before any job runs; may start the JAX backend). Nothing to check by default."""

    def progress_total(self) -> int:
        """Units of work that ``compute`` reports through its progress callback."""
        return self.samples


@dataclass(frozen=True)
class Experiment:
    spec: type[Spec]
    compute: Callable[[Any, Progress | None], dict[str, pd.DataFrame]]
    finish: Callable[[Path, bool], None]


def get(name: str) -> Experiment:
    checks.choice("experiment", name, schema.EXPERIMENTS)
    module = importlib.import_module(MODULES[name])
    return module.EXPERIMENTS[name] if hasattr(module, "EXPERIMENTS") else module.EXPERIMENT


def spec_from_config(values: Mapping[str, Any]) -> Spec:
    """The validated spec of a job's values (``experiment`` picks the experiment)."""
    return get(str(values.get("experiment", "cells"))).spec.from_config(values)


# --- the runner ---------------------------------------------------------------------------------


def table_path(folder: Path, spec: Spec, table: str = "") -> Path:
    return Path(folder) / table / f"part-{spec.digest()}.parquet"


def provenance(spec: Spec) -> dict[str, Any]:
    """What produced a file, the same keys for every experiment: experiment, spec, versions,
    PRNG settings, x64, the block, device and git revision."""
    from importlib import metadata

    import jax

    versions = {"python": platform.python_version()}
    versions.update({package: metadata.version(package) for package in PACKAGES})
    return {
        "experiment": spec.experiment,
        "spec": spec.identity(),
        "versions": versions,
        "prng": spec.prng,
        "x64": getattr(spec, "precision", "float32") == "float64",
        "block": spec.block(),
        "device": str(jax.devices()[0].device_kind),
        "git_revision": results.git_revision(),
    }


def run_job(spec: Spec, folder: Path, progress: bool = False) -> Path:
    """Compute one job and write its tables, or find them written by the same code.

    Existing files written by another code version (versions, PRNG, x64, block, git revision)
    are refused, not mixed. Sub-tables are written first and the main table last, so its
    presence means the job is done. An exception other than bad input leaves
    ``failed-<digest>.json`` (read by ``rsim.status``) before it propagates.
    """
    folder = Path(folder)
    paths = {table: table_path(folder, spec, table) for table in (*spec.tables(), "")}
    current = provenance(spec)
    if paths[""].exists():
        for path in paths.values():
            conflict = results.resume_conflict(path, current)
            if conflict:
                raise ConfigError(f"cannot resume: {conflict}")
        print(f"rsim: skip {spec.label()}: {paths['']} exists")
        return paths[""]
    failure = results.failure_path(folder, spec.digest())
    try:
        tables = get(spec.experiment).compute(spec, _progress_bar(spec, progress))
    except ConfigError:
        raise
    except Exception as error:
        folder.mkdir(parents=True, exist_ok=True)
        failure.write_text(
            json.dumps(
                {"error": f"{type(error).__name__}: {error}", "job": spec.identity()}, default=str
            )
        )
        raise
    for table, path in paths.items():
        results.write(tables[table], path, current)
    failure.unlink(missing_ok=True)
    print(f"rsim: wrote {len(tables[''])} rows to {paths['']} ({spec.label()})")
    return paths[""]


def _progress_bar(spec: Spec, enabled: bool) -> Progress | None:
    """A tqdm bar's update, closed when it reaches its total (the spec's ``progress_total``)."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=spec.progress_total(), desc=spec.label(), leave=False)

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
