"""The layer scan of samplers that carry every beta's d-dimensional states (explicit, projection).

A :class:`LayerSampler` supplies one layer's forward step (the branch increment of the hidden
state and of its tangent), what exact backprop keeps of that layer, and its backward step
(the cotangent pulled back through the layer); this module runs them: the read-in, the
``lax.scan`` over layers in the log domain (:mod:`rsim.core.engine`'s doc), the backward scan
over the stored layers in reverse, and the metrics.

The forward scan carries a :class:`ForwardCarry`, the backward scan a :class:`BackwardCarry`;
layer k's step sees ``k`` (1..L) and the layer's weights ``w`` of a correlated law's path
(None for i.i.d. laws: a sampler draws them from ``keys.layer(layers.key, k)``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rsim.core import branches, keys, laws
from rsim.core.kernel import Kernel
from rsim.core.samplers.base import Sampler


class ForwardCarry(NamedTuple):
    """What the forward scan carries from layer k to layer k + 1 (log domain)."""

    h: jax.Array  # (n_betas, d) hidden state: unit rows (homogeneous branch), else h_k itself
    log_h: jax.Array  # (n_betas,) h_k / ||h_0|| = exp(log_h) h
    log_max: jax.Array  # (n_betas,) log max_{j <= k} ||h_j - h_0|| / ||h_0||
    q: jax.Array  # (n_betas, d) tangent (dh_k/dh_0) z, unit rows (z itself without jvp)
    log_q: jax.Array  # (n_betas,) q_k / ||z|| = exp(log_q) q


class BackwardCarry(NamedTuple):
    """What the backward scan carries from layer k + 1 to layer k (log domain)."""

    p: jax.Array  # (n_betas, d) cotangent dLoss/dh_k, unit rows
    log_p: jax.Array  # (n_betas,) p_k / ||p_L|| = exp(log_p) p


class Start(NamedTuple):
    """A sample's read-in h_0 = A x, the start of every beta."""

    h: jax.Array  # (n_betas, d) the hidden state h_0 as carried (see ForwardCarry)
    log_h: jax.Array  # (n_betas,) its log scale
    origin: jax.Array  # (n_betas, d) h_0 / ||h_0||
    z: jax.Array  # (n_betas, d) the tangent's start: uniform on the unit sphere


class LayerOutput(NamedTuple):
    """One forward layer step: the next states before renormalising, and what the layer saw."""

    h: jax.Array  # (n_betas, d) h_{k+1} = h_k + alpha V g(h_k, W)
    q: jax.Array | None  # (n_betas, d) its tangent; None without jvp
    view: Any  # what the sampler's ``stored`` keeps for backprop (None if nothing)


@dataclass(frozen=True)
class Layers:
    """What every layer step of one sample needs (built inside the trace)."""

    kernel: Kernel
    branch: branches.Residual  # V g(h, W) and whether it commutes with positive scaling
    alpha: jax.Array  # (n_betas, 1) L^-beta
    key: jax.Array  # the layer stream: layer k draws from keys.layer(key, k)


