# %% [markdown]
# # 1. The scaling alpha_L and Corollary 1 (Figures 1-3)
#
# A residual network at initialisation, h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, theta_{k+1}),
# with alpha_L = L^-beta: Corollary 1 of the paper says that with i.i.d. weights
# ‖h_L − h_0‖/‖h_0‖ explodes with the depth L for beta < 1/2, tends to 0 (the identity) for
# beta > 1/2, and stays of order one at beta = 1/2 ([Theory](../theory.md), sections 3-4).
# This notebook draws the three regimes with `rsim.simulate`, checks the Monte Carlo mean
# against the exact second moment, and estimates the critical beta.
#
# Its size is one variable, `RSIM_TUTORIAL_SIZE` (`tiny` in CI, `medium`, or `full`: the
# grid of `python -m rsim +sweep=corollary1`).

# %%
import os
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import rsim
from rsim.results import with_ratios
from rsim.views import cells as views

SIZE = os.environ.get("RSIM_TUTORIAL_SIZE", "tiny")
CONFIG = {
    "tiny": dict(width=8, depths=[10, 40], samples=64),
    "medium": dict(width=40, depths=[10, 100, 300, 1000], samples=500),
    "full": dict(width=40, depths=[10, 120, 230, 340, 450, 560, 670, 780, 890, 1000], samples=2000),
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
# ## Simulate
#
# res-3 (`V ReLU(W h)`) with uniform weights, the paper's setting. One call is one *cell* (a
# depth); the three betas of a call share every sample's weights, so the regimes are compared
# on the same draws. `gradients="both"` adds the jvp tangent and exact backprop.

# %%
frames = [
    rsim.simulate(
        model="res3",
        init="uniform",
        width=CONFIG["width"],
        depth=depth,
        betas=[0.25, 0.5, 1.0],
        samples=CONFIG["samples"],
        seed=0,
        gradients="both",
    )
    for depth in CONFIG["depths"]
]
df = with_ratios(
    pd.concat(frames, ignore_index=True)
)  # adds hidden_diff = exp(log_hidden_diff), ...
df[["depth", "beta", "sample", "hidden_diff", "grad_diff"]].head()

# %% [markdown]
# ## Figure 1: the hidden states
#
# The median of r_h = ‖h_L − h_0‖/‖h_0‖ against L, with its 10-90% band; dashed, the square
# root of the exact E r_h² = (1 + alpha²/2)^L − 1 of res-3 (THEORY.md section 4).

# %%
show(views.ratio_vs_depth(df, "hidden_diff", FIGURES / "figure1.png"))

# %% [markdown]
# The Monte Carlo mean of r_h² against that exact value, with its standard error and z-score
# (the same table `python -m rsim` prints at the end of a run):

# %%
summary = rsim.summarize(df)
columns = ["depth", "beta", "hidden_diff_median", "mean_hidden_diff_sq", "se", "exact", "z"]
print(summary[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))

# %% [markdown]
# Read z with care at beta = 1/4: there r_h² is right-skewed, close to log-normal, and its
# sample mean and standard error are usually both too small, so z drifts below 0 as L grows
# (the theory report judges such means with a log-normal estimate: [Theory
# report](../guide/theory-report.md)).

# %% [markdown]
# ## Figure 2: the laws at the largest depth
#
# Histograms of r_h and of the gradient ratio r_p = ‖p_0 − p_L‖/‖p_L‖ (p = ∂Loss/∂h, exact
# backprop) at the deepest L, one row per beta. (The paper's Figure 2 is beta = 1/2 at
# d = 100 with 10^4 samples: `python -m rsim +sweep=histogram`.)

# %%
show(views.histograms(df, ["hidden_diff", "grad_diff"], FIGURES / "figure2.png"))

# %% [markdown]
# ## Figure 3: the gradients
#
# The same three regimes for the gradients.

# %%
show(views.ratio_vs_depth(df, "grad_diff", FIGURES / "figure3.png"))

# %% [markdown]
# ## The critical beta
#
# `rsim.critical_beta` estimates where the ratio stays of order one as L grows (the
# median's slope in log L, at the betas on the identity side; a bootstrap interval). The
# theory says 1/2 for i.i.d. weights.

# %%
print(rsim.critical_beta(df))
