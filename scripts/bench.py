"""Throughput of the three samplers against their own random-number floors, in one run.

For each model (res-1, res-3, mlp, conv) and width (d; for conv the channels C), with Gaussian
weights, L = 1000, float32, one beta and forward-mode gradients, times jitted functions with
the engine's block structure:

* explicit    the simulator drawing every weight entry (2 d^2 normals per res-3 layer,
              (m + 1) C^2 k^2 per conv layer), up to d = ``--explicit-max`` (1024);
* its floor   the same keys and scan drawing the same weights and nothing else;
* projection  the simulator sampling each matrix's action on the layer's vectors, up to
              d = ``--projection-max`` (10^4; dense branches only);
* its floor   the same keys and scan drawing the projection's noise (2 n_betas d normals
              per matrix and layer with a tangent) and nothing else;
* reduced     the chain of a few coordinates (rsim/THEORY.md section 13; where it is exact:
              res-3 and mlp with ReLU, not res-1 with ReLU), any d;
* its floor   the same keys and scan drawing, as float64 normals, as many numbers as the
              variates its reduction needs per layer (a binomial, the chi^2 and the normals:
              16 per res-3 layer with the tangent) and nothing else.

Prints samples per second, microseconds per layer-sample, the ratio of each sampler to its
floor, and the speed-ups over explicit weights and over the projection; writes the table to
``<output>/bench.csv`` and ``<output>/bench.md``. Timings are interleaved (one call of each
function per round) and the best of ``--repeats`` rounds is kept: on a shared machine only
ratios measured within one run are meaningful.

The ``backprop`` section (``--sections backprop``) times the projection sampler's exact
backprop against its forward pass, at d in ``--backprop-widths`` (1024): ``gradients`` none
against vjp and jvp against both, interleaved, each at its rule's block on the same samples.
It reports the total time over the forward pass's, the backward pass's over the forward's, and
the floor of that total set by the random numbers (``normals_ratio``: 2 for vjp, 1.5 for
both), into ``<output>/backprop.csv`` and ``backprop.md``.

The ``training`` section (``--sections training``) trains one job of the official Figure 9
sweep (res-1, d = 30, fbm H = 0.5, 10 betas x 5 learning rates = 50 runs side by side, Adam,
batch 128, digits; L = ``--training-depth``, 1000 officially) for ``--training-epochs``
epochs through the experiment's own code. It reports the seconds of an epoch (wall and
process CPU time: the median over the epochs after the first, which compiles), the job's
fixed cost (the rest of its time), the floating-point operations of an epoch (3 products of
d x d by d x batch per layer, run and step: the forward one and the backward pass's two; plus
the test set's forward pass) and their rate against two float32 matrix-product rates
measured in the same run: a large square product (the machine's rate) and training's layer
product, (runs, d, d) by (runs, d, batch) chained through L layers. It writes
``<output>/training.csv`` and ``<output>/training.md``.

    python scripts/bench.py [--models res1 res3] [--widths 40 100 512] [--depth 1000]
                            [--repeats 3] [--numbers 2e8] [--output results/bench]
                            [--branch-depth M] [--image-size 8] [--kernel-size 3]
                            [--block-factors 0.25 1 4]
    python scripts/bench.py --models conv --widths 4 16 --image-size 8   # C = 4, 16

    python scripts/bench.py --sections backprop [--backprop-widths 1024]  # exact backprop
    python scripts/bench.py --sections training [samplers] [--training-depth 1000]
                            [--training-epochs 3]                        # Figure 9's job
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from rsim import schema
from rsim.core import engine, keys, samplers
from rsim.core.samplers.reduced import REDUCED
from rsim.experiments.cells import CellSpec
from rsim.schema import PROJECTION_MODELS

# Random numbers per timed call (about a second at the ~5-10 ns per normal measured here).
NUMBERS_PER_CALL = 2e8
# The reduced sampler's numbers per timed call: each of its variates costs about 100 ns.
REDUCED_NUMBERS_PER_CALL = 1e7
SAMPLERS = ("explicit", "projection", "reduced")
SECTIONS = ("samplers", "backprop", "training")
# One job of the official Figure 9 sweep (conf/sweep/training.yaml at depth=1000 with 10 betas
# and 10 H; every job has these shapes, H changes the weights only).
FIGURE9_JOB = dict(
    study="accuracy",
    model="res1",
    init="fbm",
    hurst=0.5,
    width=30,
    betas=[float(b) for b in np.round(np.linspace(0.1, 0.9, 10), 5)],
)
# Side of the square float32 product that measures the machine's matrix-product rate.
MATMUL_SIDE = 2048


def noise_shape(kernel: engine.Kernel, n_betas: int) -> tuple[int, ...]:
    """The normals one layer of one sample draws: the weights ``(n_matrices, *weight_shape)``,
    the projection's noise ``(n_matrices, rows, d)``, or the reduced chain's variates
    ``(n_betas, variates)``."""
    shape = kernel.shape
    if kernel.sampler == "reduced":
        return (n_betas, REDUCED.variates_per_layer(kernel))
    if kernel.sampler == "explicit":
        return (shape.n_matrices, *shape.weight_shape)
    rows = n_betas * (2 if kernel.gradients in ("jvp", "both") else 1)
    return (shape.n_matrices, rows, shape.dim)


def rng_floor(kernel: engine.Kernel, n_betas: int):
    """A jitted chunk function that only draws each layer's normals (same keys, same scan,
    same blocks as the engine) and sums them, so nothing is optimised away."""
    shape = noise_shape(kernel, n_betas)
    dtype = jnp.float64 if kernel.sampler == "reduced" else jnp.float32

    def sample(key):
        layer_key = keys.tagged(key, keys.LAYERS)

        def step(acc, k):
            noise = jax.random.normal(keys.layer(layer_key, k), shape, dtype)
            return acc + noise.sum(), None

        return jax.lax.scan(step, jnp.zeros((), dtype), jnp.arange(1, kernel.depth + 1))[0]

    def block(root, ids):
        sample_keys = jax.vmap(lambda i: keys.sample(root, i))(ids)
        return jax.vmap(sample)(sample_keys)

    def chunk(root, ids):
        return jax.lax.map(lambda b: block(root, b), ids.reshape(-1, kernel.block))

    jitted = jax.jit(chunk)
    if kernel.sampler != "reduced":
        return jitted

    def in_x64(root, ids):  # as the engine runs the reduced sampler
        with jax.enable_x64(True):
            return jitted(root, ids)

    return in_x64


def cell_for(model: str, width: int, depth: int, sampler: str, gradients: str, **shape):
    """The cell's spec; ``shape``: branch_depth, image_size, kernel_size (None for the model's
    default; ignored by the models without them)."""
    if model not in schema.BRANCH_DEPTHS:
        shape.pop("branch_depth", None)
    if model != "conv":
        shape = {k: v for k, v in shape.items() if k not in schema.IMAGE_OPTIONS}
    return CellSpec(
        model=model,
        init="gaussian",
        width=width,
        depth=depth,
        gradients=gradients,
        sampler=sampler,
        **shape,
    )


def kernel_for(model: str, width: int, depth: int, sampler: str, gradients: str, **shape):
    """The engine kernel of :func:`cell_for`'s cell."""
    return cell_for(model, width, depth, sampler, gradients, **shape).kernel()


