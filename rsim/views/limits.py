"""Figures of the ode and sde experiments, drawn from their tables (never from jax).

Each figure has a view ``<name>_figure(table, axes=)`` that draws on the caller's axes or a
new figure and returns the Figure, and a writer ``<name>_file(table, path)`` that saves it in
the format of the path's suffix (PNG, SVG or PDF; the experiments write PNG):

* ``error_vs_depth.png``: the reference-free strong error against L per series, with the
  fitted order and the reference-based error (:func:`error_figure`);
* ``regimes.png`` (ode): r_h and max_k r_h against L per beta, Propositions 8 and 9
  (:func:`regimes_figure`);
* ``weak_check.png`` (sde): the Monte Carlo second moment against its exact value, black
  and drawn above it (:func:`weak_figure`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rsim.analysis.convergence import (
    METRICS,
    THEORY_ORDER,
    convergence_order,
    mean_errors,
    series_columns,
)
from rsim.labels import limit_series_label, ratio_label
from rsim.views import _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def error_file(frame: pd.DataFrame, path: Path) -> Path:
    """:func:`error_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(error_figure(frame), path)


def regimes_file(regimes: pd.DataFrame, path: Path) -> Path:
    """:func:`regimes_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(regimes_figure(regimes), path)


def weak_file(table: pd.DataFrame, path: Path) -> Path:
    """:func:`weak_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(weak_figure(table), path)


def error_figure(frame: pd.DataFrame, axes: np.ndarray | None = None) -> Figure:
    """The reference-free error against L, log-log, per series: samples (thin), mean (filled:
    the depths of the fit), fitted line, theory slope, and the mean error against the
    reference solution (open, a diagnostic).

    Args:
        frame: an ode or sde table (one or several series).
        axes: a row of one axes per series to draw on; None for a new figure.

    Returns:
        The figure.
    """
    groups = list(frame.groupby(series_columns(frame), dropna=False, sort=True))
    fig, grid = _style.figure_axes(axes, (1, len(groups)), (4.5 * len(groups), 4))
    for ax, (_, group) in zip(grid[0], groups):
        first = group.iloc[0]
        fit = convergence_order(group)
        cube = group.pivot_table(index="sample", columns="depth", values=fit.metric)
        depths = np.asarray(fit.depths, float)
        for _, row in cube.head(40).iterrows():
            ax.plot(depths, row.to_numpy(), color="0.8", lw=0.5)
        means = np.asarray(fit.mean_errors)
        fitted = np.isin(fit.depths, fit.fit_depths)
        ax.plot(depths, means, "o", mfc="none", color="C0", label=METRICS[fit.metric])
        ax.plot(depths[fitted], means[fitted], "o", color="C0", label="depths of the fit")
        ax.plot(
            depths[fitted],
            fit.fitted(depths[fitted]),
            color="C0",
            label=f"fit: order {fit.order:.3f} [{fit.low:.3f}, {fit.high:.3f}]",
        )
        p = THEORY_ORDER[first["experiment"]]
        anchor = np.exp(np.log(means[fitted]).mean() + p * np.log(depths[fitted]).mean())
        ax.plot(depths, anchor * depths**-p, "k--", lw=1, label=f"slope -{p:g}")
        reference = mean_errors(group, "error")
        ax.plot(
            reference.index,
            reference.to_numpy(),
            "s",
            mfc="none",
            ms=4,
            color="C1",
            label=f"{METRICS['error']} (reference-based, diagnostic)",
        )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.set_ylabel("strong error")
        ax.set_title(
            f"{first['experiment'].upper()}: {limit_series_label(first)}, "
            f"d = {first['width']}, {fit.n_samples} samples",
            fontsize=9,
        )
        ax.legend(fontsize=6)
    if axes is None:
        fig.tight_layout()
    return fig


def regimes_figure(regimes: pd.DataFrame, axes: np.ndarray | None = None) -> Figure:
    """Propositions 8 and 9: median r_h (top) and max_k r_h (bottom) against L per beta, with
    10-90% bands; max_k r_h over the samples whose V(t) has a positive real eigenvalue.

    Args:
        regimes: the ``regimes`` table of the ode experiment, with its plain ratios.
        axes: an array of (2 x series) axes to draw on; None for a new figure.

    Returns:
        The figure.
    """
    groups = list(regimes.groupby(["model", "activation"]))
    metrics = ("hidden_diff", "hidden_maxdiff")
    width = max(4.5 * len(groups), 6.5)  # room for the caption over one column
    fig, grid = _style.figure_axes(axes, (2, len(groups)), (width, 7.4))
    for col, ((model, activation), group) in enumerate(groups):
        for row, metric in enumerate(metrics):
            ax = grid[row, col]
            rows = group if row == 0 else group[group["positive_eigenvalue"] > 0]
            for beta, by_beta in rows.groupby("beta"):
                q = by_beta.groupby("depth")[metric].quantile([0.1, 0.5, 0.9]).unstack()
                color = _style.series_color(len(ax.lines))
                ax.plot(q.index, q[0.5], "o-", ms=3, color=color, label=rf"$\beta$ = {beta:g}")
                ax.fill_between(q.index, q[0.1], q[0.9], color=color, alpha=0.2)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("depth L")
            ax.set_ylabel(ratio_label(metric))
            which = "" if row == 0 else ", V(t) with a positive eigenvalue"
            ax.set_title(f"{model} {activation}, smooth weights{which}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(
        r"Propositions 8-9: $\alpha = L^{-\beta}$; $\beta$ = 1 is critical for "
        "smooth weights\n(median, 10-90% band)",
        fontsize=10,
    )
    if axes is None:
        fig.tight_layout()
    return fig


def weak_figure(table: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """E||h_L||^2/||h_0||^2 with +-2 SE against L, the exact (1 + gain^2/L)^L and the limit
    (``table``: :func:`rsim.analysis.convergence.weak_check`).

    Args:
        table: the table of :func:`rsim.analysis.convergence.weak_check`.
        ax: the axes to draw on; None for a new figure.

    Returns:
        The figure.

    Example:
        >>> import tempfile
        >>> from rsim.analysis.convergence import weak_check
        >>> frame = pd.DataFrame(
        ...     [dict(activation="identity", gain=1.0, width=4, depth=L, sample=s,
        ...           sq_ratio=2.0 + s, limit_sq_ratio=2.5 + s, reference_depth=64)
        ...      for L in (4, 8) for s in range(2)]
        ... )
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = weak_file(weak_check(frame), Path(tmp) / "weak_check.png")
        ...     print(path.name, path.stat().st_size > 0)
        weak_check.png True
    """
    owned = ax is None
    fig, axes = _style.figure_axes(ax, (1, 1), (5.5, 4))
    ax = axes[0, 0]
    for (gain, width), group in table.groupby(["gain", "width"]):
        net = group[group["what"] == "resnet"]
        limit = group[group["what"] == "limit"].iloc[0]
        ax.errorbar(
            net["depth"],
            net["mean"],
            yerr=2 * net["se"],
            fmt="o",
            ms=3,
            label=f"ResNet, Monte Carlo ±2 SE (g² = {gain**2:g}, d = {width})",
        )
        ax.plot(net["depth"], net["exact"], label=r"exact $(1 + g^2/L)^L$", **_style.EXACT)
        ax.axhline(limit["exact"], color="C2", ls=":", lw=1.5, label=r"SDE: $e^{g^2}$")
        ax.errorbar(
            [limit["depth"]],
            [limit["mean"]],
            yerr=[2 * limit["se"]],
            fmt="s",
            color="C2",
            label=r"reference $H_1$, ±2 SE",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"$E\|h_L\|^2 / \|h_0\|^2$")
    ax.set_title("SDE weak check, res1 identity", fontsize=9)
    ax.legend(fontsize=7)
    if owned:
        fig.tight_layout()
    return fig
