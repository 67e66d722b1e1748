"""Figures 1-3, 6 and 7 of the paper, drawn from results tables (never from the engine).

Each figure has a view, ``<name>_figure(table, ..., ax= or axes=)``, that draws on the
caller's axes or on a new figure and returns the Figure, and a writer ``<name>(table, ...,
path)`` that saves it in the format of the path's suffix (PNG, SVG or PDF; the sweeps write
PNG):

* ``<ratio>_vs_depth.png`` (Figures 1 and 3): median of a ratio against L per beta, with the
  10%-90% quantile band, log scale, and sqrt of the exact E[r^2] where rsim/THEORY.md gives it.
* ``histograms.png`` (Figure 2): histograms of ||h_L||/||h_0|| and of the gradient ratio at the
  largest depth, one row per beta, with the exact sqrt(E[r^2]) and, where rsim/THEORY.md
  gives it, the law of the L -> infinity limit; a log axis where the values span decades.
* ``fbm_paths.png`` (Figure 6): for each H of the ``paths`` table, the weight entry
  V_k[0, 0] a sample was simulated with, and its fBm path.
* ``heatmap.png`` (Figure 7): mean log10 ratio over (H, beta) at one depth with its contour
  r = 1 and, where the sweep has the depths for it, the extrapolated beta*.
* ``critical_curves.png``: those lines of every architecture and law of an H sweep together.
* ``architectures.png``: the table's architectures (model, branch_depth, conv shape) swept
  over depths, the median r_h of each against L, one panel per beta, with sqrt of its exact
  E[r^2] (rsim/THEORY.md section 11).

An exact value is black and dashed, drawn above the Monte Carlo lines; red is kept for
violations (:mod:`rsim.views._style`). Labels come from :mod:`rsim.labels`.

A sweep declares which of them it draws (the cells option ``plots``, names of
:data:`FIGURES`); :func:`sweep_figures` draws exactly those. matplotlib is imported when a
figure is drawn, so listing the figures (validating a spec) does not load it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rsim import schema
from rsim.analysis import theory
from rsim.analysis.critical import curve_keys, extrapolated_curve, zero_crossings
from rsim.core import branches
from rsim.labels import (
    EXACT_RMS,
    architecture_label,
    definitions,
    law_label,
    quantity_heading,
    ratio_label,
    ratio_symbol,
)
from rsim.views import _style

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SERIES = list(schema.CELL_SERIES)
# The columns that name an architecture (the ones a table lacks are skipped).
ARCHITECTURE = ("model", "activation", "negative_slope", "branch_depth", "image_size")
ARCHITECTURE += ("kernel_size", "width")
LAW = ("init", "lengthscale", "hurst", "gain")
# Ratios r with an exact E[r^2] (hidden states, forward-mode and backprop gradients).
DIFFS = ("hidden_diff", "jvp_diff", "grad_diff")
# The plain ratios: E[ratio^2] = 1 + E[r^2] of the diff, and the limit law where it exists.
RATIOS = ("hidden_ratio", "jvp_ratio", "grad_ratio")
# The overlays of an H sweep: the level of the extrapolated beta*'s interval, and the guide.
LEVEL = 0.9
HEURISTIC = "heuristic max(H, 1/2)"
# A histogram whose values span more than this factor is drawn on a log axis.
LOG_SPAN = 10.0
MAX_BINS = 60


def _title(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    return f"{architecture_label(first)}, {law_label(first)} weights"


def _exact(row: pd.Series, alphas: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """sqrt-able exact E[r^2] of the cell ``row`` at each (alpha, L), NaN where none."""
    return theory.exact_mean_squared_diff(theory.Network.from_mapping(row), alphas, depths)


def _quantiles(frame: pd.DataFrame, ratio: str) -> pd.DataFrame:
    """The 10%, 50% and 90% quantiles of ``ratio`` per depth (columns 0.1, 0.5, 0.9)."""
    return frame.groupby("depth")[ratio].quantile([0.1, 0.5, 0.9]).unstack()


def ratio_vs_depth(frame: pd.DataFrame, ratio: str, path: Path) -> Path:
    """:func:`ratio_vs_depth_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(ratio_vs_depth_figure(frame, ratio), path)


def ratio_vs_depth_figure(frame: pd.DataFrame, ratio: str, ax: Axes | None = None) -> Figure:
    """Figures 1 and 3: the median ``ratio`` against depth per beta with its 10-90% band (one
    cell series), log scale, and the exact sqrt(E[r^2]) (black, dashed, above the medians)
    where rsim/THEORY.md gives it.

    Args:
        frame: one cell series over depths (``rsim.load`` of a sweep, one series).
        ratio: a plain ratio column (``hidden_diff``, ``grad_diff``...).
        ax: the axes to draw on; None for a new figure.

    Returns:
        The figure.

    >>> frame = pd.DataFrame(dict(model="res3", activation="relu", negative_slope=0.0, gain=1.0,
    ...     init="gaussian", width=4, depth=[4, 4, 8, 8], beta=0.5,
    ...     hidden_diff=[0.5, 0.7, 0.6, 0.8]))
    >>> ratio_vs_depth_figure(frame, "hidden_diff").axes[0].get_yscale()
    'log'
    """
    owned = ax is None
    fig, axes = _style.figure_axes(ax, (1, 1), (6, 4.4))
    ax = axes[0, 0]
    exact_drawn = False
    for i, (beta, group) in enumerate(frame.groupby("beta")):
        color = _style.series_color(i)
        stats = _quantiles(group, ratio)
        depths = stats.index.to_numpy()
        ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.2, lw=0)
        if ratio in DIFFS:
            exact = _exact(group.iloc[0], depths.astype(float) ** -beta, depths)
            if np.isfinite(exact).all():
                label = "_nolegend_" if exact_drawn else EXACT_RMS
                ax.plot(depths, np.sqrt(exact), label=label, **_style.EXACT)
                exact_drawn = True
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(ratio_label(ratio))
    caption = "median, 10-90% band" + (f"; black dashed: {EXACT_RMS}" if exact_drawn else "")
    ax.set_title(f"{_title(frame)}\n{caption}\n{definitions([ratio])}", fontsize=8)
    _style.legend(ax, EXACT_RMS, fontsize=8)
    if owned:
        fig.tight_layout()
    return fig


def histograms(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """:func:`histograms_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(histograms_figure(frame, ratios), path)


