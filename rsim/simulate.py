"""``rsim.simulate``: one cell from Python, as a tidy pandas DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rsim import engine
from rsim.config import CellSpec

# Columns that identify the cell of a row, in table order.
CELL_COLUMNS = ("model", "init", "activation", "negative_slope", "lengthscale", "hurst", "width",
                "n_in", "depth", "gain", "seed")


def simulate(model: str = "res3", init: str = "uniform", activation: str = "relu",
             width: int = 40, depth: int = 1000, betas: Sequence[float] = (0.25, 0.5, 1.0),
             samples: int = 1000, seed: int = 0, gradients: str = "jvp", gain: float = 1.0,
             negative_slope: float = 0.01, n_in: int = 64, precision: str = "float32",
             lengthscale: float = 0.1, hurst: float = 0.5, sampler: str = "explicit",
             chunk: int | None = None, progress: bool = False) -> pd.DataFrame:
    """Simulate ``samples`` ResNets h_{k+1} = h_k + alpha V g(h_k) for every beta in ``betas``.

    alpha = depth ** -beta; all betas of a sample share its weights. Returns one row per
    (sample, beta) with the cell's parameters, ``beta``, ``alpha``, ``sample`` and the natural
    log metrics of :mod:`rsim.engine` (``log_jvp_*`` with gradients jvp/both, ``log_grad_*``
    with vjp/both). ``lengthscale`` is used by ``init="smooth"`` and ``hurst`` by
    ``init="fbm"``; their columns are NaN for other laws. ``sampler="projection"`` samples
    each Gaussian matrix's action on the vectors it meets (O(d) random numbers per layer
    instead of O(d^2); same law, different stream; ``init="gaussian"`` only). Raises
    :class:`rsim.ConfigError` on bad input before any computation.
    """
    spec = CellSpec.from_mapping(dict(
        model=model, init=init, activation=activation, width=width, depth=depth, betas=betas,
        samples=samples, seed=seed, gradients=gradients, gain=gain,
        negative_slope=negative_slope, n_in=n_in, precision=precision, chunk=chunk,
        lengthscale=lengthscale, hurst=hurst, sampler=sampler,
    ))
    return run_cell(spec, progress=progress)


def run_cell(spec: CellSpec, progress: bool = False) -> pd.DataFrame:
    """Run a validated spec and lay its metrics out one row per (sample, beta)."""
    metrics = engine.run(spec.kernel(), spec.betas, spec.samples, spec.seed, spec.chunk,
                         progress=progress, hurst=0.5 if spec.hurst is None else spec.hurst)
    return cell_frame(spec, metrics)


def cell_frame(spec: CellSpec, metrics: dict[str, np.ndarray]) -> pd.DataFrame:
    n_betas = len(spec.betas)
    betas = np.asarray(spec.betas, dtype=np.float64)
    frame = {}
    for name in CELL_COLUMNS:
        value = getattr(spec, name)
        frame[name] = np.repeat(np.nan if value is None else value, spec.samples * n_betas)
    frame["beta"] = np.tile(betas, spec.samples)
    frame["alpha"] = np.tile(float(spec.depth) ** -betas, spec.samples)
    frame["sample"] = np.repeat(np.arange(spec.samples, dtype=np.int64), n_betas)
    # Not a cell column: both samplers draw the same law, so summaries pool them.
    frame["sampler"] = np.repeat(spec.sampler, spec.samples * n_betas)
    for name, values in metrics.items():
        frame[name] = values.astype(np.float64).reshape(-1)
    return pd.DataFrame(frame)
