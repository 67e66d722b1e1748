"""The figures of the theory report: results and check tables in, PNG files out.

* ``bounds_<quantity>_vs_depth[_i].png`` (Figures 1 and 3): r against L per beta with the
  bounds of :mod:`rsim.analysis.theory` as bands and the violations in red;
* ``bounds_histograms[_i].png`` (Figure 2): log10 r^2 at the largest depth with the bounds.

The checks come from :func:`rsim.analysis.report.check_table`; :mod:`rsim.views.cells` draws
the raw figures of a sweep.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rsim import results
from rsim.analysis.report import (
    HIDDEN,
    NOT_APPLICABLE,
    VIOLATES,
    gradient_column,
    series_columns,
)
from rsim.labels import series_label, statement_label

MAX_HISTOGRAM_ROWS = 6
STATEMENT_COLORS = {
    "Prop 2": "k",
    "Prop 3 (i)": "C4",
    "Prop 3 (ii)": "C3",
    "Cor 1 (iii)": "C5",
    "Prop 5": "k",
}


def _series_groups(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    return list(frame.groupby(series_columns(frame), sort=True, dropna=False))


def _draw_vs_depth(
    group: pd.DataFrame, checks: pd.DataFrame, quantity: str, column: str, path: Path
) -> Path:
    """Median and 10-90% band of r against L per beta, with the bounds as bands:
    sqrt of the Lemma 1 / Prop 6 band for E[r^2] (shaded), sqrt of the exact E[r^2] (dashed),
    sqrt of the tightest applicable high-probability upper bound at delta = 0.1 (dotted, with
    the empirical 90% quantile as crosses), and violations in red."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    r = np.exp(group[column].to_numpy(dtype=np.float64))
    data = group.assign(_r=r)
    for i, (beta, part) in enumerate(data.groupby("beta")):
        color = f"C{i}"
        stats = part.groupby("depth")["_r"].quantile([0.1, 0.5, 0.9]).unstack()
        depths = stats.index.to_numpy()
        ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.15, lw=0)
        mine = checks[(checks["quantity"] == quantity) & (checks["beta"] == beta)]
        band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
        band = mine[mine["statement"] == band_name].set_index("depth").reindex(depths)
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
            ax.plot(depths[ok], np.sqrt(exact["bound_upper"][ok]), ls="--", lw=1, color=color)
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
                mec="red",
                mew=2,
            )
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    label = "‖h_L − h_0‖/‖h_0‖" if quantity == "hidden" else f"gradient ratio ({column[4:]})"
    ax.set_ylabel(label)
    first = group.iloc[0]
    ax.set_title(
        f"{series_label(first)}\nmedian, 10-90% band; hatched: √(Lemma 1 / Prop 6 "
        "band); dashed: √exact E r²;\ndotted: √(tightest δ = 0.1 bound), ×: empirical "
        "90% quantile; red: violation",
        fontsize=8,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    results.save_figure(fig, path, dpi=110)
    return path


def _draw_histograms(
    group: pd.DataFrame, checks: pd.DataFrame, columns: list[tuple[str, str]], path: Path
) -> Path:
    """Histograms of log10 r^2 at the largest depth, one row per beta, one column per
    quantity; shaded: the band for E[r^2] (Lemma 1 / Prop 6) with the MC mean (solid);
    vertical lines: each applicable high-probability bound at delta = 0.1 (dashed) and
    0.05 (dotted), with the empirical 90% quantile (grey)."""
    depth = group["depth"].max()
    deepest = group[group["depth"] == depth]
    betas = sorted(deepest["beta"].unique())
    if len(betas) > MAX_HISTOGRAM_ROWS:  # a fine beta grid: an even selection of rows
        betas = [
            betas[i] for i in np.linspace(0, len(betas) - 1, MAX_HISTOGRAM_ROWS).round().astype(int)
        ]
    fig = Figure(figsize=(6 * len(columns), 3.3 * len(betas)))
    axes = fig.subplots(len(betas), len(columns), squeeze=False)
    for row, beta in zip(axes, betas):
        part = deepest[deepest["beta"] == beta]
        for ax, (quantity, column) in zip(row, columns):
            log10_sq = 2 * part[column].to_numpy(dtype=np.float64) / math.log(10)
            log10_sq = log10_sq[np.isfinite(log10_sq)]
            ax.hist(log10_sq, bins=60, color="C0", alpha=0.7)
            mine = checks[
                (checks["quantity"] == quantity)
                & (checks["beta"] == beta)
                & (checks["depth"] == depth)
            ]
            band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
            for _, r in mine.iterrows():
                if r["verdict"] == NOT_APPLICABLE:
                    continue
                color = "red" if r["verdict"] == VIOLATES else "k"
                if r["statement"] == "exact E[r^2]":
                    ax.axvline(np.log10(r["bound_upper"]), color="C1", lw=1.5, label="exact E r²")
                elif r["statement"] == band_name:
                    ax.axvspan(
                        np.log10(r["bound_lower"]),
                        np.log10(r["bound_upper"]),
                        color="C2",
                        alpha=0.25,
                        label=f"{band_name} band for E r²",
                    )
                    ax.axvline(np.log10(r["estimate"]), color="C2", lw=2, label="MC mean of r²")
                elif r["kind"] == "probability":
                    style = "--" if r["delta"] == 0.1 else ":"
                    if r["verdict"] != VIOLATES:
                        color = STATEMENT_COLORS.get(r["statement"], "k")
                    for b in (r["bound_lower"], r["bound_upper"]):
                        if 0 < b < math.inf:
                            ax.axvline(
                                np.log10(b),
                                color=color,
                                ls=style,
                                lw=1,
                                label=f"{statement_label(quantity, r['statement'], column)}, "
                                f"δ = {r['delta']:g}",
                            )
            if len(log10_sq):
                ax.axvline(
                    np.quantile(log10_sq, 0.9), color="grey", lw=1, label="empirical 90% quantile"
                )
            handles, labels = ax.get_legend_handles_labels()
            unique = dict(zip(labels, handles))
            ax.legend(unique.values(), unique.keys(), fontsize=6)
            ax.set_xlabel(f"log10 r² ({column[4:]})")
            ax.set_title(rf"$\beta$ = {beta:g}, L = {depth}", fontsize=9)
    fig.suptitle(series_label(group.iloc[0]), fontsize=9)
    fig.tight_layout()
    results.save_figure(fig, path, dpi=110)
    return path


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
                written.append(
                    _draw_vs_depth(
                        group,
                        mine,
                        quantity,
                        column,
                        folder / f"bounds_{quantity}_vs_depth{suffix}.png",
                    )
                )
        written.append(
            _draw_histograms(group, mine, columns, folder / f"bounds_histograms{suffix}.png")
        )
    return written
