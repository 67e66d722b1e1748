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

# --- architectures and weight laws: derived from their registries -------------------------------

# The branches (rsim.core.branches.BRANCHES), the activations (ACTIVATIONS there) and the weight
# laws (rsim.core.laws.LAWS) are records registered once; the names below are read from the
# registries on every access (a law registered later is in them), for the modules that still
# ask schema (the engine, training, scripts). New code reads the records.
_VARIANT_NAMES = {
    "MODELS": lambda branches, laws: tuple(branches.BRANCHES),
    # The paper's branches (the continuous-time limits know no others).
    "FIXED_BRANCHES": lambda branches, laws: tuple(
        n for n, r in branches.BRANCHES.items() if r.in_paper
    ),
    # Branches with m = branch_depth hidden layers, and the default m of each.
    "BRANCH_DEPTHS": lambda branches, laws: {
        n: r.default_branch_depth for n, r in branches.BRANCHES.items() if not r.fixed
    },
    # The image options and their defaults (conv; other models have no images).
    "IMAGE_OPTIONS": lambda branches, laws: {
        k: v for r in branches.BRANCHES.values() for k, v in r.image_options.items()
    },
    "ACTIVATIONS": lambda branches, laws: tuple(branches.ACTIVATIONS),
    "POSITIVELY_HOMOGENEOUS": lambda branches, laws: tuple(
        n for n, a in branches.ACTIVATIONS.items() if a.positively_homogeneous
    ),
    # The projection sampler is exact in law for dense branches with Gaussian weights only.
    "PROJECTION_MODELS": lambda branches, laws: tuple(
        n for n, r in branches.BRANCHES.items() if r.dense
    ),
    "LAWS": lambda branches, laws: tuple(laws.LAWS),
    "IID_LAWS": lambda branches, laws: laws.names(laws.IID),
    "CORRELATED_LAWS": lambda branches, laws: laws.names(laws.CORRELATED),
    "HURST_LAWS": lambda branches, laws: tuple(n for n, r in laws.LAWS.items() if r.has_hurst),
    "NOT_TRUNCATABLE_LAWS": lambda branches, laws: {
        n: r.not_truncatable for n, r in laws.LAWS.items() if r.not_truncatable
    },
    "PROJECTION_LAWS": lambda branches, laws: tuple(
        n for n, r in laws.LAWS.items() if r.projection_exact
    ),
}


def __getattr__(name: str) -> object:
    """The variant names of :data:`_VARIANT_NAMES`, read from the registries now."""
    if name not in _VARIANT_NAMES:
        raise AttributeError(f"module 'rsim.schema' has no attribute {name!r}")
    from rsim.core import branches, laws

    return _VARIANT_NAMES[name](branches, laws)


def branch_activation(model: str, activation: str) -> str:
    """The nonlinearity a branch really applies: res-3 is V ReLU(W h) whatever ``activation``
    says; res-1 and res-2 use ``activation`` (:meth:`rsim.core.branches.Branch.activation_of`;
    an unknown model keeps ``activation``)."""
    from rsim.core import branches

    record = branches.BRANCHES.get(model) if isinstance(model, str) else None
    return record.activation_of(activation) if record else activation


# --- gradients, precisions and samplers ---------------------------------------------------------

GRADIENTS = ("none", "jvp", "vjp", "both")
PRECISIONS = ("float32", "float64")
# explicit: draw every weight entry; projection: sample each Gaussian matrix's action on the
# vectors it meets, exact in law for i.i.d. Gaussian weights only (rsim/core/projection.py;
# PROJECTION_LAWS) and for dense branches only (a convolution's matrix repeats each kernel
# entry; PROJECTION_MODELS); reduced: a few coordinates in O(1) numbers per layer,
# each beta on its own weights (rsim/core/samplers/reduced.py, rsim/THEORY.md section 13).
SAMPLERS = ("explicit", "projection", "reduced")
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
