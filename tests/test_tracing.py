"""The test utility that counts traces (tests/tracing.py) sees traces and retraces, under the
names the engine and training give their jitted functions."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from conftest import make_kernel
from tracing import ENGINE_BLOCK, TRAINING_EPOCH, count_traces

from rsim.core import engine, training


def test_count_traces_sees_a_retrace_and_not_a_cached_call():
    def twice(x):
        return 2 * x

    jitted = jax.jit(twice)
    with count_traces() as traces:
        jitted(jnp.ones(2))
        jitted(jnp.zeros(2))  # same shape: cached
        jitted(jnp.ones(3))  # new shape: traced again
    assert traces["twice"] == 2
    with count_traces() as traces:
        jitted(jnp.ones(3))
    assert traces["twice"] == 0


def test_the_counted_names_are_the_engines_and_trainings_jitted_functions():
    """A kernel and an architecture no other test uses trace the names the tests count exactly
    once (a renamed function would otherwise make every "no retrace" check pass vacuously)."""
    kernel = dataclasses.replace(make_kernel(width=3, depth=2), block=3)
    with count_traces() as traces:
        engine.run(kernel, [0.5], samples=3, seed=0, progress=False)
    assert traces[ENGINE_BLOCK] == 1
    arch = training.Architecture("res1", "relu", 0.01, "gaussian", 1.0, None, 3, 2, 5, 2)
    x, y = np.ones((4, 5), np.float32), np.array([0, 1, 0, 1])
    ones = np.ones(1)
    with count_traces() as traces:
        training.train_runs(arch, "sgd", 3, 1, ones, ones, np.zeros(1, int), x, y, x, y, ones)
    assert traces[TRAINING_EPOCH] == 1
