"""The figures of the training studies, drawn from a results table (matplotlib: tables in, PNG
out; never imports jax).

* ``training_accuracy.png`` (Figure 9, study ``accuracy``): the best test accuracy over the
  learning rates as a heatmap over (beta, H), or curves against beta when a sweep has a single
  weight law parameter.
* ``weights_after_training.png`` (Figure 8, study ``weights``): V_k[0, 0] against k before and
  after training for the most accurate run of each (init, beta), with the Hurst estimates.
* ``lr_alpha.png`` (study ``lr_alpha``): the best learning rate against alpha_L per optimizer,
  with the fit log10 lr* = c + p log10 alpha.

Each has a view (:func:`accuracy_figure`, :func:`weights_figure`, :func:`lr_alpha_figure`)
that draws on the caller's ``ax=`` / ``axes=`` or a new figure and returns the Figure, and a
writer ``<name>_file(frame, folder, critical)`` that the study calls (PNG).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rsim.analysis.training import (
    best_accuracy,
    best_learning_rates,
    fit_lr_alpha,
    varying_keys,
)
from rsim.labels import architecture_label, epoch_label, law_label
from rsim.views import _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def accuracy_file(frame: pd.DataFrame, folder: Path, critical: pd.DataFrame | None = None) -> Path:
    """Study ``accuracy``: :func:`accuracy_figure` written to ``training_accuracy.png``.

    Args:
        frame: the runs, one row per run.
        folder: where the PNG goes.
        critical: the contour r_h = 1 at initialisation of the trained architecture at one
            depth (columns hurst, beta_star, depth), drawn over the heatmap; or None.

    Returns:
        The path written.
    """
    path = Path(folder) / "training_accuracy.png"
    fig = accuracy_figure(frame, critical)
    _style.save(fig, path)
    return path


def accuracy_figure(
    frame: pd.DataFrame, critical: pd.DataFrame | None = None, ax: Axes | None = None
) -> Figure:
    """Figure 9: the best test accuracy over (beta, H) with the contour ``critical`` (see
    :func:`figures`), or against beta per law.

    Args:
        frame: the training table of the ``accuracy`` study.
        critical: the contour r_h = 1 at initialisation (None: none).
        ax: the axes to draw on; None for a new figure.

    Returns:
        The figure (not saved).
    """
    best = best_accuracy(frame)
    best["law"] = best.apply(law_label, axis=1)
    fig, axes = _style.figure_axes(ax, (1, 1), (6.5, 5))
    ax = axes[0, 0]
    if best["hurst"].nunique() > 1 and best["beta"].nunique() > 1 and best["init"].nunique() == 1:
        table = best.pivot_table(index="hurst", columns="beta", values="best_test_accuracy")
        mesh = ax.pcolormesh(
            _edges(table.columns.to_numpy()),
            _edges(table.index.to_numpy()),
            table.to_numpy(),
            cmap="viridis",
            vmin=0,
            vmax=1,
        )
        fig.colorbar(mesh, ax=ax, label="best test accuracy over the learning rates")
        if critical is not None:
            first = frame.iloc[0]
            depth = critical["depth"].max() if "depth" in critical else first["depth"]
            ax.plot(
                critical["beta_star"],
                critical["hurst"],
                "w--",
                lw=1.5,
                label=(
                    f"$r_h$ = 1 at L = {_text(depth)} at initialisation "
                    f"({architecture_label(first)}, simulated)"
                ),
            )
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel(r"$\beta$  ($\alpha_L = L^{-\beta}$)")
        ax.set_ylabel("Hurst index H of the initial weights")
    else:
        keys = varying_keys(best)
        for name, part in best.groupby(["law", *keys], sort=False):
            part = part.sort_values("beta")
            label = ", ".join([name[0], *(f"{k} = {_text(v)}" for k, v in zip(keys, name[1:]))])
            ax.plot(part["beta"], part["best_test_accuracy"], "o-", label=label)
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel("best test accuracy over the learning rates")
        ax.legend()
    first = frame.iloc[0]
    depth = _text(first["depth"]) if frame["depth"].nunique() == 1 else "several"
    ax.set_title(
        f"{architecture_label(first)}, L = {depth}, "
        f"{first['dataset']}, {first['optimizer']}, {first['epochs']} epochs; "
        f"accuracy {epoch_label()}"
    )
    return fig


def _text(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float, np.number)) else str(value)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (midpoints, half a step beyond each end)."""
    centres = np.asarray(centres, float)
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def weights_file(
    frame: pd.DataFrame, folder: Path, critical: pd.DataFrame | None = None
) -> Path | None:
    """Study ``weights`` (Figure 8): V_k[0, 0] against k before and after training for the
    most accurate run of each (init, beta), written to ``weights_after_training.png``.

    Args:
        frame: the runs, one row per run, with their weight paths.
        folder: where the PNG goes.
        critical: unused (one signature for every study's figure).

    Returns:
        The path written, or None for runs stored without weight paths.
    """
    if "weight_path" not in frame or frame["weight_path"].isna().any():
        return None
    path = Path(folder) / "weights_after_training.png"
    return _style.save(weights_figure(frame), path)


