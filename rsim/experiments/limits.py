"""``experiment=ode`` and ``experiment=sde``: the ResNet against its continuous-time limit
(rsim/THEORY.md section 5; the numerics are in :mod:`rsim.core.limits`).

A job is one series (a branch, i.e. model and activation) with every depth of ``depths``
computed on the same realisations: sample i's key is fold_in(PRNGKey(seed), i), never the
depth. Its tables, in ``<output>/<name>/``:

* ``part-<digest>.parquet``: one row per (sample, depth): the reference-free errors
  ``doubling_gap`` = max_k ||h^(L)_k - h^(2L)_2k|| and ``doubling_gap_final`` =
  ||h^(L)_L - h^(2L)_2L|| (depth 2L on the same realisation), the errors against the reference
  ``error`` = max_k ||H_{k/L} - h_k|| and ``error_final`` = ||H_1 - h_L||, ``h0_norm``; ode
  adds ``reference_gap`` (a bound on the reference solver's error) and sde ``sq_ratio`` =
  ||h_L||^2/||h_0||^2 and ``limit_sq_ratio`` = ||H_1||^2/||H_0||^2 (the weak check).
* ode only, ``regimes/part-<digest>.parquet``: one row per (sample, depth, beta) with
  alpha = L^-beta: ``log_hidden_diff``, ``log_hidden_maxdiff`` (as the simulator's columns)
  and ``positive_eigenvalue`` (largest real eigenvalue of V(t) over a grid of t), for
  Propositions 8 and 9.

Both tables start with the :data:`rsim.schema.LIMIT_SERIES` columns, which identify a series
(NaN where a key does not apply; ``init``, and ``model`` for sde, are constants of the
experiment, not options). ``finish`` prints the fitted order of each series
(:func:`rsim.analysis.convergence.convergence_order`: reference-free, over the asymptotic
depths) with its interval and local orders, the reference-based errors as a diagnostic, the
Proposition 8/9 medians and the weak check, and draws
``error_vs_depth.png``, ``regimes.png`` (ode), ``weak_check.png`` (sde).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from rsim import checks, schema
from rsim.checks import ConfigError
from rsim.experiments.base import Experiment, Progress, Spec, option
from rsim.labels import limit_series_label

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import jax

# Float64 numbers of one sample's largest array (the weight path or Brownian increments) that
# a vmapped block may hold: 2^25 numbers = 256 MiB.
BLOCK_BUDGET = 2**25
REGIMES = "regimes"


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class LimitSpec(Spec):
    """The options that the ode and sde experiments share; each sets its own defaults of
    ``gain``, ``width``, ``depths`` and ``samples``."""

    # Constants of the experiment (not options; kept as table columns and in provenance).
    init: ClassVar[str]
    precision: ClassVar[str] = "float64"  # errors reach 1e-4 and the ode reference 1e-9
    # alpha = L^-scheme_beta of the scheme whose limit is taken: 1/L (ODE), 1/sqrt(L) (SDE).
    scheme_beta: ClassVar[float]
    # The option that sets the finest grid of a sample (the block budget names it).
    finest_key: ClassVar[str]

    activation: str = option("relu", "relu | identity | tanh | leaky_relu")
    negative_slope: float = option(0.01, "the slope of leaky_relu below 0 (leaky_relu only)")
    gain: float = option(meaning="weights have variance gain^2 / d")
    width: int = option(meaning="d, the hidden size")
    n_in: int = option(64, "input dimension: x ~ U[0, 1]^n_in, h_0 = A x")
    depths: tuple[int, ...] = option(
        meaning="the L compared with the limit, all on the same realisations"
    )
    samples: int = option(meaning="realisations (>= 2)")
    seed: int = option(0, "the random seed")

    def normalise(self) -> None:
        depths = self.depths if isinstance(self.depths, tuple) else (self.depths,)
        if all(_is_integer(depth) for depth in depths):
            depths = tuple(sorted({int(depth) for depth in depths}))
        self._set("depths", depths)
        for key in ("gain", "negative_slope", "lengthscale", "tolerance"):
            value = getattr(self, key, None)
            if _is_real(value):  # gain=1 and gain=1.0 are one job
                self._set(key, float(value))

    def validate(self) -> None:
        for key in ("width", "n_in"):
            checks.integer(key, getattr(self, key), minimum=1)
        checks.integer("samples", self.samples, minimum=2, maximum=checks.MAX_SAMPLES)
        checks.integer("seed", self.seed, minimum=0, maximum=checks.MAX_SEED)
        checks.positive("gain", self.gain)
        checks.real("negative_slope", self.negative_slope)
        for depth in self.depths:
            checks.integer("depths", depth, minimum=1, maximum=checks.MAX_DEPTH)
        if len(self.depths) < 2:
            raise ConfigError(
                f"depths={list(self.depths)!r} is not allowed; give >= 2 distinct depths"
            )

    def _check_block_budget(self) -> None:
        if self.finest() * 2 * self.width**2 > BLOCK_BUDGET:
            raise ConfigError(
                f"{self.finest_key}: the finest grid ({self.finest()}) x 2 d^2 "
                f"(d = {self.width}) exceeds {BLOCK_BUDGET} numbers per sample; "
                "lower it or the width"
            )

    def finest(self) -> int:
        """Steps of the finest grid of a sample (the largest array is this x 2 d^2); a multiple
        of 2L for every depth L (the doubling gaps compare L with 2L)."""
        raise NotImplementedError

    def label(self) -> str:
        """The series in a few words: ``ode res1 relu d=3`` (:mod:`rsim.labels`)."""
        series = {"model": self.model, "activation": self.activation}  # sde: a class constant
        return f"{self.experiment} {limit_series_label(series)} d={self.width}"

    def block(self) -> int:
        """Samples per vmapped call: fixed by the spec, so a sample's numbers never depend
        on how many samples are run (XLA rounds differently for different batch sizes)."""
        per_sample = self.finest() * 2 * self.width**2
        return int(max(1, min(16, BLOCK_BUDGET // per_sample)))

    def row_key(self, table: str = "") -> tuple[str, ...]:
        """A draw: the series, the sample and the depth (regimes: and the beta)."""
        return (*schema.LIMIT_SERIES, "sample", "depth", *(("beta",) if table else ()))

    def series(self) -> dict[str, Any]:
        """The :data:`rsim.schema.LIMIT_SERIES` values shared by every row of this series
        (NaN where a key does not apply)."""
        values = {name: getattr(self, name, None) for name in schema.LIMIT_SERIES}
        return {k: np.nan if v is None else v for k, v in values.items()}

    def sample_options(self) -> dict[str, Any]:
        """The keyword arguments of the per-sample function: every option but ``samples`` and
        ``seed`` (the sample's key carries the seed)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("samples", "seed")
        }


