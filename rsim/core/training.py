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

:func:`train_runs` trains runs side by side, one ``jit`` per epoch (a ``lax.scan`` over its
batches, the test accuracy at the end), all runs in each array (runs first). A step is
:func:`loss_and_gradients`: hidden states are stored as columns (dim, n), so the batched
products over runs read every weight as stored; the layer loop is a ``fori_loop`` whose
backward pass is written by hand (it stores each layer's input and recomputes that layer's
branch, one ``jax.vjp``; tested against ``jax.grad`` of :func:`cross_entropy`); the optimizer
is optax's, ``vmap``-ed over runs. alpha, the learning rate (``optax.inject_hyperparams``: the
optimizer's state holds it as an array) and the fbm spectrum (a function of H) are traced, so
every learning-rate grid, every beta and every H share one compilation whenever the shapes
agree. Arrays in, arrays out: the tables are built by :mod:`rsim.experiments.training`.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rsim import schema
from rsim.core import branches, keys, laws

# Runs per device call are chosen so that the activations kept for backprop stay under this.
MEMORY_BUDGET_BYTES = 2 << 30
# The random stream of weights and batches (recorded in every training result file).
PRNG_SETTINGS = schema.TRAINING_PRNG_SETTINGS
# The parameters of one run, or of every run (runs first): A, layers, B.
Params = dict[str, jax.Array]


@contextlib.contextmanager
def numerics() -> Iterator[None]:
    """The JAX settings every trace and call of :func:`train_runs` runs under, whatever the
    process's defaults: float32 (x64 off) and the Threefry mode of ``PRNG_SETTINGS``.

    Returns:
        A context manager.
    """
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
        """The branch's shape: weights, fan-in and hidden size."""
        return branches.Shape(
            self.model, self.width, self.branch_depth, self.image_size, self.kernel_size
        )

    @property
    def branch(self) -> branches.Residual:
        """The branch: its residual V g(h, W) on rows."""
        return branches.branch(self.model, self.activation, self.negative_slope, shape=self.shape)


