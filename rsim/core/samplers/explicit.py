"""The explicit sampler: every entry of every weight matrix drawn (any law, any branch).

Layer k of an i.i.d. law draws its weights ``(n_matrices, *weight_shape)`` (V, W_1..W_m) from
``keys.layer(layers.key, k)`` inside the scan step, so nothing of size L x d x d exists; a
correlated law's layer arrives from its path. Forward mode is ``jax.jvp`` of the layer, exact
backprop ``jax.vjp`` of the layer replayed from its stored input (the weights drawn again
from the same key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from rsim.core import keys, laws
from rsim.core.samplers.scan import LayerOutput, Layers, LayerSampler


class ExplicitStored(NamedTuple):
    """What exact backprop keeps of one layer: its input (the weights are drawn again)."""

    h: jax.Array  # (n_betas, d) the layer's input hidden states


class Explicit(LayerSampler):
    """Every weight entry drawn: exact in law for every law and branch (the reference)."""

    name = "explicit"

    def exact_for(self, init: str, model: str) -> bool:
        """Every law, every branch."""
        return True

    def forward(
        self, layers: Layers, k: jax.Array, w: jax.Array | None, h: jax.Array, q: jax.Array | None
    ) -> LayerOutput:
        """h + alpha V g(h, W) with the layer's weights, and its jvp along ``q``."""
        step = _step(layers, k, w)
        if q is None:
            return LayerOutput(step(h), None, None)
        h, q = jax.jvp(step, (h,), (q,))
        return LayerOutput(h, q, None)

    def stored(self, h: jax.Array, q: jax.Array | None, view: Any) -> ExplicitStored:
        """The layer's input."""
        return ExplicitStored(h)

    def backward(
        self,
        layers: Layers,
        k: jax.Array,
        w: jax.Array | None,
        stored: ExplicitStored,
        p: jax.Array,
    ) -> jax.Array:
        """``jax.vjp`` of the layer at its stored input (weights drawn again from their key)."""
        _, pullback = jax.vjp(_step(layers, k, w), stored.h)
        (p,) = pullback(p)
        return p


def _step(layers: Layers, k: jax.Array, w: jax.Array | None) -> Callable[[jax.Array], jax.Array]:
    """Layer k as a function h -> h + alpha V g(h, W); i.i.d. weights (``w`` None) drawn from
    ``keys.layer(layers.key, k)``."""
    kernel, branch = layers.kernel, layers.branch
    if w is None:
        shape = kernel.shape
        w = laws.draw(
            kernel.init,
            keys.layer(layers.key, k),
            (branch.n_matrices, *shape.weight_shape),
            shape.fan_in,
            kernel.gain,
            kernel.dtype,
        )
    return lambda h: h + layers.alpha * branch.residual(w, h)


EXPLICIT = Explicit()
