"""The Monte Carlo kernel: ``lax.scan`` over layers, ``vmap`` over samples, betas in parallel.

One sample is one draw of all weights and one input. For every beta of a vector the same
weights are used (common random numbers), so each hidden state is a ``(n_betas, d)`` array.

Keys. ``root = fold_in(PRNGKey(seed), depth)`` (:func:`root_key`; the smooth law shares one
realisation across depths); sample ``i`` uses ``fold_in(root, i)``; inside a sample, fixed
tags give the input, readout, tangent and layer keys, and layer ``k`` of an i.i.d. law draws
its weights from ``fold_in(layer_key, k)`` inside the scan step: nothing of size L x d x d
exists. A sample's numbers do not depend on the chunk it was computed in.

Log domain. For positively homogeneous branches (ReLU, leaky ReLU, identity) the map
``h -> h + alpha V g(h)`` commutes with positive scaling, so the engine carries a unit vector
and the log of the scale: ``h_k / ||h_0|| = exp(log_scale) * unit``. Ratios like 10^176
(beta = 0, L = 1000) stay finite logs. Other branches (tanh) are carried unnormalised and
overflow to inf honestly. Tangents and cotangents are linear, so they are renormalised too
(the Jacobian of a positively homogeneous map is invariant to the same scaling).

Returned metrics are natural logs, one value per (sample, beta):
  log_hidden_ratio   log ||h_L|| / ||h_0||
  log_hidden_diff    log ||h_L - h_0|| / ||h_0||
  log_hidden_maxdiff log max_k ||h_k - h_0|| / ||h_0||
  log_jvp_ratio      log ||q_L|| / ||z||          q = (dh_L/dh_0) z by jax.jvp
  log_jvp_diff       log ||q_L - z|| / ||z||
  log_grad_ratio     log ||p_0|| / ||p_L||        p = dLoss/dh by jax.vjp, Loss = ||B h_L - y||^2
  log_grad_diff      log ||p_0 - p_L|| / ||p_L||
"""

from __future__ import annotations

import collections
import contextlib
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rsim import models, weights

GRADIENTS = ("none", "jvp", "vjp", "both")
PRECISIONS = ("float32", "float64")
HIDDEN_METRICS = ("log_hidden_ratio", "log_hidden_diff", "log_hidden_maxdiff")
JVP_METRICS = ("log_jvp_ratio", "log_jvp_diff")
VJP_METRICS = ("log_grad_ratio", "log_grad_diff")
# Threefry with partitionable=False is 1.3-2.8x faster on CPU here; it defines the stream,
# so it is fixed here and recorded in every result file.
PRNG_SETTINGS = {"impl": "threefry2x32", "threefry_partitionable": False}

# Number of times each kernel has been traced: a sweep over beta values must not add any.
TRACE_COUNT: collections.Counter = collections.Counter()

_INPUT, _READIN, _TANGENT, _READOUT, _LAYERS = range(5)


@dataclass(frozen=True)
class Kernel:
    """Everything static about a simulation: one compilation per distinct Kernel."""

    model: str = "res3"
    activation: str = "relu"
    negative_slope: float = 0.01
    init: str = "uniform"
    gain: float = 1.0
    width: int = 40
    n_in: int = 64
    depth: int = 1000
    gradients: str = "jvp"
    precision: str = "float32"
    block: int = 256  # samples vmapped together; part of what fixes the float bits
    lengthscale: float | None = None  # smooth law only (it fixes the number of features)

    @property
    def metrics(self) -> tuple[str, ...]:
        names = HIDDEN_METRICS
        if self.gradients in ("jvp", "both"):
            names += JVP_METRICS
        if self.gradients in ("vjp", "both"):
            names += VJP_METRICS
        return names



@contextlib.contextmanager
def numerics(precision: str):
    """The JAX settings every trace and call of a kernel runs under."""
    with jax.enable_x64(precision == "float64"), jax.threefry_partitionable(
        PRNG_SETTINGS["threefry_partitionable"]
    ):
        yield


def _log_norm(x):
    return jnp.log(jnp.linalg.norm(x, axis=-1))


def _log_distance(log_scale, x, origin):
    """Row-wise log ||exp(log_scale) x - origin||, without overflow for any log_scale."""
    top = jnp.maximum(log_scale, 0)
    gap = jnp.exp(log_scale - top)[:, None] * x - jnp.exp(-top)[:, None] * origin
    return top + _log_norm(gap)


