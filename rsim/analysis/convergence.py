"""Convergence of the ResNet to its ODE / SDE limit, from the tables of the ode and sde
experiments (rsim/THEORY.md section 5). Plain numpy and pandas: never imports jax.

* :func:`convergence_order` fits log E[error] = log c - p log L + b/L (the power law with its
  leading correction) by least squares over the asymptotic depths (:func:`asymptotic_depths`;
  E over samples) and bootstraps the samples
  (each sample's errors at every depth kept together: they share one realisation) for a
  percentile interval of p; :func:`convergence_orders` does it for every series of a table.
  The error is reference-free by default (:data:`ORDER_METRIC`: depth L against depth 2L on
  the same realisation), so no reference solution's own error biases the slope.
* :func:`order_lines`, :func:`regime_lines` and :func:`weak_lines` are the lines that
  ``finish`` logs; :func:`weak_check` compares the sde Monte Carlo means with the exact
  moments of the linear SDE (:func:`linear_sde_second_moment`, ...).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from rsim.analysis.stats import mean_and_se
from rsim.labels import limit_series_label
from rsim.schema import LIMIT_SERIES

# Theoretical strong orders: Euler on a Lipschitz ODE, Euler-Maruyama on an SDE.
THEORY_ORDER = {"ode": 1.0, "sde": 0.5}


# --- the exact moments of the linear SDE (the weak check) ---------------------------------------


def linear_sde_second_moment(gain: float, t: float = 1.0) -> float:
    """E||H_t||^2/||H_0||^2 = exp(gain^2 t) for dH = (gain/sqrt(d)) dB H (identity sigma).

    Ito: d||H||^2 = 2 H.dH + sum_i (dH_i)^2 and (dH_i)^2 = (gain^2/d) sum_j H_j^2 dt, so
    d E||H||^2 = gain^2 E||H||^2 dt (the martingale term has mean 0) for every d.

    Args:
        gain: the gain g of the weights.
        t: the time.

    Returns:
        The exact second moment, whatever the width.

    Example:
        >>> linear_sde_second_moment(1.0)
        2.718281828459045
    """
    return math.exp(gain**2 * t)


def linear_sde_log_moments(gain: float, width: int, t: float = 1.0) -> tuple[float, float]:
    """Mean and variance of log(||H_t||^2/||H_0||^2) for dH = (gain/sqrt(d)) dB H: exactly
    normal, N(gain^2 (1 - 2/d) t, 4 gain^2 t / d).

    With c = gain/sqrt(d) and u = H/||H||: d log||H||^2 = 2c u^T dB u + (c^2 d - 2 c^2) dt,
    and u^T dB u is a standard Brownian motion whatever u (its quadratic variation is
    sum_ij u_i^2 u_j^2 dt = dt), so the law does not depend on H_0.

    Args:
        gain: the gain g of the weights.
        width: the width d.
        t: the time.

    Returns:
        ``(mean, variance)`` of the log ratio.

    Example:
        >>> linear_sde_log_moments(1.0, width=4)
        (0.5, 1.0)
    """
    c2 = gain**2 / width
    return (c2 * width - 2 * c2) * t, 4 * c2 * t


def euler_maruyama_second_moment(gain: float, depth: int) -> float:
    """E||h_L||^2/||h_0||^2 = (1 + gain^2/L)^L for the depth-L scheme
    (rsim/THEORY.md section 4).

    Args:
        gain: the gain g of the weights.
        depth: the number of steps L.

    Returns:
        The exact second moment; it tends to exp(gain^2) as L grows.

    Example:
        >>> euler_maruyama_second_moment(1.0, 4)
        2.44140625
    """
    return (1 + gain**2 / depth) ** depth


# --- the fitted order ---------------------------------------------------------------------------

# The metric an order is fitted on: ||h^(L)_L - h^(2L)_2L||, reference-free (rsim/THEORY.md
# section 5). Not the max over the depth-L grid: the max of L points of a random-walk-like
# error lies below the max over [0, 1] by a relative O(L^-1/2), which biases the SDE's slope
# low (measured, scripts/sde_order_check.py: 0.493 where t = 1 gives 0.499).
ORDER_METRIC = "doubling_gap_final"
# What each metric measures, for the printed lines.
METRICS = {
    "doubling_gap_final": "E||h^(L)_L - h^(2L)_2L||",
    "doubling_gap": "E max_k ||h^(L)_k - h^(2L)_2k||",
    "error": "E max_k ||H_{k/L} - h_k||",
    "error_final": "E||H_1 - h_L||",
}


def asymptotic_depths(depths: Iterable[int]) -> tuple[int, ...]:
    """The depths an order is fitted on: L >= 4 x the smallest (the first two octaves, the
    most pre-asymptotic, dropped) if that leaves >= 4 depths; else every depth.

    Args:
        depths: the depths of a series, in any order.

    Returns:
        The depths of the fit, sorted.

    Example:
        >>> asymptotic_depths([64, 8, 16, 32, 128, 256])
        (32, 64, 128, 256)
        >>> asymptotic_depths([8, 16, 32])
        (8, 16, 32)
    """
    depths = sorted(int(depth) for depth in depths)
    upper = [depth for depth in depths if depth >= 4 * depths[0]]
    return tuple(upper if len(upper) >= 4 else depths)


@dataclass(frozen=True)
class ConvergenceOrder:
    """p in E[metric] ~ c L^-p (1 + b/L), fitted over ``fit_depths``: ``order`` = p =
    -``slope``, [``low``, ``high``] its bootstrap percentile interval at ``level`` over
    ``n_samples`` realisations, ``correction`` = b (None: a plain power law); ``depths`` and
    ``mean_errors``: every depth of the series and its mean."""

    order: float
    low: float
    high: float
    slope: float
    intercept: float
    correction: float | None
    level: float
    n_samples: int
    depths: tuple[int, ...]
    mean_errors: tuple[float, ...]
    fit_depths: tuple[int, ...]
    metric: str

    def fitted(self, depths: ArrayLike) -> np.ndarray:
        """The fitted mean error at ``depths``: exp(a - p log L + b/L).

        Args:
            depths: the depths L.

        Returns:
            The fitted mean error at each depth.
        """
        depths = np.asarray(depths, float)
        b = self.correction or 0.0
        return np.exp(self.intercept + self.slope * np.log(depths) + b / depths)

    def local_orders(self) -> list[tuple[int, int, float]]:
        """(L, L', -slope of log E[metric] between L and L') for consecutive depths.

        Returns:
            One ``(L, L', p)`` per pair of consecutive depths (:func:`local_orders`).
        """
        return local_orders(self.depths, self.mean_errors)

    def __str__(self) -> str:
        model = "" if self.correction is None else " with a 1/L correction"
        return (
            f"order {self.order:.3f} [{self.low:.3f}, {self.high:.3f}] "
            f"({self.level:.0%} bootstrap over {self.n_samples} samples, "
            f"L = {min(self.fit_depths)}..{max(self.fit_depths)}{model})"
        )


def local_orders(depths: Sequence[int], means: ArrayLike) -> list[tuple[int, int, float]]:
    """(L, L', p) for consecutive depths: p = -slope of log ``means`` between L and L'.

    Args:
        depths: the depths, increasing.
        means: the mean error at each depth.

    Returns:
        One ``(L, L', p)`` per pair of consecutive depths.

    Example:
        >>> local_orders([8, 16, 32], [1.0, 0.5, 0.25])
        [(8, 16, 1.0), (16, 32, 1.0)]
    """
    slopes = -np.diff(np.log(means)) / np.diff(np.log(np.asarray(depths, float)))
    return [(int(a), int(b), float(p)) for a, b, p in zip(depths, depths[1:], slopes)]


def mean_errors(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The mean over samples of ``metric`` at each depth (index: depth).

    Args:
        frame: a table of one series with the columns ``depth`` and ``metric``.
        metric: the error column.

    Returns:
        The mean error per depth.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame(
        ...     [dict(depth=L, sample=s, doubling_gap_final=(1 + 0.1 * s) / L)
        ...      for L in (8, 16, 32) for s in range(3)]
        ... )
        >>> mean_errors(frame, "doubling_gap_final").round(4).tolist()
        [0.1375, 0.0687, 0.0344]
    """
    return frame.groupby("depth")[metric].mean()


def _least_squares(depths: ArrayLike, log_means: np.ndarray, correction: bool) -> np.ndarray:
    """(a, -p, b) of log_means (``(..., n)``) = a - p log L (+ b/L) by ordinary least
    squares over ``depths`` (``(n,)``); b = 0 without the correction."""
    depths = np.asarray(depths, float)
    columns = [np.ones_like(depths), np.log(depths)] + ([1 / depths] if correction else [])
    coefficients = log_means @ np.linalg.pinv(np.stack(columns, axis=1)).T
    if not correction:
        coefficients = np.concatenate([coefficients, np.zeros_like(coefficients[..., :1])], -1)
    return coefficients


def series_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that identify one series (one convergence order).

    Args:
        frame: an ode or sde table.

    Returns:
        The series columns of :data:`rsim.schema.LIMIT_SERIES` that ``frame`` has.

    Example:
        >>> import pandas as pd
        >>> series_columns(pd.DataFrame(columns=["model", "activation", "depth", "sample"]))
        ['model', 'activation']
    """
    return [c for c in LIMIT_SERIES if c in frame]


def convergence_order(
    frame: pd.DataFrame,
    metric: str = ORDER_METRIC,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    min_depth: int | None = None,
    correction: bool | None = None,
) -> ConvergenceOrder:
    """Fit log mean(``metric``) = a - p log L + b/L over the depths of one series (columns
    ``depth``, ``sample``, ``metric``; every sample at every depth) and bootstrap the samples
    (a sample's depths kept together) for a percentile interval of p.

    The fit uses the depths >= ``min_depth``; None (the default): :func:`asymptotic_depths`.
    The b/L term, the leading correction to the power law (rsim/THEORY.md section 5), is
    fitted when ``correction`` is True (>= 4 depths); None (the default): when >= 4 depths
    are fitted.

    Args:
        frame: the rows of one series (an ode or sde table).
        metric: the error column (default: the reference-free ``doubling_gap_final``).
        level: the level of the bootstrap percentile interval.
        n_boot: the number of bootstrap draws.
        seed: the seed of the bootstrap.
        min_depth: the smallest depth of the fit (None: :func:`asymptotic_depths`).
        correction: whether to fit the b/L term (None: with >= 4 depths).

    Returns:
        The fitted :class:`ConvergenceOrder`.

    Raises:
        ValueError: several series, fewer than 2 samples or depths, or too few depths left.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame(
        ...     [dict(depth=L, sample=s, doubling_gap_final=(1 + 0.1 * s) / L)
        ...      for L in (8, 16, 32) for s in range(3)]
        ... )
        >>> fit = convergence_order(frame, n_boot=50)
        >>> round(fit.order, 6), fit.fit_depths, fit.n_samples
        (1.0, (8, 16, 32), 3)
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
    depths = tuple(int(d) for d in cube.columns)
    fit_depths = (
        asymptotic_depths(depths)
        if min_depth is None
        else tuple(d for d in depths if d >= min_depth)
    )
    correction = len(fit_depths) >= 4 if correction is None else correction
    if len(fit_depths) < (4 if correction else 2):
        raise ValueError(
            f"min_depth={min_depth!r} leaves {len(fit_depths)} of the depths {depths}: too "
            f"few for the fit ({'4 with the correction' if correction else '2'} needed)"
        )
    errors = cube[list(fit_depths)].to_numpy(float)
    intercept, slope, b = _least_squares(fit_depths, np.log(errors.mean(axis=0)), correction)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(errors), (n_boot, len(errors)))
    boot = -_least_squares(fit_depths, np.log(errors[picks].mean(axis=1)), correction)[:, 1]
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return ConvergenceOrder(
        -float(slope),
        float(low),
        float(high),
        float(slope),
        float(intercept),
        float(b) if correction else None,
        level,
        len(errors),
        depths,
        tuple(cube.to_numpy(float).mean(axis=0).tolist()),
        fit_depths,
        metric,
    )


def convergence_orders(
    frame: pd.DataFrame, metric: str = ORDER_METRIC, **kwargs: Any
) -> pd.DataFrame:
    """:func:`convergence_order` for every series of a table; one row per series.

    Args:
        frame: an ode or sde table (one or several series).
        metric: the error column.
        **kwargs: passed to :func:`convergence_order`.

    Returns:
        One row per series: its series columns, ``metric``, ``order``, ``low``, ``high``,
        ``level``, ``n_samples`` and the depth ranges of the fit and of the table.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame(
        ...     [dict(depth=L, sample=s, doubling_gap_final=(1 + 0.1 * s) / L)
        ...      for L in (8, 16, 32) for s in range(3)]
        ... )
        >>> table = convergence_orders(frame.assign(model="res1"), n_boot=50)
        >>> table[["model", "order", "n_samples"]].round(6)
          model  order  n_samples
        0  res1    1.0          3
    """
    columns = series_columns(frame)
    rows = []
    for key, group in frame.groupby(columns, dropna=False, sort=True):
        fit = convergence_order(group, metric, **kwargs)
        rows.append(
            {
                **dict(zip(columns, key)),
                "metric": fit.metric,
                "order": fit.order,
                "low": fit.low,
                "high": fit.high,
                "level": fit.level,
                "n_samples": fit.n_samples,
                "fit_min_depth": min(fit.fit_depths),
                "fit_max_depth": max(fit.fit_depths),
                "min_depth": min(fit.depths),
                "max_depth": max(fit.depths),
            }
        )
    return pd.DataFrame(rows)


# --- the lines that finish logs -----------------------------------------------------------------


def _reference(first: Mapping[str, Any]) -> str:
    """The reference solution of a series, in words."""
    if first["experiment"] == "ode":
        return f"H = Dopri8 at tolerance {first['tolerance']:g}"
    n = int(first["reference_depth"])
    return f"H = Euler-Maruyama at N = {n} steps, so it falls like sqrt(1/L - 1/N)"


def order_lines(frame: pd.DataFrame) -> list[str]:
    """Per series: the reference-free order with its interval (the only order printed), its
    local orders over every depth, and the reference-based errors as a diagnostic (their
    local slopes, no interval; ode: and the reference solver's error bound).

    Args:
        frame: an ode or sde table (columns of :func:`convergence_order` plus ``experiment``,
            ``width``, ``error`` and the reference's ``tolerance`` or ``reference_depth``).

    Returns:
        The lines the ode and sde experiments log, three per series.
    """
    lines = []
    columns = series_columns(frame)
    for _, group in frame.groupby(columns, dropna=False, sort=True):
        first = group.iloc[0]
        fit = convergence_order(group)
        lines.append(
            f"{first['experiment']} {limit_series_label(first)} d={first['width']}: strong "
            f"order {fit.order:.3f} [{fit.low:.3f}, {fit.high:.3f}] (theory "
            f"{THEORY_ORDER[first['experiment']]:g}), reference-free from "
            f"{METRICS[fit.metric]} at L = {min(fit.fit_depths)}..{max(fit.fit_depths)} of "
            f"{min(fit.depths)}..{max(fit.depths)}{_model(fit)}, {fit.level:.0%} bootstrap "
            f"over {fit.n_samples} samples"
        )
        lines.append(f"  local orders of {METRICS[fit.metric]}: {_local(fit.local_orders())}")
        reference = mean_errors(group, "error")
        line = (
            f"  diagnostic, reference-based ({_reference(first)}): local slopes of "
            f"{METRICS['error']}: {_local(local_orders(reference.index, reference))}"
        )
        if "reference_gap" in group:
            line += (
                f"; reference solver: max ||H(tol) - H(100 tol)|| = "
                f"{group['reference_gap'].max():.1e} (bounds its error) vs smallest Euler "
                f"error {group['error'].min():.1e}"
            )
        lines.append(line)
    return lines


def _model(fit: ConvergenceOrder) -> str:
    if fit.correction is None:
        return " (a power law)"
    return f" (power law x (1 + b/L), b = {fit.correction:.2f})"


def _local(orders: list[tuple[int, int, float]]) -> str:
    return ", ".join(f"{a}-{b} {p:.2f}" for a, b, p in orders)


def weak_check(frame: pd.DataFrame) -> pd.DataFrame:
    """Monte Carlo means (with standard errors) against their exact values, for every identity
    series of an sde table: ||h_L||^2/||h_0||^2 against (1 + gain^2/L)^L at each depth
    ("resnet"), ||H_1||^2/||H_0||^2 against exp(gain^2) ("limit") and
    log(||H_1||^2/||H_0||^2) against gain^2 (1 - 2/d) ("limit log", exactly normal).

    Args:
        frame: an sde table (columns ``activation``, ``gain``, ``width``, ``depth``,
            ``sample``, ``sq_ratio``, ``limit_sq_ratio``, ``reference_depth``).

    Returns:
        One row per (gain, width, what, depth): ``mean``, ``se``, ``exact``, ``z`` = (mean -
        exact) / se and ``samples``.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame(
        ...     [dict(activation="identity", gain=1.0, width=4, depth=4, sample=s,
        ...           sq_ratio=2.0 + s, limit_sq_ratio=2.5 + s, reference_depth=64)
        ...      for s in range(2)]
        ... )
        >>> weak_check(frame)[["what", "depth", "mean", "exact"]].round(4)
                what  depth    mean   exact
        0     resnet      4  2.5000  2.4414
        1      limit     64  3.0000  2.7183
        2  limit log     64  1.0845  0.5000
    """
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
    """One line per row of :func:`weak_check`: mean +- SE against the exact value.

    Args:
        table: the table of :func:`weak_check`.

    Returns:
        The lines the sde experiment logs.
    """
    lines = []
    for _, row in table.iterrows():
        quantity = (
            "E log(||H_1||^2/||H_0||^2)" if row["what"] == "limit log" else "E||h_L||^2/||h_0||^2"
        )
        lines.append(
            f"weak check ({row['what']}, L = {row['depth']}): {quantity} = "
            f"{row['mean']:.4f} ± {row['se']:.4f} (SE) vs exact {row['exact']:.4f}, "
            f"z = {row['z']:+.2f}"
        )
    return lines


def regime_lines(regimes: pd.DataFrame) -> list[str]:
    """Propositions 8 and 9: median r_h and max_k r_h at the smallest and largest depth.

    Args:
        regimes: the ``regimes`` table of the ode experiment, with the ratios ``hidden_diff``
            and ``hidden_maxdiff`` (``rsim.load`` derives them from the stored logs).

    Returns:
        Per branch, a header line and one line per beta.
    """
    lines = []
    low, high = regimes["depth"].min(), regimes["depth"].max()
    for (model, activation), group in regimes.groupby(["model", "activation"]):
        positive = (group["positive_eigenvalue"] > 0).groupby(group["sample"]).first().mean()
        lines.append(
            f"{model} {activation}: median r_h = ||h_L - h_0||/||h_0|| and "
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
