"""Gaussian projection: a Gaussian matrix's action on a few vectors, exact in law, in O(d).

Let M be d x d with i.i.d. N(0, s^2) entries (s^2 = gain^2 / d), independent of the vectors
x_1..x_m it is applied to. Write the rows of X = (x_j) as X = C E, with E's rows orthonormal
(or zero, for a dependent x_j) and C lower triangular (Gram-Schmidt). Then M e_i are i.i.d.
N(0, s^2 I) for the non-zero e_i (rotation invariance of the rows of M), hence

    (M x_1, .., M x_m) = C G   in law, jointly,   G: m x d i.i.d. N(0, s^2),

which costs m d random numbers instead of d^2 (rsim/THEORY.md section 4). Given what was
seen, M = sum_i (M e_i) e_i^T + M' (I - E^T E) with M' an independent copy, so for any p

    M^T p = sum_i e_i <M e_i, p> + (I - E^T E) M'^T p ,

and M'^T p_1..M'^T p_n are again a Gram-Schmidt product with fresh noise: exact backprop in
law with O(d) random numbers per matrix and vector.

Vectors are rows of ``(m, d)`` arrays (one row per beta and per hidden/tangent vector), m is
static and small: the loops below are unrolled at trace time and use only elementwise
products and sums, which XLA fuses (tiny batched dots are slow on CPU).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# In units of the dtype's epsilon: rounding leaves an exactly dependent row a residual of a
# few eps (measured: below 2 eps at d <= 4096); genuine residuals above 64 eps are
# orthogonalised to working precision by the second pass.
DEPENDENCE_TOLERANCE = 64


def _dots(a: jax.Array, b: jax.Array) -> jax.Array:
    """(n, d), (m, d) -> (n, m) of inner products <a_i, b_j>, one reduction per pair.

    Not one (n, m, d) reduction: XLA:CPU (jaxlib 0.10.2) fused that with the broadcast of its
    result into its consumer and recomputed it for every output entry, O(d^2) per matrix
    (half of a backprop run's time at d = 1024 in the profile).
    """
    return jnp.stack([jnp.stack([(x * y).sum() for y in b]) for x in a])


def _combine(c: jax.Array, rows: jax.Array, lower: bool = False) -> jax.Array:
    """(n, m), (m, d) -> (n, d): sum_j c_ij rows_j, as a sum of scaled rows (``lower``: c is
    lower triangular, and the terms j > i are skipped).

    Not a reduction over j: in :func:`transpose_action` XLA:CPU fused the three
    combinations written that way into one kernel 50x slower than these sums, and in
    :func:`action` the reduction cost 12-17% more per layer-sample at d = 40 (res-1, res-3;
    it was 6% faster at d = 512-1024 for res-3, slower for res-1). Profiles in the README.
    """
    return jnp.stack(
        [
            sum(c[i, j] * rows[j] for j in range(i + 1 if lower else len(rows)))
            for i in range(len(c))
        ]
    )


def orthonormal_factor(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Gram-Schmidt: rows ``x = c @ e`` with ``e``'s rows orthonormal or zero, ``c`` lower
    triangular, ``c[j, j] = ||x_j - proj x_j||``.

    Classical Gram-Schmidt applied twice per row ("twice is enough"): orthogonal to working
    precision for rows whose residual is well above rounding. A residual below
    ``DEPENDENCE_TOLERANCE * eps * ||x_j||`` is rounding noise (all betas start from the same
    h_0 and z, so the rows of the first layers are exactly dependent) and normalising it
    would give a direction that is not orthogonal to the others (measured under jit: cosines
    of 0.7), so the row is declared dependent: ``e_j = 0``, ``c[j, j] = 0``. It then
    contributes nothing to later projections, the non-zero rows stay orthonormal, and
    ``x = c @ e`` holds to that tolerance.

    Args:
        x: ``(m, d)`` rows (m small and static: the loops unroll at trace time).

    Returns:
        ``(e, c)``: ``(m, d)`` orthonormal or zero rows and the ``(m, m)`` lower triangular
        coefficients.

    >>> import numpy as np
    >>> e, c = orthonormal_factor(jnp.array([[3.0, 4.0], [6.0, 8.0]]))  # the second dependent
    >>> np.asarray(e, float).round(3).tolist(), np.asarray(c, float).round(3).tolist()
    ([[0.6, 0.8], [0.0, 0.0]], [[5.0, 0.0], [10.0, 0.0]])
    """
    m = x.shape[0]
    zero = jnp.zeros((), x.dtype)
    tolerance = DEPENDENCE_TOLERANCE * jnp.finfo(x.dtype).eps
    basis, rows = [], []
    for j in range(m):
        v, coeffs = x[j], [zero] * j
        for _ in range(2 if j else 0):
            # One scalar per previous row, not a stacked (j, d) product: XLA fuses these
            # (3-7x faster here than stacking the basis and scattering into c).
            projections = [(e * v).sum() for e in basis]
            for p, e in zip(projections, basis):
                v = v - p * e
            coeffs = [c + p for c, p in zip(coeffs, projections)]
        square = (v * v).sum()
        independent = square > tolerance**2 * (x[j] * x[j]).sum()
        safe = jnp.where(independent, square, 1)
        basis.append(jnp.where(independent, v * jax.lax.rsqrt(safe), 0))
        diagonal = jnp.where(independent, jnp.sqrt(safe), 0)
        rows.append(jnp.stack(coeffs + [diagonal] + [zero] * (m - j - 1)))
    return jnp.stack(basis), jnp.stack(rows)


def action(noise: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The rows M x_j of a Gaussian matrix's action, jointly exact in law.

    Args:
        noise: ``(m, d)``, the products M e_i with the basis of ``x``: i.i.d. N(0, s^2).
        x: ``(m, d)`` rows the matrix acts on.

    Returns:
        ``(y, basis)``: ``y = c @ noise`` (``(m, d)``, the rows M x_j) and the basis e that
        the matrix saw (:func:`orthonormal_factor`).

    >>> y, _ = action(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> y.tolist()  # M (2 e_1) = 2 noise_1, M e_2 = noise_2
    [[2.0, 4.0], [3.0, 4.0]]
    """
    basis, coeffs = orthonormal_factor(x)
    return _combine(coeffs, noise, lower=True), basis


def transpose_action(
    basis: jax.Array, noise: jax.Array, p: jax.Array, fresh: jax.Array
) -> jax.Array:
    """Rows M^T p_b drawn from their law given M e_i = noise_i (the forward pass's view):

        M^T p = sum_i e_i <noise_i, p> + (I - E^T E) M'^T p,

    with ``fresh`` giving M'^T p_b jointly over b by :func:`action`.

    Args:
        basis: ``(m, d)`` the orthonormal (or zero) rows e_i the forward pass saw.
        noise: ``(m, d)`` the forward pass's M e_i.
        p: ``(n, d)`` rows to apply M^T to.
        fresh: ``(n, d)`` i.i.d. N(0, s^2), independent of everything.

    Returns:
        ``(n, d)``: the rows M^T p_b.
    """
    seen = _combine(_dots(p, noise), basis)
    unseen, _ = action(fresh, p)
    unseen = unseen - _combine(_dots(unseen, basis), basis)
    return seen + unseen
