# %% [markdown]
# # 4. Training (Figures 8-9)
#
# Does the scaling at initialisation decide what can be trained? The paper trains res-1 with
# fbm weights of Hurst index H on a grid of (H, beta) and finds that the cells on the
# exploding side of the critical line do not train (Figure 9); training moves whole weight
# paths but keeps their regularity (Figure 8). rsim trains with optax (Adam), every
# (beta, learning rate) of a job side by side, on scikit-learn's bundled digits (no network).
#
# Size: `RSIM_TUTORIAL_SIZE` (`tiny` in CI, `medium`, `full`: the default size of
# `python -m rsim +sweep=training`, L = 300, 5 x 5 cells, 10 epochs).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import Image, display

from rsim.analysis import best_accuracy
from rsim.experiments import training
from rsim.views import training as views

SIZE = os.environ.get("RSIM_TUTORIAL_SIZE", "tiny")
CONFIG = {
    "tiny": dict(
        width=4,
        depth=4,
        hursts=[0.3, 0.7],
        betas=[0.25, 1.0],
        epochs=1,
        lrs=[0.01, 0.1],
        train_limit=128,
        weights_depth=8,
        weight_laws=["smooth"],
    ),
    "medium": dict(
        width=30,
        depth=100,
        hursts=[0.1, 0.5, 0.9],
        betas=[0.1, 0.5, 0.9],
        epochs=4,
        lrs=[1e-3, 1e-2, 0.1],
        train_limit=None,
        weights_depth=300,
        weight_laws=["gaussian", "smooth"],
    ),
    "full": dict(
        width=30,
        depth=300,
        hursts=list(np.linspace(0.1, 0.9, 5)),
        betas=list(np.linspace(0.1, 0.9, 5)),
        epochs=10,
        lrs=[1e-4, 1e-3, 1e-2, 0.1, 1.0],
        train_limit=None,
        weights_depth=1000,
        weight_laws=["gaussian", "smooth"],
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
# ## Figure 9: best test accuracy over (H, beta)
#
# One job per H; each job trains every (beta, lr) at once. A run's row holds its test
# accuracy after each epoch, its losses and its weight paths.

# %%
common = dict(
    model="res1",
    width=CONFIG["width"],
    epochs=CONFIG["epochs"],
    lrs=CONFIG["lrs"],
    train_limit=CONFIG["train_limit"],
)
runs = pd.concat(
    [
        training.compute(
            training.TrainSpec(
                init="fbm",
                hurst=float(h),
                depth=CONFIG["depth"],
                betas=[float(b) for b in CONFIG["betas"]],
                **common,
            )
        )[""]
        for h in CONFIG["hursts"]
    ],
    ignore_index=True,
)
best = best_accuracy(runs)
print(best[["hurst", "beta", "best_lr", "best_test_accuracy"]].to_string(index=False))
show(views.accuracy_figure(runs))

# %% [markdown]
# ## Figure 8: the weights after training
#
# res-1 with i.i.d. Gaussian and smooth weights (smooth only at the tiny size) at beta in
# {1/2, 1}: V_k[0, 0] against k before and after training, for the most accurate run of each
# cell, with the Hurst exponent of the paths (`rsim.analysis.hurst_exponent`: 1/2 for
# i.i.d., 1 for smooth).

# %%
weights = pd.concat(
    [
        training.compute(
            training.TrainSpec(
                init=init,
                depth=CONFIG["weights_depth"],
                betas=[0.5, 1.0],
                study="weights",
                **common,
            )
        )[""]
        for init in CONFIG["weight_laws"]
    ],
    ignore_index=True,
)
print(weights.groupby(["init", "beta"])[["hurst_init", "hurst_trained"]].median().round(2))
show(views.weights_file(weights, FIGURES))
