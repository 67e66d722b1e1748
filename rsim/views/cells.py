"""Figures 1-3 of the paper, drawn from a results table (never from the engine).

* ``<ratio>_vs_depth.png`` (Figures 1 and 3): median of a ratio against L per beta, with the
  10%-90% quantile band, log scale, and sqrt of the exact E[r^2] where THEORY.md gives it.
* ``histograms.png`` (Figure 2): histograms of ||h_L||/||h_0|| and of the gradient ratio at the
  largest depth, one panel per beta.
* ``fbm_paths.png`` (Figure 6): fbm weight paths for each H of the table.
* ``heatmap.png`` (Figure 7): mean log10 ratio over (H, beta) with the critical curve.
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
    caption = "median, 10-90% band"
    for beta, group in frame.groupby("beta"):
        stats = group.groupby("depth")[ratio].quantile([0.1, 0.5, 0.9]).unstack()
        line, = ax.plot(stats.index, stats[0.5], marker="o", ms=3, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(stats.index, stats[0.1], stats[0.9], color=line.get_color(), alpha=0.2)
        if ratio in ("hidden_diff", "jvp_diff", "grad_diff"):
            first = group.iloc[0]
            depths = stats.index.to_numpy()
            exact = theory.exact_mean_squared_diff(
                first["model"], first["activation"], first["negative_slope"], first["gain"],
                depths.astype(float) ** -beta, depths, init=first["init"])
            if np.isfinite(exact).all():
                ax.plot(depths, np.sqrt(exact), ls="--", color=line.get_color(), lw=1)
                caption = "median, 10-90% band; dashed: sqrt of exact E[r²]"
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    ax.set_ylabel(LABELS.get(ratio, ratio))
    ax.set_title(f"{_title(frame)}\n{caption}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def histograms(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Histograms of ``ratios`` at the largest depth: one row per beta, one column per ratio.
    A panel whose values spread over more than three decades is drawn in log10."""
    deepest = frame[frame["depth"] == frame["depth"].max()]
    betas = sorted(deepest["beta"].unique())
    fig, axes = plt.subplots(len(betas), len(ratios), figsize=(5 * len(ratios), 3.2 * len(betas)),
                             squeeze=False)
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
    fig.suptitle(f"{_title(deepest)}, L = {deepest['depth'].iloc[0]}, "
                 f"{deepest['sample'].nunique()} samples", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def heatmap(frame: pd.DataFrame, ratios: list[str], path: Path) -> Path:
    """Figure 7: mean log10 ratio over (H, beta) at one depth, with the estimated critical
    curve (where it crosses 0) and the heuristic max(H, 1/2)."""
    from rsim.critical import zero_crossings

    fig, axes = plt.subplots(1, len(ratios), figsize=(6 * len(ratios), 4.8), squeeze=False)
    for ax, ratio in zip(axes[0], ratios):
        grid = (frame.groupby(["hurst", "beta"])[f"log_{ratio}"].mean() / np.log(10)).unstack()
        hursts, betas = grid.index.to_numpy(), grid.columns.to_numpy()
        image = ax.pcolormesh(betas, hursts, grid.to_numpy(), cmap="RdBu_r", vmin=-3, vmax=3,
                              shading="nearest")
        fig.colorbar(image, ax=ax, extend="both", label=f"mean log10 {LABELS.get(ratio, ratio)}")
        crossings = zero_crossings(frame, ratio)
        ax.plot(crossings["beta_zero"], crossings["hurst"], "k-", lw=2, label="estimated critical")
        ax.plot(np.maximum(hursts, 0.5), hursts, "k--", lw=1, label=r"max(H, 1/2)")
        ax.set_xlabel(r"$\beta$")
        ax.set_ylabel("Hurst index H")
        ax.legend(loc="lower right", fontsize=8)
    first = frame.iloc[0]
    fig.suptitle(f"{first['model']}, fbm weights, d = {first['width']}, L = {first['depth']}, "
                 f"{frame['sample'].nunique()} samples per cell", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fbm_paths(hursts, path: Path, length: int = 1000, seed: int = 0) -> Path:
    """Figure 6: one weight entry under the fbm law (fGn in the layer index) and its
    cumulative sum (an fBm path), for each H; drawn with rsim.weights, key ``seed``."""
    import jax

    from rsim import weights

    hursts = sorted(hursts)
    fig, axes = plt.subplots(len(hursts), 2, figsize=(10, 2.2 * len(hursts)), sharex=True,
                             squeeze=False)
    k = np.arange(1, length + 1)
    for row, hurst in zip(axes, hursts):
        noise = np.asarray(weights.fgn(jax.random.PRNGKey(seed), length, 1,
                                       weights.fgn_scale(hurst, length), np.float32))[:, 0]
        row[0].plot(k, noise, lw=0.5, color="C0")
        row[0].set_ylabel(f"H = {hurst:g}")
        row[1].plot(k, np.cumsum(noise) / length**hurst, lw=1, color="C1")
    axes[0, 0].set_title("fGn: one weight entry $V_k$ against the layer k", fontsize=9)
    axes[0, 1].set_title(r"fBm: $\sum_{j \leq k} V_j \,/\, L^H$", fontsize=9)
    axes[-1, 0].set_xlabel("layer k")
    axes[-1, 1].set_xlabel("layer k")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_figures(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """All figures a results table supports, written into ``folder``; returns their paths.

    Ratios against depth for every series swept over depths; a heatmap when H is swept at
    one depth; fbm paths for a few values of H; histograms for the deepest cells otherwise.
    """
    folder = Path(folder)
    written = []
    gradient_diff = next((r for r in ("grad_diff", "jvp_diff") if r in frame), None)
    gradient_ratio = next((r for r in ("grad_ratio", "jvp_ratio") if r in frame), None)
    hursts = frame["hurst"].dropna().unique()
    if len(hursts) > 5 and frame["depth"].nunique() == 1:
        ratios = ["hidden_diff"] + ([gradient_diff] if gradient_diff else [])
        return [heatmap(frame, ratios, folder / "heatmap.png")]
    if 0 < len(hursts) <= 5:
        written.append(fbm_paths(hursts, folder / "fbm_paths.png"))
    series = list(frame.groupby(SERIES, sort=True, dropna=False))
    for i, (_, group) in enumerate(series):
        suffix = f"_{i}" if len(series) > 1 else ""
        if group["depth"].nunique() > 1:
            for ratio in ("hidden_diff", "jvp_diff", "grad_diff"):
                if ratio in group:
                    written.append(ratio_vs_depth(
                        group, ratio, folder / f"{ratio}_vs_depth{suffix}.png"))
        if len(series) <= 5:
            ratios = ["hidden_ratio"] + ([gradient_ratio] if gradient_ratio else [])
            written.append(histograms(group, ratios, folder / f"histograms{suffix}.png"))
    return written