def with_blocks(kernel: engine.Kernel, factors: list[float]) -> list[engine.Kernel]:
    """The kernel at its rule's block times each factor (at least 1 sample), each block once:
    a sweep around :func:`rsim.core.engine.default_block`'s choice."""
    blocks = sorted({max(1, round(kernel.block * factor)) for factor in factors})
    return [dataclasses.replace(kernel, block=block) for block in blocks]


def samples_for(kernel: engine.Kernel, n_betas: int, numbers: float) -> int:
    """Whole blocks totalling about ``numbers`` random numbers."""
    per_sample = kernel.depth * math.prod(noise_shape(kernel, n_betas))
    return kernel.block * max(1, round(numbers / per_sample / kernel.block))


def fitting_samplers(
    model: str, width: int, gradients: str, limits: dict[str, float], **shape
) -> list[str]:
    """The samplers exact for the cell (Gaussian weights) whose d is within ``limits``."""
    cell = cell_for(model, width, 1, "explicit", gradients, **shape)
    return [
        name
        for name in SAMPLERS
        if samplers.sampler(name).refusal(cell) is None and width <= limits.get(name, math.inf)
    ]


def measure(
    model: str,
    width: int,
    depth: int,
    gradients: str,
    repeats: int,
    numbers: float = NUMBERS_PER_CALL,
    block_factors: tuple[float, ...] = (1,),
    limits: dict[str, float] | None = None,
    reduced_numbers: float = REDUCED_NUMBERS_PER_CALL,
    **shape,
) -> list[dict]:
    """Best-of-``repeats`` times of each sampler that fits (:func:`fitting_samplers`) and its
    floor, interleaved, at the rule's block times each of ``block_factors``."""
    betas = jnp.asarray([0.5], jnp.float32)
    root = keys.cell_root(0, depth)
    cases = []
    with engine.numerics("float32"):
        for sampler in fitting_samplers(model, width, gradients, limits or {}, **shape):
            rule = kernel_for(model, width, depth, sampler, gradients, **shape)
            for kernel in with_blocks(rule, block_factors):
                cases.append((sampler, kernel, rule.block))
        compiled = []
        for sampler, kernel, rule_block in cases:
            budget = reduced_numbers if sampler == "reduced" else numbers
            n = samples_for(kernel, len(betas), budget)
            ids = jnp.arange(n, dtype=jnp.uint32)
            sim, floor = engine.compiled(kernel), rng_floor(kernel, len(betas))
            calls = {
                "sim": lambda sim=sim, ids=ids: sim(root, ids, betas, 0.0),
                "floor": lambda floor=floor, ids=ids: floor(root, ids),
            }
            for call in calls.values():
                jax.block_until_ready(call())  # compile
            compiled.append((sampler, kernel, rule_block, n, calls))
        best = interleaved_best(
            {
                (i, name): call
                for i, (*_, calls) in enumerate(compiled)
                for name, call in calls.items()
            },
            repeats,
        )
    rows = []
    for i, (sampler, kernel, rule_block, n, _) in enumerate(compiled):
        us = 1e6 / (n * depth)
        rows.append(
            {
                "model": model,
                "shape": _shape_label(kernel),
                "d": kernel.shape.dim,
                "sampler": sampler,
                "block": kernel.block,
                "samples": n,
                "samples_per_s": n / best[i, "sim"],
                "us_per_layer_sample": best[i, "sim"] * us,
                "floor_us": best[i, "floor"] * us,
                "ratio_to_floor": best[i, "sim"] / best[i, "floor"],
            }
        )
        if block_factors != (1,):
            rows[-1]["rule_block"] = rule_block
    # Against explicit weights and the projection at the rule's block (NaN where not timed).
    for baseline in ("explicit", "projection"):
        times = [
            row["us_per_layer_sample"]
            for row, (_, kernel, rule_block, *_) in zip(rows, compiled)
            if row["sampler"] == baseline and kernel.block == rule_block
        ]
        for row in rows:
            row[f"speedup_vs_{baseline}"] = (
                times[0] / row["us_per_layer_sample"] if times else math.nan
            )
    return rows


