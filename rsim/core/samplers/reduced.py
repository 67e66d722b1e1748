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
    x64 = True  # a few numbers per sample: the chain runs in float64 (CHAIN_DTYPE)
    betas_share_weights = False  # each beta its own chain (one 2-d frame cannot hold them all)

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
        if kernel.gradients == "jvp" and kernel.width < TANGENT_FRAME:
            return (
                f"the reduced sampler's jvp needs width >= {TANGENT_FRAME} (its frame of "
                f"h_0, z, h_k, q_k has {TANGENT_FRAME} dimensions), not width={kernel.width}"
            )
        return None

    def variates_per_layer(self, kernel: Kernel) -> int:
        """The variates one beta's layer draws: a binomial per hidden layer (ReLU, leaky ReLU),
        per unit group chi^2_n (with the tangent also chi^2_{n-1} and a normal), then the
        frame's chi^2 and normals (hidden state: chi^2_{d-2} and 2 normals; with the tangent
        chi^2_{d-4}, chi^2_{d-5} and 10 normals).

        >>> from rsim.experiments.cells import CellSpec
        >>> REDUCED.variates_per_layer(CellSpec(init="gaussian", sampler="reduced").kernel())
        16
        """
        m = kernel.shape.hidden_layers
        sigma = branches.branch_record(kernel.model).activation_of(kernel.activation)
        groups = m * (2 if sigma == "leaky_relu" else 1)
        binomials = 0 if sigma == "identity" else m
        if kernel.tangent:
            return binomials + 3 * groups + 2 + 2 * (TANGENT_FRAME + 1)
        return binomials + groups + 3

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
        The chain computes in float64 (:attr:`x64`) and returns ``kernel.dtype``.

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
        alpha = jnp.asarray(kernel.depth, CHAIN_DTYPE) ** -betas.astype(CHAIN_DTYPE)
        if kernel.tangent:
            z_cosine = _sphere_cosine(keys.tagged(key, keys.TANGENT), kernel.shape.dim)
            out = jax.vmap(lambda k, a: _tangent_chain(kernel, k, a, z_cosine))(beta_keys, alpha)
        else:
            out = jax.vmap(lambda k, a: _chain(kernel, k, a))(beta_keys, alpha)
        return {name: value.astype(kernel.dtype) for name, value in out.items()}


# The chain's arithmetic and variates: float64 whatever the kernel's precision (a few numbers
# per sample). In float32, a layer's drift of the log-norm (alpha^2 / 4 ~ 5e-9 at L = 10^4,
# beta = 1) is below the rounding of 1 + O(alpha), and jax's float32 binomial (BTRS) is off
# in law at d = 10^6 (variance 0.3% too large, KS p = 0.005 over 2 10^6 draws).
CHAIN_DTYPE = jnp.float64

# The tangent's frame: h_0, z, h_k and q_k (rsim/THEORY.md section 13).
TANGENT_FRAME = 4

# Up to this d, N ~ Bin(d, 1/2) is the popcount of d random bits (exact, a few words);
# above it, transformed rejection (BTRS; O(1) numbers whatever d).
POPCOUNT_WIDTH = 1024


# The dtype the uniforms and normals are drawn in (then widened to CHAIN_DTYPE): float32's
# 2^-24 resolution is that of every other sampler's weights, at about half the cost.
VARIATE_DTYPE = jnp.float32


def _normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard normals of ``shape`` (drawn in VARIATE_DTYPE, returned in CHAIN_DTYPE)."""
    return jax.random.normal(key, shape, VARIATE_DTYPE).astype(CHAIN_DTYPE)


def _uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniforms on [0, 1) of ``shape`` (drawn in VARIATE_DTYPE, returned in CHAIN_DTYPE)."""
    return jax.random.uniform(key, shape, VARIATE_DTYPE).astype(CHAIN_DTYPE)


