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
numbers). With ``gradients=jvp`` the chain carries the frame of (h_0, z, h_k, q_k) instead
(about 15 numbers per res-3 layer); backprop is refused.
"""

from __future__ import annotations

from collections.abc import Callable
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
        if kernel.gradients not in ("none", "jvp"):
            return (
                f"the reduced sampler computes gradients=none or jvp, not "
                f"gradients={kernel.gradients!r}: backprop has no known reduction (use "
                "sampler=projection)"
            )
        if kernel.gradients == "jvp" and kernel.width < TANGENT_FRAME + 1:
            return (
                f"the reduced sampler's jvp needs width >= {TANGENT_FRAME + 1} (its frame of "
                f"h_0, z, h_k, q_k has {TANGENT_FRAME} dimensions), not width={kernel.width}"
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
        """The forward metrics of one sample, each beta on its own chain (with the tangent:
        the 4-frame chain, the tangent's start z shared by the betas as in the other samplers).

        Args:
            kernel: the simulation (validated by :meth:`refusal`).
            key: the sample's key.
            betas: ``(n_betas,)`` depth exponents.
            law_state: unused (i.i.d. law).

        Returns:
            ``log_hidden_ratio``, ``log_hidden_diff``, ``log_hidden_maxdiff`` (and with jvp
            ``log_jvp_ratio``, ``log_jvp_diff``): ``(n_betas,)`` each.
        """
        layers_key = keys.tagged(key, keys.LAYERS)
        bits = jax.lax.bitcast_convert_type(betas.astype(jnp.float32), jnp.uint32)
        beta_keys = jax.vmap(lambda b: jax.random.fold_in(layers_key, b))(bits)
        alpha = jnp.asarray(kernel.depth, kernel.dtype) ** -betas.astype(kernel.dtype)
        if kernel.tangent:
            z_cosine = _sphere_cosine(
                keys.tagged(key, keys.TANGENT), kernel.shape.dim, kernel.dtype
            )
            return jax.vmap(lambda k, a: _tangent_chain(kernel, k, a, z_cosine))(beta_keys, alpha)
        return jax.vmap(lambda k, a: _chain(kernel, k, a))(beta_keys, alpha)


def _chi2(key: jax.Array, dof: jax.Array | float, dtype: type) -> jax.Array:
    """A chi^2 variate of ``dof`` (>= 0; 0 gives 0) degrees of freedom: 2 Gamma(dof/2)."""
    return 2 * jax.random.gamma(key, jnp.asarray(dof, dtype) / 2, dtype=dtype)


# The tangent's frame: h_0, z, h_k and q_k (rsim/THEORY.md section 13).
TANGENT_FRAME = 4

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


def _over_units(
    kernel: Kernel, key: jax.Array, draw: Callable[[jax.Array, jax.Array | int], jax.Array]
) -> jax.Array:
    """``draw(key, n)`` summed over one hidden layer's units by the sign of their
    pre-activation: the identity keeps all d; ReLU the N ~ Bin(d, 1/2) positive ones; leaky
    ReLU adds slope^2 times the same over the d - N negative ones (THEORY 13)."""
    count_key, up_key, down_key = jax.random.split(key, 3)
    d = kernel.shape.dim
    sigma = branches.branch_record(kernel.model).activation_of(kernel.activation)
    if sigma == "identity":
        return draw(up_key, d)
    n = _half_binomial(count_key, d, kernel.dtype)
    total = draw(up_key, n)
    if sigma == "leaky_relu":
        total = total + kernel.negative_slope**2 * draw(down_key, d - n)
    return total


def _branch_factor(kernel: Kernel, key: jax.Array) -> jax.Array:
    """||u||/||h_k|| / sqrt(v) for the branch's u = g(h_k, W) (THEORY 13): prod_i sqrt(v S_i)
    over the m hidden layers (res-1 with the identity: 1)."""
    shape, dtype = kernel.shape, kernel.dtype
    v = kernel.gain**2 / shape.fan_in
    factor = jnp.ones((), dtype)
    for i in range(shape.hidden_layers):
        s = _over_units(kernel, jax.random.fold_in(key, i), lambda k, n: _chi2(k, n, dtype))
        factor = factor * jnp.sqrt(v * s)
    return factor


def _chain(kernel: Kernel, key: jax.Array, alpha: jax.Array) -> dict[str, jax.Array]:
    """One beta's (l, x, y) chain over layers 1..L; layer k draws from ``keys.layer(key, k)``."""
    dtype, d = kernel.dtype, kernel.shape.dim
    root_v = jnp.asarray((kernel.gain**2 / kernel.shape.fan_in) ** 0.5, dtype)
    origin = jnp.asarray([1, 0], dtype)  # h_0 / ||h_0|| in the (e_0, e_1) plane

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
        log_max = jnp.maximum(log_max, _log_gap(log_norm, jnp.stack([x, y]), origin))
        return (log_norm, x, y, log_max), None

    zero, one = jnp.zeros((), dtype), jnp.ones((), dtype)
    start = (zero, one, zero, jnp.full((), -jnp.inf, dtype))
    (log_norm, x, y, log_max), _ = jax.lax.scan(step, start, jnp.arange(1, kernel.depth + 1))
    return {
        "log_hidden_ratio": log_norm,
        "log_hidden_diff": _log_gap(log_norm, jnp.stack([x, y]), origin),
        "log_hidden_maxdiff": log_max,
    }


def _sphere_cosine(key: jax.Array, d: int, dtype: type) -> jax.Array:
    """<z, e_0> for z uniform on the unit sphere of R^d: g / sqrt(g^2 + chi^2_{d-1})."""
    normal_key, chi_key = jax.random.split(key)
    g = jax.random.normal(normal_key, (), dtype)
    return g / jnp.sqrt(g**2 + _chi2(chi_key, d - 1, dtype))


def _active_sums(key: jax.Array, n: jax.Array | int, dtype: type) -> jax.Array:
    """(S, T, R) = (sum xi_i^2, sum xi_i eta_i, sum eta_i^2) over n units, xi and eta i.i.d.
    N(0, 1): S ~ chi^2_n, T = sqrt(S) zeta, R = zeta^2 + chi^2_{n-1} (all 0 for n = 0)."""
    s_key, zeta_key, r_key = jax.random.split(key, 3)
    s = _chi2(s_key, n, dtype)
    zeta = jax.random.normal(zeta_key, (), dtype)
    r = jnp.where(n > 0, zeta**2 + _chi2(r_key, jnp.maximum(n - 1, 0), dtype), 0)
    return jnp.stack([s, jnp.sqrt(s) * zeta, r])


def _cholesky2(gram: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(l11, l21, l22) of a 2 x 2 Gram matrix (g11, g12, g22), 0 where g11 = 0."""
    l11 = jnp.sqrt(gram[0])
    l21 = jnp.where(gram[0] > 0, gram[1] / jnp.where(gram[0] > 0, l11, 1), 0)
    return l11, l21, jnp.sqrt(jnp.maximum(gram[2] - l21**2, 0))


def _branch_gram(kernel: Kernel, key: jax.Array, rho: jax.Array) -> jax.Array:
    """The Gram matrix (g11, g12, g22) of (u, u') = (g(h), Dg(h) q) over v, for unit h and q
    with <h, q> = rho: each hidden layer maps its input's Gram matrix to its output's."""
    shape, dtype = kernel.shape, kernel.dtype
    v = kernel.gain**2 / shape.fan_in
    gram = jnp.stack([jnp.ones((), dtype), rho, jnp.ones((), dtype)])
    for i in range(shape.hidden_layers):
        layer_key = jax.random.fold_in(key, i)
        s, t, r = _over_units(kernel, layer_key, lambda k, n: _active_sums(k, n, dtype))
        x1, a, b = _cholesky2(gram)  # X = sqrt(v) x1 xi, Y = sqrt(v) (a xi + b eta)
        gram = v * jnp.stack([x1**2 * s, x1 * (a * s + b * t), a**2 * s + 2 * a * b * t + b**2 * r])
    return gram


def _log_gap(log_norm: jax.Array, x: jax.Array, origin: jax.Array) -> jax.Array:
    """log ||e^l x - origin|| for coordinate vectors, without overflow for any l."""
    top = jnp.maximum(log_norm, 0)
    return top + jnp.log(jnp.linalg.norm(jnp.exp(log_norm - top) * x - jnp.exp(-top) * origin))


def _tangent_chain(
    kernel: Kernel, key: jax.Array, alpha: jax.Array, z_cosine: jax.Array
) -> dict[str, jax.Array]:
    """One beta's chain with the tangent: the coordinates of (e_0, z, h_k/||h_k||,
    q_k/||q_k||) in an orthonormal 4-frame (rows of a 4 x 4 matrix), their log norms and
    the running max of the hidden distance; layer k draws from ``keys.layer(key, k)``."""
    dtype, d = kernel.dtype, kernel.shape.dim
    root_v = jnp.asarray((kernel.gain**2 / kernel.shape.fan_in) ** 0.5, dtype)
    pad = jnp.zeros((2,), dtype)

    def step(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
        frame, log_h, log_q, log_max = carry
        branch_key, normal_key, chi_key, last_key = jax.random.split(keys.layer(key, k), 4)
        if kernel.shape.hidden_layers:
            gram = _branch_gram(kernel, branch_key, frame[2] @ frame[3])
        else:  # res-1 with the identity: (u, u') = (h, q)
            gram = jnp.stack([jnp.ones((), dtype), frame[2] @ frame[3], jnp.ones((), dtype)])
        l11, l21, l22 = _cholesky2(gram)
        # g1, g2 in the frame (4 + 4 normals) and outside it (Bartlett: chi^2_{d-4}, a
        # normal, chi^2_{d-5}), as coordinates over the frame and two new directions.
        g = jax.random.normal(normal_key, (2, TANGENT_FRAME + 1), dtype)
        out = jnp.sqrt(_chi2(chi_key, d - 4, dtype)), jnp.sqrt(_chi2(last_key, d - 5, dtype))
        g1 = jnp.concatenate([g[0, :4], jnp.stack([out[0], jnp.zeros((), dtype)])])
        g2 = jnp.concatenate([g[1, :4], jnp.stack([g[1, 4], out[1]])])
        scale = alpha * root_v
        h = jnp.concatenate([frame[2], pad]) + scale * l11 * g1
        q = jnp.concatenate([frame[3], pad]) + scale * (l21 * g1 + l22 * g2)
        norm_h, norm_q = jnp.linalg.norm(h), jnp.linalg.norm(q)
        rows = jnp.stack(
            [
                jnp.concatenate([frame[0], pad]),
                jnp.concatenate([frame[1], pad]),
                h / norm_h,
                q / norm_q,
            ]
        )
        frame = jnp.linalg.qr(rows.T)[1].T  # the same 4 vectors in a new orthonormal 4-frame
        log_h, log_q = log_h + jnp.log(norm_h), log_q + jnp.log(norm_q)
        log_max = jnp.maximum(log_max, _log_gap(log_h, frame[2], frame[0]))
        return (frame, log_h, log_q, log_max), None

    sine = jnp.sqrt(jnp.maximum(1 - z_cosine**2, 0))
    e0 = jnp.zeros((TANGENT_FRAME,), dtype).at[0].set(1)
    z = jnp.zeros((TANGENT_FRAME,), dtype).at[0].set(z_cosine).at[1].set(sine)
    zero = jnp.zeros((), dtype)
    start = (jnp.stack([e0, z, e0, z]), zero, zero, jnp.full((), -jnp.inf, dtype))
    (frame, log_h, log_q, log_max), _ = jax.lax.scan(step, start, jnp.arange(1, kernel.depth + 1))
    return {
        "log_hidden_ratio": log_h,
        "log_hidden_diff": _log_gap(log_h, frame[2], frame[0]),
        "log_hidden_maxdiff": log_max,
        "log_jvp_ratio": log_q,
        "log_jvp_diff": _log_gap(log_q, frame[3], frame[1]),
    }


REDUCED = Reduced()