class LayerSampler(Sampler):
    """A sampler defined by its layer steps over the ``(n_betas, d)`` states (see the module).

    Subclasses implement :meth:`forward`, :meth:`stored` and :meth:`backward` (and
    :meth:`Sampler.exact_for`); :meth:`unroll` and :meth:`Sampler.block_rule` have defaults.
    """

    @abc.abstractmethod
    def forward(
        self, layers: Layers, k: jax.Array, w: jax.Array | None, h: jax.Array, q: jax.Array | None
    ) -> LayerOutput:
        """Layer k's step from the hidden states ``h`` and tangents ``q`` (None without jvp).

        Args:
            layers: the sample's layer context.
            k: the layer index, 1..L (traced).
            w: the layer's weights ``(n_matrices, *weight_shape)`` on a correlated law's path;
                None for i.i.d. laws.
            h: ``(n_betas, d)`` hidden states.
            q: ``(n_betas, d)`` tangents, or None.

        Returns:
            The next states, unnormalised, and the layer's view for :meth:`stored`.
        """

    @abc.abstractmethod
    def stored(self, h: jax.Array, q: jax.Array | None, view: Any) -> NamedTuple:
        """What exact backprop keeps of one layer (stacked over layers by the scan).

        Args:
            h: the layer's input hidden states ``(n_betas, d)``.
            q: its input tangents, or None without jvp.
            view: :attr:`LayerOutput.view` of the layer's forward step.

        Returns:
            A NamedTuple of arrays (None fields allowed), the ``stored`` of :meth:`backward`.
        """

    @abc.abstractmethod
    def backward(
        self, layers: Layers, k: jax.Array, w: jax.Array | None, stored: NamedTuple, p: jax.Array
    ) -> jax.Array:
        """The cotangents ``p`` of h_{k+1} pulled back to h_k, (dh_{k+1}/dh_k)^T p.

        Args:
            layers: the sample's layer context.
            k: the layer index, 1..L (traced).
            w: the layer's weights on a correlated law's path, or None.
            stored: what :meth:`stored` kept of this layer.
            p: ``(n_betas, d)`` cotangents.

        Returns:
            ``(n_betas, d)`` cotangents of the layer's input, unnormalised.
        """

    def unroll(self, model: str) -> int:
        """Layers per iteration of the forward scan (1: a plain loop)."""
        return 1

    def sample(
        self, kernel: Kernel, key: jax.Array, betas: jax.Array, law_state: jax.Array
    ) -> dict[str, jax.Array]:
        """All metrics of one sample for every beta: a dict of ``(n_betas,)`` arrays.

        i.i.d. laws draw layer k's weights inside the scan step (:meth:`forward`); correlated
        laws (smooth, fbm) build the sample's whole weight path first, shared by every beta,
        and scan over it. ``law_state`` is traced: for fbm and fbm_official the circulant
        scale of H (the law record's ``path_scale``, so a sweep over H compiles once),
        unused otherwise.
        """
        dtype = kernel.dtype
        n_betas = betas.shape[0]
        alpha = (jnp.asarray(kernel.depth, dtype) ** -betas)[:, None]
        branch = branches.branch(
            kernel.model, kernel.activation, kernel.negative_slope, shape=kernel.shape
        )
        start = _start(kernel, branch, key, n_betas)
        layers = Layers(kernel, branch, alpha, keys.tagged(key, keys.LAYERS))
        zeros = jnp.zeros((n_betas,), dtype)
        indices = jnp.arange(1, kernel.depth + 1)
        path = _weight_path(kernel, layers.key, law_state)
        never = jnp.full((n_betas,), -jnp.inf, dtype)  # log max_k ||h_k - h_0|| before layer 1
        last, stored = jax.lax.scan(
            self._forward_step(layers, start.origin),
            ForwardCarry(start.h, start.log_h, never, start.z, zeros),
            (indices, path),
            unroll=self.unroll(kernel.model),
        )
        out = _forward_metrics(kernel, last, start, path)
        if kernel.backprop:
            b = _readout(kernel, key, n_betas)
            carry, _ = jax.lax.scan(
                self._backward_step(layers),
                BackwardCarry(b, zeros),
                (indices, path, stored),
                reverse=True,
            )
            out["log_grad_ratio"] = carry.log_p + _log_norm(carry.p)
            out["log_grad_diff"] = _log_distance(carry.log_p, carry.p, b)
        return out

    def _forward_step(
        self, layers: Layers, origin: jax.Array
    ) -> Callable[[ForwardCarry, tuple], tuple[ForwardCarry, NamedTuple | None]]:
        """The forward scan's body: (ForwardCarry, (k, w)) -> (ForwardCarry, stored | None)."""
        kernel, homogeneous = layers.kernel, layers.branch.positively_homogeneous

        def step(carry: ForwardCarry, xs: tuple) -> tuple[ForwardCarry, NamedTuple | None]:
            q_in = carry.q if kernel.tangent else None
            out = self.forward(layers, *xs, carry.h, q_in)
            q, log_q = carry.q, carry.log_q
            if kernel.tangent:
                q, log_q = _renormalise(homogeneous, out.q, log_q)
            h, log_h = _renormalise(homogeneous, out.h, carry.log_h)
            log_max = jnp.maximum(carry.log_max, _log_distance(log_h, h, origin))
            # Exact backprop replays each layer from what the sampler keeps of it.
            stored = self.stored(carry.h, q_in, out.view) if kernel.backprop else None
            return ForwardCarry(h, log_h, log_max, q, log_q), stored

        return step

    def _backward_step(
        self, layers: Layers
    ) -> Callable[[BackwardCarry, tuple], tuple[BackwardCarry, None]]:
        """The backward scan's body: (BackwardCarry, (k, w, stored)) -> (BackwardCarry, None)."""
        homogeneous = layers.branch.positively_homogeneous

        def step(carry: BackwardCarry, xs: tuple) -> tuple[BackwardCarry, None]:
            p = self.backward(layers, *xs, carry.p)
            return BackwardCarry(*_renormalise(homogeneous, p, carry.log_p)), None

        return step


