"""Figures 1-3, 6 and 7 of the paper, drawn from results tables (never from the engine).

* ``<ratio>_vs_depth.png`` (Figures 1 and 3): median of a ratio against L per beta, with the
  10%-90% quantile band, log scale, and sqrt of the exact E[r^2] where rsim/THEORY.md gives it.
* ``histograms.png`` (Figure 2): histograms of ||h_L||/||h_0|| and of the gradient ratio at the
  largest depth, one panel per beta.
* ``fbm_paths.png`` (Figure 6): for each H of the ``paths`` table, the weight entry
  V_k[0, 0] a sample was simulated with, and its fBm path.
* ``heatmap.png`` (Figure 7): mean log10 ratio over (H, beta) at one depth with its contour
  r = 1 and, where the sweep has the depths for it, the extrapolated beta*.
* ``critical_curves.png``: those lines of every architecture and law of an H sweep together.
* ``architectures.png``: the table's architectures (model, branch_depth, conv shape) swept
  over depths, the median r_h of each against L, one panel per beta, with sqrt of its exact
  E[r^2] (rsim/THEORY.md section 11).

A sweep declares which of them it draws (the cells option ``plots``, names of
:data:`FIGURES`); :func:`sweep_figures` draws exactly those. matplotlib is imported when a
figure is drawn, so listing the figures (validating a spec) does not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from rsim import results, schema
from rsim.analysis import theory
from rsim.analysis.critical import curve_keys, extrapolated_curve, zero_crossings
from rsim.core import branches
from rsim.labels import architecture_label

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
LABELS = {
    "hidden_diff": r"$\|h_L - h_0\| / \|h_0\|$",
    "hidden_ratio": r"$\|h_L\| / \|h_0\|$",
    "jvp_diff": r"$\|q_L - z\| / \|z\|$ (jvp)",
    "jvp_ratio": r"$\|q_L\| / \|z\|$ (jvp)",
    "grad_diff": r"$\|p_0 - p_L\| / \|p_L\|$",
    "grad_ratio": r"$\|p_0\| / \|p_L\|$",
}
# The diff ratios by name (rsim/THEORY.md): hidden state, jvp tangent, backprop gradient.
SYMBOLS = {"hidden_diff": "r_h", "jvp_diff": "r_q", "grad_diff": "r_p"}
# The overlays of an H sweep: the level of the extrapolated beta*'s interval, and the guide.
LEVEL = 0.9
HEURISTIC = "heuristic max(H, 1/2)"


def _new_figure(**options: Any) -> Figure:
    """A matplotlib figure (no pyplot state), matplotlib imported on first use."""
    from matplotlib.figure import Figure

    return Figure(**options)


def _title(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    return f"{architecture_label(first)}, {first['init']} weights"


def _exact(row: pd.Series, alphas: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """sqrt-able exact E[r^2] of the cell ``row`` at each (alpha, L), NaN where none."""
    return theory.exact_mean_squared_diff(theory.Network.from_mapping(row), alphas, depths)


def ratio_vs_depth(frame: pd.DataFrame, ratio: str, path: Path) -> Path:
    """Median ``ratio`` against depth per beta with a 10-90% band (one cell series)."""
    fig = _new_figure(figsize=(6, 4))
    ax = fig.subplots()
    caption = "median, 10-90% band"
    for beta, group in frame.groupby("beta"):
        stats = group.groupby("depth")[ratio].quantile([0.1, 0.5, 0.9]).unstack()
        (line,) = ax.plot(stats.index, stats[0.5], marker="o", ms=3, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(stats.index, stats[0.1], stats[0.9], color=line.get_color(), alpha=0.2)
        if ratio in DIFFS:
            depths = stats.index.to_numpy()
            exact = _exact(group.iloc[0], depths.astype(float) ** -beta, depths)
            if np.isfinite(exact).all():
                ax.plot(depths, np.sqrt(exact), ls="--", color=line.get_color(), lw=1)
                caption = "median, 10-90% band; dashed: sqrt of exact E[r²]"
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(LABELS.get(ratio, ratio))
    ax.set_title(f"{_title(frame)}\n{caption}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    results.save_figure(fig, path, dpi=120)
    return path


def histograms(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Histograms of ``ratios`` at the largest depth: one row per beta, one column per ratio.
    A panel whose values spread over more than three decades is drawn in log10."""
    deepest = frame[frame["depth"] == frame["depth"].max()]
    betas = sorted(deepest["beta"].unique())
    fig = _new_figure(figsize=(5 * len(ratios), 3.2 * len(betas)))
    axes = fig.subplots(len(betas), len(ratios), squeeze=False)
    for row, beta in zip(axes, betas):
        group = deepest[deepest["beta"] == beta]
        for ax, ratio in zip(row, ratios):
            x = group[ratio].to_numpy()
            x = x[np.isfinite(x) & (x > 0)]
            label = LABELS.get(ratio, ratio)
            if x.size and x.max() / x.min() > 1e3:
                x, label = np.log10(x), f"log10 {label}"
            ax.hist(x, bins=60, color="C0", alpha=0.8)
            ax.set_xlabel(label)
            ax.set_ylabel("count")
            ax.set_title(rf"$\beta$ = {beta:g}", fontsize=9)
    fig.suptitle(
        f"{_title(deepest)}, L = {deepest['depth'].iloc[0]}, {deepest['sample'].nunique()} samples",
        fontsize=10,
    )
    fig.tight_layout()
    results.save_figure(fig, path, dpi=120)
    return path


