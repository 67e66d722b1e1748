"""The Monte Carlo kernel: ``lax.scan`` over layers, ``vmap`` over samples, betas in parallel.

One sample is one draw of all weights and one input. For every beta of a vector the same
weights are used (common random numbers), so each hidden state is a ``(n_betas, d)`` array.
The branch's :class:`rsim.core.branches.Shape` fixes d (the width, or C N^2 for conv, whose
states are flattened C x N x N images), each layer's weights ``(n_matrices, *weight_shape)``
(V, W_1..W_m: d x d matrices or C x C x k x k kernels), their fan-in (d, or C k^2) and the
read-in h_0 = A x (a matrix, or a 1 x 1 convolution of an n_in-channel image).

Keys (every tag in :mod:`rsim.core.keys`). ``root = fold_in(PRNGKey(seed), depth)``
(:func:`root_key`; the smooth law shares one
realisation across depths, and ``coupled_depth`` makes every depth use the streams of one
depth, truncated); sample ``i`` uses ``fold_in(root, i)``; inside a sample, fixed
tags give the input, readout, tangent and layer keys, and layer ``k`` of an i.i.d. law draws
its weights from ``fold_in(layer_key, k)`` inside the scan step: nothing of size L x d x d
exists. A sample's numbers do not depend on the chunk it was computed in.

Log domain. For positively homogeneous branches (ReLU, leaky ReLU, identity) the map
``h -> h + alpha V g(h)`` commutes with positive scaling, so the engine carries a unit vector
and the log of the scale: ``h_k / ||h_0|| = exp(log_scale) * unit``. Ratios like 10^176
(beta = 0, L = 1000) stay finite logs. Other branches (tanh) are carried unnormalised and
overflow to inf honestly. Tangents and cotangents are linear, so they are renormalised too
(the Jacobian of a positively homogeneous map is invariant to the same scaling).

Samplers. ``explicit`` draws every entry of every weight matrix (any law). ``projection``
(i.i.d. Gaussian weights, dense branches only) never forms a matrix: each layer samples the
action of V and of each W on the vectors they meet (the hidden states and tangents of every
beta) from its exact joint law, with O(d n_betas) random numbers per matrix
(:mod:`rsim.core.projection`, rsim/THEORY.md section 4). Exact backprop replays the layer from
its stored input, tangent and noise, and draws V^T p, W_i^T y from their law given the
forward's view. Same law as
explicit Gaussian weights, different stream. (A convolution's matrix repeats each kernel entry
along the pixels, so its action is not that of an i.i.d. Gaussian matrix: conv is explicit.)

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
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rsim.core import branches, keys, laws, memory, projection, spectra
from rsim.schema import (
    CORRELATED_LAWS,
    HIDDEN_METRICS,
    HURST_LAWS,
    JVP_METRICS,
    PRNG_SETTINGS,
    PROJECTION_MODELS,
    VJP_METRICS,
    branch_activation,
)

# Number of times each kernel has been traced: a sweep over beta values must not add any.
TRACE_COUNT: collections.Counter = collections.Counter()


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
    def outputs(self) -> tuple[str, ...]:
        names = HIDDEN_METRICS
        if self.gradients in ("jvp", "both"):
            names += JVP_METRICS
        if self.gradients in ("vjp", "both"):
            names += VJP_METRICS
        if self.weight_paths:
            names += ("weight_path",)
        return names


@contextlib.contextmanager
def numerics(precision: str):
    """The JAX settings every trace and call of a kernel runs under."""
    with (
        jax.enable_x64(precision == "float64"),
        jax.threefry_partitionable(PRNG_SETTINGS["threefry_partitionable"]),
    ):
        yield


def _log_norm(x):
    return jnp.log(jnp.linalg.norm(x, axis=-1))


def _log_distance(log_scale, x, origin):
    """Row-wise log ||exp(log_scale) x - origin||, without overflow for any log_scale."""
    top = jnp.maximum(log_scale, 0)
    gap = jnp.exp(log_scale - top)[:, None] * x - jnp.exp(-top)[:, None] * origin
    return top + _log_norm(gap)


def _sigma(kernel: Kernel):
    """The pointwise nonlinearity of the branch (res-3: ReLU)."""
    return branches.activation(
        branch_activation(kernel.model, kernel.activation), kernel.negative_slope
    )


def _projected_layer(kernel: Kernel, key, h, q, noise=None):
    """One layer's branch increments by Gaussian projection, and what the layer's matrices saw.

    res-1: (V sigma(h), V (sigma'(h) q)); res-2/3 and mlp: W_1 sees [h; q] (the rows of
    ``(n_betas, d)`` arrays, every beta's hidden state and tangent; ``q`` is None without a
    tangent), each next matrix W_i, then V, sees [sigma(a); sigma'(a) da] of the previous
    one's output [a; da] (res-2/3: (V sigma(W h), V (sigma'(W h) W q))). Every product M x is
    sampled jointly from its exact law given the vectors x, each matrix independently of the
    others and of what it acts on: per layer 2 n_betas d (without a tangent n_betas d) random
    numbers per matrix, drawn from ``key`` in one call (V first, then W_1..W_m), unless
    ``noise`` gives them (exact backprop replays a layer with the noise its forward drew).
    Returns ``(dh, dq, (seen, activated))``, per matrix, V first: ``seen`` the basis and
    noise of :func:`projection.action`, ``activated`` the ``a`` that sigma was applied to
    before the matrix (W_{i-1}'s output, W_m's for V, h itself for res-1's V; None for W_1).
    """
    n = h.shape[0]
    inputs = h if q is None else jnp.concatenate([h, q])
    n_matrices = kernel.shape.n_matrices
    if noise is None:
        scale = jnp.asarray(kernel.gain / math.sqrt(kernel.shape.fan_in), h.dtype)
        noise = jax.random.normal(key, (n_matrices, *inputs.shape), h.dtype) * scale
    sigma = _sigma(kernel)
    seen = [None] * n_matrices
    activated = [None] * n_matrices
    pre = inputs  # res-1: sigma acts on h itself
    for i in [*range(1, n_matrices), 0]:  # W_1 .. W_m, then V
        if i == 1:
            vectors = inputs
        else:
            a, da = pre[:n], (None if q is None else pre[n:])
            activated[i] = a
            if q is None:
                vectors = sigma(a)
            else:
                u, du = jax.jvp(sigma, (a,), (da,))
                vectors = jnp.concatenate([u, du])
        pre, basis = projection.action(noise[i], vectors)
        seen[i] = (basis, noise[i])
    if q is None:
        return pre, None, (seen, activated)
    return pre[:n], pre[n:], (seen, activated)


def _projected_pullback(kernel: Kernel, key, h, q, noise, p):
    """(dg/dh)^T V^T p for the rows p of ``(n_betas, d)``, in law given the forward pass.

    The layer is replayed from its input and the noise its forward pass drew (the same
    view of every matrix; stored, which measured 8% faster than drawing it again for res-3 at
    d = 1024, 5% slower for res-1); V^T p and each W_i^T y are drawn from their conditional
    law given that view (:func:`projection.transpose_action`), with fresh noise from
    ``fold_in(key, keys.PULLBACK)``.
    res-1: sigma'(h) V^T p; res-2/3, mlp: W_1^T (sigma'(a_1) W_2^T (.. sigma'(a_m) V^T p)).
    """
    _, _, (seen, activated) = _projected_layer(kernel, key, h, q, noise)
    scale = jnp.asarray(kernel.gain / math.sqrt(kernel.shape.fan_in), p.dtype)
    n_matrices = len(seen)
    fresh = (
        jax.random.normal(keys.tagged(key, keys.PULLBACK), (n_matrices, *p.shape), p.dtype) * scale
    )
    sigma = _sigma(kernel)
    t = p
    for i in [0, *range(n_matrices - 1, 0, -1)]:  # V, then W_m .. W_1
        t = projection.transpose_action(*seen[i], t, fresh[i])
        if activated[i] is not None:  # sigma acted before the matrix (all but W_1)
            _, sigma_pullback = jax.vjp(sigma, activated[i])
            (t,) = sigma_pullback(t)
    return t


def _sample(kernel: Kernel, key, betas, law_state):
    """All metrics of one sample for every beta: a dict of ``(n_betas,)`` arrays.

    i.i.d. laws draw layer k's weights inside the scan step (or, with the projection
    sampler, their action on the layer's vectors); correlated laws (smooth, fbm) build the
    sample's whole weight path first, shared by every beta, and scan over it.
    ``law_state`` is traced: for fbm and fbm_official the circulant scale of H
    (:func:`spectra.hurst_scale`, so a sweep over H compiles once), unused otherwise.
    """
    dtype = jnp.float64 if kernel.precision == "float64" else jnp.float32
    shape = kernel.shape
    branch = branches.branch(kernel.model, kernel.activation, kernel.negative_slope, shape=shape)
    d, depth = shape.dim, kernel.depth
    n_betas = betas.shape[0]
    alpha = (jnp.asarray(depth, dtype) ** -betas)[:, None]
    tangent = kernel.gradients in ("jvp", "both")
    backprop = kernel.gradients in ("vjp", "both")
    projected = kernel.sampler == "projection"
    if projected and kernel.model not in PROJECTION_MODELS:
        raise ValueError(f"the projection sampler is not exact in law for {kernel.model}")

    def renormalise(x, log_scale):
        if not branch.positively_homogeneous:
            return x, log_scale
        norm = jnp.linalg.norm(x, axis=-1)
        return x / norm[:, None], log_scale + jnp.log(norm)

    weights = (branch.n_matrices, *shape.weight_shape)  # one layer's: V, W_1 .. W_m

    def layer(k, w):
        if w is None:
            w = laws.draw(
                kernel.init,
                keys.layer(layer_key, k),
                weights,
                shape.fan_in,
                kernel.gain,
                dtype,
            )
        return lambda h: h + alpha * branch.residual(w, h)

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
    origin = jnp.broadcast_to(h0 / norm0, (n_betas, d))  # h_0 / ||h_0||
    if branch.positively_homogeneous:
        h, log_h = origin, jnp.zeros((n_betas,), dtype)
    else:  # the branch sees the true scale of h: carry h itself, h / ||h_0|| = e^log_h h
        h, log_h = jnp.broadcast_to(h0, (n_betas, d)), jnp.full((n_betas,), -jnp.log(norm0))
    z = jax.random.normal(keys.tagged(key, keys.TANGENT), (d,), dtype)
    # Uniform on the sphere; its radius (sqrt(d) in the text) cancels in every ratio.
    z = jnp.broadcast_to(z / jnp.linalg.norm(z), (n_betas, d))
    layer_key = keys.tagged(key, keys.LAYERS)
    zeros = jnp.zeros((n_betas,), dtype)
    layers = jnp.arange(1, depth + 1)
    path = None
    if kernel.init in CORRELATED_LAWS:
        path = laws.path(
            kernel.init,
            layer_key,
            depth,
            weights,
            shape.fan_in,
            kernel.gain,
            dtype,
            fgn_scale=law_state,
            lengthscale=kernel.lengthscale,
            stream_depth=kernel.stream_depth,
        )

    def forward(carry, xs):
        h, log_h, log_max, q, log_q = carry
        h_in, q_in = h, q
        if projected:
            dh, dq, (seen, _) = _projected_layer(
                kernel, keys.layer(layer_key, xs[0]), h, q if tangent else None
            )
            h_next = h + alpha * dh
            if tangent:
                q, log_q = renormalise(q + alpha * dq, log_q)
        else:
            step = layer(*xs)
            if tangent:
                h_next, q = jax.jvp(step, (h,), (q,))
                q, log_q = renormalise(q, log_q)
            else:
                h_next = step(h)
        h_next, log_h = renormalise(h_next, log_h)
        log_max = jnp.maximum(log_max, _log_distance(log_h, h_next, origin))
        # Exact backprop replays each layer: explicit weights need its input h, the projection
        # also the tangent that its matrices saw and the noise it drew.
        stored = None
        if backprop:
            stored = (h_in, None, None)
            if projected:
                noise = jnp.stack([noise for _, noise in seen])
                stored = (h_in, q_in if tangent else None, noise)
        return (h_next, log_h, log_max, q, log_q), stored

    init = (h, log_h, jnp.full((n_betas,), -jnp.inf, dtype), z, zeros)
    # A res-1 projected layer is so little work that the loop's own overhead shows: unrolling
    # 4 layers per iteration measured 0.58 vs 0.84 us per layer-sample at d = 40 in one
    # interleaved run on the shared 2-core machine (res-3: no gain). Explicit layers are
    # never unrolled (their stream's bits stay as they were).
    unroll = 4 if projected and kernel.model == "res1" else 1
    (h, log_h, log_max, q, log_q), inputs = jax.lax.scan(
        forward, init, (layers, path), unroll=unroll
    )
    out = {
        "log_hidden_ratio": log_h + _log_norm(h),
        "log_hidden_diff": _log_distance(log_h, h, origin),
        "log_hidden_maxdiff": log_max,
    }
    if kernel.weight_paths:  # V_k's first entry, on the path every beta was simulated with
        out["weight_path"] = path.reshape(depth, -1)[:, 0]
    if tangent:
        out["log_jvp_ratio"] = log_q + _log_norm(q)
        out["log_jvp_diff"] = _log_distance(log_q, q, z)
    if backprop:
        # p_L = 2 (B h_L - y) B^T is parallel to B^T, and both ratios are invariant to the
        # scalar 2 (B h_L - y), so the backward pass starts from b = B^T / ||B|| exactly.
        b = laws.draw(kernel.init, keys.tagged(key, keys.READOUT), (d,), d, kernel.gain, dtype)
        b = jnp.broadcast_to(b / jnp.linalg.norm(b), (n_betas, d))

        def backward(carry, xs):
            p, log_p = carry
            k, w, (h_in, q_in, noise) = xs
            if projected:
                p = p + alpha * _projected_pullback(
                    kernel, keys.layer(layer_key, k), h_in, q_in, noise, p
                )
            else:
                _, pullback = jax.vjp(layer(k, w), h_in)
                (p,) = pullback(p)
            return renormalise(p, log_p), None

        (p, log_p), _ = jax.lax.scan(backward, (b, zeros), (layers, path, inputs), reverse=True)
        out["log_grad_ratio"] = log_p + _log_norm(p)
        out["log_grad_diff"] = _log_distance(log_p, p, b)
    return out


@dataclass(frozen=True)
class _BlockProgram:
    """A kernel's program for one block of samples, run over any whole number of blocks.

    ``call`` is the jit of (root, one block's sample ids, betas, law_state) -> metrics. A
    chunk of ids makes one call per block, block j on ``devices[j % len(devices)]``, all
    dispatched before any output is read (so the chunk's outputs are on the devices together).
    """

    call: Callable
    block: int
    devices: tuple

    def __call__(self, root, sample_ids, betas, law_state) -> dict[str, np.ndarray]:
        sample_ids = np.asarray(sample_ids)
        shared = [jax.device_put((root, betas, law_state), device) for device in self.devices]
        outs = []
        for j, start in enumerate(range(0, sample_ids.size, self.block)):
            on = j % len(self.devices)
            ids = jax.device_put(sample_ids[start : start + self.block], self.devices[on])
            outs.append(self.call(shared[on][0], ids, shared[on][1], shared[on][2]))
        return {name: np.concatenate([np.asarray(out[name]) for out in outs]) for name in outs[0]}

    def lower(self, root, sample_ids, betas, law_state):
        """The one-block program lowered (``sample_ids``: one block's ids)."""
        return self.call.lower(root, sample_ids, betas, law_state)


@functools.cache
def compiled(kernel: Kernel, n_devices: int = 1) -> _BlockProgram:
    """The kernel's program: sample ids (a multiple of ``kernel.block``) -> metrics (NumPy
    arrays), one jitted call per block, the blocks dealt out in turn over the first
    ``n_devices`` local devices. ``run``'s ``chunk`` only sets how many samples are read back
    (and reported to ``progress``) together.

    Every call runs one program, the same on every device: a sample's bits cannot depend
    on how many blocks a run or chunk has, nor on the number of devices. Neither a loop over
    a chunk's blocks nor ``shard_map`` over devices gives that with jaxlib 0.12.0.1 on CPU.
    XLA deletes a loop of one trip; a loop of several is small enough to be outlined into one
    kernel by the legacy IR emitter, whose dot (the read-in A x) sums in another order than
    the runtime's dot; and the partitioned program fuses differently. The same sample came out
    up to 28 ulp apart in log_hidden_ratio (1 vs 2 blocks in a call) and 32 ulp (2 devices).
    jit compiles the program once per device (the persistent cache shares it on GPU).
    """

    def block(root, sample_ids, betas, law_state):
        TRACE_COUNT[kernel] += 1
        sample_keys = jax.vmap(lambda i: keys.sample(root, i))(sample_ids)
        return jax.vmap(lambda key: _sample(kernel, key, betas, law_state))(sample_keys)

    return _BlockProgram(jax.jit(block), kernel.block, tuple(jax.local_devices()[:n_devices]))


def default_block(
    shape: branches.Shape,
    depth: int,
    gradients: str,
    precision: str,
    platform: str | None = None,
    correlated: bool = False,
    sampler: str = "explicit",
    path_depth: int | None = None,
) -> int:
    """Samples vmapped together: a power of two giving about 2^20 weight entries per layer step
    on CPU (measured fastest here: 256 at d = 40, 64 at d = 100 for res-3), 2^24 on
    accelerators; at most 256 MiB per beta of stored states for exact backprop, and
    256 MiB of weight paths (with their FFT workspace, about 4x the path) for correlated laws.
    A layer's weight entries are ``shape.weight_entries`` (n_matrices d^2, or n_matrices C^2
    k^2 for conv), counted at least as ``shape.activation_entries`` (conv's k^2 shifted
    copies of the hidden state, which can outnumber its kernels' entries); a stored state has
    ``shape.dim`` entries (the projection also stores the tangent, and the noise each matrix
    drew, n_matrices times the states, not counted here: capping it too gave blocks of 8-16
    at d = 1024, L = 1000, whose backprop measured 1.2-1.3x slower than at 32).
    The projection sampler draws about 2 d numbers per matrix and layer: 2^16 / (n_matrices d)
    samples on CPU (measured: 1024 at d = 40, 64 at d = 512, res-3), at most 1024.
    ``path_depth`` is the length of a correlated law's path when it exceeds the depth
    (``coupled_depth``)."""
    platform = platform or jax.default_backend()
    itemsize = 8 if precision == "float64" else 4
    width, n_matrices = shape.dim, shape.n_matrices
    # 256 caps the padding of small runs (a 50-sample cell pays for 256 at most).
    target, most = (2**20, 256) if platform == "cpu" else (2**24, 2**16)
    fit = target / max(shape.weight_entries, shape.activation_entries)
    stored = width  # per beta and layer, for exact backprop
    if sampler == "projection":
        target, most = (2**16, 1024) if platform == "cpu" else (2**22, 2**16)
        fit = target / (n_matrices * width)
        stored = 2 * width if gradients == "both" else width  # h and the tangent
    if gradients in ("vjp", "both"):
        fit = min(fit, 2**28 / (itemsize * depth * stored))
    if correlated:
        length = max(depth, path_depth or depth)
        fit = min(fit, 2**28 / (4 * itemsize * length * shape.weight_entries))
    return int(2 ** min(max(round(math.log2(max(fit, 1))), 0), int(math.log2(most))))


def root_key(kernel: Kernel, seed: int):
    """``fold_in(PRNGKey(seed), stream_depth)``: depths are independent unless coupled (then
    sample i has the same input, read-in, read-out and layer streams at every depth), except
    for the smooth law, whose realisation is a function of t shared by every depth (sample i
    at depth 10 and at depth 1000 discretise the same V(t), from the same h_0)."""
    return keys.cell_root(seed, None if kernel.init == "smooth" else kernel.stream_depth)


def run(
    kernel: Kernel,
    betas,
    samples: int,
    seed: int,
    *,
    hurst: float | None = None,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    memory_limit=None,
    start: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate the weight draws ``start .. samples - 1`` for every beta: metric name ->
    ``(samples - start, n_betas)`` (and ``weight_path`` -> ``(samples - start, depth)`` when
    the kernel records it).

    Sample ``i`` always uses key ``fold_in(root, i)`` and is computed in a vmap of exactly
    ``kernel.block`` samples (XLA's CPU kernels round differently for different batch sizes,
    but not for different positions in a batch), so the result depends only on (kernel,
    betas, seed, i): not on ``chunk`` (the samples read back and reported together, rounded
    up to whole blocks on every local device), not on ``samples``, not on how a run is split,
    not on the number of devices. Each block is one jitted call of one program, dealt out to
    the devices in turn (with jaxlib 0.12 a loop over blocks, or shard_map, rounded
    differently from a lone block). A short last chunk is padded and trimmed.
    ``hurst`` is the H of fbm or fbm_official (traced: a sweep over H compiles once);
    ``progress`` is called with the number of samples each chunk finished. ``start``: the
    first sample (a run that adds samples to stored ones); the blocks still begin at
    multiples of ``kernel.block``, as in a run from 0, and the samples before ``start`` are
    computed and dropped, so sample i's bits are those of a run from 0.
    """
    # Every local device gets whole blocks: a call covers a multiple of block * devices.
    n_devices = jax.local_device_count()
    per_call = kernel.block * n_devices
    chunk = per_call * max(1, -(-(chunk or per_call) // per_call))
    # The memory preflight, before compiling (``memory_limit``: by default the device's): a
    # chunk whose outputs would not fit is lowered (same results), a block that would not fit
    # is refused with one line (rsim.ConfigError).
    chunk = memory.fit_chunk(kernel, len(betas), chunk, n_devices, memory_limit, note=True)
    with numerics(kernel.precision):
        dtype = jnp.float64 if kernel.precision == "float64" else jnp.float32
        betas = jnp.asarray(betas, dtype)
        law_state = jnp.zeros((), dtype)
        if kernel.init in HURST_LAWS:
            law_state = jnp.asarray(
                spectra.hurst_scale(kernel.init, hurst, kernel.stream_depth), dtype
            )
        root = root_key(kernel, seed)
        fn = compiled(kernel, n_devices)
        parts = collections.defaultdict(list)
        aligned = start - start % kernel.block
        for begin in range(aligned, samples, chunk):
            n = min(chunk, samples - begin)
            ids = jnp.arange(begin, begin + -(-n // per_call) * per_call, dtype=jnp.uint32)
            out = fn(root, ids, betas, law_state)
            skip = max(start - begin, 0)
            for name, value in out.items():
                parts[name].append(np.asarray(value)[skip:n])
            if progress:
                progress(n - skip)
    return {name: np.concatenate(parts[name]) for name in kernel.outputs}