def interleaved_best(calls: dict, repeats: int) -> dict:
    """The fastest of ``repeats`` rounds of each (compiled) call, one call of each per round."""
    best = dict.fromkeys(calls, math.inf)
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            jax.block_until_ready(call())
            best[name] = min(best[name], time.perf_counter() - start)
    return best


# Exact backprop's runs and the forward-only runs they are compared with.
BACKPROP_PAIRS = (("none", "vjp"), ("jvp", "both"))


def measure_backprop(model: str, width: int, depth: int, repeats: int, numbers: float) -> list:
    """The projection sampler's cost of exact backprop: best-of-``repeats`` times of
    ``gradients`` none, vjp, jvp and both (interleaved, each at its rule's block, the same
    samples), one row per pair (none -> vjp, jvp -> both). ``normals_ratio`` is the floor
    that the random numbers set: backprop draws n_betas d fresh normals per matrix and layer
    on top of the forward pass's noise (it stores that noise rather than drawing it again)."""
    betas = jnp.asarray([0.5], jnp.float32)
    root = keys.cell_root(0, depth)
    with engine.numerics("float32"):
        kernels = {g: kernel_for(model, width, depth, "projection", g) for g in schema.GRADIENTS}
        block = max(kernel.block for kernel in kernels.values())
        n = block * max(1, round(samples_for(kernels["jvp"], 1, numbers) / block))
        ids = jnp.arange(n, dtype=jnp.uint32)
        calls = {}
        for gradients, kernel in kernels.items():
            sim = engine.compiled(kernel)
            calls[gradients] = lambda sim=sim: sim(root, ids, betas, 0.0)
            jax.block_until_ready(calls[gradients]())  # compile
        best = interleaved_best(calls, repeats)
    us = {g: seconds * 1e6 / (n * depth) for g, seconds in best.items()}
    rows = []
    for forward, backprop in BACKPROP_PAIRS:
        noise_rows = noise_shape(kernels[forward], len(betas))[1]
        rows.append(
            {
                "model": model,
                "d": width,
                "forward": forward,
                "backprop": backprop,
                "samples": n,
                "block": f"{kernels[forward].block}/{kernels[backprop].block}",
                "us_forward": us[forward],
                "us_backprop": us[backprop],
                "total_over_forward": us[backprop] / us[forward],
                "backward_over_forward": (us[backprop] - us[forward]) / us[forward],
                "normals_ratio": (noise_rows + len(betas)) / noise_rows,
            }
        )
    return rows