def _sample(kernel: Kernel, key, betas, law_state):
    """All metrics of one sample for every beta: a dict of ``(n_betas,)`` arrays.

    i.i.d. laws draw layer k's weights inside the scan step; correlated laws (smooth, fbm)
    build the sample's whole weight path first, shared by every beta, and scan over it.
    ``law_state`` is traced: for fbm the circulant scale of H (so a sweep over H compiles
    once), unused otherwise.
    """
    dtype = jnp.float64 if kernel.precision == "float64" else jnp.float32
    branch = models.branch(kernel.model, kernel.activation, kernel.negative_slope)
    d, depth = kernel.width, kernel.depth
    n_betas = betas.shape[0]
    alpha = (jnp.asarray(depth, dtype) ** -betas)[:, None]
    tangent = kernel.gradients in ("jvp", "both")
    backprop = kernel.gradients in ("vjp", "both")

    def renormalise(x, log_scale):
        if not branch.positively_homogeneous:
            return x, log_scale
        norm = jnp.linalg.norm(x, axis=-1)
        return x / norm[:, None], log_scale + jnp.log(norm)

    shape = (branch.n_matrices, d, d)

    def layer(k, w):
        if w is None:
            w = weights.draw(kernel.init, jax.random.fold_in(layer_key, k), shape, d,
                             kernel.gain, dtype)
        return lambda h: h + alpha * branch.residual(w, h)

    x = jax.random.uniform(jax.random.fold_in(key, _INPUT), (kernel.n_in,), dtype)
    a = weights.draw(
        kernel.init, jax.random.fold_in(key, _READIN), (d, kernel.n_in), kernel.n_in,
        kernel.gain, dtype,
    )
    h0 = a @ x
    norm0 = jnp.linalg.norm(h0)
    origin = jnp.broadcast_to(h0 / norm0, (n_betas, d))  # h_0 / ||h_0||
    if branch.positively_homogeneous:
        h, log_h = origin, jnp.zeros((n_betas,), dtype)
    else:  # the branch sees the true scale of h: carry h itself, h / ||h_0|| = e^log_h h
        h, log_h = jnp.broadcast_to(h0, (n_betas, d)), jnp.full((n_betas,), -jnp.log(norm0))
    z = jax.random.normal(jax.random.fold_in(key, _TANGENT), (d,), dtype)
    # Uniform on the sphere; its radius (sqrt(d) in the text) cancels in every ratio.
    z = jnp.broadcast_to(z / jnp.linalg.norm(z), (n_betas, d))
    layer_key = jax.random.fold_in(key, _LAYERS)
    zeros = jnp.zeros((n_betas,), dtype)
    layers = jnp.arange(1, depth + 1)
    path = None
    if kernel.init in weights.CORRELATED_LAWS:
        path = weights.path(kernel.init, layer_key, depth, shape, d, kernel.gain, dtype,
                            fgn_scale=law_state, lengthscale=kernel.lengthscale)

    def forward(carry, xs):
        h, log_h, log_max, q, log_q = carry
        step = layer(*xs)
        if tangent:
            h_next, q = jax.jvp(step, (h,), (q,))
            q, log_q = renormalise(q, log_q)
        else:
            h_next = step(h)
        h_next, log_h = renormalise(h_next, log_h)
        log_max = jnp.maximum(log_max, _log_distance(log_h, h_next, origin))
        return (h_next, log_h, log_max, q, log_q), (h if backprop else None)

    init = (h, log_h, jnp.full((n_betas,), -jnp.inf, dtype), z, zeros)
    (h, log_h, log_max, q, log_q), inputs = jax.lax.scan(forward, init, (layers, path))
    out = {
        "log_hidden_ratio": log_h + _log_norm(h),
        "log_hidden_diff": _log_distance(log_h, h, origin),
        "log_hidden_maxdiff": log_max,
    }
    if tangent:
        out["log_jvp_ratio"] = log_q + _log_norm(q)
        out["log_jvp_diff"] = _log_distance(log_q, q, z)
    if backprop:
        # p_L = 2 (B h_L - y) B^T is parallel to B^T, and both ratios are invariant to the
        # scalar 2 (B h_L - y), so the backward pass starts from b = B^T / ||B|| exactly.
        b = weights.draw(
            kernel.init, jax.random.fold_in(key, _READOUT), (d,), d, kernel.gain, dtype
        )
        b = jnp.broadcast_to(b / jnp.linalg.norm(b), (n_betas, d))

        def backward(carry, xs):
            p, log_p = carry
            k, w, h_in = xs
            _, pullback = jax.vjp(layer(k, w), h_in)
            (p,) = pullback(p)
            return renormalise(p, log_p), None

        (p, log_p), _ = jax.lax.scan(backward, (b, zeros), (layers, path, inputs),
                                     reverse=True)
        out["log_grad_ratio"] = log_p + _log_norm(p)
        out["log_grad_diff"] = _log_distance(log_p, p, b)
    return out