# Proposals drawn at once per variate: chi^2 (Marsaglia-Tsang, which rejects about 5% at 2
# degrees of freedom and far less above) and BTRS (about 10%); a variate that rejects them all
# draws more in a loop (exact either way; the counts only set the speed: one chi^2 proposal
# was 12% faster per layer than two at d = 10^6, res-3 with jvp).
CHI2_ATTEMPTS = 1
BTRS_ATTEMPTS = 2


def chi2(key: jax.Array, dofs: jax.Array, small: int | None = None) -> jax.Array:
    """Independent chi^2 variates of ``dofs`` (>= 0; 0 gives 0) degrees of freedom, in float64:
    2 Gamma(dofs / 2) by Marsaglia and Tsang's squeeze-and-reject method (shapes below 1 from
    shape + 1 times U^(1 / shape)), :data:`CHI2_ATTEMPTS` proposals each in one vectorised draw
    (about 3x fewer operations than ``jax.random.gamma``'s loop per variate at small shapes).

    Args:
        key: the variates' key.
        dofs: ``(n,)`` degrees of freedom.
        small: how many leading ``dofs`` may be below 2 (the others are known to be >= 2
            and need no boost uniform); default all.

    Returns:
        ``(n,)`` variates.

    >>> with jax.enable_x64(True):
    ...     x = chi2(jax.random.key(0), jnp.full((20000,), 4.0))
    >>> x.dtype, bool(abs(float(x.mean()) - 4) < 0.06), bool(abs(float(x.var()) / 8 - 1) < 0.05)
    (dtype('float64'), True, True)
    """
    dofs = jnp.asarray(dofs, CHAIN_DTYPE)
    shape = dofs / 2
    boost = shape < 1
    base = jnp.where(boost, shape + 1, shape) - 1 / 3
    scale = 1 / jnp.sqrt(9 * base)

    def proposals(key: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
        normal_key, uniform_key = jax.random.split(key)
        x = _normal(normal_key, (count, *dofs.shape))
        u = _uniform(uniform_key, (count, *dofs.shape))
        y = scale * x
        cube = (1 + y) ** 3
        log_cube = 3 * jnp.log1p(jnp.where(y > -1, y, 0))
        squeeze = u < 1 - 0.0331 * x**4
        accept = (y > -1) & (squeeze | (jnp.log(u) < 0.5 * x**2 + base * (1 - cube + log_cube)))
        first = jnp.argmax(accept, axis=0)[None]
        return jnp.take_along_axis(base * cube, first, 0)[0], jnp.any(accept, axis=0)

    proposal_key, boost_key = jax.random.split(key)
    value = _first_accepted(proposal_key, proposals, CHI2_ATTEMPTS)
    small = dofs.shape[0] if small is None else small
    u = jnp.concatenate([_uniform(boost_key, (small,)), jnp.ones(dofs.shape[0] - small)])
    value = jnp.where(boost, value * u ** (1 / jnp.where(shape > 0, shape, 1)), value)
    return jnp.where(dofs > 0, 2 * value, 0)


def _half_binomials(key: jax.Array, d: int, m: int) -> jax.Array:
    """``(m,)`` draws of N ~ Bin(d, 1/2): the positive coordinates of m Gaussian d-vectors."""
    if d > POPCOUNT_WIDTH:
        return _btrs_half(key, d, m)
    words = -(-d // 32)
    bits = jax.random.bits(key, (m, words), jnp.uint32)
    last = jnp.uint32(0xFFFFFFFF >> (32 * words - d))  # the last word's d - 32 (words - 1) bits
    bits = bits.at[:, -1].set(bits[:, -1] & last)
    return jax.lax.population_count(bits).sum(axis=1).astype(CHAIN_DTYPE)


def _btrs_half(key: jax.Array, d: int, m: int) -> jax.Array:
    """``(m,)`` draws of Bin(d, 1/2) for d >= 20 by Hormann's transformed rejection with
    squeeze (BTRS), in float64 (jax's float32 binomial is off in law at d = 10^6; its loop
    per variate is slower), :data:`BTRS_ATTEMPTS` proposals at once as in :func:`chi2`."""
    spq = (d / 4) ** 0.5
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.005
    c, quick, alpha = d / 2 + 0.5, 0.92 - 4.2 / b, (2.83 + 5.1 / b) * spq
    mode = (d + 1) // 2
    log_mode = _log_factorial(jnp.asarray(mode, CHAIN_DTYPE)) + _log_factorial(
        jnp.asarray(d - mode, CHAIN_DTYPE)
    )

    def proposals(key: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
        u_key, v_key = jax.random.split(key)
        u = _uniform(u_key, (count, m)) - 0.5
        v = _uniform(v_key, (count, m))
        us = 0.5 - jnp.abs(u)
        k = jnp.floor((2 * a / us + b) * u + c)
        inside = (k >= 0) & (k <= d)
        kk = jnp.clip(k, 0, d)
        log_pmf = log_mode - _log_factorial(kk) - _log_factorial(d - kk)
        slow = jnp.log(v * alpha / (a / us**2 + b)) <= log_pmf
        accept = inside & (((us >= 0.07) & (v <= quick)) | slow)
        first = jnp.argmax(accept, axis=0)[None]
        return jnp.take_along_axis(kk, first, 0)[0], jnp.any(accept, axis=0)

    return _first_accepted(key, proposals, BTRS_ATTEMPTS)


def _log_factorial(x: jax.Array) -> jax.Array:
    """log x! - log sqrt(2 pi) by Stirling's series in x + 1 to its 1/(x + 1)^5 term: within
    1e-8 for x >= 9 and 2e-3 at x = 0, where Bin(d >= 1025, 1/2) has probability < 1e-280 (the
    constant cancels in BTRS's ratios; about half the cost of lgamma)."""
    y = x + 1
    inverse = 1 / y
    square = inverse * inverse
    series = inverse * (1 / 12 - square * (1 / 360 - square / 1260))
    return (y - 0.5) * jnp.log(y) - y + series


def _first_accepted(key: jax.Array, proposals: Callable, attempts: int) -> jax.Array:
    """The first accepted of ``proposals(key, attempts)`` per variate, and for the variates
    that rejected them all, of further ``proposals(key_i, 1)`` until each accepts."""

    def again(state: tuple) -> tuple:
        value, done, i = state
        new, accepted = proposals(jax.random.fold_in(loop_key, i), 1)
        return jnp.where(done, value, new), done | accepted, i + 1

    first_key, loop_key = jax.random.split(key)
    value, done = proposals(first_key, attempts)
    return jax.lax.while_loop(lambda s: ~jnp.all(s[1]), again, (value, done, 0))[0]


class _Draws:
    """One layer's variates, drawn in three calls (counts, chi^2, normals) and handed out in
    order: per hidden layer and unit group, chi^2_n (and with the tangent chi^2_{n-1} and one
    normal), then the frame's chi^2 and normals."""

    def __init__(self, kernel: Kernel, key: jax.Array, frame_dofs: tuple[int, ...], normals: int):
        count_key, chi_key, normal_key = jax.random.split(key, 3)
        m, d = kernel.shape.hidden_layers, kernel.shape.dim
        sigma = branches.branch_record(kernel.model).activation_of(kernel.activation)
        counts = _half_binomials(count_key, d, m) if m and sigma != "identity" else None
        self.groups = [_unit_groups(kernel, sigma, counts, i) for i in range(m)]
        per_group = 2 if kernel.tangent else 1
        dofs = [n - j for layer in self.groups for n, _ in layer for j in range(per_group)]
        dofs = jnp.stack([jnp.asarray(n, CHAIN_DTYPE) for n in [*dofs, *frame_dofs]])
        hidden = len(dofs) - len(frame_dofs)
        self.chi2 = chi2(chi_key, dofs, hidden if min(frame_dofs, default=2) >= 2 else None)
        n_zeta = sum(len(layer) for layer in self.groups) if kernel.tangent else 0
        self.normal = _normal(normal_key, (n_zeta + normals,))
        self.frame_chi2 = self.chi2[hidden:]
        self.frame_normals = self.normal[n_zeta:]
        self._chi, self._normal = 0, 0

    def next_chi2(self) -> jax.Array:
        """The next hidden layer's chi^2 variate."""
        self._chi += 1
        return self.chi2[self._chi - 1]

    def next_normal(self) -> jax.Array:
        """The next hidden layer's normal variate."""
        self._normal += 1
        return self.normal[self._normal - 1]


def _unit_groups(
    kernel: Kernel, sigma: str, counts: jax.Array | None, i: int
) -> list[tuple[jax.Array | int, float]]:
    """Hidden layer i's units as (count, squared slope) groups (THEORY 13): the identity all
    d at 1; ReLU the N ~ Bin(d, 1/2) positive ones at 1; leaky ReLU adds the d - N negative
    ones at slope^2."""
    d = kernel.shape.dim
    if sigma == "identity":
        return [(d, 1.0)]
    groups = [(counts[i], 1.0)]
    if sigma == "leaky_relu":
        groups.append((d - counts[i], kernel.negative_slope**2))
    return groups


def _branch_factor(kernel: Kernel, draws: _Draws) -> jax.Array:
    """||u||/||h_k|| / sqrt(v) for the branch's u = g(h_k, W) (THEORY 13): prod_i sqrt(v S_i)
    over the m hidden layers, S_i the slope-weighted chi^2 over the units (res-1 with the
    identity: 1)."""
    v = kernel.gain**2 / kernel.shape.fan_in
    factor = jnp.ones((), CHAIN_DTYPE)
    for layer in draws.groups:
        factor = factor * jnp.sqrt(v * sum(w * draws.next_chi2() for _, w in layer))
    return factor


def _log1p_norm(step: jax.Array, unit: jax.Array) -> jax.Array:
    """log ||unit + step|| for a unit vector, as log1p(2 <unit, step> + ||step||^2) / 2: the
    drift of order ||step||^2 survives where 1 + ||step|| would round it away."""
    return 0.5 * jnp.log1p(2 * unit @ step + step @ step)


def _log_gap(log_norm: jax.Array, unit: jax.Array, origin: jax.Array) -> jax.Array:
    """log ||e^l unit - origin|| for unit vectors, with no overflow for any l and no
    cancellation for small l: e^{2l} - 2 e^l c + 1 = e^{2 l+}(expm1(-|l|)^2 + e^{-|l|} D),
    D = ||unit - origin||^2."""
    gap = jnp.sum((unit - origin) ** 2)
    size = jnp.abs(log_norm)
    return jnp.maximum(log_norm, 0) + 0.5 * jnp.log(jnp.expm1(-size) ** 2 + jnp.exp(-size) * gap)


def _chain(kernel: Kernel, key: jax.Array, alpha: jax.Array) -> dict[str, jax.Array]:
    """One beta's chain over layers 1..L: l = log ||h_k||/||h_0|| and the unit pair
    h_k/||h_k|| = (x, y) in the (e_0, e_1) plane; layer k draws from ``keys.layer(key, k)``."""
    d = kernel.shape.dim
    root_v = (kernel.gain**2 / kernel.shape.fan_in) ** 0.5
    origin = jnp.asarray([1, 0], CHAIN_DTYPE)  # h_0 / ||h_0||
    frame_dofs = (d - 2,) if d >= 2 else ()

    def step(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
        log_norm, unit, log_max = carry
        draws = _Draws(kernel, keys.layer(key, k), frame_dofs, 2)
        kappa = alpha * root_v * _branch_factor(kernel, draws)
        g = draws.frame_normals if d >= 2 else draws.frame_normals * jnp.asarray([1, 0])
        rest = draws.frame_chi2[0] if d >= 2 else 0.0  # chi^2_{d-2}: the plane's complement
        moved = jnp.stack(
            [unit[0] + kappa * g[0], jnp.hypot(unit[1] + kappa * g[1], kappa * jnp.sqrt(rest))]
        )
        log_step = 0.5 * jnp.log1p(2 * kappa * unit @ g + kappa**2 * (g @ g + rest))
        unit = moved * jnp.exp(-log_step)
        log_norm = log_norm + log_step
        log_max = jnp.maximum(log_max, _log_gap(log_norm, unit, origin))
        return (log_norm, unit, log_max), None

    start = (jnp.zeros((), CHAIN_DTYPE), origin, jnp.full((), -jnp.inf, CHAIN_DTYPE))
    (log_norm, unit, log_max), _ = jax.lax.scan(step, start, jnp.arange(1, kernel.depth + 1))
    return {
        "log_hidden_ratio": log_norm,
        "log_hidden_diff": _log_gap(log_norm, unit, origin),
        "log_hidden_maxdiff": log_max,
    }


def _sphere_cosine(key: jax.Array, d: int) -> jax.Array:
    """<z, e_0> for z uniform on the unit sphere of R^d: g / sqrt(g^2 + chi^2_{d-1})."""
    normal_key, chi_key = jax.random.split(key)
    g = _normal(normal_key, ())
    return g / jnp.sqrt(g**2 + chi2(chi_key, jnp.full((1,), d - 1, CHAIN_DTYPE))[0])


def _cholesky2(gram: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(l11, l21, l22) of a 2 x 2 Gram matrix (g11, g12, g22), 0 where g11 = 0."""
    l11 = jnp.sqrt(gram[0])
    l21 = jnp.where(gram[0] > 0, gram[1] / jnp.where(gram[0] > 0, l11, 1), 0)
    return l11, l21, jnp.sqrt(jnp.maximum(gram[2] - l21**2, 0))


def _branch_gram(kernel: Kernel, draws: _Draws, rho: jax.Array) -> jax.Array:
    """The Gram matrix (g11, g12, g22) of (u, u') = (g(h), Dg(h) q) over v, for unit h and q
    with <h, q> = rho: each hidden layer maps its input's Gram matrix to its output's, through
    (S, T, R) = (sum xi^2, sum xi eta, sum eta^2) over its units, xi and eta i.i.d. N(0, 1):
    S ~ chi^2_n, T = sqrt(S) zeta, R = zeta^2 + chi^2_{n-1} per unit group."""
    v = kernel.gain**2 / kernel.shape.fan_in
    one = jnp.ones((), CHAIN_DTYPE)
    gram = jnp.stack([one, rho, one])
    for layer in draws.groups:
        s = t = r = 0.0
        for n, w in layer:
            s_n, rest, zeta = draws.next_chi2(), draws.next_chi2(), draws.next_normal()
            s, t = s + w * s_n, t + w * jnp.sqrt(s_n) * zeta
            r = r + w * jnp.where(n > 0, zeta**2 + rest, 0)
        x1, a, b = _cholesky2(gram)  # X = sqrt(v) x1 xi, Y = sqrt(v) (a xi + b eta)
        gram = v * jnp.stack([x1**2 * s, x1 * (a * s + b * t), a**2 * s + 2 * a * b * t + b**2 * r])
    return gram


def _retriangulate(h: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """h (6,) and q (6,) over the frame (e_0, z's direction, f_3, f_4) and two new directions,
    as coordinates (3,) and (4,) over (e_0, z's, h's new f_3, q's new f_4): the first two
    stay, the last four are rotated so that h has one and q two (Lagrange's identity gives
    q's second without cancellation)."""
    x, y = h[2:], q[2:]
    x_norm = jnp.linalg.norm(x)
    safe = jnp.where(x_norm > 0, x_norm, 1)
    along = jnp.where(x_norm > 0, x @ y / safe, jnp.linalg.norm(y))
    cross = x[:, None] * y[None, :] - y[:, None] * x[None, :]
    across = jnp.where(x_norm > 0, jnp.sqrt(0.5 * jnp.sum(cross**2)) / safe, 0)
    return jnp.stack([h[0], h[1], x_norm]), jnp.stack([q[0], q[1], along, across])


def _tangent_chain(
    kernel: Kernel, key: jax.Array, alpha: jax.Array, z_cosine: jax.Array
) -> dict[str, jax.Array]:
    """One beta's chain with the tangent: the unit vectors h_k/||h_k|| (3 coordinates) and
    q_k/||q_k|| (4) over an orthonormal frame whose first two vectors are e_0 and z's part
    orthogonal to it, their log norms and the running max of the hidden distance; layer k
    draws from ``keys.layer(key, k)``."""
    d = kernel.shape.dim
    root_v = (kernel.gain**2 / kernel.shape.fan_in) ** 0.5
    frame_dofs = (d - TANGENT_FRAME, d - TANGENT_FRAME - 1)  # Bartlett: outside the frame
    e0 = jnp.asarray([1, 0, 0, 0], CHAIN_DTYPE)
    z = jnp.stack([z_cosine, jnp.sqrt(jnp.maximum(1 - z_cosine**2, 0)), 0 * z_cosine, 0 * z_cosine])
    pad = jnp.zeros((2,), CHAIN_DTYPE)

    def step(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
        h, q, log_h, log_q, log_max = carry
        draws = _Draws(kernel, keys.layer(key, k), frame_dofs, 2 * (TANGENT_FRAME + 1))
        h4 = jnp.concatenate([h, pad[:1]])
        if kernel.shape.hidden_layers:
            gram = _branch_gram(kernel, draws, h4 @ q)
        else:  # res-1 with the identity: (u, u') = (h, q)
            gram = jnp.stack([jnp.ones(()), h4 @ q, jnp.ones(())]).astype(CHAIN_DTYPE)
        l11, l21, l22 = _cholesky2(gram)
        g = draws.frame_normals.reshape(2, TANGENT_FRAME + 1)
        out = jnp.sqrt(draws.frame_chi2)
        g1 = jnp.concatenate([g[0, :4], jnp.stack([out[0], 0 * out[0]])])
        beyond = g[1, 4] if d > TANGENT_FRAME else 0 * g[1, 4]  # d = 4: the frame is R^4
        g2 = jnp.concatenate([g[1, :4], jnp.stack([beyond, out[1]])])
        h6, q6 = jnp.concatenate([h4, pad]), jnp.concatenate([q, pad])
        dh, dq = alpha * root_v * l11 * g1, alpha * root_v * (l21 * g1 + l22 * g2)
        step_h, step_q = _log1p_norm(dh, h6), _log1p_norm(dq, q6)
        h, q = _retriangulate((h6 + dh) * jnp.exp(-step_h), (q6 + dq) * jnp.exp(-step_q))
        log_h, log_q = log_h + step_h, log_q + step_q
        log_max = jnp.maximum(log_max, _log_gap(log_h, jnp.concatenate([h, pad[:1]]), e0))
        return (h, q, log_h, log_q, log_max), None

    zero = jnp.zeros((), CHAIN_DTYPE)
    start = (e0[:3], z, zero, zero, jnp.full((), -jnp.inf, CHAIN_DTYPE))
    (h, q, log_h, log_q, log_max), _ = jax.lax.scan(step, start, jnp.arange(1, kernel.depth + 1))
    return {
        "log_hidden_ratio": log_h,
        "log_hidden_diff": _log_gap(log_h, jnp.concatenate([h, pad[:1]]), e0),
        "log_hidden_maxdiff": log_max,
        "log_jvp_ratio": log_q,
        "log_jvp_diff": _log_gap(log_q, q, z),
    }


REDUCED = Reduced()
