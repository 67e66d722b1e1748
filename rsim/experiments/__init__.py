"""Experiments: each a frozen spec (its options and defaults) and a pure ``compute(spec)``
returning tables; :mod:`rsim.experiments.base` holds the one runner they share.

:data:`EXPERIMENTS` registers each experiment once, by the name that ``experiment=<name>``
selects; the cli's config group, the validation of ``experiment`` and the runner read it.
Adding an experiment is one module with its record, and one entry here. None of these modules
imports jax at import time, so specs are built and validated without touching a backend.
"""

from __future__ import annotations

from rsim.experiments import cells, limits, training
from rsim.experiments.base import Experiment

EXPERIMENTS: dict[str, Experiment] = {
    record.name: record
    for record in (cells.EXPERIMENT, limits.ODE, limits.SDE, training.EXPERIMENT)
}
