"""Training deep ResNets from rsim's initialisations with optax: the pure JAX part.

The model is the simulator's ResNet with a softmax readout,

    h_0 = A x,   h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}),   logits = B h_L,
    alpha_L = L^-beta,

with the branches of :mod:`rsim.core.branches` (res1-3, mlp with m hidden layers, conv on
images of C = width channels, where x is an image of n_in channels, A a 1 x 1 convolution
from n_in channels to C and B reads the flattened C x N x N state), A, V_k, W_k, B drawn by
:mod:`rsim.core.laws` (i.i.d., smooth or fbm along k, with the fan-in of the branch's
:class:`~rsim.core.branches.Shape`: d, or C k^2 for a conv kernel) and trained
on the mean softmax cross-entropy  -log softmax(B h_L)_y  by Adam or SGD, the learning rate
divided by 10 after half the epochs (epoch index >= epochs / 2).

:func:`train_runs` trains runs side by side: one ``vmap`` over the runs, one ``jit`` of a
whole epoch (``lax.scan`` over its batches, each a ``lax.scan`` over the layers). alpha, the
learning rate (``optax.inject_hyperparams``: the optimizer's state holds it as an array) and
the fbm spectrum (a function of H) are traced, so every learning-rate grid, every beta and
every H share one compilation whenever the shapes agree. Arrays in, arrays out: the tables
are built by :mod:`rsim.experiments.training`.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rsim import schema
from rsim.core import branches, laws

# Runs per device call are chosen so that the activations kept for backprop stay under this.
MEMORY_BUDGET_BYTES = 2 << 30
# Counts traces of the epoch function (a test checks a learning-rate grid compiles once).
TRACES = {"epoch": 0}
# The random stream of weights and batches (recorded in every training result file).
PRNG_SETTINGS = schema.TRAINING_PRNG_SETTINGS


@contextlib.contextmanager
def numerics():
    """The JAX settings every trace and call of :func:`train_runs` runs under, whatever the
    process's defaults: float32 (x64 off) and the Threefry mode of ``PRNG_SETTINGS``."""
    partitionable = PRNG_SETTINGS["threefry_partitionable"]
    with jax.enable_x64(False), jax.threefry_partitionable(partitionable):
        yield


@dataclass(frozen=True)
class Architecture:
    """Everything static about a run's shapes and functions (the jit cache key)."""

    model: str
    activation: str
    negative_slope: float
    init: str
    gain: float
    lengthscale: float | None
    width: int
    depth: int
    n_in: int  # inputs of a flat example; channels of an image for conv
    n_classes: int
    branch_depth: int | None = None  # mlp, conv: m
    image_size: int | None = None  # conv: N
    kernel_size: int | None = None  # conv: k

    @property
    def shape(self) -> branches.Shape:
        return branches.Shape(
            self.model, self.width, self.branch_depth, self.image_size, self.kernel_size
        )

    @property
    def branch(self) -> branches.Branch:
        return branches.branch(self.model, self.activation, self.negative_slope, shape=self.shape)


def init_params(arch: Architecture, key: jax.Array, fgn_scale: jax.Array) -> dict:
    """A (width, n_in), layers (L, n_matrices, *weight_shape) (V first: d x d matrices or
    C x C x k x k kernels), B (n_classes, dim), by rsim's laws: variance gain^2 / fan_in (the
    Shape's fan-in for the layers); layers along k from :func:`laws.path` for correlated laws."""
    key_a, key_layers, key_b = jax.random.split(key, 3)
    shape, dtype = arch.shape, jnp.float32
    layer = (shape.n_matrices, *shape.weight_shape)
    if arch.init in schema.CORRELATED_LAWS:
        layers = laws.path(
            arch.init,
            key_layers,
            arch.depth,
            layer,
            shape.fan_in,
            arch.gain,
            dtype,
            fgn_scale=fgn_scale,
            lengthscale=arch.lengthscale,
        )
    else:
        layers = laws.draw(
            arch.init, key_layers, (arch.depth, *layer), shape.fan_in, arch.gain, dtype
        )
    return {
        "A": laws.draw(arch.init, key_a, (arch.width, arch.n_in), arch.n_in, arch.gain, dtype),
        "layers": layers,
        "B": laws.draw(arch.init, key_b, (arch.n_classes, shape.dim), shape.dim, arch.gain, dtype),
    }