@dataclass(frozen=True, kw_only=True)
class OdeSpec(LimitSpec):
    """One series of ``experiment=ode``: res-1 / res-3 with smooth weights against the
    neural ODE (Propositions 7-9); every field is an option.

    Example:
        >>> spec = OdeSpec(width=4, depths=(8, 16), samples=2)
        >>> spec.label(), spec.tables()
        ('ode res3 relu d=4', ('regimes',))
    """

    experiment = "ode"
    init = "smooth"
    scheme_beta = 1.0
    finest_key = "depths"

    model: str = option("res3", "res1 | res2 | res3 (res3 is relu whatever activation says)")
    gain: float = 1.0
    width: int = 16
    # nested grids (each divides the largest); the weight path is evaluated at 2 x the
    # largest (the doubling gaps)
    depths: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    samples: int = 128
    lengthscale: float = option(
        0.1, "l of the smooth weights' RBF kernel exp(-(s - t)^2 / (2 l^2)) in t = k / L"
    )
    tolerance: float = option(1e-10, "rtol = atol of the reference solver (diffrax Dopri8)")
    betas: tuple[float, ...] = option(
        (0.5, 0.75, 1.0, 1.5),
        "alpha = L^-beta of the regimes table (Propositions 8 and 9), on the same weights",
    )

    def normalise(self) -> None:
        super().normalise()
        self._set("activation", schema.branch_activation(self.model, self.activation))
        betas = self.betas if isinstance(self.betas, tuple) else (self.betas,)
        self._set("betas", tuple(float(b) if _is_real(b) else b for b in betas))

    def validate(self) -> None:
        checks.architecture(self.model, self.activation)
        super().validate()
        checks.law_parameters("smooth", self.lengthscale, None)
        if any(max(self.depths) % depth for depth in self.depths):
            raise ConfigError(
                f"depths={list(self.depths)} is not allowed; every depth must "
                "divide the largest (nested grids)"
            )
        checks.real("tolerance", self.tolerance)
        if not 1e-14 <= self.tolerance <= 1e-6:
            raise ConfigError(
                f"tolerance={self.tolerance!r} is not allowed; it must be in [1e-14, 1e-6]"
            )
        checks.betas(self.betas)
        self._check_block_budget()

    def finest(self) -> int:
        return 2 * max(self.depths)

    def tables(self) -> tuple[str, ...]:
        return (REGIMES,)


