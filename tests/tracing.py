"""Counting traces of jitted functions from tests, with no counter in production code.

JAX reports every top-level trace of a jitted function as a ``jax.monitoring`` event
(``/jax/core/compile/jaxpr_trace_duration``) tagged with the function's name; the counter
listens to those events while the ``with`` block runs (in the spirit of equinox's
``assert_max_traces``, without decorating the function). tests/test_tracing.py checks that
it sees a retrace, so a JAX that renamed the event would fail there, not pass silently.

    with count_traces() as traces:
        engine.run(kernel, ...)
    assert traces["block"] <= 1   # the engine's jitted function is named ``block``
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator

import jax

TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
# The names of the jitted functions whose traces the tests count.
ENGINE_BLOCK = "block"  # rsim.core.engine.compiled: one block of samples
TRAINING_EPOCH = "epoch"  # rsim.core.training: one epoch of runs side by side


@contextlib.contextmanager
def count_traces() -> Iterator[collections.Counter]:
    """Function name -> number of times a jitted function of that name was traced (at top
    level) inside the ``with`` block."""
    traces: collections.Counter = collections.Counter()

    def listener(event: str, duration: float, **kwargs: str | int) -> None:
        if event == TRACE_EVENT:
            traces[kwargs.get("fun_name")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield traces
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
