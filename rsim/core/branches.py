"""Residual branches ``V g(h, theta)`` as records: one :class:`Branch` per model in
:data:`BRANCHES`, and the pure functions that build their residuals.

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

The activations are records too (:data:`ACTIVATIONS`: kappa and positive homogeneity). jax is
imported inside the functions that build arrays only, so the records load without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Array = Any  # a jax array
Sigma = Callable[[Array], Array]
# (weights (n_matrices, *weight_shape), rows h (n, dim)) -> V g(h) (n, dim)
ResidualFn = Callable[[Array, Array], Array]


# --- activations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """A pointwise nonlinearity sigma and the constants the theory needs of it."""

    name: str
    # negative_slope -> sigma
    build: Callable[[float], Sigma]
    # negative_slope -> kappa = E sigma(X)^2 / E X^2 for symmetric X, or None where it
    # depends on the law of X
    kappa: Callable[[float], float | None]
    # sigma(c x) = c sigma(x) for c > 0: the whole residual map is then positively
    # homogeneous, which lets the engine renormalise h every layer and keep its scale as a log.
    positively_homogeneous: bool


def _relu(negative_slope: float) -> Sigma:
    import jax.numpy as jnp

    return lambda x: jnp.maximum(x, 0)


def _identity(negative_slope: float) -> Sigma:
    return lambda x: x


def _tanh(negative_slope: float) -> Sigma:
    import jax.numpy as jnp

    return jnp.tanh


def _leaky_relu(negative_slope: float) -> Sigma:
    import jax.numpy as jnp

    return lambda x: jnp.where(x >= 0, x, negative_slope * x)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("relu", _relu, lambda slope: 0.5, True),
        Activation("identity", _identity, lambda slope: 1.0, True),
        Activation("tanh", _tanh, lambda slope: None, False),
        Activation("leaky_relu", _leaky_relu, lambda slope: (1 + slope**2) / 2, True),
    )
}


def activation(name: str, negative_slope: float) -> Sigma:
    """The pointwise nonlinearity sigma by name (see :meth:`Branch.activation_of`).

    Args:
        name: a key of :data:`ACTIVATIONS`.
        negative_slope: leaky ReLU's slope (the others ignore it).

    Returns:
        sigma, elementwise on arrays.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return ACTIVATIONS[name].build(negative_slope)