def histograms_figure(
    frame: pd.DataFrame, ratios: list[str], axes: np.ndarray | None = None
) -> Figure:
    """Figure 2: histograms of ``ratios`` at the largest depth, one row per beta and one
    column per ratio, headed by the quantity it measures (hidden states, gradients).

    Each panel overlays the Monte Carlo sqrt(mean r^2) and, where rsim/THEORY.md gives them,
    the exact sqrt(E[r^2]) (black, dashed; sections 4 and 11: i.i.d. symmetric weights) and
    the L -> infinity law (black curve, expected counts per bin; section 5: res-1 with the
    identity, Gaussian weights, beta = 1/2). A panel whose values span more than a factor
    :data:`LOG_SPAN` has a log x axis with log-spaced bins.

    Args:
        frame: one cell series (``rsim.load`` of a sweep, one series).
        ratios: plain ratio columns, one per column of panels.
        axes: an array of (betas x ratios) axes to draw on; None for a new figure.

    Returns:
        The figure.

    >>> frame = pd.DataFrame(dict(model="res3", activation="relu", negative_slope=0.0, gain=1.0,
    ...     init="gaussian", width=4, depth=8, beta=0.5, sample=range(3),
    ...     hidden_ratio=[1.0, 1.2, 1.1]))
    >>> histograms_figure(frame, ["hidden_ratio"]).axes[0].get_title()
    'hidden states\\n$\\\\beta$ = 0.5'
    """
    depth = frame["depth"].max()
    deepest = frame[frame["depth"] == depth]
    betas = sorted(deepest["beta"].unique())
    shape = (len(betas), len(ratios))
    fig, grid = _style.figure_axes(axes, shape, (5 * len(ratios), 3.3 * len(betas) + 0.6))
    for i, beta in enumerate(betas):
        group = deepest[deepest["beta"] == beta]
        for ax, ratio in zip(grid[i], ratios):
            _histogram(ax, group, ratio, beta, depth)
            title = rf"$\beta$ = {beta:g}"
            ax.set_title(f"{quantity_heading(ratio)}\n{title}" if i == 0 else title, fontsize=9)
    fig.suptitle(
        f"{_title(deepest)}, L = {depth}, {deepest['sample'].nunique()} samples; "
        f"r: the panel's ratio\n{definitions(ratios)}",
        fontsize=9,
    )
    if axes is None:
        fig.tight_layout()
    return fig


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in np.ravel(x)]).reshape(np.shape(x))


