"""Continuous-time limits of the ResNet: the neural ODE and the neural SDE (THEORY.md section 5).

Pure numerics: couplings, Euler schemes, reference solutions, strong errors and the fitted
convergence order. The Hydra experiments that use them are in :mod:`rsim.limits_experiment`.

ODE (Proposition 7). With alpha = 1/L and smooth weights V_k = V(k/L), Theta_k = Theta(k/L),

    h_{k+1} = h_k + (1/L) V((k+1)/L) g(h_k, Theta((k+1)/L))

is an Euler scheme (evaluating the weights at the right end of each step, as the simulator
does) of dH_t = V_t g(H_t, Theta_t) dt, H_0 = h_0, with error max_k ||H_{k/L} - h_k|| <= c/L.
The weights are one realisation of the smooth law (a Fourier series in t, rsim.weights), so
the same V(t) drives every depth and the reference solver, which evaluates it anywhere.

SDE (Proposition 10). res-1 with alpha = 1/sqrt(L) and V_{k+1} = gain sqrt(L/d) dB_k, where
dB_k = B_{(k+1)/L} - B_{k/L} are the increments of a d x d matrix of Brownian motions, so that
V has i.i.d. N(0, gain^2/d) entries:

    h_{k+1} = h_k + (gain/sqrt(d)) dB_k sigma(h_k)    (column vectors; rows here: sigma(h) dB^T)

is the Euler-Maruyama scheme of the Ito SDE dH_t = (gain/sqrt(d)) dB_t sigma(H_t), strong
error E max_k ||H_{k/L} - h_k|| <= c/sqrt(L). Every depth of a sample is built from one
Brownian path: the increments of the finest grid, summed in blocks for coarser grids.

Convergence order. ``convergence_order`` fits log E[error] = log c - p log L by least squares
over the depths (E over samples) and bootstraps the samples (each sample's errors at every
depth kept together: they share one realisation) for a percentile interval of p.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from rsim import models, weights

# Fixed tags of a sample's key (the depth is never folded in: all depths share a sample).
_INPUT, _READIN, _WEIGHTS = range(3)
# Columns that identify one series (one convergence order) in a results table.
SERIES = ("experiment", "model", "activation", "negative_slope", "init", "gain", "lengthscale",
          "width", "n_in", "seed", "tolerance", "reference_depth")


def sample_key(seed: int, sample: int) -> jax.Array:
    """The key of one realisation: fold_in(PRNGKey(seed), sample), shared by every depth."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), sample)


def initial_state(key, width: int, n_in: int, dtype) -> jax.Array:
    """h_0 = A x with x ~ U[0, 1]^n_in and A_ij ~ N(0, 1/n_in) (the simulator's readin law)."""
    x = jax.random.uniform(jax.random.fold_in(key, _INPUT), (n_in,), dtype)
    a = weights.draw("gaussian", jax.random.fold_in(key, _READIN), (width, n_in), n_in, 1.0,
                     dtype)
    return a @ x


# --- ODE ----------------------------------------------------------------------------------------

def smooth_weights(key, n_matrices: int, width: int, gain: float, lengthscale: float, dtype):
    """Fourier coefficients ``(2, M, n_matrices, d, d)`` of one smooth realisation of
    (V(t), W(t)): stationary Gaussian entries of variance gain^2/d, RBF kernel in t."""
    return weights.smooth_coefficients(jax.random.fold_in(key, _WEIGHTS),
                                       (n_matrices, width, width), width, gain, lengthscale,
                                       dtype)


def weight_path(coefficients, finest: int, lengthscale: float) -> jax.Array:
    """The weights at t = j/finest, j = 1..finest: ``(finest, n_matrices, d, d)``.

    The grid of depth L (dividing ``finest``) is the sub-grid ``path[r-1::r]``, r = finest/L.
    """
    return weights.smooth_at(coefficients, jnp.arange(1, finest + 1) / finest, lengthscale)


