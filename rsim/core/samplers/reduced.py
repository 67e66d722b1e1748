"""The reduced sampler: O(1) random numbers per layer whatever d (rsim/THEORY.md section 13).

With i.i.d. Gaussian weights the hidden state's metrics depend on the weights only through a
Markov chain of two coordinates: a = <h_k, e_0> and b = the norm of h_k's part orthogonal to
e_0 = h_0/||h_0||. A layer draws the branch's squared-norm factors (a binomial and chi^2
variates per hidden layer; N ~ Bin(d, 1/2) as the popcount of d random bits up to
d = 1024), two normals and one chi^2_{d-2}. The chain is carried in the log
domain: l = log ||h_k||/||h_0|| and the unit pair (x, y) = (a, b)/||h_k||.

Each beta runs its own chain (the betas' states do not share one 2-d frame), from
``fold_in(layer key, bits of float32(beta))``: a row (sample, beta) does not depend on the
other betas of the run, and rows of different betas are independent (no common random
numbers). Hidden-state metrics only (``gradients=none``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rsim.core import branches, keys, laws
from rsim.core.kernel import Kernel
from rsim.core.samplers.base import BlockRule, Sampler

# The activations whose branch norm reduces to chi^2 variates (sigma(c x) = c sigma(x)).
REDUCIBLE_ACTIVATIONS = ("relu", "leaky_relu", "identity")


class Reduced(Sampler):
    """The (a, b) chain of each beta: exact in law for i.i.d. Gaussian weights, dense branches
    with ReLU, leaky ReLU or the identity (res-1: the identity only), hidden state only."""

    name = "reduced"

    def exact_for(self, init: str, model: str) -> bool:
        """i.i.d. Gaussian weights (the law's ``projection_exact``) on a dense branch; the
        activation and the gradients are checked by :meth:`refusal`.

        >>> REDUCED.exact_for("gaussian", "res3"), REDUCED.exact_for("uniform", "res3")
        (True, False)
        """
        law, branch = laws.LAWS.get(init), branches.BRANCHES.get(model)
        return bool(law and law.projection_exact and branch and branch.dense)

    def refusal(self, kernel: Any) -> str | None:
        """Why this sampler cannot simulate ``kernel`` exactly (one line), or None.

        Args:
            kernel: a :class:`~rsim.core.kernel.Kernel` or anything with its fields
                ``init``, ``model``, ``activation`` and ``gradients`` (a cell's spec).

        Returns:
            The reason, or None where the sampler may be used.

        >>> from rsim.experiments.cells import CellSpec
        >>> REDUCED.refusal(CellSpec(model="res1", init="gaussian", gradients="none"))[:51]
        'the reduced sampler is not exact for res1 with relu'
        """
        exact = ", ".join(n for n, r in laws.LAWS.items() if r.projection_exact)
        if not self.exact_for(kernel.init, kernel.model):
            return (
                f"the reduced sampler is not exact in law for init={kernel.init!r}, "
                f"model={kernel.model!r}: it needs i.i.d. init={exact} weights and a dense "
                "branch (use sampler=explicit)"
            )
        record = branches.branch_record(kernel.model)
        sigma = record.activation_of(kernel.activation)
        if record.sigma_on_h and sigma != "identity":
            return (
                f"the reduced sampler is not exact for {kernel.model} with {sigma}: sigma acts "
                "on h's own coordinates, whose law is not rotation invariant (use "
                "sampler=projection)"
            )
        if sigma not in REDUCIBLE_ACTIVATIONS:
            return (
                f"the reduced sampler is not exact with activation={sigma!r}: the branch's "
                f"norm reduces to chi^2 variates for {', '.join(REDUCIBLE_ACTIVATIONS)} only "
                "(use sampler=projection)"
            )
        if kernel.gradients != "none":
            return (
                f"the reduced sampler computes the hidden state only (gradients=none), not "
                f"gradients={kernel.gradients!r}: its jvp frame is not built yet and backprop "
                "has no known reduction (use sampler=projection)"
            )
        return None

    def block_rule(self, shape: branches.Shape, gradients: str, platform: str) -> BlockRule:
        """A state of a few numbers per beta: 1024 samples per block on CPU, 2^16 on
        accelerators, whatever d; nothing is stored."""
        most = 1024 if platform == "cpu" else 2**16
        return BlockRule(most, most, 0)

    def sample(
        self, kernel: Kernel, key: jax.Array, betas: jax.Array, law_state: jax.Array
    ) -> dict[str, jax.Array]:
        """The hidden-state metrics of one sample, each beta on its own chain.

        Args:
            kernel: the simulation (validated by :meth:`refusal`).
            key: the sample's key.
            betas: ``(n_betas,)`` depth exponents.
            law_state: unused (i.i.d. law).

        Returns:
            ``log_hidden_ratio``, ``log_hidden_diff``, ``log_hidden_maxdiff``: ``(n_betas,)``.
        """
        layers_key = keys.tagged(key, keys.LAYERS)
        bits = jax.lax.bitcast_convert_type(betas.astype(jnp.float32), jnp.uint32)
        beta_keys = jax.vmap(lambda b: jax.random.fold_in(layers_key, b))(bits)
        alpha = jnp.asarray(kernel.depth, kernel.dtype) ** -betas.astype(kernel.dtype)
        return jax.vmap(lambda k, a: _chain(kernel, k, a))(beta_keys, alpha)


def _chi2(key: jax.Array, dof: jax.Array | float, dtype: type) -> jax.Array:
    """A chi^2 variate of ``dof`` (>= 0; 0 gives 0) degrees of freedom: 2 Gamma(dof/2)."""
    return 2 * jax.random.gamma(key, jnp.asarray(dof, dtype) / 2, dtype=dtype)


# Up to this d, N ~ Bin(d, 1/2) is the popcount of d random bits (exact, a few words);
# above it, jax's binomial (BTRS rejection; O(1) numbers whatever d).
POPCOUNT_WIDTH = 1024


def _half_binomial(key: jax.Array, d: int, dtype: type) -> jax.Array:
    """N ~ Bin(d, 1/2): the number of positive coordinates of a Gaussian d-vector."""
    if d > POPCOUNT_WIDTH:
        return jax.random.binomial(key, d, 0.5, dtype=dtype)
    words = -(-d // 32)
    bits = jax.random.bits(key, (words,), jnp.uint32)
    last = jnp.uint32(0xFFFFFFFF >> (32 * words - d))  # the last word's d - 32 (words - 1) bits
    bits = bits.at[-1].set(bits[-1] & last)
    return jax.lax.population_count(bits).sum().astype(dtype)


def _branch_factor(kernel: Kernel, key: jax.Array) -> jax.Array:
    """||u||/||h_k|| / sqrt(v) for the branch's u = g(h_k, W) (THEORY 13): prod_i sqrt(v S_i)
    over the m hidden layers (res-1 with the identity: 1)."""
    shape, dtype = kernel.shape, kernel.dtype
    d, v = shape.dim, kernel.gain**2 / shape.fan_in
    sigma = branches.branch_record(kernel.model).activation_of(kernel.activation)
    factor = jnp.ones((), dtype)
    for i in range(shape.hidden_layers):
        count_key, up_key, down_key = jax.random.split(jax.random.fold_in(key, i), 3)
        if sigma == "identity":
            s = _chi2(up_key, d, dtype)
        else:
            n = _half_binomial(count_key, d, dtype)
            s = _chi2(up_key, n, dtype)
            if sigma == "leaky_relu":
                s = s + kernel.negative_slope**2 * _chi2(down_key, d - n, dtype)
        factor = factor * jnp.sqrt(v * s)
    return factor


def _log_distance(log_norm: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """log ||e^l (x, y) - (1, 0)|| without overflow for any l (as the layer scan's)."""
    top = jnp.maximum(log_norm, 0)
    scale = jnp.exp(log_norm - top)
    return top + jnp.log(jnp.hypot(scale * x - jnp.exp(-top), scale * y))


def _chain(kernel: Kernel, key: jax.Array, alpha: jax.Array) -> dict[str, jax.Array]:
    """One beta's (l, x, y) chain over layers 1..L; layer k draws from ``keys.layer(key, k)``."""
    dtype, d = kernel.dtype, kernel.shape.dim
    root_v = jnp.asarray((kernel.gain**2 / kernel.shape.fan_in) ** 0.5, dtype)

    def step(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
        log_norm, x, y, log_max = carry
        branch_key, normal_key, rest_key = jax.random.split(keys.layer(key, k), 3)
        kappa = alpha * root_v * _branch_factor(kernel, branch_key)
        g = jax.random.normal(normal_key, (2,), dtype)
        big = x + kappa * g[0]
        if d >= 2:
            rest = _chi2(rest_key, d - 2, dtype) if d >= 3 else jnp.zeros((), dtype)
            small = jnp.sqrt((y + kappa * g[1]) ** 2 + kappa**2 * rest)
        else:
            small = y
        n = jnp.hypot(big, small)
        log_norm, x, y = log_norm + jnp.log(n), big / n, small / n
        log_max = jnp.maximum(log_max, _log_distance(log_norm, x, y))
        return (log_norm, x, y, log_max), None

    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    start = (zero, one, zero, jnp.full((), -jnp.inf, dtype))
    (log_norm, x, y, log_max), _ = jax.lax.scan(step, start, jnp.arange(1, kernel.depth + 1))
    return {
        "log_hidden_ratio": log_norm,
        "log_hidden_diff": _log_distance(log_norm, x, y),
        "log_hidden_maxdiff": log_max,
    }


REDUCED = Reduced()
