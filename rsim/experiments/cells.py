"""``experiment=cells``: the Monte Carlo simulator of ResNets at initialisation.

A cell is one architecture, one weight law, one (width, depth) and a vector of betas, all
betas sharing each sample's weights. :class:`CellSpec` is what a Hydra job, a
:func:`simulate` call and a Parquet file's metadata all mean by a cell; :func:`compute` runs
it with :mod:`rsim.core.engine` and lays the metrics out one row per (sample, beta).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rsim import checks, schema
from rsim.checks import ConfigError
from rsim.core import laws
from rsim.experiments.base import Experiment, Progress, option
from rsim.experiments.resnet import ResNetSpec
from rsim.labels import branch_label, law_label, size_label

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from rsim.core.kernel import Kernel
    from rsim.device import MemoryLimit


@dataclass(frozen=True)
class CellSpec(ResNetSpec):
    """One simulation cell; every field is an option of ``experiment=cells`` (the ResNet's
    own in :class:`rsim.experiments.resnet.ResNetSpec`)."""

    experiment = "cells"

    n_in: int = option(
        64,
        "input dimension: x ~ U[0, 1]^n_in, h_0 = A x; for conv x is an image of n_in channels "
        "and A a 1 x 1 convolution from n_in channels to width",
    )
    samples: int = option(1000, "Monte Carlo samples (independent networks and inputs)")
    gradients: str = option(
        "jvp", "the gradient ratios computed: none | jvp | vjp (exact backprop) | both"
    )
    precision: str = option("float32", "float32 | float64")
    sampler: str = option(
        "explicit",
        "how Gaussian weights are sampled: explicit (every entry) | projection (their action "
        "on the vectors they meet, exact in law, O(d) per layer) | reduced (a few coordinates "
        "in O(1) numbers per layer, each beta on its own weights); the last two for "
        "init=gaussian and dense branches only",
        later=True,
    )
    weight_paths: int = option(
        0,
        "samples whose path of the weight entry V_k[0, 0] (conv: V_k[0, 0, 0, 0]), k = 1..L, "
        "is stored in the table paths/ (correlated laws only; Figure 6 draws it)",
        later=True,
    )
    coupled_depth: int | None = option(
        None,
        "common random numbers across depths: every depth draws the streams of a network of "
        "this depth (>= every depth), truncated to its first L layers, so sample i shares its "
        "input, read-in, read-out and first weights at every depth (fbm: the first L entries "
        "of one fGn path); exact in law at each depth, smaller Monte Carlo error of slopes "
        "across depths; null: depths are independent",
        later=True,
    )
    chunk: int | None = option(
        None,
        "samples read back together (whole blocks, one device call each); results never "
        "depend on it",
        compare=False,
    )
    plots: tuple[str, ...] = option(
        ("ratio_vs_depth", "histograms"),
        "the figures drawn at the end of the run or sweep (rsim.views.cells.FIGURES: "
        "fbm_paths, heatmap, critical_curves, architectures, ratio_vs_depth, histograms); "
        "analysis only, no part of the cell's identity",
        compare=False,
    )
    # The first sample index to compute (set by the runner when a cell's first samples are
    # stored already; sample i's numbers do not depend on it).
    first_sample: int = option(0, internal=True)

    def normalise(self) -> None:
        """Also take one figure name for ``plots`` as a list of one."""
        super().normalise()
        if isinstance(self.plots, str):
            self._set("plots", (self.plots,))

    def validate(self) -> None:
        """Raise :class:`rsim.ConfigError` naming the first bad option (a figure name of
        ``plots`` too: :data:`rsim.views.cells.FIGURES`)."""
        from rsim.views.cells import FIGURES

        super().validate()
        for name in self.plots:
            checks.choice("plots", name, tuple(FIGURES))
        checks.choice("gradients", self.gradients, schema.GRADIENTS)
        checks.choice("precision", self.precision, schema.PRECISIONS)
        checks.choice("sampler", self.sampler, schema.SAMPLERS)
        law, branch = self.law(), self.branch()
        if self.sampler == "projection" and not law.projection_exact:
            exact = ", ".join(n for n, r in laws.LAWS.items() if r.projection_exact)
            raise ConfigError(
                f"sampler='projection' is not allowed with init={self.init!r}; "
                f"it is exact in law for init={exact} only (use sampler=explicit)"
            )
        if self.sampler == "projection" and not branch.dense:
            raise ConfigError(
                f"sampler='projection' is not allowed with model={self.model!r}; a "
                "convolution's matrix repeats each kernel entry along the pixels, so its action "
                "on a vector is not that of an i.i.d. Gaussian matrix and the projection would "
                "not be exact in law (use sampler=explicit)"
            )
        if self.sampler == "reduced":
            from rsim.core.samplers import sampler

            reason = sampler("reduced").refusal(self)
            if reason:
                raise ConfigError(reason)
        checks.integer("n_in", self.n_in, minimum=1)
        checks.integer("samples", self.samples, minimum=1, maximum=checks.MAX_SAMPLES)
        checks.integer("weight_paths", self.weight_paths, minimum=0)
        if self.weight_paths and law.iid:
            raise ConfigError(
                f"weight_paths={self.weight_paths} is not allowed with "
                f"init={self.init!r}; only laws correlated along the depth "
                f"({', '.join(laws.names(laws.CORRELATED))}) build a weight path"
            )
        if self.coupled_depth is not None:
            checks.integer(
                "coupled_depth", self.coupled_depth, minimum=self.depth, maximum=checks.MAX_DEPTH
            )
            if law.not_truncatable:
                raise ConfigError(
                    f"coupled_depth is not allowed with init={self.init!r}: " + law.not_truncatable
                )
        if self.chunk is not None:
            checks.integer("chunk", self.chunk, minimum=1)

    def label(self) -> str:
        """The cell in a few words: ``res3 uniform d=40 L=1000`` (:mod:`rsim.labels`)."""
        key = vars(self)
        return f"{branch_label(key)} {law_label(key)} {size_label(key)} L={self.depth}"

    def kernel(self) -> Kernel:
        """The engine's static description of this cell (one compilation per kernel)."""
        from rsim.core import engine

        block = engine.default_block(
            self.shape(),
            self.depth,
            self.gradients,
            self.precision,
            correlated=not self.law().iid,
            sampler=self.sampler,
            path_depth=self.coupled_depth,
        )
        return engine.Kernel(
            model=self.model,
            activation=self.activation,
            negative_slope=self.negative_slope,
            init=self.init,
            gain=self.gain,
            width=self.width,
            n_in=self.n_in,
            depth=self.depth,
            gradients=self.gradients,
            precision=self.precision,
            block=block,
            lengthscale=self.lengthscale,
            sampler=self.sampler,
            weight_paths=self.weight_paths > 0,
            branch_depth=self.branch_depth,
            image_size=self.image_size,
            kernel_size=self.kernel_size,
            coupled_depth=self.coupled_depth,
        )

    def block(self) -> int:
        return self.kernel().block

    def table_notes(self) -> dict[str, Any]:
        """Whether the betas of a sample share its weights (``betas_share_weights``: every
        sampler but ``reduced``, whose betas each draw their own).

        >>> CellSpec(sampler="reduced", init="gaussian").table_notes()
        {'betas_share_weights': False}
        """
        from rsim.core import samplers

        return {"betas_share_weights": samplers.sampler(self.sampler).betas_share_weights}

    def preflight(
        self, limit: MemoryLimit | None = None, host_limit: MemoryLimit | None = None
    ) -> None:
        """Refuse a cell whose block of samples does not fit one device's memory (the estimate
        of :mod:`rsim.core.memory` against ``limit``, by default the device's), or whose
        result table does not fit the host's (:func:`rsim.core.memory.check_table` against
        ``host_limit``, by default :func:`rsim.device.host_memory_limit`; on the CPU beside
        one block per local device, the same memory): one line with the estimate, the limit
        and the options, before anything is computed. The engine checks the block again when
        it runs, and lowers a ``chunk`` whose outputs would not fit."""
        import jax

        from rsim.core import memory

        kernel = self.kernel()
        needed = memory.check_block(kernel, len(self.betas), limit)
        shared = 0
        if jax.default_backend() == "cpu":
            shared = jax.local_device_count() * needed.call_bytes(kernel.block)
        path_rows = min(self.weight_paths, self.samples) * self.depth
        memory.check_table(self.samples, len(self.betas), path_rows, shared, host_limit)

    def tables(self) -> tuple[str, ...]:
        return ("paths",) if self.weight_paths else ()

    def progress_total(self) -> int:
        return self.samples - self.first_sample

    # --- storage: one file per cell, each (beta, sample) once ---

    def store_identity(self) -> dict[str, Any]:
        """The cell without what a run adds to it: its samples, betas, gradients and weight
        paths."""
        identity = self.identity()
        for name in ("samples", "betas", "gradients", "weight_paths"):
            identity.pop(name, None)
        return identity

    def row_key(self, table: str = "") -> tuple[str, ...]:
        return (*schema.CELL_COLUMNS, "sample", "layer" if table else "beta")

    def selects(self, frame: pd.DataFrame) -> pd.Series:
        return frame["beta"].isin(self.betas) & (frame["sample"] < self.samples)

    def _satisfied(self, frame: pd.DataFrame) -> pd.Series:
        return self.selects(frame) & frame["gradients"].isin(schema.GRADIENT_COVERS[self.gradients])

    def covered(self, frame: pd.DataFrame) -> bool:
        return int(self._satisfied(frame).sum()) == self.samples * len(set(self.betas))

    def parts(self, stored: dict[str, pd.DataFrame] | None) -> list[CellSpec]:
        """What the stored cell lacks, as cells to compute: per beta, the samples from the
        first one not stored with (at least) these gradients to ``samples`` (betas that
        start at the same sample are computed together), and the samples from the first
        whose weight path is not stored to ``weight_paths``. A part computes the gradients
        of the rows it replaces too."""
        if stored is None:
            return [self]
        frame = stored[""]
        satisfied = frame[self._satisfied(frame)]
        ranges = {}  # (first sample, end) -> betas
        for beta in dict.fromkeys(self.betas):
            have = set(satisfied.loc[satisfied["beta"] == beta, "sample"])
            start = next((i for i in range(self.samples) if i not in have), self.samples)
            if start < self.samples:
                ranges.setdefault((start, self.samples), []).append(beta)
        have_paths = set(stored["paths"]["sample"]) if "paths" in stored else set()
        end = min(self.weight_paths, self.samples)
        start = next((i for i in range(end) if i not in have_paths), end)
        if start < end:  # the weight paths, computed with their rows, every beta
            ranges.setdefault((start, end), list(dict.fromkeys(self.betas)))
        parts = []
        for (start, end), betas in ranges.items():
            replaced = frame["beta"].isin(betas) & frame["sample"].between(start, end - 1)
            gradients = self.gradients
            for other in frame.loc[replaced, "gradients"].unique():
                gradients = _gradient_union(gradients, other)
            parts.append(
                dataclasses.replace(
                    self, betas=tuple(betas), samples=end, first_sample=start, gradients=gradients
                )
            )
        return parts

    def merge(
        self, stored: dict[str, pd.DataFrame] | None, computed: list[dict[str, pd.DataFrame]]
    ) -> dict[str, pd.DataFrame]:
        """The stored rows and the computed ones, a computed row replacing a stored row of
        the same draw; sorted by sample, then beta (paths: sample, then layer)."""
        merged = {}
        for table in (*self.tables(), ""):
            frames = [tables[table] for tables in computed if table in tables]
            if stored and table in stored:
                frames.insert(0, stored[table])
            if not frames:  # weight paths asked for samples that are all computed already
                continue
            frame = pd.concat(frames, ignore_index=True)
            key = list(self.row_key(table))
            frame = frame.drop_duplicates(key, keep="last")
            order = ["sample", "layer"] if table else ["sample", "beta"]
            merged[table] = frame.sort_values(order, kind="stable", ignore_index=True)
        return merged


