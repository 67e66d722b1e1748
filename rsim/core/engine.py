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

Samplers (:mod:`rsim.core.samplers`, one module and one registered object each) simulate a
sample: ``explicit`` draws every entry of every weight matrix (any law); ``projection``
(i.i.d. Gaussian weights, dense branches only) never forms a matrix, it samples each
matrix's action on the vectors it meets from its exact law. Both run the layer scan of
:mod:`rsim.core.samplers.scan` (its carries: ``ForwardCarry``, ``BackwardCarry``). This
module compiles a kernel's block of samples and runs it.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from rsim import device
from rsim.core import branches, keys, laws, memory, samplers
from rsim.core.kernel import Kernel
from rsim.schema import PRNG_SETTINGS


@contextlib.contextmanager
def numerics(precision: str) -> Iterator[None]:
    """The JAX settings every trace and call of a kernel runs under.

    Args:
        precision: ``float32`` or ``float64`` (x64 enabled).

    Returns:
        A context manager.
    """
    with (
        jax.enable_x64(precision == "float64"),
        jax.threefry_partitionable(PRNG_SETTINGS["threefry_partitionable"]),
    ):
        yield


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
    x64: bool = False  # trace and run with x64 enabled (the sampler's ``x64``)

    def __call__(
        self, root: jax.Array, sample_ids: np.ndarray, betas: jax.Array, law_state: jax.Array
    ) -> dict[str, np.ndarray]:
        """Metric name -> ``(len(sample_ids), n_betas)`` for ids a multiple of the block."""
        sample_ids = np.asarray(sample_ids)
        shared = [jax.device_put((root, betas, law_state), device) for device in self.devices]
        outs = []
        with self._numerics():
            for j, start in enumerate(range(0, sample_ids.size, self.block)):
                on = j % len(self.devices)
                ids = jax.device_put(sample_ids[start : start + self.block], self.devices[on])
                outs.append(self.call(shared[on][0], ids, shared[on][1], shared[on][2]))
        return {name: np.concatenate([np.asarray(out[name]) for out in outs]) for name in outs[0]}

    def lower(
        self, root: jax.Array, sample_ids: jax.Array, betas: jax.Array, law_state: jax.Array
    ) -> jax.stages.Lowered:
        """The one-block program lowered (``sample_ids``: one block's ids)."""
        with self._numerics():
            return self.call.lower(root, sample_ids, betas, law_state)

    def _numerics(self) -> contextlib.AbstractContextManager:
        """x64 on where the sampler asks for it, else the caller's settings."""
        return jax.enable_x64(True) if self.x64 else contextlib.nullcontext()


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

    Args:
        kernel: the simulation (``kernel.sampler`` names a registered sampler).
        n_devices: how many local devices the blocks are dealt out to.

    Returns:
        The program (cached: one per kernel and device count).

    Raises:
        ValueError: where the kernel's sampler is not exact in law for it (one line).
    """
    sampler = samplers.sampler(kernel.sampler)
    refusal = sampler.refusal(kernel)
    if refusal:
        raise ValueError(refusal)
    simulate = sampler.sample

    def block(
        root: jax.Array, sample_ids: jax.Array, betas: jax.Array, law_state: jax.Array
    ) -> dict[str, jax.Array]:
        sample_keys = jax.vmap(lambda i: keys.sample(root, i))(sample_ids)
        return jax.vmap(lambda key: simulate(kernel, key, betas, law_state))(sample_keys)

    devices = tuple(jax.local_devices()[:n_devices])
    return _BlockProgram(jax.jit(block), kernel.block, devices, sampler.x64)


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
    """Samples vmapped together: a power of two from the sampler's rule
    (:meth:`rsim.core.samplers.Sampler.block_rule`: explicit about 2^20 weight entries per
    layer step on CPU, 2^24 on accelerators), then at most 256 MiB per beta of stored states
    for exact backprop, and 256 MiB of weight paths (with their FFT workspace, about 4x the
    path) for correlated laws.

    Args:
        shape: the branch's shape.
        depth: L.
        gradients: ``none``, ``jvp``, ``vjp`` or ``both``.
        precision: ``float32`` or ``float64``.
        platform: the JAX platform (default: the default backend's).
        correlated: whether the law builds a weight path (smooth, fbm).
        sampler: a registered sampler's name.
        path_depth: the length of a correlated law's path when it exceeds the depth
            (``coupled_depth``).

    Returns:
        The block size.

    >>> default_block(branches.Shape("res3", 40), 1000, "jvp", "float32", "cpu")
    256
    """
    rule = samplers.sampler(sampler).block_rule(shape, gradients, platform or jax.default_backend())
    itemsize = 8 if precision == "float64" else 4
    fit = rule.fit
    if gradients in ("vjp", "both"):
        fit = min(fit, 2**28 / (itemsize * depth * rule.stored))
    if correlated:
        length = max(depth, path_depth or depth)
        fit = min(fit, 2**28 / (4 * itemsize * length * shape.weight_entries))
    return int(2 ** min(max(round(math.log2(max(fit, 1))), 0), int(math.log2(rule.most))))


def root_key(kernel: Kernel, seed: int) -> jax.Array:
    """``fold_in(PRNGKey(seed), stream_depth)``: depths are independent unless coupled (then
    sample i has the same input, read-in, read-out and layer streams at every depth), except
    for the smooth law, whose realisation is a function of t shared by every depth (sample i
    at depth 10 and at depth 1000 discretise the same V(t), from the same h_0).

    Args:
        kernel: the simulation.
        seed: the cell's seed.

    Returns:
        The root key; sample i uses ``keys.sample(root, i)``.
    """
    shared = laws.law(kernel.init).shared_across_depths
    return keys.cell_root(seed, None if shared else kernel.stream_depth)


def _law_state(kernel: Kernel, hurst: float | None) -> jax.Array:
    """The law's traced scalar: the circulant scale of H for fbm and fbm_official (so a sweep
    over H compiles once), 0 otherwise."""
    law = laws.law(kernel.init)
    if law.path_scale is not None:
        return jnp.asarray(law.path_scale(hurst, kernel.stream_depth), kernel.dtype)
    return jnp.zeros((), kernel.dtype)


def run(
    kernel: Kernel,
    betas: np.ndarray | list[float],
    samples: int,
    seed: int,
    *,
    hurst: float | None = None,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    memory_limit: device.MemoryLimit | None = None,
    start: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate the weight draws ``start .. samples - 1`` for every beta.

    Sample ``i`` always uses key ``fold_in(root, i)`` and is computed in a vmap of exactly
    ``kernel.block`` samples (XLA's CPU kernels round differently for different batch sizes,
    but not for different positions in a batch), so the result depends only on (kernel,
    betas, seed, i): not on ``chunk`` (the samples read back and reported together, rounded
    up to whole blocks on every local device), not on ``samples``, not on how a run is split,
    not on the number of devices. Each block is one jitted call of one program, dealt out to
    the devices in turn (with jaxlib 0.12 a loop over blocks, or shard_map, rounded
    differently from a lone block). A short last chunk is padded and trimmed. The blocks
    begin at multiples of ``kernel.block``, as in a run from 0: the samples before ``start``
    are computed and dropped, so sample i's bits are those of a run from 0.

    Args:
        kernel: the simulation.
        betas: the depth exponents.
        samples: one past the last sample.
        seed: the cell's seed.
        hurst: the H of fbm or fbm_official (traced: a sweep over H compiles once).
        chunk: samples per read-back (default: one block per device).
        progress: called with the number of samples each chunk finished.
        memory_limit: the preflight's limit (default: the device's); a chunk whose outputs
            would not fit is lowered, a block that would not fit refused (``ConfigError``).
        start: the first sample (a run that adds samples to stored ones).

    Returns:
        Metric name -> ``(samples - start, n_betas)`` (``weight_path``:
        ``(samples - start, depth)``).
    """
    n_devices = jax.local_device_count()
    per_call = kernel.block * n_devices  # every local device gets whole blocks
    chunk = per_call * max(1, -(-(chunk or per_call) // per_call))
    chunk = memory.fit_chunk(kernel, len(betas), chunk, n_devices, memory_limit, note=True)
    with numerics(kernel.precision):
        betas, law_state = jnp.asarray(betas, kernel.dtype), _law_state(kernel, hurst)
        root, fn = root_key(kernel, seed), compiled(kernel, n_devices)
        parts = collections.defaultdict(list)
        for begin in range(start - start % kernel.block, samples, chunk):
            n = min(chunk, samples - begin)
            ids = jnp.arange(begin, begin + -(-n // per_call) * per_call, dtype=jnp.uint32)
            out = fn(root, ids, betas, law_state)
            skip = max(start - begin, 0)
            for name, value in out.items():
                parts[name].append(np.asarray(value)[skip:n])
            if progress:
                progress(n - skip)
    return {name: np.concatenate(parts[name]) for name in kernel.outputs}
