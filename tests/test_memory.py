"""The memory preflight (rsim/core/memory.py): the estimate against XLA's own buffer assignment
and a process's peak memory, the chunk lowered without changing a bit, a block that does
not fit refused in one line before anything runs."""

import dataclasses
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, make_kernel
from variants import IID_LAWS

from rsim import device
from rsim.checks import ConfigError
from rsim.core import engine, memory
from rsim.experiments.cells import CellSpec

# The estimate is at least XLA's temporary and output buffers of a device call, and at most
# this many times them (measured on CPU over both samplers, every law, conv and backprop:
# 1.00-2.28; README, "Memory preflight").
STATED_FACTOR = 2.5


def xla_bytes(kernel: engine.Kernel, betas) -> int:
    """Temporary plus output buffers XLA assigns to one block's device call (compiled, not
    run)."""
    with engine.numerics(kernel.precision):
        dtype = jnp.float64 if kernel.precision == "float64" else jnp.float32
        compiled = (
            engine.compiled(kernel)
            .lower(
                engine.root_key(kernel, 0),
                jnp.arange(kernel.block, dtype=jnp.uint32),
                jnp.asarray(betas, dtype),
                jnp.zeros((), dtype),
            )
            .compile()
        )
    analysis = compiled.memory_analysis()
    return analysis.temp_size_in_bytes + analysis.output_size_in_bytes


GAUSSIAN = dict(init="gaussian")
PROJECTION = dict(init="gaussian", sampler="projection")
# name: (block, betas, options); the first three run by default (compiling takes seconds).
CASES = {
    "uniform, explicit": (2, 1, dict(width=512, depth=20)),
    "projection, no tangent": (16, 1, dict(width=128, depth=20, gradients="none", **PROJECTION)),
    "fbm": (2, 1, dict(width=32, depth=200, init="fbm", hurst=0.3)),
    "projection, backprop": (16, 1, dict(width=128, depth=100, gradients="both", **PROJECTION)),
    "gaussian, backprop, 5 betas": (2, 5, dict(width=256, depth=200, gradients="both", **GAUSSIAN)),
    "projection, backprop, 3 betas": (
        16,
        3,
        dict(width=128, depth=100, gradients="both", **PROJECTION),
    ),
    "smooth, l = 0.01": (2, 1, dict(width=32, depth=100, init="smooth", lengthscale=0.01)),
    "conv": (2, 2, dict(model="conv", width=8, image_size=8, branch_depth=1, depth=20)),
}
SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if i < 3 else SLOW) for i, c in enumerate(CASES)]
)
def test_estimate_bounds_what_xla_assigns(case):
    block, n_betas, options = CASES[case]
    spec = CellSpec(betas=[0.3 + 0.1 * i for i in range(n_betas)], **options)
    kernel = dataclasses.replace(spec.kernel(), block=block)
    estimated = memory.estimate(kernel, n_betas).call_bytes(block)
    measured = xla_bytes(kernel, spec.betas)
    assert measured <= estimated <= STATED_FACTOR * measured, (estimated, measured)


@pytest.mark.parametrize("law", IID_LAWS)
def test_estimate_bounds_what_xla_assigns_for_every_iid_law(law):
    """Each i.i.d. law's own footprint per draw (``Law.draw_copies``) at d = 512, L = 20,
    explicit sampler, block 2: XLA's buffers <= the estimate <= STATED_FACTOR times them."""
    spec = CellSpec(init=law, width=512, depth=20, betas=[0.5])
    kernel = dataclasses.replace(spec.kernel(), block=2)
    estimated = memory.estimate(kernel, 1).call_bytes(2)
    measured = xla_bytes(kernel, spec.betas)
    assert measured <= estimated <= STATED_FACTOR * measured, (estimated, measured)


def test_a_chunk_whose_outputs_do_not_fit_is_lowered_with_the_same_bits(capsys):
    kernel = make_kernel(width=8, depth=10, gradients="none", block=4)
    betas = [0.3, 0.7]
    needed = memory.estimate(kernel, len(betas))
    # Room for one block's work and the outputs of 2 blocks: a chunk of 16 samples becomes 8.
    room = needed.block_bytes + 2 * kernel.block * needed.output_per_sample
    limit = device.MemoryLimit(room, "a test's limit")
    assert memory.fit_chunk(kernel, len(betas), 16, limit=limit) == 8
    assert memory.fit_chunk(kernel, len(betas), 4, limit=limit) == 4
    lowered = engine.run(kernel, betas, samples=16, seed=3, chunk=16, memory_limit=limit)
    assert "chunk=16 lowered to 8 samples per call" in capsys.readouterr().err
    free = engine.run(kernel, betas, samples=16, seed=3, chunk=16)
    for name in kernel.outputs:
        assert np.array_equal(lowered[name], free[name]), name


