"""Throughput of both samplers against their own random-number floors, measured in one run.

For each model (res-1, res-3) and width d, with Gaussian weights, L = 1000, float32, one beta
and forward-mode gradients, times four jitted functions with the engine's block structure:

* explicit    the simulator drawing every weight entry (2 d^2 normals per res-3 layer);
* its floor   the same keys and scan drawing the same weights and nothing else;
* projection  the simulator sampling each matrix's action on the layer's vectors;
* its floor   the same keys and scan drawing the projection's noise (2 n_betas d normals
              per matrix and layer with a tangent) and nothing else.

Prints samples per second, microseconds per layer-sample, the ratio of each sampler to its
floor, and the projection's speed-up over explicit weights; writes the table to
``<output>/bench.csv`` and ``<output>/bench.md``. Timings are interleaved (one call of each
function per round) and the best of ``--repeats`` rounds is kept: on a shared machine only
ratios measured within one run are meaningful.

    python scripts/bench.py [--models res1 res3] [--widths 40 100 512] [--depth 1000]
                            [--repeats 3] [--numbers 2e8] [--output results/bench]
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import pandas as pd

from rsim import schema
from rsim.core import branches, engine
from rsim.experiments.cells import CellSpec

# Random numbers per timed call (about a second at the ~5-10 ns per normal measured here).
NUMBERS_PER_CALL = 2e8


def noise_shape(kernel: engine.Kernel, n_betas: int) -> tuple[int, ...]:
    """The normals one layer of one sample draws: the weights, or the projection's noise."""
    n_matrices = branches.n_matrices(kernel.model)
    d = kernel.width
    if kernel.sampler == "explicit":
        return (n_matrices, d, d)
    rows = n_betas * (2 if kernel.gradients in ("jvp", "both") else 1)
    return (n_matrices, rows, d)


def rng_floor(kernel: engine.Kernel, n_betas: int):
    """A jitted chunk function that only draws each layer's normals (same keys, same scan,
    same blocks as the engine) and sums them, so nothing is optimised away."""
    shape = noise_shape(kernel, n_betas)

    def sample(key):
        layer_key = jax.random.fold_in(key, 4)  # the engine's layer tag

        def step(acc, k):
            noise = jax.random.normal(jax.random.fold_in(layer_key, k), shape, jnp.float32)
            return acc + noise.sum(), None

        return jax.lax.scan(step, jnp.float32(0), jnp.arange(1, kernel.depth + 1))[0]

    def block(root, ids):
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(ids)
        return jax.vmap(sample)(keys)

    def chunk(root, ids):
        return jax.lax.map(lambda b: block(root, b), ids.reshape(-1, kernel.block))

    return jax.jit(chunk)


def kernel_for(model: str, width: int, depth: int, sampler: str, gradients: str):
    return CellSpec(
        model=model, init="gaussian", width=width, depth=depth, gradients=gradients, sampler=sampler
    ).kernel()


def samples_for(kernel: engine.Kernel, n_betas: int, numbers: float) -> int:
    """Whole blocks totalling about ``numbers`` random numbers."""
    per_sample = kernel.depth * math.prod(noise_shape(kernel, n_betas))
    return kernel.block * max(1, round(numbers / per_sample / kernel.block))


def measure(
    model: str,
    width: int,
    depth: int,
    gradients: str,
    repeats: int,
    numbers: float = NUMBERS_PER_CALL,
) -> list[dict]:
    """Best-of-``repeats`` times of both samplers and their floors, interleaved."""
    betas = jnp.asarray([0.5], jnp.float32)
    root = jax.random.fold_in(jax.random.PRNGKey(0), depth)
    cases = []
    with engine.numerics("float32"):
        for sampler in schema.SAMPLERS:
            kernel = kernel_for(model, width, depth, sampler, gradients)
            n = samples_for(kernel, len(betas), numbers)
            ids = jnp.arange(n, dtype=jnp.uint32)
            sim, floor = engine._compiled(kernel), rng_floor(kernel, len(betas))
            calls = {
                "sim": lambda sim=sim, ids=ids: sim(root, ids, betas, 0.0),
                "floor": lambda floor=floor, ids=ids: floor(root, ids),
            }
            for call in calls.values():
                jax.block_until_ready(call())  # compile
            cases.append((sampler, kernel, n, calls))
        best = {(sampler, name): math.inf for sampler, *_ in cases for name in ("sim", "floor")}
        for _ in range(repeats):
            for sampler, _, _, calls in cases:
                for name, call in calls.items():
                    start = time.perf_counter()
                    jax.block_until_ready(call())
                    best[sampler, name] = min(best[sampler, name], time.perf_counter() - start)
    rows = []
    for sampler, kernel, n, _ in cases:
        us = 1e6 / (n * depth)
        rows.append(
            {
                "model": model,
                "d": width,
                "sampler": sampler,
                "block": kernel.block,
                "samples": n,
                "samples_per_s": n / best[sampler, "sim"],
                "us_per_layer_sample": best[sampler, "sim"] * us,
                "floor_us": best[sampler, "floor"] * us,
                "ratio_to_floor": best[sampler, "sim"] / best[sampler, "floor"],
            }
        )
    explicit = rows[0]["us_per_layer_sample"]
    for row in rows:
        row["speedup_vs_explicit"] = explicit / row["us_per_layer_sample"]
    return rows


def markdown_table(table: pd.DataFrame) -> str:
    """A Markdown table with 3 significant digits (no tabulate dependency)."""

    def cell(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


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
    parser.add_argument("--output", type=Path, default=Path("results/bench"))
    args = parser.parse_args()

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
            rows += measure(model, width, args.depth, args.gradients, args.repeats, args.numbers)
            for row in rows[-2:]:
                print(
                    " ".join(
                        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                    ),
                    flush=True,
                )
    table = pd.DataFrame(rows)
    args.output.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.output / "bench.csv", index=False)
    markdown = markdown_table(table)
    (args.output / "bench.md").write_text(f"{header}\n\n{markdown}\n")
    print()
    print(markdown)
    print(f"\nwritten to {args.output / 'bench.csv'} and {args.output / 'bench.md'}")


if __name__ == "__main__":
    main()
