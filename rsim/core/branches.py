"""Residual branches ``V g(h, theta)`` as pure functions: res-1, res-2, res-3, mlp and conv.

A layer of the ResNet is ``h_{k+1} = h_k + alpha V_{k+1} g(h_k, theta_{k+1})``. Hidden states
are row vectors of length d stacked along a leading axis (one row per beta), so ``W h`` is
``h @ W.T``. The weights of one layer arrive as one array ``(n_matrices, *weight_shape)``:
``V`` first, then ``W_1 .. W_m``.

* res1  V sigma(h)                                  V: d x d
* res2  V sigma(W h)                                V, W: d x d
* res3  V ReLU(W h)                                 (res2 with ReLU)
* mlp   V sigma(W_m sigma(... sigma(W_1 h)))        m = branch_depth hidden layers, all d x d;
                                                    m = 1 is res2, bit for bit
* conv  V * sigma(W_m * ... sigma(W_1 * h))         h an image of C = width channels and side
                                                    N = image_size (d = C N^2); each * a C -> C
                                                    convolution with a k x k kernel
                                                    (k = kernel_size, odd) and circular padding;
                                                    kernel entries have fan_in C k^2
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from rsim.schema import POSITIVELY_HOMOGENEOUS, branch_activation


def activation(name: str, negative_slope: float) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """The pointwise nonlinearity sigma by name (see :func:`rsim.schema.branch_activation`)."""
    if name == "relu":
        return lambda x: jnp.maximum(x, 0)
    if name == "identity":
        return lambda x: x
    if name == "tanh":
        return jnp.tanh
    if name == "leaky_relu":
        return lambda x: jnp.where(x >= 0, x, negative_slope * x)
    raise ValueError(f"unknown activation {name!r}")


@dataclass(frozen=True)
class Shape:
    """The static shape of a branch: what its weights and hidden states look like.

    ``width`` is d for the dense branches and the number of channels C for conv, whose hidden
    state has ``dim`` = C N^2 entries. ``branch_depth`` is m (mlp, conv); res1 has no W
    (m = 0), res2 and res3 one (m = 1)."""

    model: str
    width: int
    branch_depth: int | None = None
    image_size: int | None = None
    kernel_size: int | None = None

    @property
    def hidden_layers(self) -> int:
        """m: the number of W's in the branch."""
        if self.model == "res1":
            return 0
        if self.model in ("res2", "res3"):
            return 1
        return self.branch_depth

    @property
    def n_matrices(self) -> int:
        """Weight arrays per layer: V and the m W's."""
        return 1 + self.hidden_layers

    @property
    def dim(self) -> int:
        """d: the length of a hidden state."""
        if self.model == "conv":
            return self.width * self.image_size**2
        return self.width

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """One weight array: (d, d), or a (C, C, k, k) convolution kernel (out, in, k, k)."""
        if self.model == "conv":
            return (self.width, self.width, self.kernel_size, self.kernel_size)
        return (self.width, self.width)

    @property
    def fan_in(self) -> int:
        """Terms summed by each output of a weight array: d, or C k^2 for a kernel."""
        if self.model == "conv":
            return self.width * self.kernel_size**2
        return self.width

    @property
    def weight_entries(self) -> int:
        """Weight entries per layer: n_matrices d^2, or n_matrices C^2 k^2 for conv."""
        return self.n_matrices * math.prod(self.weight_shape)

    @property
    def activation_entries(self) -> int:
        """The widest intermediate a branch builds per hidden vector: d, or for conv the k^2
        shifted copies of the image that each convolution multiplies by its kernel."""
        if self.model == "conv":
            return self.kernel_size**2 * self.dim
        return self.dim

    def input_shape(self, n_in: int) -> tuple[int, ...]:
        """The input x: a vector of n_in entries, or an image of n_in channels."""
        if self.model == "conv":
            return (n_in, self.image_size, self.image_size)
        return (n_in,)

    def readin(self, a: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
        """h_0 = A x with A ``(width, n_in)``: a matrix, or for conv the 1 x 1 convolution
        from n_in channels to C (the same A at every pixel), flattened to ``(dim,)``."""
        if self.model == "conv":
            return jnp.einsum("cn,nxy->cxy", a, x).reshape(-1)
        return a @ x


@dataclass(frozen=True)
class Branch:
    """A residual branch: ``residual(weights, h) = V g(h, W_1..W_m)`` for rows of ``h``."""

    name: str
    shape: Shape
    residual: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]
    positively_homogeneous: bool

    @property
    def n_matrices(self) -> int:
        return self.shape.n_matrices


