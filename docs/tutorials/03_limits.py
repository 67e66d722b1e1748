# %% [markdown]
# # 3. The continuous limits: a neural ODE and a neural SDE
#
# With smooth weights and alpha = 1/L, the ResNet is the Euler scheme of a neural ODE
# dH = V_t g(H_t, Theta_t) dt (error of order 1/L); with i.i.d. Gaussian weights and
# alpha = 1/sqrt(L), res-1 is the Euler-Maruyama scheme of a neural SDE (strong order 1/2)
# ([Theory](../theory.md), section 5). Both orders are measured without a reference
# solution: depths L and 2L share one realisation of the weights, so the gap
# ‖h^(L)_L − h^(2L)_2L‖ decays like L^-p.
#
# Size: `RSIM_TUTORIAL_SIZE` (`tiny` in CI, `medium`, `full`: the sizes of
# `python -m rsim +sweep=ode` and `+sweep=sde`).

# %%
import os
import tempfile
from pathlib import Path

from IPython.display import Image, display

import rsim
from rsim.analysis.convergence import weak_check
from rsim.experiments import limits
from rsim.results import with_ratios
from rsim.views import limits as views

SIZE = os.environ.get("RSIM_TUTORIAL_SIZE", "tiny")
CONFIG = {
    "tiny": dict(
        ode=dict(width=3, depths=(4, 8, 16), samples=4, tolerance=1e-8),
        sde=dict(width=4, depths=(4, 8, 16), samples=32, reference_depth=32),
    ),
    "medium": dict(
        ode=dict(width=16, depths=(16, 32, 64, 128, 256, 512), samples=32),
        sde=dict(
            width=10, depths=(4, 8, 16, 32, 64, 128, 256, 512), samples=256, reference_depth=1024
        ),
    ),
    "full": dict(ode=dict(), sde=dict()),  # the specs' defaults: the sweeps' sizes
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
# ## The ODE limit
#
# res-1 with the identity, smooth weights (length scale 0.1), float64. The table has one row
# per (sample, depth): the reference-free `doubling_gap_final` and the error against a
# Dopri8 solution (diffrax) as a diagnostic.

# %%
ode_spec = limits.OdeSpec(model="res1", activation="identity", **CONFIG["ode"])
ode = limits.compute(ode_spec)
ode[""][["depth", "sample", "doubling_gap_final", "error_final"]].head()

# %%
order = rsim.convergence_order(ode[""])
print(order)
show(views.error_file(ode[""], FIGURES / "ode_error.png"))

# %% [markdown]
# The same runs give r_h for alpha = L^-beta (Propositions 8 and 9): beta = 1 stays of order
# one, beta > 1 decays, beta < 1 grows.

# %%
show(views.regimes_file(with_ratios(ode["regimes"]), FIGURES / "ode_regimes.png"))

# %% [markdown]
# ## The SDE limit
#
# res-1, V entries N(0, 2/d), alpha = 1/sqrt(L), every depth on one Brownian path per sample.
# The strong order should be 1/2.

# %%
sde_specs = [limits.SdeSpec(activation=a, **CONFIG["sde"]) for a in ("identity", "relu")]
sde = [limits.compute(spec)[""] for spec in sde_specs]
for spec, table in zip(sde_specs, sde, strict=True):
    print(spec.label(), rsim.convergence_order(table))

# %% [markdown]
# The weak check of the identity: E‖H_1‖²/‖H_0‖² = e^{g²} by Itô, and the ResNet's
# (1 + g²/L)^L at each depth, each with its standard error and z-score.

# %%
weak = weak_check(sde[0])
print(weak.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
show(views.weak_file(weak, FIGURES / "sde_weak.png"))
