"""The kernel: everything static about a simulation (one compilation per distinct kernel).

Its own module so that the engine (which compiles and runs kernels) and the samplers (which
simulate one sample of a kernel, :mod:`rsim.core.samplers`) both read it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from rsim.core import branches
from rsim.schema import HIDDEN_METRICS, JVP_METRICS, VJP_METRICS


@dataclass(frozen=True)
class Kernel:
    """Everything static about a simulation: one compilation per distinct Kernel.

    The options' defaults live on :class:`rsim.experiments.cells.CellSpec`, which builds
    kernels; a kernel spells every field out.
    """

    model: str
    activation: str
    negative_slope: float
    init: str
    gain: float
    width: int
    n_in: int
    depth: int
    gradients: str
    precision: str
    block: int  # samples vmapped together; part of what fixes the float bits
    lengthscale: float | None  # smooth law only (it fixes the number of features)
    sampler: str
    weight_paths: bool  # also return V_k's first entry, k = 1..L (correlated laws)
    # The branch's shape beyond the width (None where the model has none; see
    # rsim.core.branches.Shape): m hidden layers (mlp, conv), conv's image and kernel side.
    branch_depth: int | None = None
    image_size: int | None = None
    kernel_size: int | None = None
    # Common random numbers across depths: every depth uses the streams of a network of this
    # depth (>= depth), truncated to its first L layers (fbm: the first L entries of one fGn
    # path of this length). None: depths are independent.
    coupled_depth: int | None = None

    @property
    def stream_depth(self) -> int:
        """The depth whose random streams this kernel draws (its own, or ``coupled_depth``)."""
        return self.coupled_depth or self.depth

    @property
    def shape(self) -> branches.Shape:
        """Weights ``(n_matrices, *weight_shape)`` of fan-in ``fan_in``, hidden size ``dim``."""
        return branches.Shape(
            self.model, self.width, self.branch_depth, self.image_size, self.kernel_size
        )

    @property
    def dtype(self) -> type:
        """The float type of every array of a sample (``precision``)."""
        return jnp.float64 if self.precision == "float64" else jnp.float32

    @property
    def tangent(self) -> bool:
        """Whether forward-mode gradients (a tangent q = (dh/dh_0) z) are computed."""
        return self.gradients in ("jvp", "both")

    @property
    def backprop(self) -> bool:
        """Whether exact backprop (a cotangent p = dLoss/dh) is computed."""
        return self.gradients in ("vjp", "both")

    @property
    def outputs(self) -> tuple[str, ...]:
        """The metric names a run returns, in order."""
        names = HIDDEN_METRICS
        if self.tangent:
            names += JVP_METRICS
        if self.backprop:
            names += VJP_METRICS
        if self.weight_paths:
            names += ("weight_path",)
        return names
