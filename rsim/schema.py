"""The vocabulary every layer shares: choices of options, metric names and table columns.

Plain Python, no jax, pandas or Hydra: specs, the runner, analysis and views all import
their names from here, so a name is written once. Option *defaults* live on the experiment
specs (:mod:`rsim.experiments`), each in one place.
"""

from __future__ import annotations

# --- the runner (the experiments are registered in rsim.experiments.EXPERIMENTS) -----------------

# Keys of the Hydra config that steer the runner, not an experiment (never part of a spec).
RUN_OPTIONS = (
    "experiment",
    "name",
    "output",
    "progress",
    "figures",
    "compilation_cache",
    "xla_preallocate",
)

# --- architectures ------------------------------------------------------------------------------

MODELS = ("res1", "res2", "res3", "mlp", "conv")
# The paper's branches, whose shape is fixed by the width alone (no branch_depth).
FIXED_BRANCHES = ("res1", "res2", "res3")
# Branches with m = branch_depth hidden layers, and the default m of each.
BRANCH_DEPTHS = {"mlp": 2, "conv": 1}
# The conv branch's image options and their defaults (other models have no images).
IMAGE_OPTIONS = {"image_size": 8, "kernel_size": 3}
ACTIVATIONS = ("relu", "identity", "tanh", "leaky_relu")
# sigma(c x) = c sigma(x) for c > 0: the whole residual map is then positively homogeneous,
# which lets the engine renormalise h every layer and keep its scale as a log.
POSITIVELY_HOMOGENEOUS = ("relu", "identity", "leaky_relu")


def branch_activation(model: str, activation: str) -> str:
    """The nonlinearity a branch really applies: res-3 is V ReLU(W h) whatever ``activation``
    says; res-1 and res-2 use ``activation``."""
    return "relu" if model == "res3" else activation


# --- weight laws and samplers -------------------------------------------------------------------

IID_LAWS = ("gaussian", "uniform", "rademacher")
CORRELATED_LAWS = ("smooth", "fbm", "fbm_official")
# Laws with a Hurst index H: exact fGn, and the paper authors' generator (its defects kept,
# to reproduce the published figures; rsim/core/laws.py).
HURST_LAWS = ("fbm", "fbm_official")
# Laws whose first L layers, cut from a deeper network's streams, do not have the law at depth
# L (what ``coupled_depth`` needs), and why.
NOT_TRUNCATABLE_LAWS = {
    "smooth": "its realisation is a function of t = k / L shared by every depth already",
    "fbm_official": "the official generator's law depends on the path length, so the first L "
    "entries of a longer path do not have its law at length L",
}
LAWS = IID_LAWS + CORRELATED_LAWS
GRADIENTS = ("none", "jvp", "vjp", "both")
PRECISIONS = ("float32", "float64")
# explicit: draw every weight entry; projection: sample each Gaussian matrix's action on the
# vectors it meets, exact in law for i.i.d. Gaussian weights only (rsim/core/projection.py)
# and for dense branches only (a convolution's matrix repeats each kernel entry).
SAMPLERS = ("explicit", "projection")
PROJECTION_LAWS = ("gaussian",)
PROJECTION_MODELS = ("res1", "res2", "res3", "mlp")
# Threefry with partitionable=False is 1.3-2.8x faster on CPU here; it defines the random
# stream, so it is fixed here and recorded in every result file.
PRNG_SETTINGS = {"impl": "threefry2x32", "threefry_partitionable": False}

# --- metrics (natural logs, one value per sample and beta) --------------------------------------

HIDDEN_METRICS = ("log_hidden_ratio", "log_hidden_diff", "log_hidden_maxdiff")
JVP_METRICS = ("log_jvp_ratio", "log_jvp_diff")
VJP_METRICS = ("log_grad_ratio", "log_grad_diff")
# Plain ratios that ``rsim.load`` derives from the stored logs: ``name = exp(log_name)``.
RATIOS = (
    "hidden_ratio",
    "hidden_diff",
    "hidden_maxdiff",
    "jvp_ratio",
    "jvp_diff",
    "grad_ratio",
    "grad_diff",
)
# Gradient ratios in order of preference: exact backprop, then forward mode.
GRADIENT_DIFFS = ("grad_diff", "jvp_diff")
GRADIENT_RATIOS = ("grad_ratio", "jvp_ratio")

# --- columns that identify rows -----------------------------------------------------------------

# A simulation cell, in table order; ``beta`` and ``sample`` come next: together they identify
# one draw (a row). Every option that changes a draw is here (precision: float32 and float64
# runs of a cell are the same draws, rounded differently; the samplers and coupled_depth draw
# other streams). The branch's shape options (mlp, conv) and coupled_depth are NaN for the
# models and runs that have none.
CELL_COLUMNS = (
    "model",
    "init",
    "activation",
    "negative_slope",
    "lengthscale",
    "hurst",
    "width",
    "n_in",
    "depth",
    "gain",
    "seed",
    "branch_depth",
    "image_size",
    "kernel_size",
    "precision",
    "sampler",
    "coupled_depth",
)
# What a row of a cell's table computed besides its hidden-state metrics (``gradients``):
# which settings give each, the larger first.
GRADIENT_COVERS = {
    "none": ("none", "jvp", "vjp", "both"),
    "jvp": ("jvp", "both"),
    "vjp": ("vjp", "both"),
    "both": ("both",),
}
# A series of cells: everything but the depth (one curve against L).
CELL_SERIES = tuple(c for c in CELL_COLUMNS if c != "depth")
# One convergence order of the ode / sde experiments.
LIMIT_SERIES = (
    "experiment",
    "model",
    "activation",
    "negative_slope",
    "init",
    "gain",
    "lengthscale",
    "width",
    "n_in",
    "seed",
    "tolerance",
    "reference_depth",
)
# A training cell (a run is a cell plus lr and seed).
TRAINING_CELL = (
    "dataset",
    "model",
    "init",
    "lengthscale",
    "hurst",
    "width",
    "depth",
    "optimizer",
    "epochs",
    "beta",
)

# --- training -----------------------------------------------------------------------------------

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
# The data_dir option's default: the cache that mnist, fashion_mnist and cifar10 are fetched
# into on first use (<data_dir>/<dataset>/; rsim/data.py).
DATA_DIR = "~/.cache/rsim/data"
# The contour r_h = 1 (zero crossing of mean log10 r_h) a training figure overlays, simulated
# at the training's own architecture and depth: betas 0..1.3 step 0.05, this many samples per
# (H, beta).
CRITICAL_CURVE_BETAS = tuple(round(0.05 * i, 2) for i in range(27))
CRITICAL_CURVE_SAMPLES = 32
OPTIMIZERS = ("adam", "sgd")
# The training experiment's random stream (weights and batch permutations): Threefry in JAX's
# default mode since 0.5 (partitionable), which its results were recorded with; unlike the
# simulator's PRNG_SETTINGS. Pinned by rsim.core.training and recorded in its result files.
TRAINING_PRNG_SETTINGS = {"impl": "threefry2x32", "threefry_partitionable": True}