@functools.cache
def _compiled(kernel: Kernel):
    """jit of: sample ids (a multiple of ``kernel.block``) -> metrics, one block at a time."""

    def block(root, sample_ids, betas, law_state):
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(sample_ids)
        return jax.vmap(lambda key: _sample(kernel, key, betas, law_state))(keys)

    def chunk(root, sample_ids, betas, law_state):
        TRACE_COUNT[kernel] += 1
        blocks = sample_ids.reshape(-1, kernel.block)
        out = jax.lax.map(lambda ids: block(root, ids, betas, law_state), blocks)
        return {name: value.reshape(-1, *value.shape[2:]) for name, value in out.items()}

    return jax.jit(chunk)


def default_block(width: int, n_matrices: int, depth: int, gradients: str, precision: str,
                  platform: str | None = None, correlated: bool = False) -> int:
    """Samples vmapped together: a power of two giving about 2^20 weight entries per layer step
    on CPU (measured fastest here: 256 at d = 40, 64 at d = 100 for res-3), 2^24 on
    accelerators; at most 256 MiB per beta of stored trajectory for exact backprop, and
    256 MiB of weight paths (with their FFT workspace, about 4x the path) for correlated laws."""
    platform = platform or jax.default_backend()
    itemsize = 8 if precision == "float64" else 4
    # 256 caps the padding of small runs (a 50-sample cell pays for 256 at most).
    target, most = (2**20, 256) if platform == "cpu" else (2**24, 2**16)
    fit = target / (n_matrices * width**2)
    if gradients in ("vjp", "both"):
        fit = min(fit, 2**28 / (itemsize * depth * width))
    if correlated:
        fit = min(fit, 2**28 / (4 * itemsize * depth * n_matrices * width**2))
    return int(2 ** min(max(round(math.log2(max(fit, 1))), 0), int(math.log2(most))))


def root_key(kernel: Kernel, seed: int):
    """``fold_in(PRNGKey(seed), depth)``: depths are independent, except for the smooth law,
    whose realisation is a function of t shared by every depth (sample i at depth 10 and at
    depth 1000 discretise the same V(t), from the same h_0)."""
    key = jax.random.PRNGKey(seed)
    return key if kernel.init == "smooth" else jax.random.fold_in(key, kernel.depth)


def run(kernel: Kernel, betas, samples: int, seed: int, chunk: int | None = None,
        progress: bool = True, hurst: float = 0.5) -> dict[str, np.ndarray]:
    """Simulate ``samples`` weight draws for every beta: metric name -> ``(samples, n_betas)``.

    Sample ``i`` always uses key ``fold_in(root, i)`` and is computed in a vmap of exactly
    ``kernel.block`` samples (XLA's CPU kernels round differently for different batch sizes,
    but not for different positions in a batch), so the result depends only on (kernel,
    betas, seed, i): not on ``chunk`` (samples per device call, rounded up to whole blocks),
    not on ``samples``, not on how a run is split. A short last chunk is padded and trimmed.
    """
    from tqdm.auto import tqdm

    chunk = kernel.block * max(1, -(-(chunk or kernel.block) // kernel.block))
    with numerics(kernel.precision):
        dtype = jnp.float64 if kernel.precision == "float64" else jnp.float32
        betas = jnp.asarray(betas, dtype)
        law_state = jnp.zeros((), dtype)
        if kernel.init == "fbm":
            law_state = jnp.asarray(weights.fgn_scale(hurst, kernel.depth), dtype)
        root = root_key(kernel, seed)
        fn = _compiled(kernel)
        parts = collections.defaultdict(list)
        with tqdm(total=samples, unit="sample", disable=not progress, leave=False,
                  desc=f"{kernel.model} d={kernel.width} L={kernel.depth}") as bar:
            for start in range(0, samples, chunk):
                n = min(chunk, samples - start)
                ids = jnp.arange(start, start + -(-n // kernel.block) * kernel.block,
                                 dtype=jnp.uint32)
                out = fn(root, ids, betas, law_state)
                for name, value in out.items():
                    parts[name].append(np.asarray(value)[:n])
                bar.update(n)
    return {name: np.concatenate(parts[name]) for name in kernel.metrics}
