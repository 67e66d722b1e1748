"""Continuous-time limits of the ResNet: the neural ODE and the neural SDE
(rsim/THEORY.md section 5).

Pure JAX: couplings, Euler schemes, reference solutions and the strong errors of one
realisation: against a reference solution, and reference-free between the nested grids of
depths L and 2L (:func:`doubling_gaps`, the ones the fitted order uses). The experiments that
run them are in :mod:`rsim.experiments.limits`; the fitted convergence order and the exact
moments of the weak check are in :mod:`rsim.analysis.convergence` (numpy / pandas).

ODE (Proposition 7). With alpha = 1/L and smooth weights V_k = V(k/L), Theta_k = Theta(k/L),

    h_{k+1} = h_k + (1/L) V((k+1)/L) g(h_k, Theta((k+1)/L))

is an Euler scheme (evaluating the weights at the right end of each step, as the simulator
does) of dH_t = V_t g(H_t, Theta_t) dt, H_0 = h_0, with error max_k ||H_{k/L} - h_k|| <= c/L.
The weights are one realisation of the smooth law (a Fourier series in t, rsim.core.laws), so
the same V(t) drives every depth and the reference solver, which evaluates it anywhere.

SDE (Proposition 10). res-1 with alpha = 1/sqrt(L) and V_{k+1} = gain sqrt(L/d) dB_k, where
dB_k = B_{(k+1)/L} - B_{k/L} are the increments of a d x d matrix of Brownian motions, so that
V has i.i.d. N(0, gain^2/d) entries:

    h_{k+1} = h_k + (gain/sqrt(d)) dB_k sigma(h_k)    (column vectors; rows here: sigma(h) dB^T)

is the Euler-Maruyama scheme of the Ito SDE dH_t = (gain/sqrt(d)) dB_t sigma(H_t), strong
error E max_k ||H_{k/L} - h_k|| <= c/sqrt(L). Every depth of a sample is built from one
Brownian path: the increments of the finest grid, summed in blocks for coarser grids.

Reference-free error (both limits). On nested grids, the depths L and 2L share the weights
(the smooth V(t), or the Brownian path), so h^(L) - h^(2L) = e_L - e_2L with e_L the error of
depth L; for a scheme of order p it is of order L^-p (ODE: e_L ~ C/L, so about C/(2L); SDE:
e_L ~ L^-1/2 U_L with (U_L, U_2L) jointly converging in law), and its slope against L is the
order with no reference solution, whose own error biases the fit near its grid (an
Euler-Maruyama reference at N steps gives errors ~ sqrt(1/L - 1/N); rsim/THEORY.md section 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from rsim.core import branches, keys, laws


def sample_key(seed: int, sample: int) -> jax.Array:
    """The key of one realisation: fold_in(PRNGKey(seed), sample), shared by every depth.

    Args:
        seed: the experiment's seed.
        sample: the realisation's index.

    Returns:
        The key.
    """
    return keys.sample(jax.random.PRNGKey(seed), sample)


def initial_state(key: jax.Array, width: int, n_in: int, dtype: DTypeLike) -> jax.Array:
    """h_0 = A x with x ~ U[0, 1]^n_in and A_ij ~ N(0, 1/n_in) (the simulator's readin law).

    Args:
        key: the realisation's key.
        width: d.
        n_in: the input's size.
        dtype: the float type.

    Returns:
        ``(d,)`` h_0.
    """
    x = jax.random.uniform(keys.tagged(key, keys.LIMIT_INPUT), (n_in,), dtype)
    a = laws.draw("gaussian", keys.tagged(key, keys.LIMIT_READIN), (width, n_in), n_in, 1.0, dtype)
    return a @ x


# --- ODE ----------------------------------------------------------------------------------------


def smooth_weights(
    key: jax.Array, n_matrices: int, width: int, gain: float, lengthscale: float, dtype: DTypeLike
) -> jax.Array:
    """Fourier coefficients ``(2, M, n_matrices, d, d)`` of one smooth realisation of
    (V(t), W(t)): stationary Gaussian entries of variance gain^2/d, RBF kernel in t.

    Args:
        key: the realisation's key.
        n_matrices: matrices per layer (V, W_1..W_m).
        width: d.
        gain: the entries' gain.
        lengthscale: the RBF kernel's lengthscale in t.
        dtype: the float type.

    Returns:
        The coefficients, for :func:`weight_path` and ``laws.smooth_at``.
    """
    return laws.smooth_coefficients(
        keys.tagged(key, keys.LIMIT_WEIGHTS),
        (n_matrices, width, width),
        width,
        gain,
        lengthscale,
        dtype,
    )


def weight_path(coefficients: jax.Array, finest: int, lengthscale: float) -> jax.Array:
    """The weights at t = j/finest, j = 1..finest: ``(finest, n_matrices, d, d)``.

    The grid of depth L (dividing ``finest``) is the sub-grid ``path[r-1::r]``, r = finest/L.

    Args:
        coefficients: :func:`smooth_weights`' output.
        finest: the number of grid points.
        lengthscale: the RBF kernel's lengthscale in t.

    Returns:
        ``(finest, n_matrices, d, d)`` weights.
    """
    return laws.smooth_at(coefficients, jnp.arange(1, finest + 1) / finest, lengthscale)


def euler(
    residual: Callable[[jax.Array, jax.Array], jax.Array],
    layer_weights: jax.Array,
    h0: jax.Array,
    alphas: ArrayLike,
) -> jax.Array:
    """The ResNet h_{k+1} = h_k + alpha V_{k+1} g(h_k, Theta_{k+1}) for each alpha of ``alphas``.

    ``layer_weights``: ``(L, n_matrices, d, d)``, layer k+1's weights at index k; ``h0``:
    ``(d,)``.

    Args:
        residual: the branch's ``(w, h) -> V g(h, W)`` on rows.
        layer_weights: ``(L, n_matrices, d, d)``.
        h0: ``(d,)`` h_0.
        alphas: the step sizes, one trajectory each.

    Returns:
        The trajectory ``(L + 1, n_alphas, d)``, h_0 first.

    >>> doubling = lambda w, h: h  # g(h) = h: each step doubles h at alpha = 1
    >>> euler(doubling, jnp.zeros((2, 1, 1, 1)), jnp.ones(1), [1.0])[:, 0, 0].tolist()
    [1.0, 2.0, 4.0]
    """
    alphas = jnp.asarray(alphas, h0.dtype)[:, None]
    start = jnp.broadcast_to(h0, (alphas.shape[0], h0.shape[-1]))

    def step(h: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = h + alphas * residual(w, h)
        return h, h

    _, trajectory = jax.lax.scan(step, start, layer_weights)
    return jnp.concatenate([start[None], trajectory])


def reference_ode(
    residual: Callable[[jax.Array, jax.Array], jax.Array],
    coefficients: jax.Array,
    lengthscale: float,
    h0: jax.Array,
    ts: jax.Array,
    tolerance: float,
) -> jax.Array:
    """H at times ``ts`` for dH_t = V_t g(H_t, Theta_t) dt, H_0 = h0, by diffrax's Dopri8
    (8th order, adaptive, rtol = atol = ``tolerance``, 7th-order dense output between steps).

    The vector field evaluates the smooth realisation at the solver's own times t.

    Args:
        residual: the branch's ``(w, h) -> V g(h, W)``.
        coefficients: the smooth realisation (:func:`smooth_weights`).
        lengthscale: its lengthscale.
        h0: ``(d,)`` H_0.
        ts: the output times.
        tolerance: rtol = atol of the step size controller.

    Returns:
        ``(len(ts), d)``: H at ``ts``.
    """
    import diffrax

    def field(t: jax.Array, h: jax.Array, args: None) -> jax.Array:
        return residual(laws.smooth_at(coefficients, t, lengthscale), h)

    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(field),
        diffrax.Dopri8(),
        t0=ts[0],
        t1=ts[-1],
        dt0=1e-3,
        y0=h0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=tolerance, atol=tolerance),
        max_steps=100_000,
    )
    return solution.ys


def doubling_gaps(
    trajectories: dict[int, jax.Array], depths: tuple[int, ...]
) -> tuple[jax.Array, jax.Array]:
    """The reference-free errors of each depth L of ``depths``: max_k ||h^(L)_k - h^(2L)_2k||
    and ||h^(L)_L - h^(2L)_2L|| (at t = 1), ``(len(depths),)`` each.

    ``trajectories[n]``: the depth-n trajectory ``(n + 1, d)`` (h_0 first), for every L and
    2L, all on one realisation of the weights (nested grids).

    Args:
        trajectories: depth -> trajectory, for every L of ``depths`` and 2L.
        depths: the depths L.

    Returns:
        ``(maxima, finals)``.

    >>> paths = {1: jnp.zeros((2, 1)), 2: jnp.ones((3, 1))}
    >>> [g.tolist() for g in doubling_gaps(paths, [1])]
    [[1.0], [1.0]]
    """
    maxima, finals = [], []
    for depth in depths:
        gaps = jnp.linalg.norm(trajectories[depth] - trajectories[2 * depth][::2], axis=-1)
        maxima.append(gaps.max())
        finals.append(gaps[-1])
    return jnp.stack(maxima), jnp.stack(finals)


def largest_real_eigenvalue(matrices: jax.Array) -> jax.Array:
    """max over the matrices ``(n, d, d)`` of their largest real eigenvalue; -inf if none.

    LAPACK's real eigensolver returns real eigenvalues with an imaginary part of exactly 0.

    Args:
        matrices: ``(n, d, d)``.

    Returns:
        The scalar maximum.
    """
    eigenvalues = jnp.linalg.eigvals(matrices)
    real = jnp.where(eigenvalues.imag == 0, eigenvalues.real, -jnp.inf)
    return real.max()


def ode_sample(
    key: jax.Array,
    *,
    model: str,
    activation: str,
    negative_slope: float,
    width: int,
    n_in: int,
    gain: float,
    lengthscale: float,
    depths: tuple[int, ...],
    betas: tuple[float, ...],
    tolerance: float,
    dtype: DTypeLike = jnp.float64,
) -> dict[str, jax.Array]:
    """Everything the ODE experiment measures on one realisation, for every depth L:

    * ``error[L]`` = max_k ||H_{k/L} - h_k|| at alpha = 1/L; ``error_final[L]`` = ||H_1 - h_L||;
    * ``doubling_gap[L]``, ``doubling_gap_final[L]``: the reference-free errors
      (:func:`doubling_gaps`) at alpha = 1/L, the weights of depth 2L on the same V(t);
    * ``log_hidden_diff[L, beta]`` = log ||h_L - h_0||/||h_0|| and ``log_hidden_maxdiff``
      (max over k) at alpha = L^-beta (Propositions 8 and 9);
    * ``reference_gap`` = max over the grid of the largest depth of ||H_tol - H_{100 tol}||, a
      bound on the reference solver's own error at 100 x the tolerance used;
    * ``positive_eigenvalue``: the largest real eigenvalue of V(t) over t in {0, 1/64, .., 1}.

    Args:
        key: the realisation's key (:func:`sample_key`).
        model: the branch.
        activation: its activation.
        negative_slope: leaky ReLU's slope.
        width: d.
        n_in: the input's size.
        gain: the weights' gain.
        lengthscale: the smooth law's lengthscale.
        depths: the depths L (each dividing the largest).
        betas: the depth exponents of the hidden-state metrics.
        tolerance: the reference solver's tolerance.
        dtype: the float type.

    Returns:
        The measurements above, plus ``h0_norm``.
    """
    branch = branches.branch(model, activation, negative_slope)
    h0 = initial_state(key, width, n_in, dtype)
    coefficients = smooth_weights(key, branch.n_matrices, width, gain, lengthscale, dtype)
    finest = max(depths)
    ts = jnp.arange(finest + 1, dtype=dtype) / finest
    limit = reference_ode(branch.residual, coefficients, lengthscale, h0, ts, tolerance)
    loose = reference_ode(branch.residual, coefficients, lengthscale, h0, ts, 100 * tolerance)
    path = weight_path(coefficients, 2 * finest, lengthscale)  # depth 2L for every L

    def grid(depth: int) -> jax.Array:  # the weights of depth L: t = k/L, k = 1..L
        return path[2 * finest // depth - 1 :: 2 * finest // depth]

    norm0 = jnp.linalg.norm(h0)
    out = {
        "h0_norm": norm0,
        "reference_gap": jnp.linalg.norm(limit - loose, axis=-1).max(),
        "positive_eigenvalue": largest_real_eigenvalue(
            laws.smooth_at(coefficients, jnp.linspace(0, 1, 65), lengthscale)[:, 0]
        ),
    }
    errors, finals, diffs, maxdiffs, trajectories = [], [], [], [], {}
    for depth in depths:
        r = finest // depth
        alphas = jnp.concatenate(
            [
                jnp.asarray([1.0 / depth], dtype),
                jnp.asarray(depth, dtype) ** -jnp.asarray(betas, dtype),
            ]
        )
        trajectory = euler(branch.residual, grid(depth), h0, alphas)
        trajectories[depth] = trajectory[:, 0]
        gaps = jnp.linalg.norm(trajectory[:, 0] - limit[::r], axis=-1)
        errors.append(gaps.max())
        finals.append(gaps[-1])
        moved = jnp.linalg.norm(trajectory[:, 1:] - h0, axis=-1) / norm0  # (L + 1, n_betas)
        diffs.append(jnp.log(moved[-1]))
        maxdiffs.append(jnp.log(moved.max(axis=0)))
    for depth in {2 * depth for depth in depths} - set(depths):
        trajectories[depth] = euler(branch.residual, grid(depth), h0, [1.0 / depth])[:, 0]
    doubling_gap, doubling_gap_final = doubling_gaps(trajectories, depths)
    out.update(
        error=jnp.stack(errors),
        error_final=jnp.stack(finals),
        doubling_gap=doubling_gap,
        doubling_gap_final=doubling_gap_final,
        log_hidden_diff=jnp.stack(diffs),
        log_hidden_maxdiff=jnp.stack(maxdiffs),
    )
    return out


# --- SDE ----------------------------------------------------------------------------------------


def brownian_increments(key: jax.Array, steps: int, width: int, dtype: DTypeLike) -> jax.Array:
    """Increments B_{(j+1)/n} - B_{j/n} of a d x d matrix of standard Brownian motions on
    [0, 1], n = ``steps``: ``(n, d, d)`` i.i.d. N(0, 1/n).

    Args:
        key: the realisation's key.
        steps: n.
        width: d.
        dtype: the float type.

    Returns:
        ``(n, d, d)`` increments.
    """
    return jax.random.normal(
        keys.tagged(key, keys.LIMIT_WEIGHTS), (steps, width, width), dtype
    ) / jnp.sqrt(jnp.asarray(steps, dtype))


def coarsen(increments: jax.Array, factor: int) -> jax.Array:
    """The same Brownian path on a grid ``factor`` times coarser: sums of consecutive blocks
    of ``factor`` fine increments (B_{(k+1)/L} - B_{k/L} = sum of the fine increments inside).

    Args:
        increments: ``(n, ...)`` fine increments.
        factor: a divisor of n.

    Returns:
        ``(n / factor, ...)`` coarse increments.

    >>> coarsen(jnp.arange(4.0), 2).tolist()
    [1.0, 5.0]
    """
    steps = increments.shape[0]
    return increments.reshape(steps // factor, factor, *increments.shape[1:]).sum(axis=1)


def euler_maruyama(
    activation: str, negative_slope: float, gain: float, h0: jax.Array, increments: jax.Array
) -> jax.Array:
    """res-1 at depth L = len(increments) with alpha = 1/sqrt(L), V_{k+1} = gain sqrt(L/d) dB_k
    (entries N(0, gain^2/d)): the Euler-Maruyama scheme of dH = (gain/sqrt(d)) dB sigma(H).

    Args:
        activation: res-1's activation.
        negative_slope: leaky ReLU's slope.
        gain: the weights' gain.
        h0: ``(d,)`` h_0.
        increments: ``(L, d, d)`` Brownian increments (:func:`brownian_increments`).

    Returns:
        The trajectory ``(L + 1, d)``.
    """
    steps, width = increments.shape[0], h0.shape[-1]
    residual = branches.branch("res1", activation, negative_slope).residual
    scale = gain * math.sqrt(steps / width)
    layer_weights = (scale * increments)[:, None]  # (L, 1, d, d): res-1 has V only
    return euler(residual, layer_weights, h0, [steps**-0.5])[:, 0]


def sde_sample(
    key: jax.Array,
    *,
    activation: str,
    negative_slope: float,
    width: int,
    n_in: int,
    gain: float,
    depths: tuple[int, ...],
    reference_depth: int,
    dtype: DTypeLike = jnp.float64,
) -> dict[str, jax.Array]:
    """Strong errors of res-1 against its SDE on one Brownian path, for every depth L:

    * ``doubling_gap[L]``, ``doubling_gap_final[L]``: the reference-free errors
      (:func:`doubling_gaps`), depth 2L on the same path;
    * ``error[L]`` = max_k ||H_{k/L} - h_k||, ``error_final[L]`` = ||H_1 - h_L||, where H is
      Euler-Maruyama on the finest grid (``reference_depth`` steps, a multiple of every 2L), h
      the depth-L ResNet on the same path;
    * ``sq_ratio[L]`` = ||h_L||^2/||h_0||^2 and ``limit_sq_ratio`` = ||H_1||^2/||H_0||^2.

    Args:
        key: the realisation's key (:func:`sample_key`).
        activation: res-1's activation.
        negative_slope: leaky ReLU's slope.
        width: d.
        n_in: the input's size.
        gain: the weights' gain.
        depths: the depths L.
        reference_depth: the finest grid, a multiple of every 2L.
        dtype: the float type.

    Returns:
        The measurements above, plus ``h0_norm``.
    """
    h0 = initial_state(key, width, n_in, dtype)
    fine = brownian_increments(key, reference_depth, width, dtype)
    limit = euler_maruyama(activation, negative_slope, gain, h0, fine)
    trajectories = {reference_depth: limit}
    for depth in sorted({*depths, *(2 * depth for depth in depths)} - {reference_depth}):
        increments = coarsen(fine, reference_depth // depth)
        trajectories[depth] = euler_maruyama(activation, negative_slope, gain, h0, increments)
    norm0 = jnp.linalg.norm(h0)
    errors, finals, ratios = [], [], []
    for depth in depths:
        trajectory = trajectories[depth]
        gaps = jnp.linalg.norm(trajectory - limit[:: reference_depth // depth], axis=-1)
        errors.append(gaps.max())
        finals.append(gaps[-1])
        ratios.append((jnp.linalg.norm(trajectory[-1]) / norm0) ** 2)
    doubling_gap, doubling_gap_final = doubling_gaps(trajectories, depths)
    return {
        "h0_norm": norm0,
        "error": jnp.stack(errors),
        "error_final": jnp.stack(finals),
        "doubling_gap": doubling_gap,
        "doubling_gap_final": doubling_gap_final,
        "sq_ratio": jnp.stack(ratios),
        "limit_sq_ratio": (jnp.linalg.norm(limit[-1]) / norm0) ** 2,
    }