def readin(arch: Architecture, a: jax.Array, x: jax.Array) -> jax.Array:
    """h_0 = A x for the examples of ``x``: rows ``(n, dim)`` (``Shape.readin`` per example;
    dense models as one matrix product)."""
    if arch.model == "conv":
        return jax.vmap(arch.shape.readin, in_axes=(None, 0))(a, x)
    return x @ a.T


def logits(arch: Architecture, params: dict, alpha: jax.Array, x: jax.Array) -> jax.Array:
    """B h_L for the examples of ``x`` (rows, or images for conv): h_0 = A x,
    h_{k+1} = h_k + alpha V g(h_k, W) (a scan)."""
    residual = arch.branch.residual

    def layer(h, w):
        return h + alpha * residual(w, h), None

    h_last, _ = jax.lax.scan(layer, readin(arch, params["A"], x), params["layers"])
    return h_last @ params["B"].T


def cross_entropy(arch: Architecture, params: dict, alpha, x, y) -> jax.Array:
    """Mean over the batch of -log softmax(B h_L)_y."""
    scores = logits(arch, params, alpha, x)
    return optax.softmax_cross_entropy_with_integer_labels(scores, y).mean()


def optimizer(name: str) -> optax.GradientTransformation:
    """Adam or SGD whose learning rate is a state entry, set per run and per epoch."""
    make = {"adam": optax.adam, "sgd": optax.sgd}[name]
    return optax.inject_hyperparams(make)(learning_rate=1.0)


def _with_learning_rate(state, lr):
    return state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})


@functools.cache
def _initializer(arch: Architecture, optimizer_name: str):
    """jit(vmap) over runs: (keys, fgn_scale) -> (params, optimizer state)."""
    tx = optimizer(optimizer_name)

    def one(key, fgn_scale):
        params = init_params(arch, key, fgn_scale)
        return params, tx.init(params)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


@functools.cache
def _epoch(arch: Architecture, optimizer_name: str, batch_size: int, steps: int):
    """jit(vmap) over runs of one epoch: ``steps`` Adam/SGD steps on batches of a fresh
    permutation of the training set (per run), returning the mean training loss."""
    tx = optimizer(optimizer_name)
    loss_and_grad = jax.value_and_grad(functools.partial(cross_entropy, arch))

    def one(params, state, alpha, lr, key, x, y):
        TRACES["epoch"] += 1  # runs while tracing only: counts compilations
        state = _with_learning_rate(state, lr)
        order = jax.random.permutation(key, len(x))[: steps * batch_size]

        def step(carry, batch):
            params, state = carry
            loss, grads = loss_and_grad(params, alpha, x[batch], y[batch])
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, state), losses = jax.lax.scan(
            step, (params, state), order.reshape(steps, batch_size)
        )
        return params, state, losses.mean()

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None)))


