"""The memory preflight: what one device call of a kernel needs, estimated before compilation,
against what the device offers (:func:`rsim.device.memory_limit`).

Each block is one jitted call, so the working set is one block's, plus the outputs of the
chunk (its blocks' outputs stay on the device until the chunk is read back). Per sample of a
block, in numbers of ``precision`` (d the hidden size, L the depth, W one layer's weight
entries, n_b the betas, rows = n_b, doubled with a tangent):

==================  ==========================================================================
read-in             4 (width n_in + |x|): A and x with their random bits and the temporaries
                    of the normal transform (2x for the uniform and Rademacher laws: each
                    law's ``Law.draw_copies``)
weights             4 W (Gaussian), 2 W (uniform, Rademacher): one layer's weights, the same
                    way (explicit sampler, i.i.d. laws)
shifted images      2 k^2 d rows: conv's shifted copies of every hidden vector
weight path         fbm 4 L W (the path and its circulant FFT; measured for the Davies-Harte
                    fbm, assumed for other fGn laws); smooth 2 (L W + 2 n_freq W)
                    (the path and the Fourier coefficients): ``Law.path_numbers``
projection state    6 n_matrices rows d: noise, bases and Gram-Schmidt terms of one layer
stored states       L n_b d (exact backprop); projection L rows d (1 + n_matrices): the
                    states, the tangents its matrices saw and their noise
hidden states       16 n_b d
reduced state       64 n_b: the reduced sampler's whole sample (no read-in, weights or
                    d-vector: rsim/THEORY.md section 13; its rejection loops' temporaries)
==================  ==========================================================================

and per sample of the call, its outputs: 2 (n_b outputs + L with weight paths). Checked on CPU
against XLA's own buffer assignment (``compiled.memory_analysis()``: temporaries and outputs)
over both samplers, every law, conv and backprop: the estimate is 1.00-2.28x what XLA
assigns (the most where a small cell's read-in dominates: XLA reuses its buffers for the
layers); and against the peak resident memory a run adds to a fresh process (VmHWM): 1.01-1.21x
on three cells of 0.2-0.8 GiB (tests/test_memory.py). Not yet measured on a GPU
(scripts/device_check.sh does): there the random bits of a layer's weights may be fused away
(the estimate then up to 2x above), and cuFFT's workspace may add to fbm's.

The chunk never changes a result (only the block does), so a chunk that does not fit is
lowered to one that does; a block that does not fit alone is refused with one line.

The result table lives in the host's memory (:func:`rsim.device.host_memory_limit`), which on
the CPU the blocks share: :func:`check_table` refuses, in one line and before anything is
computed, a cell whose rows (samples x betas, and the weight paths' samples x depth) at
:data:`TABLE_BYTES_PER_ROW` each do not fit beside them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

from rsim import device
from rsim.checks import ConfigError
from rsim.core import branches, laws
from rsim.labels import architecture_label

log = logging.getLogger(__name__)

HIDDEN_STATE_COPIES = 16  # h, q, p, their origins, logs and the scan's carries
REDUCED_STATE_NUMBERS = 64  # per beta: the reduced sampler's chain and its draws' temporaries
# Host bytes per row of a cell's result table at the peak of a run, measured on CPU (pandas
# 3.1, pyarrow 26; width 8, depth 10, 0.6-2.7 M rows, gradients none to both, 1 or 3 betas;
# the peak after the job and after finish less that after a 1-sample job of the same cell):
# the final DataFrame holds 191-223 B a row (21-25 columns); computing and writing it (the
# engine's metric arrays, their concatenation, the columns, the DataFrame, the Arrow table
# written to Parquet) peaks at 526-656 B resident (VmHWM); finish (the table read back with
# its ratios, the summary and the report, in the same process) at 893-1262 B resident and
# 450-1506 B of address space (VmPeak, what ulimit -v bounds): up to 6.8x the frame. A whole
# python -m rsim run of 2.16 M rows (gradients=both): 1245 B resident, 1264 B address space.
TABLE_BYTES_PER_ROW = 1600


class KernelLike(Protocol):
    """What the estimate reads of a kernel (:class:`rsim.core.engine.Kernel`)."""

    model: str
    init: str
    width: int
    n_in: int
    depth: int
    gradients: str
    precision: str
    block: int
    lengthscale: float | None
    sampler: str
    weight_paths: bool
    image_size: int | None
    kernel_size: int | None

    @property
    def shape(self) -> branches.Shape: ...

    @property
    def outputs(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Estimate:
    """Bytes one device call needs: ``block`` (per part, all samples of one block) plus
    ``output_per_sample`` for every sample the call covers on the device."""

    block: dict[str, int]
    output_per_sample: int
    samples_per_block: int

    @property
    def block_bytes(self) -> int:
        return sum(self.block.values())

    def call_bytes(self, samples_per_device: int) -> int:
        return self.block_bytes + samples_per_device * self.output_per_sample


def estimate(kernel: KernelLike, n_betas: int) -> Estimate:
    """What one block of ``kernel`` needs (see the module doc for each part)."""
    shape = kernel.shape
    itemsize = 8 if kernel.precision == "float64" else 4
    d, depth, width_w = shape.dim, kernel.depth, shape.weight_entries
    tangent = kernel.gradients in ("jvp", "both")
    backprop = kernel.gradients in ("vjp", "both")
    projected = kernel.sampler == "projection"
    rows = n_betas * (2 if tangent else 1)
    # Each draw holds law.draw_copies numbers per entry (Gaussian: its random bits, uniforms
    # and the normals, 4x the array; uniform and Rademacher: the bits and the values, 2x).
    # Correlated laws draw A and B from their Gaussian marginal and build a path of weights.
    law = laws.law(kernel.init)
    outputs = n_betas * len(kernel.outputs) + (depth if kernel.weight_paths else 0)
    if kernel.sampler == "reduced":  # O(1) numbers per beta whatever d and L
        per_sample = {"reduced state": REDUCED_STATE_NUMBERS * n_betas}
        return Estimate(
            block={name: n * itemsize * kernel.block for name, n in per_sample.items()},
            output_per_sample=2 * outputs * itemsize,
            samples_per_block=kernel.block,
        )
    inputs = kernel.width * kernel.n_in + math.prod(shape.input_shape(kernel.n_in))
    per_sample = {"read-in": law.draw_copies * inputs}
    if law.path_numbers is not None:
        # The path is cut from a stream of length stream_depth >= L where the kernel has one.
        stream = getattr(kernel, "stream_depth", depth)
        per_sample["weight path"] = law.path_numbers(stream, kernel.lengthscale) * width_w
    elif not projected:
        per_sample["weights"] = law.draw_copies * width_w
    if branches.branch_record(kernel.model).images:
        per_sample["shifted images"] = 2 * shape.activation_entries * rows
    if projected:
        per_sample["projection state"] = 6 * shape.n_matrices * rows * d
    if backprop:
        # The projection also keeps the tangent its matrices saw, and each matrix's noise.
        stored = rows * (1 + shape.n_matrices) if projected else n_betas
        per_sample["stored states"] = depth * stored * d
    per_sample["hidden states"] = HIDDEN_STATE_COPIES * n_betas * d
    return Estimate(
        block={name: n * itemsize * kernel.block for name, n in per_sample.items()},
        output_per_sample=2 * outputs * itemsize,
        samples_per_block=kernel.block,
    )


def _options(kernel: KernelLike, parts: dict[str, int]) -> str:
    """What the user can change, for the largest parts of a block that does not fit."""
    largest = max(parts, key=parts.get)
    options = []
    law = laws.law(kernel.init)
    if kernel.sampler == "explicit" and branches.branch_record(kernel.model).dense and law.iid:
        exact = next(name for name, record in laws.LAWS.items() if record.projection_exact)
        options.append(f"{'' if law.projection_exact else f'init={exact} '}sampler=projection")
    if largest == "stored states":
        options += ["gradients=jvp (no stored trajectory)", "fewer betas", "a smaller depth"]
    elif largest == "weight path":
        options += ["a smaller depth", "a smaller width"]
    elif largest in ("projection state", "hidden states", "shifted images"):
        options += ["fewer betas", "a smaller width"]
    else:
        options.append("a smaller width")
    return ", ".join(options[:-1]) + (" or " if len(options) > 1 else "") + options[-1]


def refusal(kernel: KernelLike, n_betas: int, needed: Estimate, limit: device.MemoryLimit) -> str:
    """One line: the estimate, its largest parts, the limit and the options."""
    parts = sorted(needed.block.items(), key=lambda item: -item[1])
    shown = [f"{name} {device.size_text(n)}" for name, n in parts if n >= needed.block_bytes / 100]
    samples = needed.samples_per_block
    return (
        f"this cell needs ~{device.size_text(needed.block_bytes)} per block of {samples} "
        f"sample{'s' if samples > 1 else ''} ({architecture_label(vars(kernel))}, depth "
        f"{kernel.depth}, {n_betas} beta{'s' if n_betas > 1 else ''}, {kernel.sampler} "
        f"sampler, gradients={kernel.gradients}: {', '.join(shown)}); the device offers "
        f"{device.size_text(limit.bytes)} ({limit.source}); use {_options(kernel, needed.block)}"
    )


def check_block(
    kernel: KernelLike, n_betas: int, limit: device.MemoryLimit | None = None
) -> Estimate:
    """The estimate of one block and its outputs, or :class:`ConfigError` (one line) when it
    exceeds ``limit`` (default :func:`rsim.device.memory_limit`)."""
    limit = limit or device.memory_limit()
    needed = estimate(kernel, n_betas)
    if needed.call_bytes(kernel.block) > limit.bytes:
        raise ConfigError(refusal(kernel, n_betas, needed, limit))
    return needed


def check_table(
    samples: int,
    n_betas: int,
    path_rows: int = 0,
    shared_bytes: int = 0,
    limit: device.MemoryLimit | None = None,
) -> int:
    """The host bytes of a cell's result table (``samples`` x ``n_betas`` rows and
    ``path_rows`` of weight paths, at :data:`TABLE_BYTES_PER_ROW`), or :class:`ConfigError`
    (one line: the estimate, the limit and the samples that would fit) when they and
    ``shared_bytes`` (the device's blocks, on the CPU) exceed ``limit`` (default
    :func:`rsim.device.host_memory_limit`)."""
    limit = limit or device.host_memory_limit()
    rows = samples * n_betas + path_rows
    needed = rows * TABLE_BYTES_PER_ROW
    if needed + shared_bytes <= limit.bytes:
        return needed
    room = limit.bytes - shared_bytes - path_rows * TABLE_BYTES_PER_ROW
    fit = max(0, room // (n_betas * TABLE_BYTES_PER_ROW))
    paths = f" and {path_rows} of weight paths" if path_rows else ""
    beside = f", beside {device.size_text(shared_bytes)} of blocks" if shared_bytes else ""
    if fit:
        advice = (
            f"use samples={fit} or fewer, or split the run into several of at most {fit} "
            "samples, each with its own seed"
        )
    else:
        advice = "use fewer weight_paths" if path_rows else "use a smaller cell"
    message = (
        f"this cell's result table needs ~{device.size_text(needed)} of host memory "
        f"({samples} sample{'s' if samples > 1 else ''} x {n_betas} beta"
        f"{'s' if n_betas > 1 else ''} = {samples * n_betas} rows{paths}, at "
        f"~{TABLE_BYTES_PER_ROW} B a row while it is computed, written and summarised"
        f"{beside}); the host offers {device.size_text(limit.bytes)} ({limit.source}); {advice}"
    )
    raise ConfigError(message)


def fit_chunk(
    kernel: KernelLike,
    n_betas: int,
    chunk: int,
    n_devices: int = 1,
    limit: device.MemoryLimit | None = None,
    note: bool = False,
) -> int:
    """The samples per call to run with: ``chunk`` (whole blocks on every device), or fewer
    whole blocks per device if its outputs would not fit (the results are the same; ``note``
    logs a warning saying so); raises :class:`ConfigError` when one block alone does not fit.
    ``limit``: the memory of one device (default :func:`rsim.device.memory_limit`)."""
    limit = limit or device.memory_limit()
    needed = check_block(kernel, n_betas, limit)
    blocks = chunk // (kernel.block * n_devices)  # per device
    if needed.call_bytes(blocks * kernel.block) <= limit.bytes:
        return chunk
    room = (limit.bytes - needed.block_bytes) // (needed.output_per_sample * kernel.block)
    fitted = kernel.block * n_devices * max(1, min(blocks, int(room)))
    if note:
        log.warning(
            "chunk=%d lowered to %d samples per call to fit %s (%s); the results are the same",
            chunk,
            fitted,
            device.size_text(limit.bytes),
            limit.source,
        )
    return fitted
