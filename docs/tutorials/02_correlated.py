# %% [markdown]
# # 2. Weights correlated along the depth, and the heatmap (Figures 4-7)
#
# With weights that vary smoothly with the layer (`init="smooth"`: each entry a Gaussian
# process in t = k/L), the critical beta moves from 1/2 to 1; with fractional Gaussian noise
# of Hurst index H along the layers (`init="fbm"`) the paper's heuristic is
# beta* = max(H, 1/2) ([Theory](../theory.md), section 6). This notebook draws the smooth
# regimes (Figures 4-5), fbm weight paths (Figure 6) and the (H, beta) heatmap (Figure 7).
#
# Size: `RSIM_TUTORIAL_SIZE` (`tiny` in CI, `medium`, `full`: the sweeps' own grids, except the
# heatmap, which the `full` size draws on a 12 x 14 grid instead of the official 51 x 70).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Image, display

import rsim
from rsim.experiments import cells
from rsim.results import with_ratios
from rsim.views import cells as views

SIZE = os.environ.get("RSIM_TUTORIAL_SIZE", "tiny")
CONFIG = {
    "tiny": dict(
        width=8,
        depths=[10, 40],
        samples=32,
        path_depth=64,
        heat_depth=30,
        hursts=[0.3, 0.7],
        betas=np.linspace(0.2, 1.2, 6).round(3).tolist(),
        heat_samples=16,
    ),
    "medium": dict(
        width=40,
        depths=[10, 100, 300, 1000],
        samples=200,
        path_depth=1000,
        heat_depth=1000,
        hursts=np.linspace(0.1, 0.9, 9).round(3).tolist(),
        betas=np.linspace(0.1, 1.3, 13).round(3).tolist(),
        heat_samples=30,
    ),
    "full": dict(
        width=40,
        depths=[10, 120, 230, 340, 450, 560, 670, 780, 890, 1000],
        samples=500,
        path_depth=1000,
        heat_depth=1000,
        hursts=np.linspace(0.05, 0.97, 12).round(3).tolist(),
        betas=np.linspace(0.0, 1.3, 14).round(3).tolist(),
        heat_samples=50,
    ),
}[SIZE]
FIGURES = Path(tempfile.mkdtemp(prefix="rsim-tutorial-"))


def show(result: object) -> None:
    """Display what a view returned: a figure file, or a matplotlib Figure (saved as PNG)."""
    if not isinstance(result, str | Path):
        path = FIGURES / f"figure-{len(list(FIGURES.iterdir()))}.png"
        result.savefig(path, dpi=120, bbox_inches="tight")
        result = path
    display(Image(filename=str(result)))


print(f"size {SIZE}: {CONFIG}")

# %% [markdown]
# ## Figures 4 and 5: smooth weights
#
# res-3 with RBF-smooth weights (length scale 0.1) and beta in {1/2, 1, 2}. A realisation is a
# function of t = k/L, so sample i at every depth discretises the same weights. Now beta = 1/2
# explodes and beta = 1 is the critical scaling.

# %%
smooth = with_ratios(
    pd.concat(
        [
            rsim.simulate(
                model="res3",
                init="smooth",
                lengthscale=0.1,
                width=CONFIG["width"],
                depth=depth,
                betas=[0.5, 1.0, 2.0],
                samples=CONFIG["samples"],
                gradients="jvp",
            )
            for depth in CONFIG["depths"]
        ],
        ignore_index=True,
    )
)
show(views.ratio_vs_depth(smooth, "hidden_diff", FIGURES / "figure4.png"))

# %% [markdown]
# The jvp tangent r_q = ‖q_L − z‖/‖z‖, q_L = (∂h_L/∂h_0) z (Figure 5 draws the gradients):

# %%
show(views.ratio_vs_depth(smooth, "jvp_diff", FIGURES / "figure5.png"))
print(rsim.critical_beta(smooth))

# %% [markdown]
# ## Figure 6: fbm weight paths
#
# `weight_paths=n` stores the entry V_k[0, 0] of the first n samples; `rsim.simulate` returns
# the main table only, so we call the experiment's `compute`, which returns every table.

# %%
paths = pd.concat(
    [
        cells.compute(
            rsim.CellSpec(
                model="res3",
                init="fbm",
                hurst=hurst,
                width=CONFIG["width"],
                depth=CONFIG["path_depth"],
                betas=[0.5],
                samples=2,
                weight_paths=2,
            )
        )["paths"]
        for hurst in (0.2, 0.5, 0.8)
    ],
    ignore_index=True,
)
show(views.fbm_paths(paths, FIGURES / "figure6.png"))

# %% [markdown]
# ## Figure 7: the heatmap over (H, beta)
#
# The mean log10 r_h at one depth for every (H, beta). H is traced, so the whole grid
# compiles once. The solid line is where that mean crosses 0, a contour at one depth (not the
# limit beta*); the dotted line is the heuristic max(H, 1/2).

# %%
grid = with_ratios(
    pd.concat(
        [
            rsim.simulate(
                model="res3",
                init="fbm",
                hurst=float(hurst),
                width=CONFIG["width"],
                depth=CONFIG["heat_depth"],
                betas=CONFIG["betas"],
                samples=CONFIG["heat_samples"],
                gradients="jvp",
            )
            for hurst in CONFIG["hursts"]
        ],
        ignore_index=True,
    )
)
show(views.heatmap_figure(grid, ["hidden_diff", "jvp_diff"]))

# %% [markdown]
# The contour as a table, beside the heuristic:

# %%
curve = rsim.critical_curve(grid)
curve["max(H, 1/2)"] = np.maximum(curve["hurst"], 0.5)
columns = ["hurst", "depth", "beta_star", "method", "max(H, 1/2)"]
print(curve[columns].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