def _gradient_union(a: str, b: str) -> str:
    """The gradients setting that computes everything ``a`` and ``b`` compute."""
    for setting in schema.GRADIENT_COVERS[a]:
        if setting in schema.GRADIENT_COVERS[b]:
            return setting
    raise AssertionError((a, b))


def compute(spec: CellSpec, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """The cell's metrics, one row per (sample, beta); with ``weight_paths`` the table
    ``paths`` of V_k[0, 0] against k for the first samples."""
    from rsim.core import engine

    out = engine.run(
        spec.kernel(),
        spec.betas,
        spec.samples,
        spec.seed,
        hurst=spec.hurst,
        chunk=spec.chunk,
        progress=progress,
        start=spec.first_sample,
    )
    tables = {"": cell_frame(spec, {k: v for k, v in out.items() if k.startswith("log_")})}
    if spec.weight_paths:
        first = max(spec.weight_paths - spec.first_sample, 0)
        tables["paths"] = path_frame(spec, out["weight_path"][:first])
    return tables


def _cell_columns(spec: CellSpec, rows: int) -> dict[str, np.ndarray]:
    return {
        name: np.repeat(np.nan if getattr(spec, name) is None else getattr(spec, name), rows)
        for name in schema.CELL_COLUMNS
    }


def cell_frame(spec: CellSpec, metrics: dict[str, np.ndarray]) -> pd.DataFrame:
    """Cell columns, ``beta``, ``alpha``, ``sample``, ``gradients`` (what the row computed)
    and one column per metric, for the samples ``first_sample .. samples - 1``."""
    n_betas = len(spec.betas)
    n = spec.samples - spec.first_sample
    betas = np.asarray(spec.betas, dtype=np.float64)
    frame = _cell_columns(spec, n * n_betas)
    frame["beta"] = np.tile(betas, n)
    frame["alpha"] = np.tile(float(spec.depth) ** -betas, n)
    frame["sample"] = np.repeat(np.arange(spec.first_sample, spec.samples, dtype=np.int64), n_betas)
    frame["gradients"] = np.repeat(spec.gradients, n * n_betas)
    for name, values in metrics.items():
        frame[name] = values.astype(np.float64).reshape(-1)
    return pd.DataFrame(frame)


def path_frame(spec: CellSpec, paths: np.ndarray) -> pd.DataFrame:
    """One row per (sample, layer k): the weight entry ``weight`` = V_k[0, 0] that sample
    was simulated with (samples from ``first_sample``)."""
    n, depth = paths.shape
    frame = _cell_columns(spec, n * depth)
    first = spec.first_sample
    frame["sample"] = np.repeat(np.arange(first, first + n, dtype=np.int64), depth)
    frame["layer"] = np.tile(np.arange(1, depth + 1, dtype=np.int64), n)
    frame["weight"] = paths.astype(np.float64).reshape(-1)
    return pd.DataFrame(frame)


def simulate(progress: bool = False, **options: Any) -> pd.DataFrame:
    """Simulate one cell from Python: one row per (sample, beta), as a DataFrame with the
    columns that :func:`rsim.load` gives for the same cell stored by ``python -m rsim``.

    ``options`` are the fields of :class:`CellSpec` (the options of ``python -m rsim``, with
    the same defaults); a key that is not one, or a bad value, raises
    :class:`rsim.ConfigError` before any computation. alpha = depth ** -beta and every beta
    of a sample shares its weights. The metric columns are natural logs
    (``log_hidden_diff`` = log ||h_L - h_0|| / ||h_0||, ...; see :mod:`rsim.core.engine`),
    each with its plain ratio (``hidden_diff`` = exp(log_hidden_diff);
    :func:`rsim.results.with_ratios`).

    Args:
        progress: draw a progress bar (on a terminal only).
        **options: the cell's options (:class:`CellSpec`'s fields).

    Returns:
        The cell's rows.

    >>> import rsim
    >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4)
    >>> len(df), bool((df["log_hidden_ratio"] > -10).all()), "hidden_ratio" in df
    (4, True, True)
    """
    from rsim.experiments.base import progress_bar
    from rsim.results import with_ratios

    spec = CellSpec.from_config(options)
    return with_ratios(compute(spec, progress_bar(spec, spec.samples, progress))[""])


def simulated_critical_curve(
    key: pd.Series, hursts: Sequence[float], seed: int = 0
) -> pd.DataFrame:
    """The contour r_h = 1 over H of one architecture at one depth (a finite-depth reading of
    beta*(H), biased low), simulated at a small size for the figures
    that need a critical line of their own model (training): the zero crossing of the mean
    log10 r_h over ``schema.CRITICAL_CURVE_BETAS`` with ``schema.CRITICAL_CURVE_SAMPLES``
    samples per cell (:func:`rsim.analysis.critical.critical_curve`). ``key`` gives model,
    activation, init, gain, width, depth and the branch's shape (the others at their
    defaults where the key lacks them)."""
    from rsim.analysis.critical import critical_curve

    integers = ("width", "depth", "branch_depth", "image_size", "kernel_size")
    names = ("model", "activation", "negative_slope", "init", "gain", *integers)
    options = {
        name: int(key[name]) if name in integers else key[name]
        for name in names
        if name in key and pd.notna(key[name])
    }
    frames = [
        simulate(
            **options,
            hurst=float(hurst),
            betas=list(schema.CRITICAL_CURVE_BETAS),
            samples=schema.CRITICAL_CURVE_SAMPLES,
            gradients="none",
            seed=seed,
        )
        for hurst in sorted(hursts)
    ]
    return critical_curve(pd.concat(frames, ignore_index=True))


def declared_plots(folder: Path) -> tuple[str, ...]:
    """The figures the latest command in ``folder`` declared (its jobs' ``plots``, in order,
    each once); without a manifest, the default of :class:`CellSpec`.

    Args:
        folder: a cells results folder.

    Returns:
        Names of :data:`rsim.views.cells.FIGURES`.
    """
    from rsim import results
    from rsim.experiments.base import run_specs

    if not (Path(folder) / results.MANIFEST).exists():
        return CellSpec.plots
    return tuple(dict.fromkeys(name for spec in run_specs(folder) for name in spec.plots))


def finish(folder: Path, figures: bool) -> None:
    """Log the summary of the latest command's jobs in a results folder (its manifest; the
    terminal's few columns, the full table in ``_tables/summary.csv``), write the figures
    they declare (:func:`declared_plots`) and their theory report.

    Args:
        folder: the results folder of the run or sweep.
        figures: whether to draw figures (the run option ``figures``).
    """
    from rsim import report, results
    from rsim.analysis import summary
    from rsim.experiments.base import load_run, run_description

    folder = Path(folder)
    frame = load_run(folder)
    table = summary.summarize(frame)
    path = results.write_csv(table, results.tables_folder(folder) / "summary.csv")
    description = run_description(folder)
    if len(table) <= 60:
        log.info("summary of %s\n%s", description, summary.format_summary(table))
    else:
        log.info("summary of %s: %d (cell, beta) rows", description, len(table))
    log.info("every column of the summary: %s", path)
    for line in (summary.critical_text(frame) or "").splitlines():
        log.info("%s", line)
    if figures:
        from rsim.views import cells as views

        paths = results.table_folder(folder, "paths")
        paths = load_run(folder, "paths") if paths.is_dir() else None
        target = results.figures_folder(folder)
        for figure in views.sweep_figures(frame, target, declared_plots(folder), paths):
            log.info("figure %s", figure)
    written = report.write_report(folder, figures=figures)
    log.info("report %s: %s", written.path, written.verdict)


EXPERIMENT = Experiment(
    spec=CellSpec,
    compute=compute,
    finish=finish,
    label="the Monte Carlo simulator of ResNets at initialisation",
)
