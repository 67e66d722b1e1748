"""What a Hydra job can run: the registry of experiments.

An experiment is three plain functions of the job's resolved config values (a dict without
Hydra's node) and its results folder ``<output>/<name>``:

* ``validate(values)``: raise :class:`rsim.ConfigError` (one line naming the key) on bad input;
  called for the base config and every swept value before anything runs.
* ``run_job(values, folder, progress)``: compute one job and write its Parquet file(s)
  atomically, skipping work already on disk; returns the path written or found.
* ``finish(folder, figures)``: at the end of a run or sweep, print a summary and write
  figures and reports next to the data.

``experiment=cells`` (the default) is the Monte Carlo simulator of :mod:`rsim.simulate`.
Other experiments live in their own modules and are imported only when selected.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsim.config import CellSpec, ConfigError

# name -> module defining EXPERIMENT
REGISTRY = {
    "cells": "rsim.experiments",
    "training": "rsim.train",
    "ode": "rsim.limits_experiment",
    "sde": "rsim.limits_experiment",
}


@dataclass(frozen=True)
class Experiment:
    validate: Callable[[dict[str, Any]], None]
    run_job: Callable[[dict[str, Any], Path, bool], Path]
    finish: Callable[[Path, bool], None]


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise ConfigError(f"experiment={name!r} is not allowed; choose one of "
                          f"{', '.join(REGISTRY)}")
    return importlib.import_module(REGISTRY[name]).EXPERIMENT


def _validate_cell(values: dict[str, Any]) -> None:
    CellSpec.from_mapping(values)


def _run_cell_job(values: dict[str, Any], folder: Path, progress: bool) -> Path:
    """Simulate one cell and write it, unless its file already exists."""
    from rsim import results
    from rsim.simulate import run_cell

    spec = CellSpec.from_mapping(values)
    path = results.cell_path(folder, spec)
    provenance = results.provenance(spec)
    if path.exists():
        conflict = results.resume_conflict(path, provenance)
        if conflict:
            raise ConfigError(f"cannot resume: {conflict}")
        print(f"rsim: skip depth={spec.depth} width={spec.width}: {path} exists")
        return path
    frame = run_cell(spec, progress=progress)
    results.write(frame, path, provenance)
    print(f"rsim: wrote {len(frame)} rows to {path}")
    return path


def _finish_cells(folder: Path, figures: bool) -> None:
    """Print the summary of a results folder, write its figures and its theory report."""
    from rsim import plots, report, results, summary

    frame = results.load(folder)
    table = summary.summarize(frame)
    table.to_csv(Path(folder) / "summary.csv", index=False)
    if len(table) <= 60:
        print(summary.format_summary(table))
    else:
        print(f"rsim: {len(table)} (cell, beta) rows summarised in {Path(folder) / 'summary.csv'}")
    critical = summary.critical_text(frame)
    if critical:
        print(critical)
    if figures:
        for path in plots.sweep_figures(frame, folder):
            print(f"rsim: figure {path}")
    written = report.write_report(folder, figures=figures)
    print(f"rsim: report {written.path}: {written.verdict}")


EXPERIMENT = Experiment(validate=_validate_cell, run_job=_run_cell_job, finish=_finish_cells)
