# %% [markdown]
# # 5. Beyond the paper: deeper branches and very wide networks
#
# Two things the paper does not do. First, a fourth architecture: branches with several
# layers, `model="mlp"` (V σ(W_m σ(… σ(W_1 h)))) and `model="conv"` (convolutions on a C x N x N
# hidden image). Their exact second moment is E r_h² = (1 + c alpha²)^L − 1 with c = 2^-m for
# ReLU ([Theory](../theory.md), section 11), so the critical beta stays 1/2 and only the
# constant moves. Second, `sampler="reduced"`: with i.i.d. Gaussian weights the hidden state's
# coordinates along h_0 and orthogonal to it form a Markov chain drawn with a few numbers per
# layer whatever the width d (section 13), so d = 10^6 costs what d = 16 does.
#
# Size: `RSIM_TUTORIAL_SIZE` (`tiny` in CI, `medium`, `full`: the grid of
# `python -m rsim +sweep=branches`, 1000 samples).

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
    "tiny": dict(
        depths=[10, 40],
        samples=32,
        channels=1,
        image=4,
        wide=[10_000],
        wide_depth=50,
        wide_samples=256,
    ),
    "medium": dict(
        depths=[10, 100, 300, 1000],
        samples=200,
        channels=4,
        image=4,
        wide=[16, 1024, 1_000_000],
        wide_depth=1000,
        wide_samples=4096,
    ),
    "full": dict(
        depths=[10, 120, 230, 340, 450, 560, 670, 780, 890, 1000],
        samples=1000,
        channels=4,
        image=4,
        wide=[16, 1024, 1_000_000],
        wide_depth=1000,
        wide_samples=20_000,
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
# ## Four architectures at one width
#
# res-3, mlp with m = 2 and conv with m = 1 (C channels on N x N images, 3 x 3 kernels), all
# at the same d = C N², Gaussian weights, on one figure (dashed: the exact mean).

# %%
d = CONFIG["channels"] * CONFIG["image"] ** 2
branches = [
    dict(model="res3", width=d),
    dict(model="mlp", branch_depth=2, width=d),
    dict(
        model="conv",
        branch_depth=1,
        width=CONFIG["channels"],
        image_size=CONFIG["image"],
        kernel_size=3,
    ),
]
frames = [
    rsim.simulate(
        init="gaussian",
        depth=depth,
        betas=[0.25, 0.5, 1.0],
        samples=CONFIG["samples"],
        gradients="none",
        **branch,
    )
    for branch in branches
    for depth in CONFIG["depths"]
]
df = with_ratios(pd.concat(frames, ignore_index=True))
show(views.architectures(df, "hidden_diff", FIGURES / "architectures.png"))

# %% [markdown]
# Each architecture's mean r_h² against its exact value, and its critical beta:

# %%
summary = rsim.summarize(df)
columns = ["model", "branch_depth", "depth", "beta", "mean_hidden_diff_sq", "se", "exact", "z"]
deepest = summary[summary["depth"] == summary["depth"].max()]
print(deepest[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
for model, part in df.groupby(["model", "branch_depth"], dropna=False):
    print(model, rsim.critical_beta(part))

# %% [markdown]
# At beta = 1/4 the mean of r_h² is carried by rare, huge draws (conv most of all: at one
# width its spread is that of a much narrower dense net, [Findings:
# architectures](../findings/architectures.md)), so a few hundred samples miss them and z is
# no test there; at beta = 1/2 and 1 the means sit on the exact values.

# %% [markdown]
# ## The wide sampler
#
# `sampler="reduced"` draws the few coordinates that matter, so the width is free. At
# beta = 1/2 the exact E r_h² = (1 + alpha²/2)^L − 1 does not depend on d; the Monte Carlo
# mean sits on it at every width.

# %%
wide = with_ratios(
    pd.concat(
        [
            rsim.simulate(
                model="res3",
                init="gaussian",
                sampler="reduced",
                width=width,
                depth=CONFIG["wide_depth"],
                betas=[0.5],
                samples=CONFIG["wide_samples"],
                gradients="jvp" if SIZE != "tiny" else "none",  # tiny: one quick compilation
            )
            for width in CONFIG["wide"]
        ],
        ignore_index=True,
    )
)
columns = [
    "width",
    "depth",
    "beta",
    "hidden_diff_median",
    "mean_hidden_diff_sq",
    "se",
    "exact",
    "z",
]
print(rsim.summarize(wide)[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