def test_a_block_that_does_not_fit_is_refused_in_one_line():
    kernel = make_kernel(width=64, depth=100, gradients="both", block=8)
    needed = memory.estimate(kernel, 2)
    limit = device.MemoryLimit(needed.call_bytes(8) - 1, device.MEMORY_LIMIT_ENV)
    with pytest.raises(ConfigError) as error:
        engine.run(kernel, [0.3, 0.7], samples=4, seed=0, memory_limit=limit)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"this cell needs ~{device.size_text(needed.block_bytes)} per block")
    assert f"offers {device.size_text(limit.bytes)} ({device.MEMORY_LIMIT_ENV})" in message
    assert "init=gaussian sampler=projection" in message  # uniform weights, a dense branch
    # One byte more and it runs.
    bigger = device.MemoryLimit(limit.bytes + 1, device.MEMORY_LIMIT_ENV)
    assert memory.fit_chunk(kernel, 2, 8, limit=bigger) == 8


@pytest.mark.parametrize(
    "options,largest,advice",
    [
        (dict(width=20000, depth=10), "weights", "init=gaussian sampler=projection or a smaller"),
        (
            dict(width=512, depth=10**6, gradients="vjp", **PROJECTION),
            "stored states",
            "gradients=jvp",
        ),
        (dict(width=512, depth=10**5, init="fbm", hurst=0.3), "weight path", "a smaller depth"),
    ],
)
def test_the_refusal_names_the_largest_part_and_what_to_change(options, largest, advice):
    kernel = CellSpec(**options).kernel()
    needed = memory.estimate(kernel, 3)
    assert max(needed.block, key=needed.block.get) == largest
    message = memory.refusal(kernel, 3, needed, device.MemoryLimit(2**30, "available RAM"))
    assert f": {largest} " in message and advice in message, message


def test_the_command_line_refuses_before_any_job_runs(tmp_path):
    """A sweep whose deepest cell does not fit: one line, exit code 2, nothing written."""
    out = tmp_path / "out"
    betas = [0.25, 0.5, 1.0]  # conf/sweep/corollary1.yaml
    kernel = CellSpec(width=256, depth=1000, gradients="vjp", betas=betas).kernel()
    limit = memory.estimate(kernel, len(betas)).call_bytes(kernel.block) - 1
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{device.MEMORY_LIMIT_ENV: str(limit)})
    proc = subprocess.run(
        [sys.executable, "-m", "rsim", "+sweep=corollary1", "width=256", "depth=10,1000"]
        + ["gradients=vjp", "samples=2", f"output={out}", "progress=false"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rsim: error: this cell needs ~"), proc.stderr
    assert "depth 1000" in lines[0] and "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists()


def _peak_added_bytes(options: dict) -> int:
    """Peak resident memory a cell adds to a fresh process: VmHWM after the cell minus
    VmHWM after a tiny cell in another fresh process (JAX, XLA and the compiler's own)."""

    def peak(cell: dict) -> int:
        script = (
            "import rsim\n"
            f"rsim.simulate(**{cell!r})\n"
            "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=900
        )
        return int(proc.stdout.split()[-1]) * 1024

    tiny = dict(options, width=4, depth=10, samples=1)
    return peak(options) - peak(tiny)


PEAK_CASES = {
    "explicit, d = 6000": dict(width=6000, depth=10, betas=[0.5], samples=1),
    "fbm, d = 256, L = 400": dict(width=256, depth=400, init="fbm", hurst=0.7, samples=2),
    "projection, backprop, d = 1024, L = 2000": dict(
        width=1024, depth=2000, gradients="both", betas=[0.5], samples=16, **PROJECTION
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PEAK_CASES))
def test_estimate_bounds_the_peak_memory_a_run_adds(case):
    options = PEAK_CASES[case]
    spec = CellSpec(**options)
    estimated = memory.estimate(spec.kernel(), len(spec.betas)).call_bytes(spec.block())
    added = _peak_added_bytes(options)
    print(f"{case}: estimate {estimated / 2**20:.0f} MiB, peak added {added / 2**20:.0f} MiB")
    assert added <= estimated <= STATED_FACTOR * added, (estimated, added)


def test_jax_reports_no_memory_on_cpu():
    """The CPU's limit is the available RAM, not an allocator's (memory_stats is None)."""
    if jax.default_backend() != "cpu":
        pytest.skip("a GPU reports its allocator's limit")
    assert device.device_memory(jax.local_devices()[0]) is None