def init_params(arch: Architecture, key: jax.Array, fgn_scale: jax.Array) -> Params:
    """A (width, n_in), layers (L, n_matrices, *weight_shape) (V first: d x d matrices or
    C x C x k x k kernels), B (n_classes, dim), by rsim's laws: variance gain^2 / fan_in (the
    Shape's fan-in for the layers); layers along k from :func:`laws.path` for correlated laws.

    Args:
        arch: the run's architecture.
        key: the run's initialisation key (split into A, layers, B).
        fgn_scale: the fbm spectrum (:func:`spectra.fgn_scale`; unused by other laws).

    Returns:
        ``{"A": ..., "layers": ..., "B": ...}`` of one run.
    """
    key_a, key_layers, key_b = jax.random.split(key, 3)
    shape, dtype = arch.shape, jnp.float32
    layer = (shape.n_matrices, *shape.weight_shape)
    if not laws.law(arch.init).iid:
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
    dense models as one matrix product).

    Args:
        arch: the run's architecture.
        a: the read-in A.
        x: examples ``(n, n_in)``, or images ``(n, n_in, N, N)`` for conv.

    Returns:
        ``(n, dim)`` hidden states h_0.
    """
    if branches.branch_record(arch.model).images:
        return jax.vmap(arch.shape.readin, in_axes=(None, 0))(a, x)
    return x @ a.T


def logits(arch: Architecture, params: Params, alpha: jax.Array, x: jax.Array) -> jax.Array:
    """B h_L for the examples of ``x`` (rows, or images for conv): h_0 = A x,
    h_{k+1} = h_k + alpha V g(h_k, W) (a scan), one run. The definition that training's
    column layout (:func:`loss_and_gradients`) is tested against.

    Args:
        arch: the run's architecture.
        params: one run's parameters.
        alpha: the scalar L^-beta.
        x: examples (rows, or images for conv).

    Returns:
        ``(n, n_classes)`` logits.
    """
    residual = arch.branch.residual

    def layer(h: jax.Array, w: jax.Array) -> tuple[jax.Array, None]:
        return h + alpha * residual(w, h), None

    h_last, _ = jax.lax.scan(layer, readin(arch, params["A"], x), params["layers"])
    return h_last @ params["B"].T


def cross_entropy(
    arch: Architecture, params: Params, alpha: jax.Array, x: jax.Array, y: jax.Array
) -> jax.Array:
    """Mean over the batch of -log softmax(B h_L)_y.

    Args:
        arch: the run's architecture.
        params: one run's parameters.
        alpha: the scalar L^-beta.
        x: the batch's examples.
        y: their integer labels ``(n,)``.

    Returns:
        The scalar loss.
    """
    scores = logits(arch, params, alpha, x)
    return optax.softmax_cross_entropy_with_integer_labels(scores, y).mean()


def optimizer(name: str) -> optax.GradientTransformation:
    """Adam or SGD whose learning rate is a state entry, set per run and per epoch.

    Args:
        name: ``adam`` or ``sgd``.

    Returns:
        The optax transformation (learning rate 1 until set in its state).

    >>> optimizer("sgd").init({"w": jnp.zeros(2)}).hyperparams["learning_rate"].item()
    1.0
    """
    make = {"adam": optax.adam, "sgd": optax.sgd}[name]
    return optax.inject_hyperparams(make)(learning_rate=1.0)


def _with_learning_rate(state: optax.OptState, lr: jax.Array) -> optax.OptState:
    return state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})


# --- the layers on hidden states stored as columns, all runs at once -------------------------
#
# Training works on hidden states stored as columns: one run's batch is h (dim, n), so that the
# batched matrix products over runs read V and W as they are stored (V h, not h V^T); every
# run-dependent array has the runs first, the layers (runs, L, n_matrices, ...) included, and
# layer k is a strided slice: no array is ever transposed between the layer loop and the
# optimizer. The gradient of the layer stack is written by hand (:func:`_backward`): the forward
# pass stores each layer's input h_k (L, runs, dim, n) and the backward pass recomputes that
# layer's branch from it (``jax.vjp`` of one layer), so the memory is one hidden state per layer
# and example, not every intermediate of every branch.


def column_residual(arch: Architecture) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """V g(h, W) for one run's layer weights ``w`` (n_matrices, *weight_shape) and hidden states
    stored as columns ``h`` (dim, n): ``Branch.residual(w, h.T).T`` (tested), written for
    columns for the dense branches (V sigma(h); V sigma(W_m ... sigma(W_1 h))); conv transposes
    around the branch.

    Args:
        arch: the run's architecture.

    Returns:
        ``(w, h) -> (dim, n)`` branch increments V g(h, W).
    """
    residual, record = arch.branch.residual, branches.branch_record(arch.model)
    if record.images:
        return lambda w, h: residual(w, h.T).T
    sigma = branches.activation(record.activation_of(arch.activation), arch.negative_slope)
    if record.sigma_on_h:
        return lambda w, h: w[0] @ sigma(h)

    def dense(w: jax.Array, h: jax.Array) -> jax.Array:
        u = h
        for i in range(1, arch.shape.n_matrices):
            u = sigma(w[i] @ u)
        return w[0] @ u

    return dense


def _layer(layers: jax.Array, k: jax.Array | int) -> jax.Array:
    """Layer k of every run: (runs, n_matrices, *weight_shape)."""
    return jax.lax.dynamic_index_in_dim(layers, k, axis=1, keepdims=False)


def hidden_last(
    arch: Architecture,
    layers: jax.Array,
    alpha: jax.Array,
    h: jax.Array,
    trajectory: jax.Array | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """h_L of every run from h_0 = ``h`` (runs, dim, n): h_{k+1} = h_k + alpha V g(h_k, W),
    ``layers`` (runs, L, ...), ``alpha`` (runs,). With ``trajectory`` (an (L, runs, dim, n)
    buffer, overwritten) returns ``(h_L, trajectory)`` holding h_0 .. h_{L-1}.

    Args:
        arch: the run's architecture.
        layers: every run's layer weights ``(runs, L, n_matrices, *weight_shape)``.
        alpha: ``(runs,)`` L^-beta.
        h: ``(runs, dim, n)`` hidden states h_0 as columns.
        trajectory: an ``(L, runs, dim, n)`` buffer, or None.

    Returns:
        h_L ``(runs, dim, n)``, or ``(h_L, trajectory)``.
    """
    residual = jax.vmap(column_residual(arch))
    scale = alpha[:, None, None]

    def layer(
        k: jax.Array, carry: tuple[jax.Array, jax.Array | None]
    ) -> tuple[jax.Array, jax.Array | None]:
        h, stored = carry
        if stored is not None:
            stored = jax.lax.dynamic_update_index_in_dim(stored, h, k, axis=0)
        return h + scale * residual(_layer(layers, k), h), stored

    h, trajectory = jax.lax.fori_loop(0, arch.depth, layer, (h, trajectory))
    return h if trajectory is None else (h, trajectory)


def _backward(
    arch: Architecture,
    layers: jax.Array,
    alpha: jax.Array,
    trajectory: jax.Array,
    grad_h: jax.Array,
    grad_layers: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """Backprop through the layers from dLoss/dh_L = ``grad_h`` (runs, dim, n): for
    k = L-1 .. 0, with g = alpha dLoss/dh_{k+1}, dLoss/dw_k = (d branch/dw)^T g and
    dLoss/dh_k = dLoss/dh_{k+1} + (d branch/dh)^T g, the branch recomputed at the stored h_k.
    Returns dLoss/dh_0 and ``grad_layers`` (a (runs, L, ...) buffer, overwritten)."""
    residual = column_residual(arch)

    def pullback(w: jax.Array, h: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
        return jax.vjp(residual, w, h)[1](g)

    pullback = jax.vmap(pullback)
    scale = alpha[:, None, None]

    def layer(i: jax.Array, carry: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        grad_h, grad_layers = carry
        k = arch.depth - 1 - i
        grad_w, grad_branch = pullback(_layer(layers, k), trajectory[k], scale * grad_h)
        grad_layers = jax.lax.dynamic_update_index_in_dim(grad_layers, grad_w, k, axis=1)
        return grad_h + grad_branch, grad_layers

    return jax.lax.fori_loop(0, arch.depth, layer, (grad_h, grad_layers))


def _readin_columns(arch: Architecture, a: jax.Array, x: jax.Array) -> jax.Array:
    """h_0 of one run's examples as columns (dim, n)."""
    return readin(arch, a, x).T