def euler(residual: Callable, layer_weights, h0, alphas) -> jax.Array:
    """The ResNet h_{k+1} = h_k + alpha V_{k+1} g(h_k, Theta_{k+1}) for each alpha of ``alphas``.

    ``layer_weights``: ``(L, n_matrices, d, d)``, layer k+1's weights at index k; ``h0``:
    ``(d,)``. Returns the trajectory ``(L + 1, n_alphas, d)``, h_0 first.
    """
    alphas = jnp.asarray(alphas, h0.dtype)[:, None]
    start = jnp.broadcast_to(h0, (alphas.shape[0], h0.shape[-1]))

    def step(h, w):
        h = h + alphas * residual(w, h)
        return h, h

    _, trajectory = jax.lax.scan(step, start, layer_weights)
    return jnp.concatenate([start[None], trajectory])


def reference_ode(residual: Callable, coefficients, lengthscale: float, h0, ts,
                  tolerance: float) -> jax.Array:
    """H at times ``ts`` for dH_t = V_t g(H_t, Theta_t) dt, H_0 = h0, by diffrax's Dopri8
    (8th order, adaptive, rtol = atol = ``tolerance``, 7th-order dense output between steps).

    The vector field evaluates the smooth realisation at the solver's own times t.
    """
    import diffrax

    def field(t, h, args):
        return residual(weights.smooth_at(coefficients, t, lengthscale), h)

    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Dopri8(), t0=ts[0], t1=ts[-1], dt0=1e-3, y0=h0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=tolerance, atol=tolerance),
        max_steps=100_000)
    return solution.ys


def largest_real_eigenvalue(matrices) -> jax.Array:
    """max over the matrices ``(n, d, d)`` of their largest real eigenvalue; -inf if none.

    LAPACK's real eigensolver returns real eigenvalues with an imaginary part of exactly 0.
    """
    eigenvalues = jnp.linalg.eigvals(matrices)
    real = jnp.where(eigenvalues.imag == 0, eigenvalues.real, -jnp.inf)
    return real.max()


def ode_sample(key, *, model: str, activation: str, negative_slope: float, width: int,
               n_in: int, gain: float, lengthscale: float, depths: tuple[int, ...],
               betas: tuple[float, ...], tolerance: float, dtype=jnp.float64) -> dict:
    """Everything the ODE experiment measures on one realisation, for every depth L:

    * ``error[L]`` = max_k ||H_{k/L} - h_k|| at alpha = 1/L; ``error_final[L]`` = ||H_1 - h_L||;
    * ``log_hidden_diff[L, beta]`` = log ||h_L - h_0||/||h_0|| and ``log_hidden_maxdiff``
      (max over k) at alpha = L^-beta (Propositions 8 and 9);
    * ``reference_gap`` = max over the finest grid of ||H_tol - H_{100 tol}||, a bound on the
      reference solver's own error at 100 x the tolerance used;
    * ``positive_eigenvalue``: the largest real eigenvalue of V(t) over t in {0, 1/64, .., 1}.
    """
    branch = models.branch(model, activation, negative_slope)
    h0 = initial_state(key, width, n_in, dtype)
    coefficients = smooth_weights(key, branch.n_matrices, width, gain, lengthscale, dtype)
    finest = max(depths)
    ts = jnp.arange(finest + 1, dtype=dtype) / finest
    limit = reference_ode(branch.residual, coefficients, lengthscale, h0, ts, tolerance)
    loose = reference_ode(branch.residual, coefficients, lengthscale, h0, ts, 100 * tolerance)
    path = weight_path(coefficients, finest, lengthscale)
    norm0 = jnp.linalg.norm(h0)
    out = {"h0_norm": norm0,
           "reference_gap": jnp.linalg.norm(limit - loose, axis=-1).max(),
           "positive_eigenvalue": largest_real_eigenvalue(
               weights.smooth_at(coefficients, jnp.linspace(0, 1, 65), lengthscale)[:, 0])}
    errors, finals, diffs, maxdiffs = [], [], [], []
    for depth in depths:
        r = finest // depth
        alphas = jnp.concatenate([jnp.asarray([1.0 / depth], dtype),
                                  jnp.asarray(depth, dtype) ** -jnp.asarray(betas, dtype)])
        trajectory = euler(branch.residual, path[r - 1::r], h0, alphas)
        gaps = jnp.linalg.norm(trajectory[:, 0] - limit[::r], axis=-1)
        errors.append(gaps.max())
        finals.append(gaps[-1])
        moved = jnp.linalg.norm(trajectory[:, 1:] - h0, axis=-1) / norm0  # (L + 1, n_betas)
        diffs.append(jnp.log(moved[-1]))
        maxdiffs.append(jnp.log(moved.max(axis=0)))
    out.update(error=jnp.stack(errors), error_final=jnp.stack(finals),
               log_hidden_diff=jnp.stack(diffs), log_hidden_maxdiff=jnp.stack(maxdiffs))
    return out