def heatmap(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Figure 7 (:func:`heatmap_figure`) written to ``path``."""
    fig = heatmap_figure(frame, ratios)
    results.save_figure(fig, path, dpi=120)
    return path


def heatmap_figure(frame: pd.DataFrame, ratios: list[str]) -> Figure:
    """Figure 7: mean log10 ratio over (H, beta) at the deepest depth, one row per architecture
    and law (res-1, res-2, res-3...), each with its contour r = 1 at that depth (where the mean
    crosses 0) and, where the sweep has the depths for it, the extrapolated beta* with its
    interval; res-2/res-3 (ReLU) rows also show the heuristic max(H, 1/2)."""
    series = list(frame.groupby(curve_keys(frame), sort=True, dropna=False))
    fig = _new_figure(figsize=(6 * len(ratios), 4.8 * len(series)))
    axes = fig.subplots(len(series), len(ratios), squeeze=False)
    for row, (_, whole) in zip(axes, series):
        first, depth = whole.iloc[0], whole["depth"].max()
        part = whole[whole["depth"] == depth]
        for ax, ratio in zip(row, ratios):
            grid = (part.groupby(["hurst", "beta"])[f"log_{ratio}"].mean() / np.log(10)).unstack()
            hursts, betas = grid.index.to_numpy(), grid.columns.to_numpy()
            image = ax.pcolormesh(
                betas, hursts, grid.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3, shading="nearest"
            )
            label = f"mean log10 {LABELS.get(ratio, ratio)} at L = {depth}"
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
            ax.set_title(title, fontsize=9)
            ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{frame['sample'].nunique()} samples per cell", fontsize=10)
    fig.tight_layout()
    return fig


def critical_curves(frame: pd.DataFrame, path: Path, metric: str = "hidden_diff") -> Path:
    """The critical lines of an H sweep (:func:`critical_curves_figure`) written to ``path``."""
    fig = critical_curves_figure(frame, metric)
    results.save_figure(fig, path, dpi=120)
    return path


def critical_curves_figure(frame: pd.DataFrame, metric: str = "hidden_diff") -> Figure:
    """Every architecture and law of an H sweep on one plot, e.g. res-1 against res-3, or the
    exact fGn law against the official generator's: the contour r = 1 at the deepest depth
    (:func:`rsim.analysis.critical.zero_crossings`, solid) and, where the sweep has the depths
    for it, the extrapolated beta* with its interval (dashed,
    :func:`rsim.analysis.critical.extrapolated_curve`)."""
    frame = frame[frame["hurst"].notna()]
    fig = _new_figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    series = list(frame.groupby(curve_keys(frame), sort=True, dropna=False))
    extrapolated = False
    for i, (_, whole) in enumerate(series):
        first, depth = whole.iloc[0], whole["depth"].max()
        name = f"{architecture_label(first)}, {first['init']}"
        # one marker per series: equal curves (res-2 with ReLU is res-3) stay visible
        style = dict(color=f"C{i}", marker="osD^v"[i % 5], ms=3)
        contour = zero_crossings(whole[whole["depth"] == depth], metric)
        label = f"{name}: {_contour(metric, depth)}"
        ax.plot(contour["hurst"], contour["beta_zero"], ls="-", label=label, **style)
        extrapolated |= _extrapolated_line(ax, whole, metric, prefix=f"{name}: ", **style)
    if any(_heuristic_holds(whole.iloc[0]) for _, whole in series):
        hursts = np.linspace(frame["hurst"].min(), frame["hurst"].max(), 100)
        ax.plot(hursts, np.maximum(hursts, 0.5), "k:", lw=1, label=f"{HEURISTIC} (res-2/res-3)")
    ax.set_xlabel("Hurst index H")
    ax.set_ylabel(rf"$\beta$ ({LABELS.get(metric, metric)})")
    title = f"{_symbol(metric)} = 1: where mean log10 {_symbol(metric)} crosses 0 at one L"
    if extrapolated:
        title += r" (solid); extrapolated $\beta^*$ (dashed)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _extent(centres: np.ndarray) -> tuple[float, float]:
    """The outer edges of a heatmap's cells around sorted centres (half a step beyond)."""
    if len(centres) < 2:
        return centres[0] - 0.5, centres[0] + 0.5
    return centres[0] - (centres[1] - centres[0]) / 2, centres[-1] + (centres[-1] - centres[-2]) / 2


def _symbol(metric: str) -> str:
    return f"${SYMBOLS[metric]}$" if metric in SYMBOLS else metric


def _contour(metric: str, depth: int) -> str:
    """The legend of a zero crossing of mean log10 r at one depth: the contour r = 1 at L."""
    return f"{_symbol(metric)} = 1 at L = {depth}"


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
    """Figure 6 from the stored ``paths`` table (one row per sample and layer k = 1..L, with
    the weight entry ``weight`` = V_k[0, 0] the sample was simulated with): for each H of the
    table, sample 0's fGn weights against k (left) and their fBm path sum_(j <= k) V_j / L^H
    (right). Where several cells share an H, the deepest is drawn."""
    fbm = paths[paths["hurst"].notna()]
    if fbm.empty:
        raise ValueError("fbm_paths needs rows of the fbm law (a hurst column with values)")
    hursts = np.sort(fbm["hurst"].unique())
    fig = _new_figure(figsize=(10, 2.2 * len(hursts)))
    axes = fig.subplots(len(hursts), 2, squeeze=False)
    for row, hurst in zip(axes, hursts):
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
    axes[0, 0].set_title(
        r"fGn: the weight entry $V_k[0, 0]$ of sample 0 against the layer k", fontsize=9
    )
    axes[0, 1].set_title(r"fBm: $\sum_{j \leq k} V_j[0, 0] \,/\, L^H$", fontsize=9)
    axes[-1, 0].set_xlabel("layer k")
    axes[-1, 1].set_xlabel("layer k")
    fig.tight_layout()
    results.save_figure(fig, path, dpi=120)
    return path


def architectures(frame: pd.DataFrame, ratio: str, path: Path) -> Path:
    """Every architecture of the table on one figure: the median ``ratio`` against L, one
    panel per beta, one colour per architecture, with sqrt of its exact E[r^2] dashed (a
    diff ratio of an i.i.d. law with a closed form). The laws must agree for the comparison
    to mean something; the title names them."""
    keys = [c for c in ARCHITECTURE + LAW if c in frame]
    several_laws = frame.groupby([c for c in LAW if c in frame], dropna=False).ngroups > 1
    betas = sorted(frame["beta"].unique())
    fig = _new_figure(figsize=(4.2 * len(betas), 4.2))
    axes = fig.subplots(1, len(betas), squeeze=False, sharey=True)[0]
    groups = list(frame.groupby(keys, sort=True, dropna=False))
    for ax, beta in zip(axes, betas):
        for i, (_, group) in enumerate(groups):
            part = group[group["beta"] == beta]
            stats = part.groupby("depth")[ratio].quantile([0.1, 0.5, 0.9]).unstack()
            depths = stats.index.to_numpy()
            first = group.iloc[0]
            label = architecture_label(first) + (f", {first['init']}" if several_laws else "")
            color = f"C{i}"
            ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=label)
            ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.12, lw=0)
            if ratio in DIFFS:
                exact = _exact(group.iloc[0], depths.astype(float) ** -beta, depths)
                if np.isfinite(exact).all():
                    ax.plot(depths, np.sqrt(exact), ls="--", lw=1, color=color)
        ax.set_yscale("log")
        ax.set_xlabel("depth L")
        ax.set_title(rf"$\beta$ = {beta:g}", fontsize=9)
    axes[0].set_ylabel(LABELS.get(ratio, ratio))
    axes[0].legend(fontsize=7)
    laws = ", ".join(sorted(frame["init"].astype(str).unique()))
    fig.suptitle(
        f"architectures compared ({laws} weights): median, 10-90% band; "
        "dashed: sqrt of exact E[r²] = (1 + c α²)^L − 1, c = gain² (gain² κ)^m",
        fontsize=9,
    )
    fig.tight_layout()
    results.save_figure(fig, path, dpi=120)
    return path


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
