"""Convergence of the ResNet to its ODE / SDE limit, from the tables of the ode and sde
experiments (rsim/THEORY.md section 5). Plain numpy and pandas: never imports jax.

* :func:`convergence_order` fits log E[error] = log c - p log L by least squares over the
  depths (E over samples) and bootstraps the samples (each sample's errors at every depth kept
  together: they share one realisation) for a percentile interval of p;
  :func:`convergence_orders` does it for every series of a table.
* :func:`order_lines`, :func:`regime_lines` and :func:`weak_lines` are the lines that
  ``finish`` prints; :func:`weak_check` compares the sde Monte Carlo means with the exact
  moments of the linear SDE (:func:`linear_sde_second_moment`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rsim.analysis.stats import mean_and_se
from rsim.schema import LIMIT_SERIES

# Theoretical strong orders: Euler on a Lipschitz ODE, Euler-Maruyama on an SDE.
THEORY_ORDER = {"ode": 1.0, "sde": 0.5}


# --- the exact moments of the linear SDE (the weak check) ---------------------------------------


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
    """E||h_L||^2/||h_0||^2 = (1 + gain^2/L)^L for the depth-L scheme
    (rsim/THEORY.md section 4)."""
    return (1 + gain**2 / depth) ** depth


# --- the fitted order ---------------------------------------------------------------------------


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
        return (
            f"order {self.order:.3f} [{self.low:.3f}, {self.high:.3f}] "
            f"({self.level:.0%} bootstrap over {self.n_samples} samples, "
            f"L = {min(self.depths)}..{max(self.depths)})"
        )


def _least_squares_slopes(log_x: np.ndarray, log_y: np.ndarray) -> np.ndarray:
    """Slopes of log_y (``(..., n)``) against log_x (``(n,)``) by ordinary least squares."""
    centred = log_x - log_x.mean()
    return (log_y - log_y.mean(axis=-1, keepdims=True)) @ centred / (centred @ centred)


def series_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that identify one series (one convergence order)."""
    return [c for c in LIMIT_SERIES if c in frame]