# --- SDE ----------------------------------------------------------------------------------------

def brownian_increments(key, steps: int, width: int, dtype) -> jax.Array:
    """Increments B_{(j+1)/n} - B_{j/n} of a d x d matrix of standard Brownian motions on
    [0, 1], n = ``steps``: ``(n, d, d)`` i.i.d. N(0, 1/n)."""
    return jax.random.normal(jax.random.fold_in(key, _WEIGHTS), (steps, width, width),
                             dtype) / jnp.sqrt(jnp.asarray(steps, dtype))


def coarsen(increments, factor: int) -> jax.Array:
    """The same Brownian path on a grid ``factor`` times coarser: sums of consecutive blocks
    of ``factor`` fine increments (B_{(k+1)/L} - B_{k/L} = sum of the fine increments inside)."""
    steps = increments.shape[0]
    return increments.reshape(steps // factor, factor, *increments.shape[1:]).sum(axis=1)


def euler_maruyama(activation: str, negative_slope: float, gain: float, h0,
                   increments) -> jax.Array:
    """res-1 at depth L = len(increments) with alpha = 1/sqrt(L), V_{k+1} = gain sqrt(L/d) dB_k
    (entries N(0, gain^2/d)): the Euler-Maruyama scheme of dH = (gain/sqrt(d)) dB sigma(H).
    Returns the trajectory ``(L + 1, d)``."""
    steps, width = increments.shape[0], h0.shape[-1]
    residual = models.branch("res1", activation, negative_slope).residual
    scale = gain * math.sqrt(steps / width)
    layer_weights = (scale * increments)[:, None]  # (L, 1, d, d): res-1 has V only
    return euler(residual, layer_weights, h0, [steps ** -0.5])[:, 0]


def sde_sample(key, *, activation: str, negative_slope: float, width: int, n_in: int,
               gain: float, depths: tuple[int, ...], reference_depth: int,
               dtype=jnp.float64) -> dict:
    """Strong errors of res-1 against its SDE on one Brownian path, for every depth L:

    * ``error[L]`` = max_k ||H_{k/L} - h_k||, ``error_final[L]`` = ||H_1 - h_L||, where H is
      Euler-Maruyama on the finest grid (``reference_depth`` steps), h the depth-L ResNet on
      the same path;
    * ``sq_ratio[L]`` = ||h_L||^2/||h_0||^2 and ``limit_sq_ratio`` = ||H_1||^2/||H_0||^2.
    """
    h0 = initial_state(key, width, n_in, dtype)
    fine = brownian_increments(key, reference_depth, width, dtype)
    limit = euler_maruyama(activation, negative_slope, gain, h0, fine)
    norm0 = jnp.linalg.norm(h0)
    errors, finals, ratios = [], [], []
    for depth in depths:
        r = reference_depth // depth
        trajectory = euler_maruyama(activation, negative_slope, gain, h0, coarsen(fine, r))
        gaps = jnp.linalg.norm(trajectory - limit[::r], axis=-1)
        errors.append(gaps.max())
        finals.append(gaps[-1])
        ratios.append((jnp.linalg.norm(trajectory[-1]) / norm0) ** 2)
    return {"h0_norm": norm0, "error": jnp.stack(errors), "error_final": jnp.stack(finals),
            "sq_ratio": jnp.stack(ratios),
            "limit_sq_ratio": (jnp.linalg.norm(limit[-1]) / norm0) ** 2}


def linear_sde_second_moment(gain: float, t: float = 1.0) -> float:
    """E||H_t||^2/||H_0||^2 = exp(gain^2 t) for dH = (gain/sqrt(d)) dB H (identity sigma).

    Ito: d||H||^2 = 2 H.dH + sum_i (dH_i)^2 and (dH_i)^2 = (gain^2/d) sum_j H_j^2 dt, so
    d E||H||^2 = gain^2 E||H||^2 dt (the martingale term has mean 0) for every d.
    """
    return math.exp(gain**2 * t)


def linear_sde_log_moments(gain: float, width: int, t: float = 1.0) -> tuple[float, float]:
    """Mean and variance of log(||H_t||^2/||H_0||^2) for dH = (gain/sqrt(d)) dB H: exactly
    normal, N(gain^2 (1 - 2/d) t, 4 gain^2 t / d).

    With c = gain/sqrt(d) and u = H/||H||: d log||H||^2 = 2c u^T dB u + (c^2 d - 2 c^2) dt,
    and u^T dB u is a standard Brownian motion whatever u (its quadratic variation is
    sum_ij u_i^2 u_j^2 dt = dt), so the law does not depend on H_0.
    """
    c2 = gain**2 / width
    return (c2 * width - 2 * c2) * t, 4 * c2 * t


def euler_maruyama_second_moment(gain: float, depth: int) -> float:
    """E||h_L||^2/||h_0||^2 = (1 + gain^2/L)^L for the depth-L scheme (THEORY.md section 4)."""
    return (1 + gain**2 / depth) ** depth


# --- the fitted order -------------------------------------------------------------------------

@dataclass(frozen=True)
class ConvergenceOrder:
    """p in E[error] ~ c L^-p: ``order`` = p = -``slope``, [``low``, ``high``] its bootstrap
    percentile interval at ``level`` over ``n_samples`` realisations."""

    order: float
    low: float
    high: float
    slope: float
    intercept: float
    level: float
    n_samples: int
    depths: tuple[int, ...]
    mean_errors: tuple[float, ...]

    def __str__(self) -> str:
        return (f"order {self.order:.3f} [{self.low:.3f}, {self.high:.3f}] "
                f"({self.level:.0%} bootstrap over {self.n_samples} samples, "
                f"L = {min(self.depths)}..{max(self.depths)})")


def _least_squares_slopes(log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Slopes of log_y (``(..., n)``) against log_x (``(n,)``) by ordinary least squares."""
    centred = log_x - log_x.mean()
    return (log_y - log_y.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)


def series_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in SERIES if c in frame]


def convergence_order(frame: pd.DataFrame, metric: str = "error", level: float = 0.95,
                      n_boot: int = 2000, seed: int = 0) -> ConvergenceOrder:
    """Fit log mean(``metric``) = a - p log L over the depths of one series (columns
    ``depth``, ``sample``, ``metric``; every sample at every depth) and bootstrap the samples.
    """
    columns = series_columns(frame)
    if columns and len(frame.groupby(columns, dropna=False)) > 1:
        raise ValueError("the frame holds several series; select one, or use "
                         "rsim.limits.convergence_orders")
    cube = frame.pivot_table(index="sample", columns="depth", values=metric, aggfunc="first")
    if cube.isna().any().any() or cube.shape[1] < 2 or cube.shape[0] < 2:
        raise ValueError(f"convergence_order needs {metric} for >= 2 samples at the same "
                         ">= 2 depths")
    depths = cube.columns.to_numpy()
    errors = cube.to_numpy(float)
    log_depths = np.log(depths.astype(float))
    means = errors.mean(axis=0)
    slope = float(_least_squares_slopes(log_depths, np.log(means)))
    intercept = float(np.log(means).mean() - slope * log_depths.mean())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(errors), (n_boot, len(errors)))
    boot = -_least_squares_slopes(log_depths, np.log(errors[picks].mean(axis=1)))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return ConvergenceOrder(-slope, float(low), float(high), slope, intercept, level,
                            len(errors), tuple(int(d) for d in depths), tuple(means.tolist()))


def convergence_orders(frame: pd.DataFrame, metric: str = "error", **kwargs) -> pd.DataFrame:
    """:func:`convergence_order` for every series of a table; one row per series."""
    columns = series_columns(frame)
    rows = []
    for key, group in frame.groupby(columns, dropna=False, sort=True):
        fit = convergence_order(group, metric, **kwargs)
        rows.append({**dict(zip(columns, key)), "order": fit.order, "low": fit.low,
                     "high": fit.high, "level": fit.level, "n_samples": fit.n_samples,
                     "min_depth": min(fit.depths), "max_depth": max(fit.depths)})
    return pd.DataFrame(rows)