@dataclass(frozen=True, kw_only=True)
class SdeSpec(LimitSpec):
    """One series of ``experiment=sde``: res-1 with Gaussian weights against the neural SDE
    (Proposition 10); every field is an option."""

    experiment = "sde"
    init = "gaussian"
    model: ClassVar[str] = "res1"  # the SDE limit is for V sigma(h)
    scheme_beta = 0.5
    finest_key = "reference_depth"

    gain: float = math.sqrt(2)
    width: int = 10
    depths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
    samples: int = 512
    reference_depth: int = option(
        8192,
        "Euler-Maruyama steps of the finest grid: the reference H, the weak check's H_1 and "
        "the partner of the largest depth in the doubling gaps (a multiple of 2L for every "
        "depth L)",
    )

    def validate(self) -> None:
        checks.architecture(self.model, self.activation)
        super().validate()
        checks.integer("reference_depth", self.reference_depth, minimum=2, maximum=checks.MAX_DEPTH)
        if any(self.reference_depth % (2 * depth) for depth in self.depths):
            raise ConfigError(
                f"reference_depth={self.reference_depth!r} is not allowed; it must be a "
                "multiple of twice every depth (the doubling gaps compare L with 2L)"
            )
        self._check_block_budget()

    def finest(self) -> int:
        return self.reference_depth


# --- computing one series -----------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _kernel(
    experiment: str, seed: int, options: tuple[tuple[str, Any], ...]
) -> Callable[[jax.Array], dict[str, jax.Array]]:
    """The jit-compiled, vmapped per-sample function of a series (one compilation per series;
    it does not depend on the number of samples)."""
    import jax

    from rsim.core import limits

    sample = {"ode": limits.ode_sample, "sde": limits.sde_sample}[experiment]
    one = functools.partial(sample, **dict(options))
    return jax.jit(jax.vmap(lambda index: one(limits.sample_key(seed, index))))