def weights_figure(frame: pd.DataFrame, axes: np.ndarray | None = None) -> Figure:
    """Figure 8: V_k[0, 0] against k before and after training for the most accurate run of
    each (init, beta), one panel each, titled with the Hurst estimates before and after.

    Args:
        frame: the runs, one row per run, with their weight paths.
        axes: a column of one axes per (init, beta) to draw on; None for a new figure.

    Returns:
        The figure.
    """
    cells = frame.groupby(["init", "lengthscale", "hurst", "beta"], dropna=False, sort=True)
    n = cells.ngroups
    fig, grid = _style.figure_axes(axes, (n, 1), (8, 2.4 * n))
    for ax, (_, part) in zip(grid[:, 0], cells):
        run = part.loc[part["test_accuracy"].idxmax()]
        k = np.arange(1, len(run["weight_path"]) + 1)
        ax.plot(k, run["weight_path_init"], color="0.7", lw=0.8, label="at initialisation")
        ax.plot(k, run["weight_path"], color="C0", lw=0.9, label="after training")
        ax.set_title(
            f"{law_label(run)}, $\\beta$ = {run['beta']:.3g} (lr {run['lr']:.3g}, "
            f"test accuracy {run['test_accuracy']:.3f}): Hurst of V "
            f"{run['hurst_init']:.2f} -> {run['hurst_trained']:.2f}",
            fontsize=9,
        )
        ax.set_ylabel(r"$V_k[0, 0]$")
    grid[0, 0].legend(fontsize=8)
    grid[-1, 0].set_xlabel("layer k")
    if axes is None:
        fig.tight_layout()
    return fig


def lr_alpha_file(frame: pd.DataFrame, folder: Path, critical: pd.DataFrame | None = None) -> Path:
    """Study ``lr_alpha``: the best learning rate against alpha_L per optimizer with the fit
    log10 lr* = c + p log10 alpha, written to ``lr_alpha.png``.

    Args:
        frame: the runs, one row per run.
        folder: where the PNG goes.
        critical: unused (one signature for every study's figure).

    Returns:
        The path written.
    """
    path = Path(folder) / "lr_alpha.png"
    return _style.save(lr_alpha_figure(frame), path)


def lr_alpha_figure(frame: pd.DataFrame, axes: np.ndarray | None = None) -> Figure:
    """The best learning rate against alpha_L = L^-beta, one panel per optimizer, with the
    fit log10 lr* = c + p log10 alpha (black, dashed).

    Args:
        frame: the runs, one row per run.
        axes: a row of one axes per optimizer to draw on; None for a new figure.

    Returns:
        The figure.
    """
    best = best_learning_rates(frame)
    fits = fit_lr_alpha(best).set_index("optimizer") if len(best) else pd.DataFrame()
    optimizers = sorted(best["optimizer"].unique())
    fig, grid = _style.figure_axes(axes, (1, len(optimizers)), (5.5 * len(optimizers), 4.5))
    for ax, name in zip(grid[0], optimizers):
        part = best[best["optimizer"] == name]
        alpha = part["depth"] ** -part["beta"]
        for depth, group in part.assign(alpha=alpha).groupby("depth"):
            ax.loglog(group["alpha"], group["best_lr"], "o", label=f"L = {depth}")
        if name in fits.index and np.isfinite(fits.loc[name].get("p", np.nan)):
            fit = fits.loc[name]
            grid = np.logspace(np.log10(alpha.min()), np.log10(alpha.max()), 50)
            ax.loglog(
                grid,
                10 ** (fit["c"] + fit["p"] * np.log10(grid)),
                "k--",
                label=rf"fit $\propto \alpha^{{{fit['p']:.2f}}}$",
            )
        ax.set_xlabel(r"$\alpha_L = L^{-\beta}$")
        ax.set_ylabel("best learning rate")
        ax.set_title(f"{name}: lowest final training loss")
        ax.legend(fontsize=8)
    if axes is None:
        fig.tight_layout()
    return fig