def _shape_label(kernel: engine.Kernel) -> str:
    """``d=100``, ``m=2 d=100``, ``m=1 C=4 N=8 k=3``."""
    size = f"d={kernel.width}"
    if kernel.model == "conv":
        size = f"C={kernel.width} N={kernel.image_size} k={kernel.kernel_size}"
    return size if kernel.branch_depth is None else f"m={kernel.branch_depth} {size}"


def best_seconds(call, repeats: int) -> float:
    """The fastest of ``repeats`` timed calls (after one untimed call that compiles)."""
    jax.block_until_ready(call())
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        best = min(best, time.perf_counter() - start)
    return best


def matmul_rate(side: int, repeats: int) -> float:
    """GFLOP/s of a float32 (side x side) by (side x side) product (2 side^3 operations)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (side, side), jnp.float32)
    product = jax.jit(lambda a: a @ a)
    return 2 * side**3 / best_seconds(lambda: product(a), repeats) / 1e9


def layer_matmul_rate(runs: int, width: int, batch: int, depth: int, repeats: int) -> float:
    """GFLOP/s of training's layer product: ``depth`` chained (runs, d, d) by (runs, d, batch)
    float32 products (V relu(h) for every run, as rsim.core.training's forward pass)."""
    key_v, key_h = jax.random.split(jax.random.PRNGKey(1))
    layers = jax.random.normal(key_v, (runs, depth, width, width), jnp.float32) / width
    h = jax.random.normal(key_h, (runs, width, batch), jnp.float32)

    def chain(layers, h):
        def layer(k, h):
            v = jax.lax.dynamic_index_in_dim(layers, k, axis=1, keepdims=False)
            return h + 0.01 * v @ jnp.maximum(h, 0)

        return jax.lax.fori_loop(0, depth, layer, h)

    chain = jax.jit(chain)
    seconds = best_seconds(lambda: chain(layers, h), repeats)
    return 2 * runs * width**2 * batch * depth / seconds / 1e9


def measure_training(depth: int, epochs: int, repeats: int) -> dict:
    """Seconds per epoch of one Figure 9 job at depth ``depth`` (the experiment's own code:
    rsim.experiments.training.train_grid), its operations and their rate against the float32
    product rates measured in the same run."""
    from rsim import data as datasets
    from rsim.experiments.training import TrainSpec, train_grid

    spec = TrainSpec.from_config({**FIGURE9_JOB, "depth": depth, "epochs": epochs})
    digits = datasets.load(spec.dataset)
    marks = [(time.perf_counter(), os.times())]

    def mark(_runs: int) -> None:
        marks.append((time.perf_counter(), os.times()))

    start = time.perf_counter()
    frame = train_grid(spec, digits, progress=mark)
    total = time.perf_counter() - start
    runs, chunks = spec.n_runs(), math.ceil(spec.n_runs() / spec.block())
    per_epoch = {"wall": [], "cpu": []}  # one value per (call, epoch); marks come in order
    for (t0, c0), (t1, c1) in zip(marks[:-1], marks[1:]):
        per_epoch["wall"].append(t1 - t0)
        per_epoch["cpu"].append(c1.user - c0.user + c1.system - c0.system)
    # An epoch of the job = one epoch of each call; the first epoch of the first call compiles.
    wall = np.asarray(per_epoch["wall"]).reshape(chunks, epochs).sum(axis=0)
    cpu = np.asarray(per_epoch["cpu"]).reshape(chunks, epochs).sum(axis=0)
    steps = len(digits.x_train) // spec.batch_size
    per_layer = 2 * spec.width**2 * runs * depth  # one d x d by d x 1 product, every run
    flops = per_layer * (3 * steps * spec.batch_size + len(digits.x_test))
    epoch_seconds = float(np.median(wall[1:])) if epochs > 1 else float(wall[0])
    rates = {
        "matmul_gflops": matmul_rate(MATMUL_SIDE, repeats),
        "layer_matmul_gflops": layer_matmul_rate(
            spec.block(), spec.width, spec.batch_size, depth, repeats
        ),
    }
    achieved = flops / epoch_seconds / 1e9
    return {
        "depth": depth,
        "runs": runs,
        "runs_per_call": spec.block(),
        "epochs": epochs,
        "first_epoch_s": float(wall[0]),
        "epoch_s": epoch_seconds,
        "epoch_cpu_s": float(np.median(cpu[1:])) if epochs > 1 else float(cpu[0]),
        "job_s": total,
        "fixed_s": total - epochs * epoch_seconds,
        "epoch_gflop": flops / 1e9,
        "gflops": achieved,
        "gflops_per_cpu_s": flops / float(np.median(cpu[1:]) if epochs > 1 else cpu[0]) / 1e9,
        **rates,
        "of_matmul": achieved / rates["matmul_gflops"],
        "of_layer_matmul": achieved / rates["layer_matmul_gflops"],
        "test_accuracy_max": float(frame["test_accuracy"].max()),
    }


def markdown_table(table: pd.DataFrame) -> str:
    """A Markdown table with 3 significant digits (no tabulate dependency)."""

    def cell(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def bench_training(args) -> None:
    """The training section: one Figure 9 job; training.csv and training.md."""
    device = jax.devices()[0]
    header = (
        f"jax {jax.__version__}, {jax.device_count()} x {device.device_kind} "
        f"({device.platform}, {os.cpu_count()} CPU cores), training: one Figure 9 job (res1, "
        f"d=30, fbm, 50 runs, Adam, batch 128, digits), L={args.training_depth}, "
        f"{args.training_epochs} epochs, float32 products best of {args.repeats}, "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    )
    print(header, flush=True)
    row = measure_training(args.training_depth, args.training_epochs, args.repeats)
    print_row(row)
    write_table(pd.DataFrame([row]), header, args.output, "training")


def bench_backprop(args) -> None:
    """The backprop section: the projection's exact backprop against its forward pass, for
    each model at each of ``--backprop-widths``; backprop.csv and backprop.md."""
    device = jax.devices()[0]
    header = (
        f"jax {jax.__version__}, {jax.device_count()} x {device.device_kind} "
        f"({device.platform}, {os.cpu_count()} CPU cores), projection sampler, gaussian "
        f"weights, L={args.depth}, one beta, float32, best of {args.repeats}, "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    )
    print(header, flush=True)
    rows = []
    for model in [m for m in args.models if m in PROJECTION_MODELS]:
        for width in args.backprop_widths:
            new = measure_backprop(model, width, args.depth, args.repeats, args.numbers)
            rows += new
            for row in new:
                print_row(row)
    write_table(pd.DataFrame(rows), header, args.output, "backprop")


def print_row(row: dict) -> None:
    """One measured row as ``key=value`` pairs (floats to 3 significant digits)."""
    print(
        " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
        flush=True,
    )


def write_table(table: pd.DataFrame, header: str, output: Path, name: str) -> None:
    """``<output>/<name>.csv`` and ``<name>.md`` (the header, then the Markdown table)."""
    output.mkdir(parents=True, exist_ok=True)
    table.to_csv(output / f"{name}.csv", index=False)
    markdown = markdown_table(table)
    (output / f"{name}.md").write_text(f"{header}\n\n{markdown}\n")
    print(f"\n{markdown}\n\nwritten to {output / name}.csv and {name}.md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["res1", "res3"])
    parser.add_argument("--widths", type=int, nargs="+", default=[40, 100, 512])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gradients", default="jvp", choices=schema.GRADIENTS)
    parser.add_argument(
        "--numbers",
        type=float,
        default=NUMBERS_PER_CALL,
        help="random numbers per timed call (a smoke test uses a tiny value)",
    )
    parser.add_argument(
        "--reduced-numbers",
        type=float,
        default=REDUCED_NUMBERS_PER_CALL,
        help="the reduced sampler's random numbers per timed call",
    )
    parser.add_argument(
        "--explicit-max", type=float, default=1024, help="the widest d timed with explicit weights"
    )
    parser.add_argument(
        "--projection-max", type=float, default=1e4, help="the widest d timed by projection"
    )
    parser.add_argument("--output", type=Path, default=Path("results/bench"))
    parser.add_argument(
        "--block-factors",
        type=float,
        nargs="+",
        default=[1.0],
        help="time each sampler at its rule's block times these (e.g. 0.25 1 4)",
    )
    parser.add_argument(
        "--branch-depth", type=int, default=None, help="m for mlp and conv (their default)"
    )
    parser.add_argument("--image-size", type=int, default=None, help="conv: N (default 8)")
    parser.add_argument("--kernel-size", type=int, default=None, help="conv: k (default 3)")
    parser.add_argument(
        "--backprop-widths", type=int, nargs="+", default=[1024], help="backprop section: d"
    )
    parser.add_argument(
        "--sections", nargs="+", default=["samplers"], choices=SECTIONS, help="what to measure"
    )
    parser.add_argument(
        "--training-depth", type=int, default=1000, help="L of the Figure 9 job (1000)"
    )
    parser.add_argument(
        "--training-epochs", type=int, default=3, help="epochs timed (the first compiles)"
    )
    args = parser.parse_args()
    if "training" in args.sections:
        bench_training(args)
    if "backprop" in args.sections:
        bench_backprop(args)
    if "samplers" not in args.sections:
        return
    shape = dict(
        branch_depth=args.branch_depth, image_size=args.image_size, kernel_size=args.kernel_size
    )

    device = jax.devices()[0]
    header = (
        f"jax {jax.__version__}, {jax.device_count()} x {device.device_kind} "
        f"({device.platform}, {os.cpu_count()} CPU cores), gaussian weights, "
        f"L={args.depth}, one beta, float32, gradients={args.gradients}, "
        f"best of {args.repeats}, {datetime.datetime.now():%Y-%m-%d %H:%M}"
    )
    print(header, flush=True)
    rows = []
    for model in args.models:
        for width in args.widths:
            new = measure(
                model,
                width,
                args.depth,
                args.gradients,
                args.repeats,
                args.numbers,
                tuple(args.block_factors),
                {"explicit": args.explicit_max, "projection": args.projection_max},
                args.reduced_numbers,
                **shape,
            )
            rows += new
            for row in new:
                print_row(row)
    write_table(pd.DataFrame(rows), header, args.output, "bench")


if __name__ == "__main__":
    main()
