"""Throughput of the Monte Carlo kernel against its random-number floor, measured in one run.

For res-3, uniform weights, L = 1000, float32, one beta and forward-mode gradients, prints
samples per second, microseconds per layer-sample, and the ratio of the simulation's time to
the time of drawing the same random numbers alone (same keys, same scan, nothing else).
Timings are interleaved and the best of ``--repeats`` is kept: only ratios from one run are
comparable on a noisy machine.

    python scripts/bench.py [--widths 40 100] [--depth 1000] [--samples 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from rsim import engine, weights


def rng_floor(kernel: engine.Kernel):
    """A jitted chunk function that only draws each layer's weights and sums them."""
    n_matrices = 2 if kernel.model in ("res2", "res3") else 1
    d = kernel.width

    def sample(key):
        layer_key = jax.random.fold_in(key, 4)

        def step(acc, k):
            w = weights.draw(kernel.init, jax.random.fold_in(layer_key, k),
                             (n_matrices, d, d), d, kernel.gain, jnp.float32)
            return acc + w.sum(), None

        return jax.lax.scan(step, jnp.float32(0), jnp.arange(1, kernel.depth + 1))[0]

    def block(root, ids):
        keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(ids)
        return jax.vmap(sample)(keys)

    def chunk(root, ids):  # the same block structure as the engine
        return jax.lax.map(lambda b: block(root, b), ids.reshape(-1, kernel.block))

    return jax.jit(chunk)


def best_time(repeats: int, fn, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[40, 100])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gradients", default="jvp", choices=engine.GRADIENTS)
    args = parser.parse_args()

    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; res3, uniform, "
          f"L={args.depth}, {args.samples} samples, float32, gradients={args.gradients}")
    print(f"{'d':>5} {'block':>6} {'samples/s':>10} {'us/layer-sample':>16} {'floor us':>9} "
          f"{'ratio':>6}")
    for width in args.widths:
        block = engine.default_block(width, 2, args.depth, args.gradients, "float32")
        kernel = engine.Kernel(model="res3", init="uniform", width=width, depth=args.depth,
                               gradients=args.gradients, block=min(block, args.samples))
        betas = jnp.asarray([0.5], jnp.float32)
        ids = jnp.arange(args.samples, dtype=jnp.uint32)
        with engine.numerics(kernel.precision):
            root = jax.random.fold_in(jax.random.PRNGKey(0), kernel.depth)
            sim, floor = engine._compiled(kernel), rng_floor(kernel)
            jax.block_until_ready(sim(root, ids, betas, 0.0))  # compile
            jax.block_until_ready(floor(root, ids))
            t_sim = best_time(args.repeats, sim, root, ids, betas, 0.0)
            t_floor = best_time(args.repeats, floor, root, ids)
        per_layer_sample = 1e6 / (args.samples * args.depth)
        print(f"{width:>5} {kernel.block:>6} {args.samples / t_sim:>10.1f} "
              f"{t_sim * per_layer_sample:>16.2f} {t_floor * per_layer_sample:>9.2f} "
              f"{t_sim / t_floor:>6.2f}")


if __name__ == "__main__":
    main()
