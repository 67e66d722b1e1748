"""Figures of the ode and sde experiments, drawn from their tables (never from jax).

* ``error_vs_depth.png``: the reference-free strong error against L per series, with the
  fitted order and the reference-based error (:func:`error_figure`);
* ``regimes.png`` (ode): r_h and max_k r_h against L per beta, Propositions 8 and 9
  (:func:`regimes_figure`);
* ``weak_check.png`` (sde): the Monte Carlo second moment against its exact value
  (:func:`weak_figure`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rsim import results
from rsim.analysis.convergence import (
    METRICS,
    THEORY_ORDER,
    convergence_order,
    mean_errors,
    series_columns,
)
from rsim.labels import limit_series_label


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    results.save_figure(fig, path, dpi=120)
    return Path(path)


def error_figure(frame: pd.DataFrame, path: Path) -> Path:
    """The reference-free error against L, log-log, per series: samples (thin), mean (filled:
    the depths of the fit), fitted line, theory slope, and the mean error against the
    reference solution (open, a diagnostic).

    Args:
        frame: an ode or sde table (one or several series).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    groups = list(frame.groupby(series_columns(frame), dropna=False, sort=True))
    fig = Figure(figsize=(4.5 * len(groups), 4))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, (_, group) in zip(axes[0], groups):
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
            color="C3",
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
    return _save(fig, path)


def regimes_figure(regimes: pd.DataFrame, path: Path) -> Path:
    """Propositions 8 and 9: median r_h (top) and max_k r_h (bottom) against L per beta, with
    10-90% bands; max_k r_h over the samples whose V(t) has a positive real eigenvalue.

    Args:
        regimes: the ``regimes`` table of the ode experiment, with its plain ratios.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    groups = list(regimes.groupby(["model", "activation"]))
    metrics = (
        ("hidden_diff", r"$r_h = \|h_L - h_0\| / \|h_0\|$"),
        ("hidden_maxdiff", r"$\max_k \|h_k - h_0\| / \|h_0\|$"),
    )
    fig = Figure(figsize=(4.5 * len(groups), 7))
    axes = fig.subplots(2, len(groups), squeeze=False)
    for col, ((model, activation), group) in enumerate(groups):
        for row, (metric, label) in enumerate(metrics):
            ax = axes[row, col]
            rows = group if row == 0 else group[group["positive_eigenvalue"] > 0]
            for beta, by_beta in rows.groupby("beta"):
                q = by_beta.groupby("depth")[metric].quantile([0.1, 0.5, 0.9]).unstack()
                (line,) = ax.plot(q.index, q[0.5], "o-", ms=3, label=rf"$\beta$ = {beta:g}")
                ax.fill_between(q.index, q[0.1], q[0.9], color=line.get_color(), alpha=0.2)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("depth L")
            ax.set_ylabel(label)
            which = "" if row == 0 else ", V(t) with a positive eigenvalue"
            ax.set_title(f"{model} {activation}, smooth weights{which}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(
        r"Propositions 8-9: $\alpha = L^{-\beta}$; $\beta$ = 1 is critical for "
        "smooth weights (median, 10-90% band)",
        fontsize=10,
    )
    return _save(fig, path)


def weak_figure(table: pd.DataFrame, path: Path) -> Path:
    """E||h_L||^2/||h_0||^2 with +-2 SE against L, the exact (1 + gain^2/L)^L and the limit
    (``table``: :func:`rsim.analysis.convergence.weak_check`).

    Args:
        table: the table of :func:`rsim.analysis.convergence.weak_check`.
        path: the PNG to write.

    Returns:
        ``path``.

    Example:
        >>> import tempfile
        >>> from rsim.analysis.convergence import weak_check
        >>> frame = pd.DataFrame(
        ...     [dict(activation="identity", gain=1.0, width=4, depth=L, sample=s,
        ...           sq_ratio=2.0 + s, limit_sq_ratio=2.5 + s, reference_depth=64)
        ...      for L in (4, 8) for s in range(2)]
        ... )
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = weak_figure(weak_check(frame), Path(tmp) / "weak_check.png")
        ...     print(path.name, path.stat().st_size > 0)
        weak_check.png True
    """
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
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
        ax.plot(net["depth"], net["exact"], "k-", lw=1, label=r"exact $(1 + g^2/L)^L$")
        ax.axhline(limit["exact"], color="C3", ls="--", lw=1, label=r"SDE: $e^{g^2}$")
        ax.errorbar(
            [limit["depth"]],
            [limit["mean"]],
            yerr=[2 * limit["se"]],
            fmt="s",
            color="C3",
            label="reference H_1, ±2 SE",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth L")
    ax.set_ylabel(r"$E\|h_L\|^2 / \|h_0\|^2$")
    ax.set_title("SDE weak check, res1 identity", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)
