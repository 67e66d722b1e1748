"""I.i.d. weight laws with variance gain^2 / fan_in.

* gaussian   N(0, gain^2 / fan_in)
* uniform    U[-sqrt(3), sqrt(3)] * gain / sqrt(fan_in)   (the official code's default)
* rademacher +-1 * gain / sqrt(fan_in)

All three are symmetric with unit-variance, sub-Gaussian entries of sqrt(fan_in) W / gain (H1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

IID_LAWS = ("gaussian", "uniform", "rademacher")


def draw(law: str, key: jax.Array, shape: tuple[int, ...], fan_in: int, gain: float, dtype):
    """Draw an array of i.i.d. entries of ``law`` with variance ``gain**2 / fan_in``."""
    scale = gain / math.sqrt(fan_in)
    if law == "gaussian":
        unit = jax.random.normal(key, shape, dtype)
    elif law == "uniform":
        unit = jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))
    elif law == "rademacher":
        unit = jax.random.rademacher(key, shape, dtype)
    else:
        raise ValueError(f"unknown weight law {law!r}")
    return unit * jnp.asarray(scale, dtype)
