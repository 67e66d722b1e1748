"""Residual branches ``V g(h, theta)`` of res-1, res-2 and res-3 as pure functions.

A layer of the ResNet is ``h_{k+1} = h_k + alpha V_{k+1} g(h_k, theta_{k+1})``. Hidden states
are row vectors stacked along a leading axis (one row per beta), so ``W h`` is ``h @ W.T``.
The weights of one layer arrive as one array ``(n_matrices, d, d)``: ``V`` first, then ``W``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax.numpy as jnp

from rsim.schema import POSITIVELY_HOMOGENEOUS, branch_activation

# Weight matrices of one layer: V, then W for branches that have one.
N_MATRICES = {"res1": 1, "res2": 2, "res3": 2}


def activation(name: str, negative_slope: float) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """The pointwise nonlinearity sigma by name (see :func:`rsim.schema.branch_activation`)."""
    if name == "relu":
        return lambda x: jnp.maximum(x, 0)
    if name == "identity":
        return lambda x: x
    if name == "tanh":
        return jnp.tanh
    if name == "leaky_relu":
        return lambda x: jnp.where(x >= 0, x, negative_slope * x)
    raise ValueError(f"unknown activation {name!r}")


@dataclass(frozen=True)
class Branch:
    """A residual branch: ``residual(weights, h) = V g(h, W)`` for rows of ``h``."""

    name: str
    n_matrices: int
    residual: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]
    positively_homogeneous: bool


def branch(model: str, activation_name: str = "relu", negative_slope: float = 0.01) -> Branch:
    """The branch of ``model`` (res1: V sigma(h); res2: V sigma(W h); res3: V ReLU(W h))."""
    activation_name = branch_activation(model, activation_name)
    sigma = activation(activation_name, negative_slope)
    homogeneous = activation_name in POSITIVELY_HOMOGENEOUS
    if model == "res1":
        return Branch(model, 1, lambda w, h: sigma(h) @ w[0].T, homogeneous)
    if model in ("res2", "res3"):
        return Branch(model, 2, lambda w, h: sigma(h @ w[1].T) @ w[0].T, homogeneous)
    raise ValueError(f"unknown model {model!r}")


def n_matrices(model: str) -> int:
    """d x d weight matrices per layer (V first, then W)."""
    return N_MATRICES[model]
