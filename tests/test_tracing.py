"""The test utility that counts traces (tests/tracing.py) sees traces and retraces."""

import jax
import jax.numpy as jnp
from tracing import count_traces


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
