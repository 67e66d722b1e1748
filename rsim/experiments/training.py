"""``experiment=training``: deep ResNets trained with optax from rsim's initialisations.

A job is one model, one weight law, one dataset and the grid betas x lrs x seeds, trained side
by side by :func:`rsim.core.training.train_runs` (Adam or SGD, the learning rate divided by
10 after half the epochs). :func:`compute` lays the runs out one row per run.

The dataset's content is part of the job: the identity of a job on files (MNIST,
Fashion-MNIST, CIFAR-10; not the bundled digits) holds ``data_sha256``, the SHA-256 of the
files it reads (:attr:`TrainSpec.data_sha256`), so it lands in every result file's metadata
and files changed since (fixed or replaced by hand) make a new job, computed anew, never
taken for done.

Dense models (res1-3, mlp) read each example as a flat vector (n_in = its length); ``conv``
reads it as an image of n_in channels, whose side must be ``image_size`` (8 for digits, 28
for MNIST and Fashion-MNIST, 32 for CIFAR-10).

A run is *diverged* when an epoch's mean training loss is not finite or exceeds
``DIVERGED_LOSS_FACTOR`` x log(n_classes) (guessing uniformly costs log(n_classes)). Diverged
runs keep their row, with ``diverged = True``.

Studies (the ``study`` option, registered once in :data:`STUDIES`): what :func:`finish`
prints and draws from the stored runs (:mod:`rsim.analysis.training`,
:mod:`rsim.views.training`). A study reads the runs and trains nothing, so it is no part of the
job's identity: running finished jobs again with another study re-analyses their stored rows
without retraining them (every row keeps the weight paths that ``weights`` draws).

* ``accuracy``  Figure 9: best test accuracy over the learning rates per (H, beta)
* ``weights``   Figure 8: one weight entry V_k[0, 0] against k after training, and the Hurst
                exponent (:mod:`rsim.analysis.hurst`) of the trained weight paths
* ``lr_alpha``  the best learning rate against alpha_L, with the fit log lr* = c + p log alpha
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rsim import checks, results, schema
from rsim import data as datasets
from rsim.analysis import training as analysis
from rsim.analysis.hurst import hurst_exponent
from rsim.checks import ConfigError
from rsim.core import laws
from rsim.experiments.base import (
    Experiment,
    Progress,
    load_run,
    option,
    run_description,
    run_specs,
)
from rsim.experiments.resnet import ResNetSpec
from rsim.labels import branch_label, law_label, size_label

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from rsim.core.training import Architecture

DIVERGED_LOSS_FACTOR = 10.0


@dataclass(frozen=True)
class Study:
    """One analysis of trained runs, selected by ``study=<name>`` and registered once in
    :data:`STUDIES`: its summary (:mod:`rsim.analysis.training`) and its figure
    (:mod:`rsim.views.training`). It reads the stored rows only (no part of the job)."""

    name: str
    label: str  # what it shows, in a few words
    summary: Callable[[pd.DataFrame], list[str]]  # the lines printed under the runs' head line
    # The function of rsim.views.training that draws it, (frame, folder, critical) -> path or
    # None; imported when drawing only (a spec is validated without loading matplotlib).
    figure: str
    # Its figure overlays the contour r_h = 1 at initialisation (:func:`critical_curve`).
    critical_curve: bool = False

    def draw(
        self, frame: pd.DataFrame, folder: Path, critical: pd.DataFrame | None = None
    ) -> list[Path]:
        """Draw the study's figure of ``frame`` into ``folder``.

        Args:
            frame: the runs (one row per run, as :func:`compute` writes them).
            folder: where the PNG goes.
            critical: the contour r_h = 1 to overlay (``critical_curve`` studies), or None.

        Returns:
            The paths written (none for a weights table without weight paths).
        """
        draw = getattr(importlib.import_module("rsim.views.training"), self.figure)
        path = draw(frame, Path(folder), critical)
        return [] if path is None else [path]


STUDIES: dict[str, Study] = {
    study.name: study
    for study in (
        Study(
            "accuracy",
            "Figure 9: best test accuracy over the learning rates per (H, beta)",
            analysis.accuracy_lines,
            "accuracy_file",
            critical_curve=True,
        ),
        Study(
            "weights",
            "Figure 8: V_k[0, 0] against k after training, with the Hurst exponents",
            analysis.weights_lines,
            "weights_file",
        ),
        Study(
            "lr_alpha",
            "the best learning rate against alpha_L, with the fit lr* ~ alpha^p",
            analysis.lr_alpha_lines,
            "lr_alpha_file",
        ),
    )
}


@dataclass(frozen=True)
class TrainSpec(ResNetSpec):
    """One job: a model, a weight law, a dataset, and the grid betas x lrs x seeds; every field
    is an option of ``experiment=training``. The identity adds the dataset's content hash,
    :attr:`data_sha256` (not an option: computed from the files)."""

    experiment = "training"
    # The random stream of the runs (rsim.core.training pins it), not the simulator's.
    prng: ClassVar[dict] = schema.TRAINING_PRNG_SETTINGS

    study: str = option(
        "accuracy",
        "what finish prints and draws (STUDIES): accuracy (Figure 9) | weights (Figure 8) | "
        "lr_alpha; analysis only, no part of the job's identity, so it never retrains a run",
        compare=False,
    )
    dataset: str = option(
        "digits", "digits (bundled with scikit-learn) | mnist | fashion_mnist | cifar10"
    )
    data_dir: str | None = option(
        schema.DATA_DIR, "the data cache, <data_dir>/<dataset>/ (not digits)"
    )
    data_url: str | None = option(
        None,
        "base URL of a mirror of the dataset's files (null: the publisher's); checked against "
        "pinned checksums wherever they come from, so no part of the job",
        compare=False,
    )
    train_limit: int | None = option(None, "train on the first n examples only (null: all)")
    lrs: tuple[float, ...] = option(
        (0.0001, 0.001, 0.01, 0.1, 1.0),
        "learning rates, trained side by side (vmap); each divided by 10 after half the epochs",
    )
    replicates: int = option(1, "seeds seed .. seed + replicates - 1 for every (beta, lr)")
    optimizer: str = option("adam", "adam | sgd")
    epochs: int = option(10, "passes over the training set")
    batch_size: int = option(128, "examples per optimisation step")

    def normalise(self) -> None:
        super().normalise()
        if not isinstance(self.lrs, tuple):
            self._set("lrs", (self.lrs,))
        if self.dataset == "digits":
            self._set("data_dir", None)
            self._set("data_url", None)
        elif self.data_dir is None:
            self._set("data_dir", schema.DATA_DIR)
        if self.data_dir is not None:
            self._set("data_dir", str(self.data_dir))

    def validate(self) -> None:
        checks.choice("study", self.study, tuple(STUDIES))
        checks.choice("dataset", self.dataset, schema.DATASETS)
        super().validate()
        checks.choice("optimizer", self.optimizer, schema.OPTIMIZERS)
        for key in ("replicates", "epochs", "batch_size"):
            checks.integer(key, getattr(self, key), minimum=1)
        if self.seed + self.replicates - 1 > checks.MAX_SEED:  # the runs' seeds are PRNGKeys too
            raise ConfigError(
                f"seed={self.seed} is not allowed with replicates={self.replicates}; the runs' "
                f"seeds seed .. seed + replicates - 1 must be <= {checks.MAX_SEED}"
            )
        if not self.lrs:
            raise ConfigError("lrs=[] is not allowed; give at least one learning rate > 0")
        for lr in self.lrs:
            checks.positive("lrs", lr)
        if self.train_limit is not None:
            checks.integer("train_limit", self.train_limit, minimum=self.batch_size)
        if self.branch().images:
            _, rows, cols = datasets.IMAGE_SHAPES[self.dataset]
            self.check_image_size(self.dataset, rows, cols)
        if self.dataset != "digits":  # fetched here, in the driver, before any job runs
            datasets.fetch(self.dataset, self.data_dir, self.data_url)

    @property
    def data_sha256(self) -> str | None:
        """The SHA-256 of the dataset files this job reads (:func:`rsim.data.data_sha256`;
        None for digits, which has none), hashed at the first use of this spec and kept: its
        digest, its metadata and the check of :func:`compute` see the same files."""
        if "_data_sha256" not in self.__dict__:
            object.__setattr__(
                self, "_data_sha256", datasets.data_sha256(self.dataset, self.data_dir)
            )
        return self.__dict__["_data_sha256"]

    def identity(self) -> dict[str, Any]:
        """The options that fix the results, and ``data_sha256`` for a dataset of files: jobs
        on other files are other jobs (digits jobs, without it, keep their digests)."""
        values = super().identity()
        if self.data_sha256 is not None:
            values["data_sha256"] = self.data_sha256
        return values

    def check_image_size(self, dataset: str, rows: int, cols: int) -> None:
        """conv reads each example as a square image of side ``image_size``."""
        if rows != cols or self.image_size != rows:
            advice = f"; give image_size={rows}" if rows == cols else ""
            raise ConfigError(
                f"image_size={self.image_size!r} is not allowed: model=conv reads the "
                f"{rows} x {cols} images of dataset={dataset}{advice}"
            )

    def label(self) -> str:
        """The job in a few words (the runs it trains; the study is no part of it)."""
        key = vars(self)
        optimizer = "" if self.optimizer == "adam" else f" {self.optimizer}"
        model = branch_label(key) + (f" {size_label(key)}" if self.branch().images else "")
        return f"training {model} {law_label(key)} L={self.depth}{optimizer}"

    def runs(self) -> pd.DataFrame:
        """The grid, one row per run: beta, lr, seed, alpha = depth^-beta (betas outermost)."""
        grid = [
            (beta, lr, self.seed + r)
            for beta in self.betas
            for lr in self.lrs
            for r in range(self.replicates)
        ]
        frame = pd.DataFrame(grid, columns=["beta", "lr", "seed"])
        frame["alpha"] = float(self.depth) ** -frame["beta"]
        return frame

    def n_runs(self) -> int:
        return len(self.betas) * len(self.lrs) * self.replicates

    def architecture(self, n_in: int, n_classes: int) -> Architecture:
        """The static description of this job's runs on data of ``n_in`` inputs and
        ``n_classes`` classes (one compilation per architecture, optimizer and batch)."""
        from rsim.core import training

        return training.Architecture(
            self.model,
            self.activation,
            float(self.negative_slope),
            self.init,
            float(self.gain),
            self.lengthscale,
            self.width,
            self.depth,
            n_in,
            n_classes,
            self.branch_depth,
            self.image_size,
            self.kernel_size,
        )

    def block(self) -> int:
        """Runs trained side by side in one device call (the memory estimate does not depend
        on the data's shapes)."""
        from rsim.core import training

        arch = self.architecture(n_in=0, n_classes=0)
        return training.runs_per_call(arch, self.batch_size, self.n_runs())

    def progress_total(self) -> int:
        return self.n_runs() * self.epochs  # one unit per run and epoch


def compute(spec: TrainSpec, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """Train every run of ``spec.runs()`` on the spec's data; the main table has one row per
    run (:func:`run_frame`). Data files changed since the spec hashed them (its digest names
    the file) are refused: the results would be filed under the old files' hash."""
    data = datasets.load(spec.dataset, spec.data_dir, spec.train_limit, spec.data_url)
    read = datasets.data_sha256(spec.dataset, spec.data_dir)
    if read != spec.data_sha256:
        folder = datasets.dataset_folder(spec.dataset, spec.data_dir)
        raise datasets.DataError(
            f"dataset={spec.dataset}: the files in {folder} changed since the job was set up "
            f"(sha256 {spec.data_sha256}, now {read}); run it again"
        )
    return {"": train_grid(spec, data, progress)}


def train_grid(
    spec: TrainSpec, data: datasets.Dataset, progress: Progress | None = None
) -> pd.DataFrame:
    """Train every run of ``spec.runs()`` on ``data``; one row per run (:func:`run_frame`).
    conv trains on ``data`` read as images (:meth:`rsim.data.Dataset.as_images`)."""
    from rsim.core import training

    if len(data.x_train) < spec.batch_size:
        raise ConfigError(
            f"batch_size={spec.batch_size} is larger than the "
            f"{len(data.x_train)} training examples of {data.name}"
        )
    if spec.branch().images:
        data = images(spec, data)
    grid = spec.runs()
    law = spec.law()
    scale = (
        law.path_scale(spec.hurst, spec.depth)
        if law.path_scale is not None
        else np.zeros(2 * spec.depth)
    )
    start = time.perf_counter()
    out = training.train_runs(
        spec.architecture(data.n_in, data.n_classes),
        spec.optimizer,
        spec.batch_size,
        spec.epochs,
        grid["alpha"].to_numpy(),
        grid["lr"].to_numpy(),
        grid["seed"].to_numpy(),
        data.x_train,
        data.y_train,
        data.x_test,
        data.y_test,
        scale,
        chunk=spec.block(),
        progress=progress,
    )
    return run_frame(spec, data, grid, out, time.perf_counter() - start)


def images(spec: TrainSpec, data: datasets.Dataset) -> datasets.Dataset:
    """``data`` as images for the conv model, whose side must be ``spec.image_size``."""
    if data.image_shape is None and not data.is_images:
        raise ConfigError(f"model=conv needs images; dataset={data.name!r} holds flat vectors")
    data = data.as_images()
    spec.check_image_size(data.name, *data.x_train.shape[2:])
    return data


def run_frame(
    spec: TrainSpec,
    data: datasets.Dataset,
    grid: pd.DataFrame,
    out: dict[str, np.ndarray],
    seconds: float,
) -> pd.DataFrame:
    """One row per run: the job's keys (``branch_depth``, ``image_size``, ``kernel_size`` NaN
    for models without them), beta, alpha, lr, seed, ``train_loss`` (list, one mean
    per epoch), ``final_train_loss``, ``test_accuracy`` (after the last epoch),
    ``test_accuracy_by_epoch`` (list, after each epoch), ``diverged``, ``hurst_init`` and
    ``hurst_trained`` (variogram estimates over every entry of V), ``job_seconds``, and the
    path of V_k[0, 0] before and after training (``weight_path_init``, ``weight_path``: what
    study=weights draws; stored for every study, which is no part of the job)."""
    threshold = DIVERGED_LOSS_FACTOR * math.log(data.n_classes)
    records = []
    for run in range(len(grid)):
        loss = out["losses"][run].astype(float)
        accuracy = out["accuracies"][run].astype(float)
        initial, trained = out["initial_v"][run], out["trained_v"][run]
        first = (len(initial), -1)  # the first entry of V_k: V[0, 0], or kernel[0, 0, 0, 0]
        record = {
            "dataset": data.name,
            "model": spec.model,
            "activation": spec.activation,
            "init": spec.init,
            "gain": spec.gain,
            "lengthscale": np.nan if spec.lengthscale is None else spec.lengthscale,
            "hurst": np.nan if spec.hurst is None else spec.hurst,
            "width": spec.width,
            "branch_depth": _number(spec.branch_depth),
            "image_size": _number(spec.image_size),
            "kernel_size": _number(spec.kernel_size),
            "depth": spec.depth,
            "n_in": data.n_in,
            "n_classes": data.n_classes,
            "train_size": len(data.x_train),
            "optimizer": spec.optimizer,
            "epochs": spec.epochs,
            "batch_size": spec.batch_size,
            "beta": float(grid["beta"].iat[run]),
            "alpha": float(grid["alpha"].iat[run]),
            "lr": float(grid["lr"].iat[run]),
            "seed": int(grid["seed"].iat[run]),
            "test_accuracy": float(accuracy[-1]),
            "test_accuracy_by_epoch": accuracy.tolist(),
            "train_loss": loss.tolist(),
            "final_train_loss": float(loss[-1]),
            "diverged": bool(not np.all(np.isfinite(loss)) or np.max(loss) > threshold),
            "hurst_init": hurst_exponent(initial) if spec.depth >= 4 else np.nan,
            "hurst_trained": hurst_exponent(trained) if spec.depth >= 4 else np.nan,
            "job_seconds": seconds,
            "weight_path_init": initial.reshape(first)[:, 0].astype(float).tolist(),
            "weight_path": trained.reshape(first)[:, 0].astype(float).tolist(),
        }
        records.append(record)
    return pd.DataFrame.from_records(records)


def _number(value: int | None) -> float:
    """An optional integer key as a table value (NaN for None, like ``hurst``)."""
    return np.nan if value is None else float(value)


def summary_text(study: str, frame: pd.DataFrame) -> str:
    """The lines a training run prints for ``study`` of the runs in ``frame``.

    Args:
        study: a name of :data:`STUDIES`.
        frame: the runs, one row per run.

    Returns:
        The head line (runs, diverged, data, model) and the study's summary lines.
    """
    return "\n".join([analysis.summary_head(study, frame), *STUDIES[study].summary(frame)])


def study_tables(folder: Path) -> list[tuple[Study, pd.DataFrame]]:
    """Each study that the latest command asked for, with the rows of its jobs.

    The study comes from the manifest's jobs (the command's options), not from the stored
    rows: a study is no part of a job, so finished runs are read for whichever study asks.
    Without a manifest, the whole folder under the study its rows name (rows written while
    the study was part of the job), else the default study.

    Args:
        folder: a training results folder.

    Returns:
        (study, its runs) pairs, in the order the command gives the studies.
    """
    folder = Path(folder)
    if (folder / results.MANIFEST).exists():
        names = dict.fromkeys(spec.study for spec in run_specs(folder))
        frames = [load_run(folder, jobs=lambda spec, n=name: spec.study == n) for name in names]
        return [
            (STUDIES[n], f.drop(columns="study", errors="ignore")) for n, f in zip(names, frames)
        ]
    frame = load_run(folder)
    if "study" not in frame:
        return [(STUDIES[TrainSpec.study], frame)]
    return [(STUDIES[name], part.drop(columns="study")) for name, part in frame.groupby("study")]


def finish(folder: Path, figures: bool) -> None:
    """Log the summary of each study of the latest command's jobs; draw its figure.

    Args:
        folder: the results folder of the run or sweep.
        figures: whether to write the studies' figures (into ``_figures/``).
    """
    folder = Path(folder)
    log.info("summary of %s", run_description(folder))
    for study, frame in study_tables(folder):
        log.info("%s", summary_text(study.name, frame))
        if figures:
            critical = critical_curve(frame, folder) if study.critical_curve else None
            for path in study.draw(frame, results.figures_folder(folder), critical):
                log.info("figure %s", path)


def critical_curve(frame: pd.DataFrame, folder: Path) -> pd.DataFrame | None:
    """The contour r_h = 1 over H at initialisation (a finite-depth reading, below beta*) of
    the trained architecture,
    width and depth (:func:`rsim.experiments.cells.simulated_critical_curve`), for an
    accuracy table over several H of one fbm law and one depth; kept in
    ``_tables/critical_curve.csv`` (delete it to recompute). None otherwise."""
    from rsim.experiments.cells import simulated_critical_curve

    key = frame.iloc[0]
    one_law = frame["init"].nunique() == 1 and laws.law(key["init"]).has_hurst
    if not (one_law and frame["hurst"].nunique() > 1 and frame["depth"].nunique() == 1):
        return None
    path = results.tables_folder(folder) / "critical_curve.csv"
    if path.is_file():
        return pd.read_csv(path)
    log.info("simulating the contour r_h = 1 of %s at L = %s", key["model"], key["depth"])
    curve = simulated_critical_curve(key, frame["hurst"].unique())
    results.write_csv(curve, path)
    return curve


EXPERIMENT = Experiment(
    spec=TrainSpec,
    compute=compute,
    finish=finish,
    label="deep ResNets trained with optax from rsim's initialisations",
)