def _convolve_channels_last(kernel: jnp.ndarray, images: jnp.ndarray) -> jnp.ndarray:
    """:func:`circular_convolution` on ``(n, N, N, C_in)`` images, returning ``(n, N, N,
    C_out)``: the k^2 circular shifts of the images side by side (``(n, N, N, k^2 C_in)``,
    im2col) times the kernel as a ``(k^2 C_in, C_out)`` matrix.

    One matmul per sample; vmapped over samples it is one batched matmul. The same map by
    ``lax.conv_general_dilated`` vmapped over samples (each sample has its own kernel) becomes
    a grouped convolution, which took 0.9-3.3x this one's time on XLA's CPU backend (C = 4..32,
    N = 4..16, k = 3, one ReLU branch layer, measured here on 2 cores; 3.3x at C = 16, N = 8)."""
    k, side = kernel.shape[-1], images.shape[1]
    half = k // 2
    padded = jnp.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="wrap")
    columns = jnp.concatenate(
        [padded[:, a : a + side, b : b + side, :] for a in range(k) for b in range(k)], axis=-1
    )
    matrix = kernel.transpose(2, 3, 1, 0).reshape(k * k * kernel.shape[1], kernel.shape[0])
    return columns @ matrix


def circular_convolution(kernel: jnp.ndarray, images: jnp.ndarray) -> jnp.ndarray:
    """``(C_out, C_in, k, k)`` kernel on ``(n, C_in, N, N)`` images with circular padding (k
    odd): output pixel (x, y) sums kernel[c, c', a, b] image[c', x + a - k//2, y + b - k//2]
    with indices mod N, so every input pixel meets each kernel entry exactly once (the
    cross-correlation of ``lax.conv_general_dilated`` on the image padded by wrapping)."""
    out = _convolve_channels_last(kernel, images.transpose(0, 2, 3, 1))
    return out.transpose(0, 3, 1, 2)


def branch(
    model: str,
    activation_name: str = "relu",
    negative_slope: float = 0.01,
    *,
    shape: Shape | None = None,
) -> Branch:
    """The branch of ``model`` with ``shape`` (needed for mlp and conv; res1-3 take any d)."""
    activation_name = branch_activation(model, activation_name)
    sigma = activation(activation_name, negative_slope)
    homogeneous = activation_name in POSITIVELY_HOMOGENEOUS
    shape = shape or Shape(model, width=0)
    if model == "res1":
        return Branch(model, shape, lambda w, h: sigma(h) @ w[0].T, homogeneous)
    if model in ("res2", "res3", "mlp"):

        def dense(w, h):
            u = h
            for i in range(1, shape.n_matrices):
                u = sigma(u @ w[i].T)
            return u @ w[0].T

        return Branch(model, shape, dense, homogeneous)
    if model == "conv":
        side = shape.image_size

        def conv(w, h):
            # Hidden states are flattened (C, N, N) images; the convolutions run channels last.
            u = h.reshape(-1, shape.width, side, side).transpose(0, 2, 3, 1)
            for i in range(1, shape.n_matrices):
                u = sigma(_convolve_channels_last(w[i], u))
            return _convolve_channels_last(w[0], u).transpose(0, 3, 1, 2).reshape(h.shape)

        return Branch(model, shape, conv, homogeneous)
    raise ValueError(f"unknown model {model!r}")


def n_matrices(model: str, branch_depth: int | None = None) -> int:
    """Weight arrays per layer (V first, then the W's)."""
    return Shape(model, width=0, branch_depth=branch_depth).n_matrices