def sample_arrays(spec: LimitSpec, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Every per-sample array of :func:`rsim.core.limits.ode_sample` / ``sde_sample``, stacked
    over samples 0..samples-1 (in fixed blocks of ``spec.block()``, padded at the end).

    Args:
        spec: the series.
        progress: advanced by the samples of each block (None: silent).

    Returns:
        Name -> array with the samples on axis 0.
    """
    import jax.numpy as jnp

    from rsim.core import engine

    block = spec.block()
    parts: list[dict[str, np.ndarray]] = []
    with engine.numerics(spec.precision):
        kernel = _kernel(spec.experiment, spec.seed, tuple(spec.sample_options().items()))
        for start in range(0, spec.samples, block):
            out = kernel(jnp.arange(start, start + block))
            parts.append({k: np.asarray(v) for k, v in out.items()})
            if progress is not None:
                progress(min(block, spec.samples - start))
    return {k: np.concatenate([p[k] for p in parts])[: spec.samples] for k in parts[0]}


def _series_frame(spec: LimitSpec, rows: int) -> dict[str, np.ndarray]:
    return {name: np.repeat(value, rows) for name, value in spec.series().items()}


def frames(spec: LimitSpec, out: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    """The tables of a computed series: the errors (sample x depth) and, for ode, the
    regimes (sample x depth x beta).

    Args:
        spec: the series.
        out: its per-sample arrays (:func:`sample_arrays`).

    Returns:
        Table name -> table: ``""`` the errors and, for ode, ``regimes``.
    """
    n, depths = spec.samples, np.asarray(spec.depths)
    errors = _series_frame(spec, n * len(depths))
    errors["sample"] = np.repeat(np.arange(n), len(depths))
    errors["depth"] = np.tile(depths, n)
    errors["alpha"] = errors["depth"].astype(float) ** -spec.scheme_beta
    per_depth = ("doubling_gap", "doubling_gap_final", "error", "error_final", "sq_ratio")
    for key in per_depth:
        if key in out:
            errors[key] = out[key].reshape(-1)
    for key in ("h0_norm", "reference_gap", "limit_sq_ratio"):  # per sample
        if key in out:
            errors[key] = np.repeat(out[key], len(depths))
    tables = {"": pd.DataFrame(errors)}
    if REGIMES not in spec.tables():
        return tables
    betas = np.asarray(spec.betas)
    rows = n * len(depths) * len(betas)
    regimes = _series_frame(spec, rows)
    regimes["sample"] = np.repeat(np.arange(n), len(depths) * len(betas))
    regimes["depth"] = np.tile(np.repeat(depths, len(betas)), n)
    regimes["beta"] = np.tile(betas, n * len(depths))
    regimes["alpha"] = regimes["depth"].astype(float) ** -regimes["beta"]
    for key in ("log_hidden_diff", "log_hidden_maxdiff"):
        regimes[key] = out[key].reshape(-1)
    eigen = out["positive_eigenvalue"]
    eigen = np.where(np.isfinite(eigen), eigen, np.nan)  # -inf: no real eigenvalue
    regimes["positive_eigenvalue"] = np.repeat(eigen, len(depths) * len(betas))
    tables[REGIMES] = pd.DataFrame(regimes)
    return tables


def compute(spec: LimitSpec, progress: Progress | None = None) -> dict[str, pd.DataFrame]:
    """The series' tables: ``""`` the errors and, for ode, ``regimes``.

    Args:
        spec: the series.
        progress: advanced by the samples of each block (None: silent).

    Returns:
        Table name -> table (:func:`frames`).
    """
    return frames(spec, sample_arrays(spec, progress))


# --- summary and figures ------------------------------------------------------------------------


def finish(folder: Path, figures: bool) -> None:
    """Log the orders of the latest command's jobs (and the Proposition 8/9 or weak-check
    lines), write ``_tables/orders.csv`` and ``_tables/weak_check.csv``, and draw the figures
    into ``_figures/``.

    Args:
        folder: the results folder of an ode or sde run.
        figures: draw the figures (:mod:`rsim.views.limits`).
    """
    from rsim import results
    from rsim.analysis import convergence
    from rsim.experiments.base import load_run, run_description

    folder = Path(folder)
    frame = load_run(folder)
    tables, target = results.tables_folder(folder), results.figures_folder(folder)
    log.info("summary of %s", run_description(folder))
    for line in convergence.order_lines(frame):
        log.info("%s", line)
    results.write_csv(convergence.convergence_orders(frame), tables / "orders.csv")
    if figures:
        from rsim.views import limits as views
    drawn = [views.error_file(frame, target / "error_vs_depth.png")] if figures else []
    if results.result_files(results.table_folder(folder, REGIMES)):
        regimes = load_run(folder, REGIMES)
        for line in convergence.regime_lines(regimes):
            log.info("%s", line)
        if figures:
            drawn.append(views.regimes_file(regimes, target / "regimes.png"))
    if "limit_sq_ratio" in frame and (frame["activation"] == "identity").any():
        table = convergence.weak_check(frame)
        results.write_csv(table, tables / "weak_check.csv")
        for line in convergence.weak_lines(table):
            log.info("%s", line)
        if figures:
            drawn.append(views.weak_file(table, target / "weak_check.png"))
    for path in drawn:
        log.info("figure %s", path)


ODE = Experiment(
    spec=OdeSpec,
    compute=compute,
    finish=finish,
    label="strong convergence of the ResNet to its neural ODE (beta = 1)",
)
SDE = Experiment(
    spec=SdeSpec,
    compute=compute,
    finish=finish,
    label="strong and weak convergence of the ResNet to its neural SDE (beta = 1/2)",
)
