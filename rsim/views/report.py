"""The figures of the theory report: results and check tables in, PNG (or SVG, PDF) out.

* ``bounds_<quantity>_vs_depth[_i].png`` (Figures 1 and 3): r against L per beta with the
  bounds of :mod:`rsim.analysis.theory` as bands (:func:`bounds_vs_depth_figure`);
* ``bounds_histograms[_i].png`` (Figure 2): log10 r^2 at the largest depth with the bounds
  (:func:`bounds_histograms_figure`).

Red marks a violation and nothing else; the exact E[r^2] is black and dashed, drawn above the
Monte Carlo mean (:mod:`rsim.views._style`). The checks come from
:func:`rsim.analysis.report.check_table`; :mod:`rsim.views.cells` draws the raw figures of a
sweep.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from rsim.analysis.report import (
    HIDDEN,
    NOT_APPLICABLE,
    VIOLATES,
    gradient_column,
    series_columns,
)
from rsim.labels import (
    EXACT_RMS,
    definitions,
    quantity_heading,
    ratio_label,
    ratio_symbol,
    series_label,
    statement_label,
)
from rsim.views import _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_HISTOGRAM_ROWS = 6
# The high-probability bounds that agree, each in its colour (never red: red is a violation).
STATEMENT_COLORS = {
    "Prop 2": "C4",
    "Prop 3 (i)": "C5",
    "Prop 3 (ii)": "C6",
    "Cor 1 (iii)": "C8",
    "Prop 5": "C9",
}
EXACT_SQ = r"exact $E[r^2]$"
MC_MEAN = r"Monte Carlo mean of $r^2$"


def _series_groups(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    return list(frame.groupby(series_columns(frame), sort=True, dropna=False))


def _band_name(quantity: str) -> str:
    """The statement bounding E[r^2] of ``quantity``: Lemma 1 (hidden) or Prop 6 (gradient)."""
    return "Lemma 1" if quantity == "hidden" else "Prop 6"


def bounds_vs_depth_figure(
    group: pd.DataFrame,
    checks: pd.DataFrame,
    quantity: str,
    column: str,
    ax: Axes | None = None,
) -> Figure:
    """Median and 10-90% band of r against L per beta, with the bounds as bands: sqrt of the
    Lemma 1 / Prop 6 band for E[r^2] (hatched), the exact sqrt(E[r^2]) (black, dashed, above
    the medians), sqrt of the tightest applicable high-probability upper bound at
    delta = 0.1 (dotted, with the empirical 90% quantile as crosses), and red circles on the
    medians where a check is violated (only there).

    Args:
        group: one cell series over depths.
        checks: its checks (:func:`rsim.analysis.report.check_table`).
        quantity: ``hidden`` or ``gradient``.
        column: the log ratio column checked (``log_hidden_diff``, ``log_grad_diff``...).
        ax: the axes to draw on; None for a new figure.

    Returns:
        The figure.
    """
    owned = ax is None
    fig, axes = _style.figure_axes(ax, (1, 1), (7, 4.8))
    ax = axes[0, 0]
    r = np.exp(group[column].to_numpy(dtype=np.float64))
    data = group.assign(_r=r)
    exact_drawn = violated = False
    for i, (beta, part) in enumerate(data.groupby("beta")):
        color = _style.series_color(i)
        stats = part.groupby("depth")["_r"].quantile([0.1, 0.5, 0.9]).unstack()
        depths = stats.index.to_numpy()
        ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.15, lw=0)
        mine = checks[(checks["quantity"] == quantity) & (checks["beta"] == beta)]
        band = mine[mine["statement"] == _band_name(quantity)].set_index("depth").reindex(depths)
        ok = band["verdict"] != NOT_APPLICABLE
        if ok.any():
            ax.fill_between(
                depths[ok],
                np.sqrt(band["bound_lower"][ok]),
                np.sqrt(band["bound_upper"][ok]),
                facecolor="none",
                edgecolor=color,
                hatch="///",
                lw=0.5,
                alpha=0.6,
            )
        exact = mine[mine["statement"] == "exact E[r^2]"].set_index("depth").reindex(depths)
        ok = exact["verdict"] != NOT_APPLICABLE
        if ok.any():
            label = "_nolegend_" if exact_drawn else EXACT_RMS
            ax.plot(depths[ok], np.sqrt(exact["bound_upper"][ok]), label=label, **_style.EXACT)
            exact_drawn = True
        upper = mine[
            (mine["kind"] == "probability")
            & (mine["delta"] == 0.1)
            & (mine["verdict"] != NOT_APPLICABLE)
            & (mine["bound_upper"] < math.inf)
        ]
        if len(upper):
            tight = upper.groupby("depth")["bound_upper"].min()
            ax.plot(tight.index, np.sqrt(tight.to_numpy()), ls=":", lw=1.5, color=color)
            q90 = part.groupby("depth")["_r"].quantile(0.9).reindex(tight.index)
            ax.plot(tight.index, q90, ls="none", marker="x", ms=4, color=color)
        bad = mine[mine["verdict"] == VIOLATES]
        if len(bad):
            medians = stats[0.5].reindex(bad["depth"].unique())
            ax.plot(
                medians.index,
                medians.to_numpy(),
                ls="none",
                marker="o",
                ms=9,
                mfc="none",
                color=_style.VIOLATION,
                mec=_style.VIOLATION,
                mew=2,
                zorder=5,
                label="_nolegend_" if violated else "violated check",
            )
            violated = True
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(ratio_label(column))
    caption = (
        f"median, 10-90% band; hatched: sqrt of the {_band_name(quantity)} band for E[r²]; "
        f"black dashed: {EXACT_RMS};\ndotted: sqrt of the tightest δ = 0.1 bound, ×: empirical "
        "90% quantile; "
        + ("red circle: a violated check" if violated else "no check violated (red would mark one)")
    )
    ax.set_title(
        f"{quantity_heading(column)}: {series_label(group.iloc[0])}\n{caption}\n"
        f"r = {ratio_symbol(column)}; {definitions([column])}",
        fontsize=8,
    )
    _style.legend(ax, EXACT_RMS, fontsize=8)
    if owned:
        fig.tight_layout()
    return fig


def bounds_histograms_figure(
    group: pd.DataFrame,
    checks: pd.DataFrame,
    columns: list[tuple[str, str]],
    axes: np.ndarray | None = None,
) -> Figure:
    """Histograms of log10 r^2 at the largest depth, one row per beta, one column per
    quantity (headed hidden states / gradients); shaded: the band for E[r^2] (Lemma 1 /
    Prop 6) with the Monte Carlo mean (thick) and the exact E[r^2] (black, dashed, above it);
    vertical lines: each applicable high-probability bound at delta = 0.1 (dashed) and 0.05
    (dotted) in its statement's colour, red where it is violated, with the empirical 90%
    quantile (grey).

    Args:
        group: one cell series.
        checks: its checks (:func:`rsim.analysis.report.check_table`).
        columns: (quantity, log ratio column) per column of panels.
        axes: an array of (betas x columns) axes to draw on; None for a new figure.

    Returns:
        The figure.
    """
    depth = group["depth"].max()
    deepest = group[group["depth"] == depth]
    betas = sorted(deepest["beta"].unique())
    if len(betas) > MAX_HISTOGRAM_ROWS:  # a fine beta grid: an even selection of rows
        betas = [
            betas[i] for i in np.linspace(0, len(betas) - 1, MAX_HISTOGRAM_ROWS).round().astype(int)
        ]
    shape = (len(betas), len(columns))
    fig, grid = _style.figure_axes(axes, shape, (6 * len(columns), 3.3 * len(betas) + 0.6))
    for i, beta in enumerate(betas):
        part = deepest[deepest["beta"] == beta]
        for ax, (quantity, column) in zip(grid[i], columns):
            mine = checks[
                (checks["quantity"] == quantity)
                & (checks["beta"] == beta)
                & (checks["depth"] == depth)
            ]
            _bounds_histogram(ax, part, mine, quantity, column)
            title = rf"$\beta$ = {beta:g}, L = {depth}"
            if i == 0:
                title = f"{quantity_heading(column)}\n{title}"
            ax.set_title(title, fontsize=9)
    names = [column for _, column in columns]
    fig.suptitle(
        f"{series_label(group.iloc[0])}\n"
        f"r = {', '.join(ratio_symbol(c) for c in names)} per column; {definitions(names)}",
        fontsize=9,
    )
    if axes is None:
        fig.tight_layout()
    return fig


def _bounds_histogram(
    ax: Axes, part: pd.DataFrame, mine: pd.DataFrame, quantity: str, column: str
) -> None:
    """One panel of :func:`bounds_histograms_figure`."""
    log10_sq = 2 * part[column].to_numpy(dtype=np.float64) / math.log(10)
    log10_sq = log10_sq[np.isfinite(log10_sq)]
    ax.hist(log10_sq, bins=60, color="C0", alpha=0.7)
    for _, r in mine.iterrows():
        if r["verdict"] == NOT_APPLICABLE:
            continue
        violated = r["verdict"] == VIOLATES
        if r["statement"] == "exact E[r^2]":
            ax.axvline(
                np.log10(r["bound_upper"]),
                label=EXACT_SQ,
                **{**_style.EXACT, "color": _style.VIOLATION if violated else "k"},
            )
        elif r["statement"] == _band_name(quantity):
            ax.axvspan(
                np.log10(r["bound_lower"]),
                np.log10(r["bound_upper"]),
                color=_style.VIOLATION if violated else "C2",
                alpha=0.25,
                label=f"{r['statement']} band for E[r²]",
            )
            ax.axvline(np.log10(r["estimate"]), color="C2", lw=3, zorder=3, label=MC_MEAN)
        elif r["kind"] == "probability":
            color = _style.VIOLATION if violated else STATEMENT_COLORS.get(r["statement"], "C7")
            for b in (r["bound_lower"], r["bound_upper"]):
                if 0 < b < math.inf:
                    ax.axvline(
                        np.log10(b),
                        color=color,
                        ls="--" if r["delta"] == 0.1 else ":",
                        lw=1,
                        label=f"{statement_label(quantity, r['statement'], column)}, "
                        f"δ = {r['delta']:g}",
                    )
    if len(log10_sq):
        ax.axvline(np.quantile(log10_sq, 0.9), color="grey", lw=1, label="empirical 90% quantile")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=6)
    ax.set_xlabel(rf"$\log_{{10}}$ {ratio_symbol(column)}$^2$")


def report_figures(frame: pd.DataFrame, checks: pd.DataFrame, folder: Path) -> list[Path]:
    """bounds_<quantity>_vs_depth[_i].png (Figures 1, 3) and bounds_histograms[_i].png
    (Figure 2) with the bounds as bands.

    Args:
        frame: the cell table the report checked.
        checks: its checks (:func:`rsim.analysis.report.check_table`).
        folder: where the PNGs go.

    Returns:
        The figures written.
    """
    folder = Path(folder)
    written = []
    keys = series_columns(frame)
    series = _series_groups(frame)
    gradient = gradient_column(frame)
    columns = [("hidden", HIDDEN)] + ([("gradient", gradient)] if gradient else [])
    for i, (values, group) in enumerate(series):
        suffix = f"_{i}" if len(series) > 1 else ""
        mask = np.ones(len(checks), dtype=bool)
        for k, v in zip(keys, values):
            mask &= (checks[k] == v).to_numpy() | (pd.isna(v) & checks[k].isna()).to_numpy()
        mine = checks[mask]
        if not (mine["verdict"] != NOT_APPLICABLE).any():
            continue  # nothing to draw a bound for (e.g. laws correlated along the depth)
        if group["depth"].nunique() > 1:
            for quantity, column in columns:
                fig = bounds_vs_depth_figure(group, mine, quantity, column)
                path = folder / f"bounds_{quantity}_vs_depth{suffix}.png"
                written.append(_style.save(fig, path))
        fig = bounds_histograms_figure(group, mine, columns)
        written.append(_style.save(fig, folder / f"bounds_histograms{suffix}.png"))
    return written