def _start(kernel: Kernel, branch: branches.Residual, key: jax.Array, n_betas: int) -> Start:
    """The read-in h_0 = A x of the sample and the tangent's start z, for every beta (z is
    uniform on the sphere: its radius, sqrt(d) in the text, cancels in every ratio)."""
    shape, dtype = kernel.shape, kernel.dtype
    x = jax.random.uniform(keys.tagged(key, keys.INPUT), shape.input_shape(kernel.n_in), dtype)
    a = laws.draw(
        kernel.init,
        keys.tagged(key, keys.READIN),
        (kernel.width, kernel.n_in),
        kernel.n_in,
        kernel.gain,
        dtype,
    )
    h0 = shape.readin(a, x)  # A x; for conv a 1 x 1 convolution from n_in channels to C
    norm0 = jnp.linalg.norm(h0)
    origin = jnp.broadcast_to(h0 / norm0, (n_betas, shape.dim))
    if branch.positively_homogeneous:
        h, log_h = origin, jnp.zeros((n_betas,), dtype)
    else:  # the branch sees the true scale of h: carry h itself, h / ||h_0|| = e^log_h h
        h, log_h = jnp.broadcast_to(h0, (n_betas, shape.dim)), jnp.full((n_betas,), -jnp.log(norm0))
    z = jax.random.normal(keys.tagged(key, keys.TANGENT), (shape.dim,), dtype)
    z = jnp.broadcast_to(z / jnp.linalg.norm(z), (n_betas, shape.dim))
    return Start(h, log_h, origin, z)


def _weight_path(kernel: Kernel, layer_key: jax.Array, law_state: jax.Array) -> jax.Array | None:
    """A correlated law's weights of layers 1..L, ``(depth, n_matrices, *weight_shape)``
    (shared by every beta); None for i.i.d. laws."""
    if laws.law(kernel.init).iid:
        return None
    shape = kernel.shape
    return laws.path(
        kernel.init,
        layer_key,
        kernel.depth,
        (shape.n_matrices, *shape.weight_shape),
        shape.fan_in,
        kernel.gain,
        kernel.dtype,
        fgn_scale=law_state,
        lengthscale=kernel.lengthscale,
        stream_depth=kernel.stream_depth,
    )


def _readout(kernel: Kernel, key: jax.Array, n_betas: int) -> jax.Array:
    """The backward pass's start b = B^T / ||B||, ``(n_betas, d)`` rows.

    p_L = 2 (B h_L - y) B^T is parallel to B^T, and both gradient ratios are invariant to the
    scalar 2 (B h_L - y), so the backward pass starts from b exactly.
    """
    d = kernel.shape.dim
    b = laws.draw(kernel.init, keys.tagged(key, keys.READOUT), (d,), d, kernel.gain, kernel.dtype)
    return jnp.broadcast_to(b / jnp.linalg.norm(b), (n_betas, d))


def _forward_metrics(
    kernel: Kernel, last: ForwardCarry, start: Start, path: jax.Array | None
) -> dict[str, jax.Array]:
    """The hidden-state metrics, the tangent's (jvp) and the weight path's first entries."""
    out = {
        "log_hidden_ratio": last.log_h + _log_norm(last.h),
        "log_hidden_diff": _log_distance(last.log_h, last.h, start.origin),
        "log_hidden_maxdiff": last.log_max,
    }
    if kernel.weight_paths:  # V_k's first entry, on the path every beta was simulated with
        out["weight_path"] = path.reshape(kernel.depth, -1)[:, 0]
    if kernel.tangent:
        out["log_jvp_ratio"] = last.log_q + _log_norm(last.q)
        out["log_jvp_diff"] = _log_distance(last.log_q, last.q, start.z)
    return out


def _renormalise(
    homogeneous: bool, x: jax.Array, log_scale: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Rows of unit norm and their log scale added to ``log_scale`` (homogeneous branches);
    ``(x, log_scale)`` unchanged otherwise."""
    if not homogeneous:
        return x, log_scale
    norm = jnp.linalg.norm(x, axis=-1)
    return x / norm[:, None], log_scale + jnp.log(norm)


def _log_norm(x: jax.Array) -> jax.Array:
    """Row-wise log ||x||."""
    return jnp.log(jnp.linalg.norm(x, axis=-1))


def _log_distance(log_scale: jax.Array, x: jax.Array, origin: jax.Array) -> jax.Array:
    """Row-wise log ||exp(log_scale) x - origin||, without overflow for any log_scale."""
    top = jnp.maximum(log_scale, 0)
    gap = jnp.exp(log_scale - top)[:, None] * x - jnp.exp(-top)[:, None] * origin
    return top + _log_norm(gap)
