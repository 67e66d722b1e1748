"""Figures 1-3 of the paper, drawn from a results table (never from the engine).

* ``<ratio>_vs_depth.png`` (Figures 1 and 3): median of a ratio against L per beta, with the
  10%-90% quantile band, log scale, and sqrt of the exact E[r^2] where THEORY.md gives it.
* ``histograms.png`` (Figure 2): histograms of ||h_L||/||h_0|| and of the gradient ratio at the
  largest depth, one colour per beta.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rsim import theory  # noqa: E402
from rsim.simulate import CELL_COLUMNS  # noqa: E402

SERIES = [c for c in CELL_COLUMNS if c != "depth"]
LABELS = {
    "hidden_diff": r"$\|h_L - h_0\| / \|h_0\|$",
    "hidden_ratio": r"$\|h_L\| / \|h_0\|$",
    "jvp_diff": r"$\|q_L - z\| / \|z\|$ (jvp)",
    "jvp_ratio": r"$\|q_L\| / \|z\|$ (jvp)",
    "grad_diff": r"$\|p_0 - p_L\| / \|p_L\|$",
    "grad_ratio": r"$\|p_0\| / \|p_L\|$",
}


def _title(frame: pd.DataFrame) -> str:
    first = frame.iloc[0]
    return f"{first['model']}, {first['init']} weights, d = {first['width']}"


def ratio_vs_depth(frame: pd.DataFrame, ratio: str, path: Path) -> Path:
    """Median ``ratio`` against depth per beta with a 10-90% band (one cell series)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for beta, group in frame.groupby("beta"):
        stats = group.groupby("depth")[ratio].quantile([0.1, 0.5, 0.9]).unstack()
        line, = ax.plot(stats.index, stats[0.5], marker="o", ms=3, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(stats.index, stats[0.1], stats[0.9], color=line.get_color(), alpha=0.2)
        if ratio in ("hidden_diff", "jvp_diff", "grad_diff"):
            first = group.iloc[0]
            depths = stats.index.to_numpy()
            exact = theory.exact_mean_squared_diff(
                first["model"], first["activation"], first["negative_slope"], first["gain"],
                depths.astype(float) ** -beta, depths)
            if np.isfinite(exact).all():
                ax.plot(depths, np.sqrt(exact), ls="--", color=line.get_color(), lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(LABELS.get(ratio, ratio))
    ax.set_title(_title(frame) + "\nmedian, 10-90% band; dashed: sqrt of exact E[r²]",
                 fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def histograms(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Histograms of ``ratios`` at the largest depth of the table, one colour per beta."""
    deepest = frame[frame["depth"] == frame["depth"].max()]
    fig, axes = plt.subplots(1, len(ratios), figsize=(5 * len(ratios), 3.8), squeeze=False)
    for ax, ratio in zip(axes[0], ratios):
        values = deepest[ratio].replace(np.inf, np.nan).dropna()
        spread = values.max() / max(values.min(), 1e-300)
        log_axis = spread > 1e3
        for beta, group in deepest.groupby("beta"):
            x = group[ratio].to_numpy()
            x = np.log10(x) if log_axis else x
            ax.hist(x[np.isfinite(x)], bins=60, alpha=0.6, label=rf"$\beta$ = {beta:g}")
        label = LABELS.get(ratio, ratio)
        ax.set_xlabel(f"log10 {label}" if log_axis else label)
        ax.set_ylabel("count")
        ax.legend()
    fig.suptitle(f"{_title(deepest)}, L = {deepest['depth'].iloc[0]}, "
                 f"{deepest['sample'].nunique()} samples", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_figures(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """All figures a results table supports, written into ``folder``; returns their paths."""
    folder = Path(folder)
    written = []
    series = list(frame.groupby(SERIES, sort=True))
    for i, (_, group) in enumerate(series):
        suffix = f"_{i}" if len(series) > 1 else ""
        if group["depth"].nunique() > 1:
            for ratio in ("hidden_diff", "jvp_diff", "grad_diff"):
                if ratio in group:
                    written.append(ratio_vs_depth(
                        group, ratio, folder / f"{ratio}_vs_depth{suffix}.png"))
        gradient = "grad_ratio" if "grad_ratio" in group else "jvp_ratio"
        ratios = ["hidden_ratio"] + ([gradient] if gradient in group else [])
        written.append(histograms(group, ratios, folder / f"histograms{suffix}.png"))
    return written