def _histogram(ax: Axes, group: pd.DataFrame, ratio: str, beta: float, depth: int) -> None:
    """One panel of :func:`histograms_figure`: the finite positive values of ``ratio``."""
    x = group[ratio].to_numpy(dtype=np.float64)
    x = x[np.isfinite(x) & (x > 0)]
    ax.set_xlabel(ratio_label(ratio))
    ax.set_ylabel("count")
    if not x.size:
        return
    log = x.max() / x.min() > LOG_SPAN
    n_bins = int(np.clip(2 * np.sqrt(x.size), 10, MAX_BINS))
    low, high = x.min(), max(x.max(), x.min() * (1 + 1e-9))
    bins = np.geomspace(low, high, n_bins + 1) if log else np.linspace(low, high, n_bins + 1)
    ax.hist(x, bins=bins, color="C0", alpha=0.75, label=f"Monte Carlo, {x.size} samples")
    if log:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(
        np.sqrt(np.mean(x**2)), color="C1", lw=2.5, label=r"Monte Carlo $\sqrt{\mathrm{mean}\,r^2}$"
    )
    net = theory.Network.from_mapping(group.iloc[0])
    second = theory.exact_mean_squared_diff(net, float(depth) ** -beta, depth)
    second = second + 1 if ratio in RATIOS else second
    if np.isfinite(second):
        ax.axvline(np.sqrt(second), label=EXACT_RMS, **_style.EXACT)
    limit = theory.limit_log_sq_ratio(net, beta) if ratio in RATIOS else None
    if isinstance(limit, tuple):  # log r ~ N(mean / 2, variance / 4): counts per bin
        mean, variance = limit
        cdf = _normal_cdf((np.log(bins) - mean / 2) / math.sqrt(variance / 4))
        centres = np.sqrt(bins[1:] * bins[:-1]) if log else (bins[1:] + bins[:-1]) / 2
        ax.plot(
            centres,
            x.size * np.diff(cdf),
            color="k",
            lw=1.3,
            zorder=_style.EXACT["zorder"],
            label=rf"$L \to \infty$: $\log r^2 \sim N({mean:.3g}, {variance:.3g})$",
        )
    ax.legend(fontsize=7)