def _scores(b: jax.Array, h: jax.Array) -> jax.Array:
    """Logits (n, n_classes) of one run's hidden states h_L (dim, n)."""
    return h.T @ b.T


def loss_and_gradients(
    arch: Architecture,
    params: Params,
    alpha: jax.Array,
    x: jax.Array,
    y: jax.Array,
    trajectory: jax.Array,
    grad_layers: jax.Array,
) -> tuple[jax.Array, Params, jax.Array]:
    """Each run's mean cross-entropy on its batch ``x`` (runs, n, ...), ``y`` (runs, n) and its
    gradient in every parameter (the same pytree as ``params``, runs first); ``trajectory``
    and ``grad_layers`` are work buffers (see :func:`hidden_last`, :func:`_backward`), returned
    for reuse.

    Args:
        arch: the run's architecture.
        params: every run's parameters (runs first).
        alpha: ``(runs,)`` L^-beta.
        x: ``(runs, n, ...)`` each run's batch.
        y: ``(runs, n)`` its labels.
        trajectory: the ``(L, runs, dim, n)`` buffer of stored hidden states.
        grad_layers: the ``(runs, L, n_matrices, *weight_shape)`` buffer of the layers' gradient.

    Returns:
        ``(losses, gradients, trajectory)``: ``(runs,)`` losses, the gradient pytree, the buffer.
    """
    h0, readin_pullback = jax.vjp(
        lambda a: jax.vmap(functools.partial(_readin_columns, arch))(a, x), params["A"]
    )
    h_last, trajectory = hidden_last(arch, params["layers"], alpha, h0, trajectory)

    def head(b: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        losses = jax.vmap(
            lambda b, h, y: optax.softmax_cross_entropy_with_integer_labels(_scores(b, h), y).mean()
        )(b, h, y)
        return losses.sum(), losses  # runs are independent: d sum / d run = d its loss

    (_, losses), (grad_b, grad_h) = jax.value_and_grad(head, (0, 1), has_aux=True)(
        params["B"], h_last
    )
    grad_h, grad_layers = _backward(arch, params["layers"], alpha, trajectory, grad_h, grad_layers)
    (grad_a,) = readin_pullback(grad_h)
    return losses, {"A": grad_a, "layers": grad_layers, "B": grad_b}, trajectory


def work_buffers(arch: Architecture, batch_size: int, runs: int) -> tuple[jax.Array, jax.Array]:
    """The arrays an epoch overwrites: the stored hidden states (L, runs, dim, batch) and the
    layers' gradient (runs, L, n_matrices, *weight_shape); passed from epoch to epoch (and
    donated), so that their memory is allocated once per call of :func:`train_runs`.

    Args:
        arch: the run's architecture.
        batch_size: examples per step.
        runs: runs side by side.

    Returns:
        ``(trajectory, grad_layers)``, zeros.
    """
    shape = arch.shape
    return (
        jnp.zeros((arch.depth, runs, shape.dim, batch_size), jnp.float32),
        jnp.zeros((runs, arch.depth, shape.n_matrices, *shape.weight_shape), jnp.float32),
    )


def _accuracy(
    arch: Architecture, params: Params, alpha: jax.Array, x: jax.Array, y: jax.Array
) -> jax.Array:
    """Each run's fraction of rows ``x`` (n, ...) whose finite logits put the label first."""
    h0 = jax.vmap(functools.partial(_readin_columns, arch), in_axes=(0, None))(params["A"], x)
    scores = jax.vmap(_scores)(params["B"], hidden_last(arch, params["layers"], alpha, h0))
    right = (jnp.argmax(scores, axis=-1) == y) & jnp.all(jnp.isfinite(scores), axis=-1)
    return right.mean(axis=-1)


@functools.cache
def _initializer(
    arch: Architecture, optimizer_name: str
) -> Callable[[jax.Array, jax.Array], tuple[Params, optax.OptState]]:
    """jit(vmap) over runs: (keys, fgn_scale) -> (params, optimizer state), runs first."""
    tx = optimizer(optimizer_name)

    def one(key: jax.Array, fgn_scale: jax.Array) -> tuple[Params, optax.OptState]:
        params = init_params(arch, key, fgn_scale)
        return params, tx.init(params)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


@functools.cache
def _epoch(
    arch: Architecture, optimizer_name: str, batch_size: int, steps: int, runs: int
) -> Callable[..., tuple]:
    """jit of one epoch of ``runs`` runs (runs first in every argument): ``steps`` Adam/SGD
    steps on batches of a fresh permutation of the training set (per run), then the test
    accuracy. (params, state, work, alpha, lr, keys, x, y, x_test, y_test) -> (params, state,
    work, the mean training loss of each run, the test accuracy of each run); params, state and
    work (:func:`work_buffers`) are donated."""
    tx = optimizer(optimizer_name)
    update = jax.vmap(tx.update)

    def epoch(
        params: Params,
        state: optax.OptState,
        work: tuple[jax.Array, jax.Array],
        alpha: jax.Array,
        lr: jax.Array,
        epoch_keys: jax.Array,
        x: jax.Array,
        y: jax.Array,
        x_test: jax.Array,
        y_test: jax.Array,
    ) -> tuple[Params, optax.OptState, tuple[jax.Array, jax.Array], jax.Array, jax.Array]:
        state = jax.vmap(_with_learning_rate)(state, lr)
        order = jax.vmap(lambda key: jax.random.permutation(key, len(x)))(epoch_keys)
        batches = order[:, : steps * batch_size].reshape(runs, steps, batch_size)
        trajectory, grad_layers = work

        def step(carry: tuple, batch: jax.Array) -> tuple[tuple, jax.Array]:
            params, state, trajectory, grad_layers = carry
            losses, grads, trajectory = loss_and_gradients(
                arch, params, alpha, x[batch], y[batch], trajectory, grad_layers
            )
            updates, state = update(grads, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state, trajectory, grads["layers"]), losses

        (params, state, *work), losses = jax.lax.scan(
            step, (params, state, trajectory, grad_layers), batches.swapaxes(0, 1)
        )
        accuracy = _accuracy(arch, params, alpha, x_test, y_test)
        return params, state, tuple(work), losses.mean(axis=0), accuracy

    return jax.jit(epoch, donate_argnums=(0, 1, 2))


def runs_per_call(arch: Architecture, batch_size: int, n_runs: int) -> int:
    """How many runs one device call trains: the stored hidden states (batch dim L floats per
    run), the weights, their gradient, the optimizer's moments and the update (5 n_matrices L
    weight arrays) and one layer's branch (3 (n_matrices + 1) batch dim) stay within
    ``MEMORY_BUDGET_BYTES``; runs are split evenly so padding wastes little. (``n_in`` and
    ``n_classes`` do not enter.)

    Args:
        arch: the run's architecture.
        batch_size: examples per step.
        n_runs: the runs to train.

    Returns:
        Runs per call.
    """
    shape = arch.shape
    n_mat = shape.n_matrices
    stored = arch.depth * (batch_size * shape.dim + 5 * n_mat * math.prod(shape.weight_shape))
    per_run = 4 * (stored + 3 * (n_mat + 1) * batch_size * shape.dim)
    limit = max(1, MEMORY_BUDGET_BYTES // per_run)
    calls = math.ceil(n_runs / limit)
    return math.ceil(n_runs / calls)


def learning_rate_factor(epoch: int, epochs: int) -> float:
    """1 for the first half of the epochs, then 1/10 (epoch counted from 0).

    Args:
        epoch: the epoch, from 0.
        epochs: the number of epochs.

    Returns:
        The factor of the learning rate.

    >>> [learning_rate_factor(e, 4) for e in range(4)]
    [1.0, 1.0, 0.1, 0.1]
    """
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
    and test it after every epoch; ``chunk`` runs per device call (default
    :func:`runs_per_call`), the last call padded with copies of its first run so that every
    call has the same shapes (XLA's CPU kernels round differently for different numbers of
    runs side by side, not for different positions: a run's numbers depend on ``chunk``).

    Run i's weights are drawn from fold_in(PRNGKey(seeds[i]), 0) and its epoch e permutes the
    training set with fold_in(PRNGKey(seeds[i]), 1 + e). ``fgn_scale`` is the fbm spectrum
    (:func:`spectra.fgn_scale`; any array of length 2 L for other laws). ``progress(n)`` is told
    after each epoch of a call the number n of runs it trained (runs x epochs in all).

    Everything runs under :func:`numerics` (float32, ``PRNG_SETTINGS``).

    Args:
        arch: the run's architecture.
        optimizer_name: ``adam`` or ``sgd``.
        batch_size: examples per step.
        epochs: the number of epochs.
        alphas: ``(runs,)`` L^-beta of each run.
        lrs: ``(runs,)`` learning rates.
        seeds: ``(runs,)`` seeds.
        x_train: rows ``(n, n_in)``, or images ``(n, n_in, N, N)`` for conv.
        y_train: ``(n,)`` integer labels.
        x_test: test examples, as ``x_train``.
        y_test: their labels.
        fgn_scale: the fbm spectrum.
        chunk: runs per device call (default :func:`runs_per_call`).
        progress: told the runs trained after each epoch of a call.

    Returns:
        ``losses`` (runs, epochs) (the mean training loss of each epoch), ``accuracies``
        (runs, epochs) (the test accuracy after each epoch), and ``initial_v`` /
        ``trained_v`` (runs, L, *weight_shape): V of every layer before and after training.
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
        epoch_fn = _epoch(arch, optimizer_name, batch_size, steps, chunk)

        outputs = {"losses": [], "accuracies": [], "initial_v": [], "trained_v": []}
        for first in range(0, n_runs, chunk):
            index = np.arange(first, first + chunk)
            index = np.where(index < n_runs, index, first)
            keep = np.arange(min(chunk, n_runs - first))  # the padding is at the end
            seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds[index]))
            init_keys = jax.vmap(lambda k: keys.tagged(k, keys.TRAINING_INIT))(seed_keys)
            params, state = initialize(init_keys, scale)
            initial = np.asarray(params["layers"][:, :, 0])  # V of every run
            work = work_buffers(arch, batch_size, chunk)
            alpha = jnp.asarray(alphas[index], jnp.float32)
            lr = lrs[index]
            losses, accuracies = [], []
            for epoch in range(epochs):
                epoch_keys = jax.vmap(lambda k, e=epoch: keys.tagged(k, keys.TRAINING_EPOCH + e))(
                    seed_keys
                )
                rate = jnp.asarray(lr * learning_rate_factor(epoch, epochs), jnp.float32)
                params, state, work, loss, accuracy = epoch_fn(
                    params, state, work, alpha, rate, epoch_keys, x_train, y_train, x_test, y_test
                )
                losses.append(np.asarray(loss))
                accuracies.append(np.asarray(accuracy))
                if progress is not None:
                    progress(len(keep))
            outputs["losses"].append(np.stack(losses, 1)[keep])
            outputs["accuracies"].append(np.stack(accuracies, 1)[keep])
            outputs["initial_v"].append(initial[keep])
            outputs["trained_v"].append(np.asarray(params["layers"][:, :, 0])[keep])
        return {name: np.concatenate(parts) for name, parts in outputs.items()}
