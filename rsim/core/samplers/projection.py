"""The projection sampler: i.i.d. Gaussian weights, dense branches, no matrix ever formed.

Each layer samples the action of V and of each W on the vectors they meet (the hidden states
and tangents of every beta) from its exact joint law, with O(d n_betas) random numbers per
matrix (:mod:`rsim.core.projection`, rsim/THEORY.md section 4). Exact backprop replays the
layer from its stored input, tangent and noise, and draws V^T p, W_i^T y from their law given
the forward's view. Same law as explicit Gaussian weights, different stream. (A convolution's
matrix repeats each kernel entry along the pixels, so its action is not that of an i.i.d.
Gaussian matrix: conv is explicit.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rsim.core import branches, keys, laws
from rsim.core.projection import action, transpose_action
from rsim.core.samplers.base import BlockRule
from rsim.core.samplers.scan import LayerOutput, Layers, LayerSampler


class ProjectionView(NamedTuple):
    """What a layer's matrices saw, per matrix, V first (index 0, then W_1..W_m)."""

    seen: list  # (basis, noise) of projection.action: ((rows, d), (rows, d)) each
    activated: list  # the a that sigma was applied to before the matrix (None for W_1)


class ProjectionStored(NamedTuple):
    """What exact backprop keeps of one layer: its forward replayed from these."""

    h: jax.Array  # (n_betas, d) the layer's input hidden states
    q: jax.Array | None  # (n_betas, d) the input tangents its matrices saw; None without jvp
    noise: jax.Array  # (n_matrices, rows, d) each matrix's noise M e_i, rows = 2 n_betas with jvp


class Projection(LayerSampler):
    """Gaussian projection: exact in law for i.i.d. Gaussian weights on dense branches."""

    name = "projection"

    def exact_for(self, init: str, model: str) -> bool:
        """The law's record says the projection is exact for it (i.i.d. Gaussian weights) and
        the branch's says its matrices are dense with i.i.d. entries (not conv)."""
        law, branch = laws.LAWS.get(init), branches.BRANCHES.get(model)
        return bool(law and law.projection_exact and branch and branch.dense)

    def unroll(self, model: str) -> int:
        """A res-1 projected layer is so little work that the loop's own overhead shows:
        unrolling 4 layers per iteration measured 0.58 vs 0.84 us per layer-sample at d = 40
        in one interleaved run on the shared 2-core machine (res-3: no gain)."""
        return 4 if model == "res1" else 1

    def block_rule(self, shape: branches.Shape, gradients: str, platform: str) -> BlockRule:
        """About 2 d numbers per matrix and layer: 2^16 / (n_matrices d) samples on CPU
        (measured: 1024 at d = 40, 64 at d = 512, res-3), at most 1024; 2^22 on accelerators.
        Exact backprop stores h and the tangent; the noise each matrix drew (n_matrices times
        the states) is not counted: capping it too gave blocks of 8-16 at d = 1024, L = 1000,
        whose backprop measured 1.2-1.3x slower than at 32."""
        target, most = (2**16, 1024) if platform == "cpu" else (2**22, 2**16)
        stored = 2 * shape.dim if gradients == "both" else shape.dim
        return BlockRule(target / (shape.n_matrices * shape.dim), most, stored)

    def forward(
        self, layers: Layers, k: jax.Array, w: jax.Array | None, h: jax.Array, q: jax.Array | None
    ) -> LayerOutput:
        """The branch increments sampled by projection (:func:`_actions`) at the layer's key."""
        dh, dq, view = _actions(layers, keys.layer(layers.key, k), h, q)
        h = h + layers.alpha * dh
        if q is None:
            return LayerOutput(h, None, view)
        return LayerOutput(h, q + layers.alpha * dq, view)

    def stored(self, h: jax.Array, q: jax.Array | None, view: ProjectionView) -> ProjectionStored:
        """The layer's input, the tangent its matrices saw and the noise it drew."""
        return ProjectionStored(h, q, jnp.stack([noise for _, noise in view.seen]))

    def backward(
        self,
        layers: Layers,
        k: jax.Array,
        w: jax.Array | None,
        stored: ProjectionStored,
        p: jax.Array,
    ) -> jax.Array:
        """p + alpha (dg/dh)^T V^T p in law given the forward pass (:func:`_pullback`)."""
        key = keys.layer(layers.key, k)
        return p + layers.alpha * _pullback(layers, key, stored, p)