def heatmap(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Figure 7 (:func:`heatmap_figure`) written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(heatmap_figure(frame, ratios), path)


def heatmap_figure(
    frame: pd.DataFrame, ratios: list[str], axes: np.ndarray | None = None
) -> Figure:
    """Figure 7: mean log10 ratio over (H, beta) at the deepest depth, one row per architecture
    and law (res-1, res-2, res-3...) and one column per ratio, headed by the quantity it
    measures; each panel has its contour r = 1 at that depth (where the mean crosses 0) and,
    where the sweep has the depths for it, the extrapolated beta* with its interval; res-2/res-3
    (ReLU) rows also show the heuristic max(H, 1/2).

    Args:
        frame: an H sweep (``rsim.load``).
        ratios: diff ratio columns with their logs in ``frame``, one per column of panels.
        axes: an array of (series x ratios) axes to draw on; None for a new figure.

    Returns:
        The figure.
    """
    series = list(frame.groupby(curve_keys(frame), sort=True, dropna=False))
    shape = (len(series), len(ratios))
    fig, grid = _style.figure_axes(axes, shape, (6 * len(ratios), 4.8 * len(series) + 0.4))
    for i, (_, whole) in enumerate(series):
        row = grid[i]
        first, depth = whole.iloc[0], whole["depth"].max()
        part = whole[whole["depth"] == depth]
        for ax, ratio in zip(row, ratios):
            grid_ = (part.groupby(["hurst", "beta"])[f"log_{ratio}"].mean() / np.log(10)).unstack()
            hursts, betas = grid_.index.to_numpy(), grid_.columns.to_numpy()
            image = ax.pcolormesh(
                betas, hursts, grid_.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, shading="nearest"
            )
            label = f"mean log10 {ratio_label(ratio)} at L = {depth}"
            fig.colorbar(image, ax=ax, extend="both", label=label)
            crossings = zero_crossings(part, ratio)
            ax.plot(
                crossings["beta_zero"], crossings["hurst"], "k-", lw=2, label=_contour(ratio, depth)
            )
            _extrapolated_line(ax, whole, ratio, heatmap=True, color="C2", lw=1.5)
            if _heuristic_holds(first):
                ax.plot(np.maximum(hursts, 0.5), hursts, "k:", lw=1.5, label=HEURISTIC)
            ax.set_xlim(*_extent(betas))  # an extrapolated band past the grid is cut
            ax.set_ylim(*_extent(hursts))
            ax.set_xlabel(r"$\beta$")
            ax.set_ylabel("Hurst index H")
            title = f"{architecture_label(first)}, {first['init']} weights, L = {depth}"
            if i == 0:
                title = f"{quantity_heading(ratio)}\n{title}"
            ax.set_title(title, fontsize=9)
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(
        f"{frame['sample'].nunique()} samples per cell; {definitions(ratios)}", fontsize=10
    )
    if axes is None:
        fig.tight_layout()
    return fig


def critical_curves(frame: pd.DataFrame, path: Path, metric: str = "hidden_diff") -> Path:
    """The critical lines of an H sweep (:func:`critical_curves_figure`) written to ``path``
    (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(critical_curves_figure(frame, metric), path)


def critical_curves_figure(
    frame: pd.DataFrame, metric: str = "hidden_diff", ax: Axes | None = None
) -> Figure:
    """Every architecture and law of an H sweep on one plot, e.g. res-1 against res-3, or the
    exact fGn law against the official generator's: the contour r = 1 at the deepest depth
    (:func:`rsim.analysis.critical.zero_crossings`, solid) and, where the sweep has the depths
    for it, the extrapolated beta* with its interval (dashed,
    :func:`rsim.analysis.critical.extrapolated_curve`).

    Args:
        frame: an H sweep (``rsim.load``).
        metric: the diff ratio whose contour is drawn.
        ax: the axes to draw on; None for a new figure.

    Returns:
        The figure.
    """
    frame = frame[frame["hurst"].notna()]
    owned = ax is None
    fig, axes = _style.figure_axes(ax, (1, 1), (5.5, 4.7))
    ax = axes[0, 0]
    series = list(frame.groupby(curve_keys(frame), sort=True, dropna=False))
    extrapolated = False
    for i, (_, whole) in enumerate(series):
        first, depth = whole.iloc[0], whole["depth"].max()
        name = f"{architecture_label(first)}, {first['init']}"
        # one marker per series: equal curves (res-2 with ReLU is res-3) stay visible
        style = dict(color=_style.series_color(i), marker="osD^v"[i % 5], ms=3)
        contour = zero_crossings(whole[whole["depth"] == depth], metric)
        label = f"{name}: {_contour(metric, depth)}"
        ax.plot(contour["hurst"], contour["beta_zero"], ls="-", label=label, **style)
        extrapolated |= _extrapolated_line(ax, whole, metric, prefix=f"{name}: ", **style)
    if any(_heuristic_holds(whole.iloc[0]) for _, whole in series):
        hursts = np.linspace(frame["hurst"].min(), frame["hurst"].max(), 100)
        ax.plot(hursts, np.maximum(hursts, 0.5), "k:", lw=1, label=f"{HEURISTIC} (res-2/res-3)")
    ax.set_xlabel("Hurst index H")
    ax.set_ylabel(r"$\beta$")
    symbol = ratio_symbol(metric)
    title = f"{symbol} = 1: where mean log10 {symbol} crosses 0 at one L"
    if extrapolated:
        title += r" (solid); extrapolated $\beta^*$ (dashed)"
    ax.set_title(f"{ratio_label(metric)}; {definitions([metric])}\n{title}", fontsize=8)
    ax.legend(fontsize=7)
    if owned:
        fig.tight_layout()
    return fig


def _extent(centres: np.ndarray) -> tuple[float, float]:
    """The outer edges of a heatmap's cells around sorted centres (half a step beyond)."""
    if len(centres) < 2:
        return centres[0] - 0.5, centres[0] + 0.5
    return centres[0] - (centres[1] - centres[0]) / 2, centres[-1] + (centres[-1] - centres[-2]) / 2


def _contour(metric: str, depth: int) -> str:
    """The legend of a zero crossing of mean log10 r at one depth: the contour r = 1 at L."""
    return f"{ratio_symbol(metric)} = 1 at L = {depth}"


def _heuristic_holds(key: pd.Series) -> bool:
    """max(H, 1/2) is the heuristic of res-2/res-3 with ReLU (rsim/THEORY.md sections 6, 12); res-1
    at fixed width tends to 1/2 below H = 1/2 too."""
    branch = branches.BRANCHES.get(key["model"])
    one_dense_layer = branch is not None and branch.dense and branch.hidden_layers == 1
    return one_dense_layer and branch.activation_of(key["activation"]) == "relu"


def _extrapolated_line(
    ax: Axes,
    whole: pd.DataFrame,
    metric: str,
    prefix: str = "",
    heatmap: bool = False,
    **style: Any,
) -> bool:
    """The extrapolated beta*(H) of one series with its interval band, where the series has
    the depths for it; NaN estimates (the estimator cannot decide) and infinite ones (a
    sample with r = 0 exactly) are left out. On a ``heatmap`` beta is the x axis, otherwise H
    is. Whether a line was drawn."""
    curve = extrapolated_curve(whole, metric, level=LEVEL)
    curve = curve[np.isfinite(curve["beta_star"].astype(float))].sort_values("hurst")
    if curve.empty:
        return False
    depths = np.sort(whole["depth"].unique())
    label = (
        rf"{prefix}extrapolated $\beta^*$ from L = {', '.join(map(str, depths))} "
        f"({LEVEL:.0%} interval)"
    )
    hurst, beta = curve["hurst"], curve["beta_star"]
    band = np.isfinite(curve["low"].astype(float)) & np.isfinite(curve["high"].astype(float))
    fill = ax.fill_betweenx if heatmap else ax.fill_between
    ax.plot(*((beta, hurst) if heatmap else (hurst, beta)), ls="--", label=label, **style)
    fill(hurst[band], curve["low"][band], curve["high"][band], color=style["color"], alpha=0.2)
    return True


def fbm_paths(paths: pd.DataFrame, path: Path) -> Path:
    """Figure 6 (:func:`fbm_paths_figure`) written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(fbm_paths_figure(paths), path)


def fbm_paths_figure(paths: pd.DataFrame, axes: np.ndarray | None = None) -> Figure:
    """Figure 6 from the stored ``paths`` table (one row per sample and layer k = 1..L, with
    the weight entry ``weight`` = V_k[0, 0] the sample was simulated with): for each H of the
    table, sample 0's fGn weights against k (left) and their fBm path sum_(j <= k) V_j / L^H
    (right). Where several cells share an H, the deepest is drawn.

    Args:
        paths: the ``paths`` table of a run with ``weight_paths``.
        axes: an array of (H values x 2) axes to draw on; None for a new figure.

    Returns:
        The figure.

    Raises:
        ValueError: a table without rows of the fbm law.
    """
    fbm = paths[paths["hurst"].notna()]
    if fbm.empty:
        raise ValueError("fbm_paths needs rows of the fbm law (a hurst column with values)")
    hursts = np.sort(fbm["hurst"].unique())
    fig, grid = _style.figure_axes(axes, (len(hursts), 2), (10, 2.2 * len(hursts) + 0.4))
    for row, hurst in zip(grid, hursts):
        cells = fbm[fbm["hurst"] == hurst]
        deepest = cells[cells["depth"] == cells["depth"].max()]
        columns = [c for c in schema.CELL_COLUMNS if c in deepest]
        _, cell = next(iter(deepest.groupby(columns, sort=True, dropna=False)))
        sample = cell[cell["sample"] == cell["sample"].min()].sort_values("layer")
        k = sample["layer"].to_numpy()
        weight = sample["weight"].to_numpy(dtype=np.float64)
        depth = int(sample["depth"].iloc[0])
        row[0].plot(k, weight, lw=0.5, color="C0")
        row[0].set_ylabel(f"H = {hurst:g}")
        row[1].plot(k, np.cumsum(weight) / depth**hurst, lw=1, color="C1")
    grid[0, 0].set_title(
        r"fGn: the weight entry $V_k[0, 0]$ of sample 0 against the layer k", fontsize=9
    )
    grid[0, 1].set_title(r"fBm: $\sum_{j \leq k} V_j[0, 0] \,/\, L^H$", fontsize=9)
    grid[-1, 0].set_xlabel("layer k")
    grid[-1, 1].set_xlabel("layer k")
    if axes is None:
        fig.tight_layout()
    return fig


def architectures(frame: pd.DataFrame, ratio: str, path: Path) -> Path:
    """:func:`architectures_figure` written to ``path`` (its suffix: png, svg or pdf)."""
    _style.check_format(path)
    return _style.save(architectures_figure(frame, ratio), path)


def architectures_figure(frame: pd.DataFrame, ratio: str, axes: np.ndarray | None = None) -> Figure:
    """Every architecture of the table on one figure: the median ``ratio`` against L, one
    panel per beta, one colour per architecture, with the exact sqrt(E[r^2]) black and dashed
    above it (a diff ratio of an i.i.d. law with a closed form). The laws must agree for the
    comparison to mean something; the caption names them.

    Args:
        frame: several architectures swept over depths (``rsim.load``).
        ratio: a plain ratio column (``hidden_diff``...).
        axes: a row of one axes per beta to draw on; None for a new figure.

    Returns:
        The figure.
    """
    keys = [c for c in ARCHITECTURE + LAW if c in frame]
    several_laws = frame.groupby([c for c in LAW if c in frame], dropna=False).ngroups > 1
    betas = sorted(frame["beta"].unique())
    width = max(4.2 * len(betas), 6.5)  # room for the caption under one panel
    if axes is None:
        fig = _style.new_figure(figsize=(width, 4.8))
        row = fig.subplots(1, len(betas), squeeze=False, sharey=True)[0]
    else:
        fig, grid = _style.figure_axes(axes, (1, len(betas)), (width, 4.8))
        row = grid[0]
    groups = list(frame.groupby(keys, sort=True, dropna=False))
    exact_drawn = False
    for ax, beta in zip(row, betas):
        for i, (_, group) in enumerate(groups):
            stats = _quantiles(group[group["beta"] == beta], ratio)
            depths = stats.index.to_numpy()
            first = group.iloc[0]
            label = architecture_label(first) + (f", {first['init']}" if several_laws else "")
            color = _style.series_color(i)
            ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=label)
            ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.12, lw=0)
            if ratio in DIFFS:
                exact = _exact(first, depths.astype(float) ** -beta, depths)
                if np.isfinite(exact).all():
                    name = "_nolegend_" if exact_drawn else EXACT_RMS
                    ax.plot(depths, np.sqrt(exact), label=name, **_style.EXACT)
                    exact_drawn = True
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.set_title(rf"$\beta$ = {beta:g}", fontsize=9)
    row[0].set_ylabel(ratio_label(ratio))
    _style.legend(row[0], EXACT_RMS, fontsize=7)
    laws = ", ".join(sorted(frame["init"].astype(str).unique()))
    lines = [f"architectures compared ({laws} weights): median, 10-90% band"]
    if exact_drawn:
        lines.append(
            rf"black dashed: {EXACT_RMS}, $E[r^2] = (1 + c\,\alpha^2)^L - 1$, "
            r"$c = g^2 (g^2 \kappa)^m$"
        )
    fig.suptitle("\n".join(lines), fontsize=9)
    if axes is None:
        fig.tight_layout()
    return fig


# Histograms are drawn for at most this many series (one file each).
HISTOGRAM_SERIES = 5


def _gradient(frame: pd.DataFrame, names: tuple[str, ...]) -> list[str]:
    """The first of ``names`` that ``frame`` has, as a list (empty if none)."""
    return [name for name in names if name in frame][:1]


def _series(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The table's cell series (everything but the depth), in sorted order."""
    keys = [c for c in SERIES if c in frame]
    return [group for _, group in frame.groupby(keys, sort=True, dropna=False)]


def _suffix(i: int, n: int) -> str:
    """``_<i>`` when a figure is written once per series of several, else nothing."""
    return f"_{i}" if n > 1 else ""


def _draw_fbm_paths(frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None) -> list[Path]:
    """``fbm_paths.png`` from the ``paths`` table."""
    return [fbm_paths(paths, folder / "fbm_paths.png")]


def _draw_heatmap(frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None) -> list[Path]:
    """``heatmap.png`` of r_h and the table's gradient ratio, if any."""
    ratios = ["hidden_diff", *_gradient(frame, schema.GRADIENT_DIFFS)]
    return [heatmap(frame, ratios, folder / "heatmap.png")]


def _draw_critical_curves(
    frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None
) -> list[Path]:
    """``critical_curves.png``."""
    return [critical_curves(frame, folder / "critical_curves.png")]


def _draw_architectures(
    frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None
) -> list[Path]:
    """``architectures.png`` of r_h."""
    return [architectures(frame, "hidden_diff", folder / "architectures.png")]


def _draw_ratio_vs_depth(
    frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None
) -> list[Path]:
    """``<ratio>_vs_depth[_i].png`` of each diff ratio, per series swept over depths."""
    series = _series(frame)
    return [
        ratio_vs_depth(group, ratio, folder / f"{ratio}_vs_depth{_suffix(i, len(series))}.png")
        for i, group in enumerate(series)
        if group["depth"].nunique() > 1
        for ratio in DIFFS
        if ratio in group
    ]


def _draw_histograms(frame: pd.DataFrame, folder: Path, paths: pd.DataFrame | None) -> list[Path]:
    """``histograms[_i].png`` of r_h and the gradient ratio, per series."""
    ratios = ["hidden_ratio", *_gradient(frame, schema.GRADIENT_RATIOS)]
    series = _series(frame)
    return [
        histograms(group, ratios, folder / f"histograms{_suffix(i, len(series))}.png")
        for i, group in enumerate(series)
    ]


def _no_fbm_paths(frame: pd.DataFrame, paths: pd.DataFrame | None) -> str | None:
    """Why ``fbm_paths`` cannot be drawn (no fbm weight paths stored), or None."""
    if paths is None or not paths["hurst"].notna().any():
        return "it needs the stored weight paths of an fbm run (weight_paths > 0)"
    return None


def _no_hurst(frame: pd.DataFrame, paths: pd.DataFrame | None) -> str | None:
    """Why an H figure cannot be drawn (no Hurst index in the table), or None."""
    if not frame["hurst"].notna().any():
        return "it needs a law with a Hurst index (init=fbm or fbm_official)"
    return None


def _no_architectures(frame: pd.DataFrame, paths: pd.DataFrame | None) -> str | None:
    """Why ``architectures`` cannot be drawn, or None."""
    keys = [c for c in ARCHITECTURE if c in frame]
    if frame.groupby(keys, dropna=False).ngroups < 2 or frame["depth"].nunique() < 2:
        return "it needs several architectures swept over depths"
    return None


def _no_depths(frame: pd.DataFrame, paths: pd.DataFrame | None) -> str | None:
    """Why ``ratio_vs_depth`` cannot be drawn (no series over depths), or None."""
    if not any(group["depth"].nunique() > 1 for group in _series(frame)):
        return "it needs a series swept over depths"
    return None


def _too_many_series(frame: pd.DataFrame, paths: pd.DataFrame | None) -> str | None:
    """Why ``histograms`` are not drawn (more than HISTOGRAM_SERIES series), or None."""
    n = len(_series(frame))
    if n > HISTOGRAM_SERIES:
        return f"drawn for at most {HISTOGRAM_SERIES} series, and the table has {n}"
    return None


@dataclass(frozen=True)
class SweepFigure:
    """A figure a cells sweep can declare (``plots``), registered once in :data:`FIGURES`."""

    name: str  # the name a sweep declares
    about: str  # what it shows, in a few words
    # (table, folder, paths table or None) -> the files written
    draw: Callable[[pd.DataFrame, Path, pd.DataFrame | None], list[Path]]
    # (table, paths table or None) -> why the table cannot give it, or None when it can
    missing: Callable[[pd.DataFrame, pd.DataFrame | None], str | None]


# In the order they are drawn.
FIGURES: dict[str, SweepFigure] = {
    figure.name: figure
    for figure in (
        SweepFigure(
            "fbm_paths",
            "Figure 6: the fGn weight entry of a sample and its fBm path, per H",
            _draw_fbm_paths,
            _no_fbm_paths,
        ),
        SweepFigure(
            "heatmap",
            "Figure 7: mean log10 r over (H, beta) at the deepest depth, with r = 1",
            _draw_heatmap,
            _no_hurst,
        ),
        SweepFigure(
            "critical_curves",
            "the contour r_h = 1 (and beta*) of every architecture and law of an H sweep",
            _draw_critical_curves,
            _no_hurst,
        ),
        SweepFigure(
            "architectures",
            "median r_h against L of every architecture, one panel per beta",
            _draw_architectures,
            _no_architectures,
        ),
        SweepFigure(
            "ratio_vs_depth",
            "Figures 1 and 3: median ratio against L per beta, per series over depths",
            _draw_ratio_vs_depth,
            _no_depths,
        ),
        SweepFigure(
            "histograms",
            "Figure 2: histograms of the ratios at the deepest depth, per series",
            _draw_histograms,
            _too_many_series,
        ),
    )
}


def sweep_figures(
    frame: pd.DataFrame,
    folder: Path,
    plots: Sequence[str],
    paths: pd.DataFrame | None = None,
) -> list[Path]:
    """The figures a sweep declares, drawn from its table into ``folder``.

    Exactly the declared figures are drawn, in the order of :data:`FIGURES`; one whose data
    the table lacks (a heatmap without a Hurst index) is left out with a line saying why.

    Args:
        frame: the cells' rows (``rsim.load`` of the folder).
        folder: where the PNGs go.
        plots: names of :data:`FIGURES`: the cells option ``plots`` of the sweep.
        paths: the table ``<folder>/paths/`` of a run with ``weight_paths`` (fbm_paths), or
            None.

    Returns:
        The paths written.

    Raises:
        ValueError: a name that is not in :data:`FIGURES`.
    """
    unknown = [name for name in plots if name not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    folder = Path(folder)
    written = []
    for name, figure in FIGURES.items():
        if name not in plots:
            continue
        reason = figure.missing(frame, paths)
        if reason:
            log.info("no %s figure: %s", name, reason)
        else:
            written += figure.draw(frame, folder, paths)
    return written