# --- branch records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """Everything rsim knows about one residual branch (a model).

    ``hidden_layers`` is m for a fixed branch; None where m is the ``branch_depth`` option
    (default ``default_branch_depth``). ``build(shape, sigma)`` returns the residual function.
    """

    name: str
    label: str  # what tables and figures call it (rsim.labels.branch_label)
    build: Callable[[Shape, Sigma], ResidualFn]
    hidden_layers: int | None = None
    default_branch_depth: int | None = None
    # The nonlinearity the branch is defined with, whatever ``activation`` says (res3: relu).
    fixed_activation: str | None = None
    # sigma acts on h itself (res1), not on a symmetric pre-activation W h.
    sigma_on_h: bool = False
    # Dense matrices with i.i.d. entries (H1 can hold; the projection sampler is exact for
    # Gaussian ones); False for conv, whose matrix repeats each kernel entry.
    dense: bool = True
    # Image options and their defaults (conv): the hidden state is an image.
    image_options: dict[str, int] = field(default_factory=dict)
    # One of the paper's branches (the continuous-time limits know these only).
    in_paper: bool = False

    def __post_init__(self) -> None:
        if (self.hidden_layers is None) == (self.default_branch_depth is None):
            raise ValueError(f"branch {self.name!r}: a fixed m or a default branch_depth")

    @property
    def fixed(self) -> bool:
        """True if m is fixed (no ``branch_depth`` option)."""
        return self.hidden_layers is not None

    @property
    def images(self) -> bool:
        """True if hidden states are images (``image_options``)."""
        return bool(self.image_options)

    def depth(self, branch_depth: int | None) -> int:
        """m, the number of W's in the branch.

        Args:
            branch_depth: the option (required, >= 1, where m is not fixed).

        Returns:
            m.

        >>> BRANCHES["res3"].depth(None), BRANCHES["mlp"].depth(3)
        (1, 3)
        """
        if self.fixed:
            return self.hidden_layers
        if branch_depth is None:
            raise ValueError(f"model={self.name!r} needs its branch_depth (m >= 1)")
        return int(branch_depth)

    def activation_of(self, activation: str) -> str:
        """The nonlinearity the branch really applies (res3: ReLU whatever ``activation``).

        >>> BRANCHES["res3"].activation_of("tanh")
        'relu'
        """
        return self.fixed_activation or activation

    def second_moment_factor(
        self, activation: str, negative_slope: float, variance: float, branch_depth: int | None
    ) -> float | None:
        """c with E||V g(h)||^2 = c ||h||^2 exactly for symmetric i.i.d. weights, or None.

        V has variance v/fan_in (v = gain^2 times the law's variance) and is independent of
        h, so E||V u||^2 = v E||u||^2 (for a circular convolution too: each input pixel meets
        each kernel entry once). Each of the m hidden layers sigma(W u) has a symmetric
        pre-activation given u, so it multiplies the expected squared norm by v kappa:
        c = v (v kappa)^m (rsim/THEORY.md section 11). A branch with sigma on h itself, which
        is not symmetric, is exact with the identity only (c = v).

        Args:
            activation: the activation option.
            negative_slope: leaky ReLU's slope.
            variance: v = gain^2 times the law's entry variance.
            branch_depth: m where it is an option.

        Returns:
            c, or None where no closed form exists (tanh; res-1 other than the identity).

        >>> BRANCHES["mlp"].second_moment_factor("relu", 0.0, 1.0, 2)
        0.25
        """
        sigma = self.activation_of(activation)
        if self.sigma_on_h:
            return variance if sigma == "identity" else None
        kappa = ACTIVATIONS[sigma].kappa(negative_slope) if sigma in ACTIVATIONS else None
        if kappa is None:
            return None
        return variance * (variance * kappa) ** self.depth(branch_depth)


BRANCHES: dict[str, Branch] = {}


def register_branch(record: Branch) -> Branch:
    """Add ``record`` to :data:`BRANCHES` (a new name only).

    Args:
        record: the branch.

    Returns:
        ``record``.
    """
    if record.name in BRANCHES:
        raise ValueError(f"branch {record.name!r} is registered already")
    BRANCHES[record.name] = record
    return record


def branch_record(name: str) -> Branch:
    """The record of the model ``name``.

    Args:
        name: a key of :data:`BRANCHES`.

    Returns:
        Its :class:`Branch`.

    Raises:
        ValueError: one line naming the choices, for an unknown name.

    >>> branch_record("conv").image_options
    {'image_size': 8, 'kernel_size': 3}
    >>> branch_record("res4")
    Traceback (most recent call last):
    ...
    ValueError: unknown model 'res4'; choose one of res1, res2, res3, mlp, conv
    """
    try:
        return BRANCHES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(BRANCHES)}") from None


# --- shapes and residual functions --------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """The static shape of a branch: what its weights and hidden states look like.

    ``width`` is d for the dense branches and the number of channels C for the image ones,
    whose hidden state has ``dim`` = C N^2 entries. ``branch_depth`` is m where it is an
    option (mlp, conv); the fixed branches have theirs (res1 m = 0, res2 and res3 m = 1)."""

    model: str
    width: int
    branch_depth: int | None = None
    image_size: int | None = None
    kernel_size: int | None = None

    @property
    def record(self) -> Branch:
        """The model's :class:`Branch`."""
        return branch_record(self.model)

    @property
    def hidden_layers(self) -> int:
        """m: the number of W's in the branch."""
        return self.record.depth(self.branch_depth)

    @property
    def n_matrices(self) -> int:
        """Weight arrays per layer: V and the m W's."""
        return 1 + self.hidden_layers

    @property
    def dim(self) -> int:
        """d: the length of a hidden state."""
        if self.record.images:
            return self.width * self.image_size**2
        return self.width

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """One weight array: (d, d), or a (C, C, k, k) convolution kernel (out, in, k, k)."""
        if self.record.images:
            return (self.width, self.width, self.kernel_size, self.kernel_size)
        return (self.width, self.width)

    @property
    def fan_in(self) -> int:
        """Terms summed by each output of a weight array: d, or C k^2 for a kernel."""
        if self.record.images:
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
        if self.record.images:
            return self.kernel_size**2 * self.dim
        return self.dim

    def input_shape(self, n_in: int) -> tuple[int, ...]:
        """The input x: a vector of n_in entries, or an image of n_in channels."""
        if self.record.images:
            return (n_in, self.image_size, self.image_size)
        return (n_in,)

    def readin(self, a: Array, x: Array) -> Array:
        """h_0 = A x with A ``(width, n_in)``: a matrix, or for conv the 1 x 1 convolution
        from n_in channels to C (the same A at every pixel), flattened to ``(dim,)``."""
        if self.record.images:
            import jax.numpy as jnp

            return jnp.einsum("cn,nxy->cxy", a, x).reshape(-1)
        return a @ x


@dataclass(frozen=True)
class Residual:
    """A branch ready to run: ``residual(weights, h) = V g(h, W_1..W_m)`` for rows of ``h``."""

    name: str
    shape: Shape
    residual: ResidualFn
    positively_homogeneous: bool

    @property
    def n_matrices(self) -> int:
        """Weight arrays per layer."""
        return self.shape.n_matrices


def _convolve_channels_last(kernel: Array, images: Array) -> Array:
    """:func:`circular_convolution` on ``(n, N, N, C_in)`` images, returning ``(n, N, N,
    C_out)``: the k^2 circular shifts of the images side by side (``(n, N, N, k^2 C_in)``,
    im2col) times the kernel as a ``(k^2 C_in, C_out)`` matrix.

    One matmul per sample; vmapped over samples it is one batched matmul. The same map by
    ``lax.conv_general_dilated`` vmapped over samples (each sample has its own kernel) becomes
    a grouped convolution, which took 0.9-3.3x this one's time on XLA's CPU backend (C = 4..32,
    N = 4..16, k = 3, one ReLU branch layer, measured here on 2 cores; 3.3x at C = 16, N = 8)."""
    import jax.numpy as jnp

    k, side = kernel.shape[-1], images.shape[1]
    half = k // 2
    padded = jnp.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="wrap")
    columns = jnp.concatenate(
        [padded[:, a : a + side, b : b + side, :] for a in range(k) for b in range(k)], axis=-1
    )
    matrix = kernel.transpose(2, 3, 1, 0).reshape(k * k * kernel.shape[1], kernel.shape[0])
    return columns @ matrix