@functools.cache
def _accuracy(arch: Architecture):
    """jit(vmap) over runs: the fraction of rows whose finite logits put the label first."""

    def one(params, alpha, x, y):
        scores = logits(arch, params, alpha, x)
        right = (jnp.argmax(scores, axis=-1) == y) & jnp.all(jnp.isfinite(scores), axis=-1)
        return right.mean()

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def runs_per_call(arch: Architecture, batch_size: int, n_runs: int) -> int:
    """How many runs one device call trains: the activations kept for backprop (about
    3 (n_matrices + 1) batch dim L floats per run) plus weights and optimizer moments
    (4 n_matrices L weight arrays) stay within ``MEMORY_BUDGET_BYTES``; runs are split evenly
    so padding wastes little. (``n_in`` and ``n_classes`` do not enter.)"""
    shape = arch.shape
    n_mat = shape.n_matrices
    activations = 3 * (n_mat + 1) * batch_size * shape.dim
    weights = 4 * n_mat * math.prod(shape.weight_shape)
    per_run = 4 * arch.depth * (activations + weights)
    limit = max(1, MEMORY_BUDGET_BYTES // per_run)
    calls = math.ceil(n_runs / limit)
    return math.ceil(n_runs / calls)


def learning_rate_factor(epoch: int, epochs: int) -> float:
    """1 for the first half of the epochs, then 1/10 (epoch counted from 0)."""
    return 0.1 if epoch >= epochs / 2 else 1.0


def train_runs(
    arch: Architecture,
    optimizer_name: str,
    batch_size: int,
    epochs: int,
    alphas: np.ndarray,
    lrs: np.ndarray,
    seeds: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    fgn_scale: np.ndarray,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Train run i (``alphas[i]``, ``lrs[i]``, ``seeds[i]``) for ``epochs`` epochs of
    ``len(x_train) // batch_size`` steps (the remainder of each epoch's permutation is unused)
    and test it; ``chunk`` runs per device call (default :func:`runs_per_call`), the last
    call padded with copies of its first run so that every call has the same shapes.

    Run i's weights are drawn from fold_in(PRNGKey(seeds[i]), 0) and its epoch e permutes the
    training set with fold_in(PRNGKey(seeds[i]), 1 + e). ``fgn_scale`` is the fbm spectrum
    (:func:`laws.fgn_scale`; any array of length 2 L for other laws). ``progress(n)`` is told
    after each epoch of a call the number n of runs it trained (runs x epochs in all).

    ``x_train`` and ``x_test`` are rows ``(n, n_in)``, or images ``(n, n_in, N, N)`` for conv.
    Everything runs under :func:`numerics` (float32, ``PRNG_SETTINGS``). Returns ``losses``
    (runs, epochs) (the mean training loss of each epoch), ``accuracy`` (runs,) on the test
    set, and ``initial_v`` / ``trained_v`` (runs, L, *weight_shape): V of every layer before
    and after training.
    """
    with numerics():
        n_runs = len(alphas)
        chunk = runs_per_call(arch, batch_size, n_runs) if chunk is None else chunk
        steps = len(x_train) // batch_size
        alphas, lrs, seeds = np.asarray(alphas), np.asarray(lrs), np.asarray(seeds)
        scale = jnp.asarray(fgn_scale, jnp.float32)
        x_train, y_train = jnp.asarray(x_train), jnp.asarray(y_train)
        x_test, y_test = jnp.asarray(x_test), jnp.asarray(y_test)
        initialize = _initializer(arch, optimizer_name)
        epoch_fn = _epoch(arch, optimizer_name, batch_size, steps)
        accuracy_fn = _accuracy(arch)

        outputs = {"losses": [], "accuracy": [], "initial_v": [], "trained_v": []}
        for first in range(0, n_runs, chunk):
            index = np.arange(first, first + chunk)
            index = np.where(index < n_runs, index, first)
            keep = np.arange(min(chunk, n_runs - first))  # the padding is at the end
            seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds[index]))
            init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(seed_keys)
            params, state = initialize(init_keys, scale)
            initial = np.asarray(params["layers"][:, :, 0])  # V of every run
            alpha = jnp.asarray(alphas[index], jnp.float32)
            lr = lrs[index]
            losses = []
            for epoch in range(epochs):
                keys = jax.vmap(lambda k, e=epoch: jax.random.fold_in(k, 1 + e))(seed_keys)
                rate = jnp.asarray(lr * learning_rate_factor(epoch, epochs), jnp.float32)
                params, state, loss = epoch_fn(params, state, alpha, rate, keys, x_train, y_train)
                losses.append(np.asarray(loss))
                if progress is not None:
                    progress(len(keep))
            accuracy = np.asarray(accuracy_fn(params, alpha, x_test, y_test))
            outputs["losses"].append(np.stack(losses, 1)[keep])
            outputs["accuracy"].append(accuracy[keep])
            outputs["initial_v"].append(initial[keep])
            outputs["trained_v"].append(np.asarray(params["layers"][:, :, 0])[keep])
        return {name: np.concatenate(parts) for name, parts in outputs.items()}