def _sigma(layers: Layers) -> Callable[[jax.Array], jax.Array]:
    """The pointwise nonlinearity of the branch (res-3: ReLU)."""
    kernel = layers.kernel
    record = branches.branch_record(kernel.model)
    return branches.activation(record.activation_of(kernel.activation), kernel.negative_slope)


def _actions(
    layers: Layers,
    key: jax.Array,
    h: jax.Array,
    q: jax.Array | None,
    noise: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array | None, ProjectionView]:
    """One layer's branch increments by Gaussian projection, and what the layer's matrices saw.

    res-1: (V sigma(h), V (sigma'(h) q)); res-2/3 and mlp: W_1 sees [h; q] (the rows of
    ``(n_betas, d)`` arrays, every beta's hidden state and tangent; ``q`` is None without a
    tangent), each next matrix W_i, then V, sees [sigma(a); sigma'(a) da] of the previous
    one's output [a; da] (res-2/3: (V sigma(W h), V (sigma'(W h) W q))). Every product M x is
    sampled jointly from its exact law given the vectors x, each matrix independently of the
    others and of what it acts on: per layer 2 n_betas d (without a tangent n_betas d) random
    numbers per matrix, drawn from ``key`` in one call (V first, then W_1..W_m), unless
    ``noise`` gives them (exact backprop replays a layer with the noise its forward drew).
    Returns ``(dh, dq, view)``: ``dq`` None without a tangent.
    """
    kernel, n = layers.kernel, h.shape[0]
    inputs = h if q is None else jnp.concatenate([h, q])
    n_matrices = kernel.shape.n_matrices
    if noise is None:
        scale = jnp.asarray(kernel.gain / math.sqrt(kernel.shape.fan_in), h.dtype)
        noise = jax.random.normal(key, (n_matrices, *inputs.shape), h.dtype) * scale
    sigma = _sigma(layers)
    seen = [None] * n_matrices
    activated = [None] * n_matrices
    pre = inputs  # res-1: sigma acts on h itself
    for i in [*range(1, n_matrices), 0]:  # W_1 .. W_m, then V
        if i == 1:
            vectors = inputs
        else:
            a, da = pre[:n], (None if q is None else pre[n:])
            activated[i] = a
            vectors = _activated_rows(sigma, a, da)
        pre, basis = action(noise[i], vectors)
        seen[i] = (basis, noise[i])
    view = ProjectionView(seen, activated)
    if q is None:
        return pre, None, view
    return pre[:n], pre[n:], view


def _activated_rows(
    sigma: Callable[[jax.Array], jax.Array], a: jax.Array, da: jax.Array | None
) -> jax.Array:
    """What the next matrix sees of a matrix's output a and its tangent da (rows): sigma(a),
    or [sigma(a); sigma'(a) da]."""
    if da is None:
        return sigma(a)
    u, du = jax.jvp(sigma, (a,), (da,))
    return jnp.concatenate([u, du])


def _pullback(layers: Layers, key: jax.Array, stored: ProjectionStored, p: jax.Array) -> jax.Array:
    """(dg/dh)^T V^T p for the rows p of ``(n_betas, d)``, in law given the forward pass.

    The layer is replayed from its input and the noise its forward pass drew (the same
    view of every matrix; stored, which measured 8% faster than drawing it again for res-3 at
    d = 1024, 5% slower for res-1); V^T p and each W_i^T y are drawn from their conditional
    law given that view (:func:`rsim.core.projection.transpose_action`), with fresh noise from
    ``fold_in(key, keys.PULLBACK)``.
    res-1: sigma'(h) V^T p; res-2/3, mlp: W_1^T (sigma'(a_1) W_2^T (.. sigma'(a_m) V^T p)).
    """
    kernel = layers.kernel
    _, _, (seen, activated) = _actions(layers, key, stored.h, stored.q, stored.noise)
    scale = jnp.asarray(kernel.gain / math.sqrt(kernel.shape.fan_in), p.dtype)
    n_matrices = len(seen)
    fresh = (
        jax.random.normal(keys.tagged(key, keys.PULLBACK), (n_matrices, *p.shape), p.dtype) * scale
    )
    sigma = _sigma(layers)
    t = p
    for i in [0, *range(n_matrices - 1, 0, -1)]:  # V, then W_m .. W_1
        t = transpose_action(*seen[i], t, fresh[i])
        if activated[i] is not None:  # sigma acted before the matrix (all but W_1)
            _, sigma_pullback = jax.vjp(sigma, activated[i])
            (t,) = sigma_pullback(t)
    return t


PROJECTION = Projection()