def circular_convolution(kernel: Array, images: Array) -> Array:
    """``(C_out, C_in, k, k)`` kernel on ``(n, C_in, N, N)`` images with circular padding (k
    odd): output pixel (x, y) sums kernel[c, c', a, b] image[c', x + a - k//2, y + b - k//2]
    with indices mod N, so every input pixel meets each kernel entry exactly once (the
    cross-correlation of ``lax.conv_general_dilated`` on the image padded by wrapping)."""
    out = _convolve_channels_last(kernel, images.transpose(0, 2, 3, 1))
    return out.transpose(0, 3, 1, 2)


def _sigma_of_h(shape: Shape, sigma: Sigma) -> ResidualFn:
    """res1: V sigma(h)."""
    return lambda w, h: sigma(h) @ w[0].T


def _dense(shape: Shape, sigma: Sigma) -> ResidualFn:
    """V sigma(W_m ... sigma(W_1 h)) with d x d matrices."""

    def dense(w: Array, h: Array) -> Array:
        u = h
        for i in range(1, shape.n_matrices):
            u = sigma(u @ w[i].T)
        return u @ w[0].T

    return dense


def _convolutional(shape: Shape, sigma: Sigma) -> ResidualFn:
    """V * sigma(W_m * ... sigma(W_1 * h)) on flattened (C, N, N) images."""
    side = shape.image_size

    def conv(w: Array, h: Array) -> Array:
        # Hidden states are flattened (C, N, N) images; the convolutions run channels last.
        u = h.reshape(-1, shape.width, side, side).transpose(0, 2, 3, 1)
        for i in range(1, shape.n_matrices):
            u = sigma(_convolve_channels_last(w[i], u))
        return _convolve_channels_last(w[0], u).transpose(0, 3, 1, 2).reshape(h.shape)

    return conv


def branch(
    model: str,
    activation_name: str = "relu",
    negative_slope: float = 0.01,
    *,
    shape: Shape | None = None,
) -> Residual:
    """The residual of ``model`` with ``shape`` (needed where m is an option or the hidden
    state is an image; the fixed dense branches take any d).

    Args:
        model: a key of :data:`BRANCHES`.
        activation_name: the activation option (the record may fix its own).
        negative_slope: leaky ReLU's slope.
        shape: the branch's shape.

    Returns:
        The :class:`Residual`.
    """
    record = branch_record(model)
    name = record.activation_of(activation_name)
    sigma = activation(name, negative_slope)
    shape = shape or Shape(model, width=0)
    return Residual(
        model, shape, record.build(shape, sigma), ACTIVATIONS[name].positively_homogeneous
    )


def n_matrices(model: str, branch_depth: int | None = None) -> int:
    """Weight arrays per layer (V first, then the W's).

    >>> n_matrices("res1"), n_matrices("mlp", 3)
    (1, 4)
    """
    return 1 + branch_record(model).depth(branch_depth)


for _record in (
    Branch("res1", "res1", _sigma_of_h, hidden_layers=0, sigma_on_h=True, in_paper=True),
    Branch("res2", "res2", _dense, hidden_layers=1, in_paper=True),
    Branch("res3", "res3", _dense, hidden_layers=1, fixed_activation="relu", in_paper=True),
    Branch("mlp", "mlp", _dense, default_branch_depth=2),
    Branch(
        "conv",
        "conv",
        _convolutional,
        default_branch_depth=1,
        dense=False,
        image_options={"image_size": 8, "kernel_size": 3},
    ),
):
    register_branch(_record)