def convergence_order(
    frame: pd.DataFrame,
    metric: str = "error",
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> ConvergenceOrder:
    """Fit log mean(``metric``) = a - p log L over the depths of one series (columns
    ``depth``, ``sample``, ``metric``; every sample at every depth) and bootstrap the samples.
    """
    columns = series_columns(frame)
    if columns and len(frame.groupby(columns, dropna=False)) > 1:
        raise ValueError(
            "the frame holds several series; select one, or use "
            "rsim.analysis.convergence.convergence_orders"
        )
    cube = frame.pivot_table(index="sample", columns="depth", values=metric, aggfunc="first")
    if cube.isna().any().any() or cube.shape[1] < 2 or cube.shape[0] < 2:
        raise ValueError(
            f"convergence_order needs {metric} for >= 2 samples at the same >= 2 depths"
        )
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
    return ConvergenceOrder(
        -slope,
        float(low),
        float(high),
        slope,
        intercept,
        level,
        len(errors),
        tuple(int(d) for d in depths),
        tuple(means.tolist()),
    )


def convergence_orders(frame: pd.DataFrame, metric: str = "error", **kwargs) -> pd.DataFrame:
    """:func:`convergence_order` for every series of a table; one row per series."""
    columns = series_columns(frame)
    rows = []
    for key, group in frame.groupby(columns, dropna=False, sort=True):
        fit = convergence_order(group, metric, **kwargs)
        rows.append(
            {
                **dict(zip(columns, key)),
                "order": fit.order,
                "low": fit.low,
                "high": fit.high,
                "level": fit.level,
                "n_samples": fit.n_samples,
                "min_depth": min(fit.depths),
                "max_depth": max(fit.depths),
            }
        )
    return pd.DataFrame(rows)


def series_label(row) -> str:
    """``res1 relu``: the branch of a series (a row of its table)."""
    return f"{row['model']} {row['activation']}"


# --- the lines that finish prints ---------------------------------------------------------------


def order_lines(frame: pd.DataFrame) -> list[str]:
    """One line per series: the fitted order with its interval (and the solver's bound)."""
    lines = []
    columns = series_columns(frame)
    for _, group in frame.groupby(columns, dropna=False, sort=True):
        first = group.iloc[0]
        fit = convergence_order(group)
        line = (
            f"rsim: {first['experiment']} {series_label(first)} d={first['width']}: strong "
            f"{fit} (theory {THEORY_ORDER[first['experiment']]:g})"
        )
        depths = sorted(group["depth"].unique())
        if len(depths) >= 4:  # the smallest depths can be pre-asymptotic: show the fit without
            upper = convergence_order(group[group["depth"] >= depths[2]])
            line += (
                f"; without L < {depths[2]}: {upper.order:.3f} [{upper.low:.3f}, {upper.high:.3f}]"
            )
        if "reference_gap" in group:
            line += (
                f"; reference solver: max ||H(tol) - H(100 tol)|| = "
                f"{group['reference_gap'].max():.1e} (bounds its error) vs smallest Euler "
                f"error {group['error'].min():.1e}"
            )
        lines.append(line)
    return lines


def weak_check(frame: pd.DataFrame) -> pd.DataFrame:
    """Monte Carlo means (with standard errors) against their exact values, for every identity
    series of an sde table: ||h_L||^2/||h_0||^2 against (1 + gain^2/L)^L at each depth
    ("resnet"), ||H_1||^2/||H_0||^2 against exp(gain^2) ("limit") and
    log(||H_1||^2/||H_0||^2) against gain^2 (1 - 2/d) ("limit log", exactly normal)."""
    rows = []
    identity = frame[frame["activation"] == "identity"]
    for (gain, width), series in identity.groupby(["gain", "width"]):
        checks = [
            (
                "resnet",
                depth,
                group["sq_ratio"].to_numpy(),
                euler_maruyama_second_moment(gain, depth),
            )
            for depth, group in series.groupby("depth")
        ]
        limit = series.groupby("sample")["limit_sq_ratio"].first().to_numpy()
        reference = int(series["reference_depth"].iloc[0])
        checks.append(("limit", reference, limit, linear_sde_second_moment(gain)))
        checks.append(
            ("limit log", reference, np.log(limit), linear_sde_log_moments(gain, width)[0])
        )
        for what, depth, values, exact in checks:
            mean, se = mean_and_se(values)
            rows.append(
                {
                    "gain": gain,
                    "width": width,
                    "what": what,
                    "depth": depth,
                    "mean": mean,
                    "se": se,
                    "exact": exact,
                    "z": (mean - exact) / se,
                    "samples": len(values),
                }
            )
    return pd.DataFrame(rows)


def weak_lines(table: pd.DataFrame) -> list[str]:
    """One line per row of :func:`weak_check`: mean +- SE against the exact value."""
    lines = []
    for _, row in table.iterrows():
        quantity = (
            "E log(||H_1||^2/||H_0||^2)" if row["what"] == "limit log" else "E||h_L||^2/||h_0||^2"
        )
        lines.append(
            f"rsim: weak check ({row['what']}, L = {row['depth']}): {quantity} = "
            f"{row['mean']:.4f} ± {row['se']:.4f} (SE) vs exact {row['exact']:.4f}, "
            f"z = {row['z']:+.2f}"
        )
    return lines


def regime_lines(regimes: pd.DataFrame) -> list[str]:
    """Propositions 8 and 9: median r_h and max_k r_h at the smallest and largest depth.

    ``regimes`` needs the ratios ``hidden_diff`` and ``hidden_maxdiff`` (``rsim.load`` derives
    them from the stored logs)."""
    lines = []
    low, high = regimes["depth"].min(), regimes["depth"].max()
    for (model, activation), group in regimes.groupby(["model", "activation"]):
        positive = (group["positive_eigenvalue"] > 0).groupby(group["sample"]).first().mean()
        lines.append(
            f"rsim: {model} {activation}: median r_h = ||h_L - h_0||/||h_0|| and "
            f"max_k r_h, L = {low} -> {high} ({positive:.0%} of samples have V(t) "
            "with a positive eigenvalue)"
        )
        for beta, rows in group.groupby("beta"):
            med = rows.groupby("depth")[["hidden_diff", "hidden_maxdiff"]].median()
            lines.append(
                f"  beta={beta:g}: r_h {med.loc[low, 'hidden_diff']:.3g} -> "
                f"{med.loc[high, 'hidden_diff']:.3g}, max_k r_h "
                f"{med.loc[low, 'hidden_maxdiff']:.3g} -> "
                f"{med.loc[high, 'hidden_maxdiff']:.3g}"
            )
    return lines
