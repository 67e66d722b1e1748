"""Training deep ResNets from rsim's initialisations with optax (``experiment=training``).

The model is the simulator's ResNet with a softmax readout,

    h_0 = A x,   h_{k+1} = h_k + alpha_L V_{k+1} g(h_k, W_{k+1}),   logits = B h_L,
    alpha_L = L^-beta,

with A, V_k, W_k, B drawn by :mod:`rsim.weights` (i.i.d., smooth or fbm along k) and trained on
the mean softmax cross-entropy  -log softmax(B h_L)_y  by Adam or SGD, batch 128, the learning
rate divided by 10 after half the epochs (epoch index >= epochs / 2).

A job trains a grid of runs (beta, lr, seed) side by side: one ``vmap`` over the runs, one
``jit`` of a whole epoch (``lax.scan`` over its batches, each a ``lax.scan`` over the layers).
beta, the learning rate (``optax.inject_hyperparams``: the optimizer's state holds it as an
array) and the fbm spectrum (a function of H) are traced, so every learning-rate grid, every
beta and every H of a sweep share one compilation whenever the shapes agree.

A run is *diverged* when an epoch's mean training loss is not finite or exceeds
``DIVERGED_LOSS_FACTOR`` x log(n_classes) (guessing uniformly costs log(n_classes)). Diverged
runs keep their row, with ``diverged = True``.

Studies (the ``study`` key; :func:`finish` draws the figures of the study it finds):

* ``accuracy``  Figure 9: best test accuracy over the learning rates per (H, beta)
* ``weights``   Figure 8: one weight entry V_k[0, 0] against k after training, and the Hurst
                exponent (:mod:`rsim.hurst`) of the trained weight paths
* ``lr_alpha``  the best learning rate against alpha_L, with the fit log lr* = c + p log alpha
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd

from rsim import checks, experiments, models, weights
from rsim import data as datasets
from rsim.checks import ConfigError

STUDIES = ("accuracy", "weights", "lr_alpha")
OPTIMIZERS = ("adam", "sgd")
DIVERGED_LOSS_FACTOR = 10.0
# Runs per device call are chosen so that the activations kept for backprop stay under this.
MEMORY_BUDGET_BYTES = 2 << 30
# Counts traces of the epoch function (a test checks a learning-rate grid compiles once).
TRACES = {"epoch": 0}


# --- the spec of one job ----------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSpec:
    """One job: a model, a weight law, a dataset, and the grid betas x lrs x seeds."""

    study: str = "accuracy"
    dataset: str = "digits"
    data_dir: str | None = None
    train_limit: int | None = None
    model: str = "res1"
    activation: str = "relu"
    negative_slope: float = 0.01
    init: str = "gaussian"
    gain: float = 1.0
    lengthscale: float | None = None
    hurst: float | None = None
    width: int = 30
    depth: int = 100
    betas: tuple[float, ...] = (0.5,)
    lrs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    seed: int = 0
    replicates: int = 1
    optimizer: str = "adam"
    epochs: int = 10
    batch_size: int = 128
    precision: str = "float32"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> TrainSpec:
        """Build and validate a spec from plain values (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        for key in ("betas", "lrs"):
            if key in kwargs:
                value = kwargs[key]
                kwargs[key] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        # A law parameter belongs to its law only (other laws' jobs do not depend on it).
        law = kwargs.get("init", cls.init)
        kwargs["lengthscale"] = kwargs.get("lengthscale", 0.1) if law == "smooth" else None
        kwargs["hurst"] = kwargs.get("hurst", 0.5) if law == "fbm" else None
        if kwargs.get("dataset", cls.dataset) == "digits":
            kwargs["data_dir"] = None
        if kwargs.get("data_dir") is not None:
            kwargs["data_dir"] = str(kwargs["data_dir"])
        spec = cls(**kwargs)
        spec.validate()
        return spec

    def validate(self) -> None:
        checks.choice("study", self.study, STUDIES)
        checks.choice("dataset", self.dataset, datasets.DATASETS)
        checks.architecture(self.model, self.activation)
        checks.choice("init", self.init, weights.LAWS)
        checks.choice("optimizer", self.optimizer, OPTIMIZERS)
        checks.choice("precision", self.precision, ("float32",))
        for key in ("width", "depth", "replicates", "epochs", "batch_size"):
            checks.integer(key, getattr(self, key), 1)
        checks.integer("seed", self.seed, 0)
        checks.positive("gain", self.gain)
        checks.real("negative_slope", self.negative_slope)
        checks.law_parameters(self.init, self.lengthscale, self.hurst)
        if not self.betas:
            raise ConfigError("betas=[] is not allowed; give at least one finite number")
        for beta in self.betas:
            checks.real("betas", beta)
        if not self.lrs:
            raise ConfigError("lrs=[] is not allowed; give at least one learning rate > 0")
        for lr in self.lrs:
            checks.positive("lrs", lr)
        if self.train_limit is not None:
            checks.integer("train_limit", self.train_limit, self.batch_size)
        if self.dataset != "digits":
            for path in datasets.required_files(self.dataset, self.data_dir):
                if not path.is_file():
                    raise ConfigError(f"data_dir={self.data_dir!r}: missing data file {path}")

    def identity(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        values["lrs"] = list(self.lrs)
        return values

    def digest(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def runs(self) -> pd.DataFrame:
        """The grid, one row per run: beta, alpha = depth^-beta, lr, seed (betas outermost)."""
        grid = [(beta, lr, self.seed + r) for beta in self.betas for lr in self.lrs
                for r in range(self.replicates)]
        frame = pd.DataFrame(grid, columns=["beta", "lr", "seed"])
        frame["alpha"] = float(self.depth) ** -frame["beta"]
        return frame










# --- the model --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Architecture:
    """Everything static about a run's shapes and functions (the jit cache key)."""

    model: str
    activation: str
    negative_slope: float
    init: str
    gain: float
    lengthscale: float | None
    width: int
    depth: int
    n_in: int
    n_classes: int

    @property
    def branch(self) -> models.Branch:
        return models.branch(self.model, self.activation, self.negative_slope)


def init_params(arch: Architecture, key: jax.Array, fgn_scale: jax.Array) -> dict:
    """A (d, n_in), layers (L, n_matrices, d, d) (V first), B (n_classes, d), by rsim's laws:
    variance gain^2 / fan_in; layers along k from :func:`weights.path` for correlated laws."""
    key_a, key_layers, key_b = jax.random.split(key, 3)
    d, dtype = arch.width, jnp.float32
    shape = (arch.branch.n_matrices, d, d)
    if arch.init in weights.CORRELATED_LAWS:
        layers = weights.path(arch.init, key_layers, arch.depth, shape, d, arch.gain, dtype,
                              fgn_scale=fgn_scale, lengthscale=arch.lengthscale or 0.1)
    else:
        layers = weights.draw(arch.init, key_layers, (arch.depth, *shape), d, arch.gain, dtype)
    return {
        "A": weights.draw(arch.init, key_a, (d, arch.n_in), arch.n_in, arch.gain, dtype),
        "layers": layers,
        "B": weights.draw(arch.init, key_b, (arch.n_classes, d), d, arch.gain, dtype),
    }


def logits(arch: Architecture, params: dict, alpha: jax.Array, x: jax.Array) -> jax.Array:
    """B h_L for the rows of ``x``: h_0 = A x, h_{k+1} = h_k + alpha V g(h_k, W) (a scan)."""
    residual = arch.branch.residual

    def layer(h, w):
        return h + alpha * residual(w, h), None

    h_last, _ = jax.lax.scan(layer, x @ params["A"].T, params["layers"])
    return h_last @ params["B"].T


def cross_entropy(arch: Architecture, params: dict, alpha, x, y) -> jax.Array:
    """Mean over the batch of -log softmax(B h_L)_y."""
    scores = logits(arch, params, alpha, x)
    return optax.softmax_cross_entropy_with_integer_labels(scores, y).mean()


def optimizer(name: str) -> optax.GradientTransformation:
    """Adam or SGD whose learning rate is a state entry, set per run and per epoch."""
    make = {"adam": optax.adam, "sgd": optax.sgd}[name]
    return optax.inject_hyperparams(make)(learning_rate=1.0)


def _with_learning_rate(state, lr):
    return state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})


@functools.cache
def _initializer(arch: Architecture, optimizer_name: str):
    """jit(vmap) over runs: (keys, fgn_scale) -> (params, optimizer state)."""
    tx = optimizer(optimizer_name)

    def one(key, fgn_scale):
        params = init_params(arch, key, fgn_scale)
        return params, tx.init(params)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


@functools.cache
def _epoch(arch: Architecture, optimizer_name: str, batch_size: int, steps: int):
    """jit(vmap) over runs of one epoch: ``steps`` Adam/SGD steps on batches of a fresh
    permutation of the training set (per run), returning the mean training loss."""
    tx = optimizer(optimizer_name)
    loss_and_grad = jax.value_and_grad(functools.partial(cross_entropy, arch))

    def one(params, state, alpha, lr, key, x, y):
        TRACES["epoch"] += 1  # runs while tracing only: counts compilations
        state = _with_learning_rate(state, lr)
        order = jax.random.permutation(key, len(x))[: steps * batch_size]

        def step(carry, batch):
            params, state = carry
            loss, grads = loss_and_grad(params, alpha, x[batch], y[batch])
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, state), losses = jax.lax.scan(step, (params, state),
                                               order.reshape(steps, batch_size))
        return params, state, losses.mean()

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, 0, 0, None, None)))


@functools.cache
def _accuracy(arch: Architecture):
    """jit(vmap) over runs: the fraction of rows whose finite logits put the label first."""

    def one(params, alpha, x, y):
        scores = logits(arch, params, alpha, x)
        right = (jnp.argmax(scores, axis=-1) == y) & jnp.all(jnp.isfinite(scores), axis=-1)
        return right.mean()

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def runs_per_call(arch: Architecture, batch_size: int, n_runs: int) -> int:
    """How many runs one device call trains: the activations kept for backprop (about
    3 (n_matrices + 1) batch d L floats per run) plus weights and optimizer moments stay
    within ``MEMORY_BUDGET_BYTES``; runs are split evenly so padding wastes little."""
    n_mat = arch.branch.n_matrices
    per_run = 4 * arch.depth * arch.width * (3 * (n_mat + 1) * batch_size
                                             + 4 * n_mat * arch.width)
    limit = max(1, MEMORY_BUDGET_BYTES // per_run)
    calls = math.ceil(n_runs / limit)
    return math.ceil(n_runs / calls)


def learning_rate_factor(epoch: int, epochs: int) -> float:
    """1 for the first half of the epochs, then 1/10 (epoch counted from 0)."""
    return 0.1 if epoch >= epochs / 2 else 1.0


# --- a grid of runs ---------------------------------------------------------------------------

def train_grid(spec: TrainSpec, data: datasets.Dataset, progress: bool = False) -> pd.DataFrame:
    """Train every run of ``spec.runs()`` on ``data``; one row per run (see :func:`_rows`)."""
    if len(data.x_train) < spec.batch_size:
        raise ConfigError(f"batch_size={spec.batch_size} is larger than the "
                          f"{len(data.x_train)} training examples of {data.name}")
    arch = Architecture(spec.model, spec.activation, float(spec.negative_slope), spec.init,
                        float(spec.gain), spec.lengthscale, spec.width, spec.depth, data.n_in,
                        data.n_classes)
    grid = spec.runs()
    steps = len(data.x_train) // spec.batch_size  # the remainder of each permutation is unused
    scale = (weights.fgn_scale(spec.hurst, spec.depth) if spec.init == "fbm"
             else np.zeros(2 * spec.depth))
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_test, y_test = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    chunk = runs_per_call(arch, spec.batch_size, len(grid))
    initialize = _initializer(arch, spec.optimizer)
    epoch_fn = _epoch(arch, spec.optimizer, spec.batch_size, steps)
    accuracy_fn = _accuracy(arch)

    outputs = []
    start = time.perf_counter()
    for first in range(0, len(grid), chunk):
        # Pad the last call with copies of its first run: every call has the same shapes.
        index = np.arange(first, first + chunk)
        index = np.where(index < len(grid), index, first)
        runs = grid.iloc[index]
        seed_keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(runs["seed"].to_numpy()))
        init_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(seed_keys)
        params, state = initialize(init_keys, jnp.asarray(scale, jnp.float32))
        initial_layers = np.asarray(params["layers"][:, :, 0])  # V of every run
        alpha = jnp.asarray(runs["alpha"].to_numpy(), jnp.float32)
        lr = runs["lr"].to_numpy()
        losses = []
        for epoch in range(spec.epochs):
            keys = jax.vmap(lambda k, e=epoch: jax.random.fold_in(k, 1 + e))(seed_keys)
            rate = jnp.asarray(lr * learning_rate_factor(epoch, spec.epochs), jnp.float32)
            params, state, loss = epoch_fn(params, state, alpha, rate, keys, x_train, y_train)
            losses.append(np.asarray(loss))
            if progress:
                print(f"rsim: runs {first + 1}-{min(first + chunk, len(grid))} of {len(grid)}, "
                      f"epoch {epoch + 1}/{spec.epochs}", flush=True)
        accuracy = np.asarray(accuracy_fn(params, alpha, x_test, y_test))
        trained_layers = np.asarray(params["layers"][:, :, 0])
        keep = np.arange(min(chunk, len(grid) - first))  # the padding is at the end
        outputs.append((keep + first, np.stack(losses, 1)[keep], accuracy[keep],
                        initial_layers[keep], trained_layers[keep]))
    seconds = time.perf_counter() - start
    return _rows(spec, data, grid, outputs, seconds)


def _rows(spec: TrainSpec, data: datasets.Dataset, grid: pd.DataFrame, outputs,
          seconds: float) -> pd.DataFrame:
    """One row per run: the job's keys, beta, alpha, lr, seed, ``train_loss`` (list, one mean
    per epoch), ``final_train_loss``, ``test_accuracy``, ``diverged``, ``hurst_init`` and
    ``hurst_trained`` (variogram estimates over every entry of V), and for study=weights the
    path of V_k[0, 0] before and after training (``weight_path_init``, ``weight_path``)."""
    threshold = DIVERGED_LOSS_FACTOR * math.log(data.n_classes)
    records = []
    for index, losses, accuracy, initial, trained in outputs:
        for i, run in enumerate(index):
            loss = losses[i].astype(float)
            record = {
                "study": spec.study, "dataset": data.name, "model": spec.model,
                "activation": spec.activation, "init": spec.init, "gain": spec.gain,
                "lengthscale": np.nan if spec.lengthscale is None else spec.lengthscale,
                "hurst": np.nan if spec.hurst is None else spec.hurst,
                "width": spec.width, "depth": spec.depth, "n_in": data.n_in,
                "n_classes": data.n_classes, "train_size": len(data.x_train),
                "optimizer": spec.optimizer, "epochs": spec.epochs,
                "batch_size": spec.batch_size,
                "beta": float(grid["beta"].iat[run]), "alpha": float(grid["alpha"].iat[run]),
                "lr": float(grid["lr"].iat[run]), "seed": int(grid["seed"].iat[run]),
                "test_accuracy": float(accuracy[i]),
                "train_loss": loss.tolist(),
                "final_train_loss": float(loss[-1]),
                "diverged": bool(not np.all(np.isfinite(loss)) or np.max(loss) > threshold),
                "hurst_init": hurst_exponent(initial[i]) if spec.depth >= 4 else np.nan,
                "hurst_trained": hurst_exponent(trained[i]) if spec.depth >= 4 else np.nan,
                "job_seconds": seconds,
            }
            if spec.study == "weights":
                record["weight_path_init"] = initial[i][:, 0, 0].astype(float).tolist()
                record["weight_path"] = trained[i][:, 0, 0].astype(float).tolist()
            records.append(record)
    return pd.DataFrame.from_records(records)


# --- the Hurst exponent of weight paths -------------------------------------------------------
# A weight entry V_k (k = 1..L) is read as the increments of a path X_k = V_1 + ... + V_k, as
# rsim's fbm law builds it: V is fractional Gaussian noise with Hurst index H exactly when X is
# fractional Brownian motion. The second-order increments of fBm have the variogram
#
#     gamma2(m) = E (X_{k+2m} - 2 X_{k+m} + X_k)^2 = (4 - 2^{2H}) sigma^2 m^{2H}
#
# for every k and lag m, so H is half the least-squares slope of log gamma2(m) against log m
# (lags m = 1, 2, 4, ..., pooled over k and all entries). Second-order increments are blind to
# a linear trend in X, i.e. to a constant offset of V_k: training shifts whole weight paths
# (Figure 8), which would read as smoothness in the first-order variogram (m^2 offset^2) though
# the path is as rough as before. i.i.d. weights give H = 1/2; weights smooth in k give
# gamma2 ~ m^4, reported as the cap H = 1.

def default_lags(depth: int) -> np.ndarray:
    """Lags 1, 2, 4, ... with 2m <= depth / 8 (at least m = 1, 2): short lags, where each
    variogram value averages many nearly independent windows."""
    top = max(2, depth // 16)
    return 2 ** np.arange(int(np.floor(np.log2(top))) + 1)


def second_order_variogram(increments: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """gamma2(m) = mean over k and entries of (X_{k+2m} - 2 X_{k+m} + X_k)^2, X the partial
    sums along axis 0 of ``increments`` ``(L, ...)``."""
    steps = np.asarray(increments, np.float64).reshape(len(increments), -1)
    partial = np.concatenate([np.zeros((1, steps.shape[1])), np.cumsum(steps, axis=0)])
    return np.array([np.mean((partial[2 * m:] - 2 * partial[m:-m] + partial[:-2 * m]) ** 2)
                     for m in lags])


def hurst_exponent(increments: np.ndarray, lags: np.ndarray | None = None) -> float:
    """min(1, half the slope of log gamma2(m) against log m); NaN if a variogram value is not a
    positive finite number (a diverged or constant path)."""
    increments = np.asarray(increments)
    lags = default_lags(len(increments)) if lags is None else np.asarray(lags)
    if len(increments) < 2 * lags.max():
        raise ValueError(f"a path of {len(increments)} steps is too short for lag {lags.max()}")
    gamma = second_order_variogram(increments, lags)
    if not np.all(np.isfinite(gamma) & (gamma > 0)):
        return float("nan")
    slope = np.polyfit(np.log(lags), np.log(gamma), 1)[0]
    return float(min(1.0, slope / 2))


# --- the experiment ---------------------------------------------------------------------------

def validate(values: dict[str, Any]) -> None:
    TrainSpec.from_mapping(values)


def provenance(spec: TrainSpec) -> dict[str, Any]:
    import jaxlib
    import pyarrow as pa

    from rsim import results

    return {
        "spec": spec.identity(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__,
                     "jaxlib": jaxlib.__version__, "optax": optax.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__,
                     "pyarrow": pa.__version__},
        "device": str(jax.devices()[0].device_kind),
        "git_revision": results.git_revision(),
    }


def run_job(values: dict[str, Any], folder: Path, progress: bool) -> Path:
    """Train one job's grid and write it, unless its file already exists."""
    from rsim import results

    spec = TrainSpec.from_mapping(values)
    path = Path(folder) / f"part-{spec.digest()}.parquet"
    if path.exists():
        print(f"rsim: skip {spec.study} job: {path} exists")
        return path
    data = datasets.load(spec.dataset, spec.data_dir, spec.train_limit)
    frame = train_grid(spec, data, progress=progress)
    results.write(frame, path, provenance(spec))
    print(f"rsim: trained {len(frame)} runs in {frame['job_seconds'].iat[0]:.1f} s "
          f"({int(frame['diverged'].sum())} diverged); wrote {path}")
    return path


def finish(folder: Path, figures: bool) -> None:
    """Print the study's summary; write its figures next to the data."""
    from rsim import results, train_report

    frame = results.load(folder)
    for study, part in frame.groupby("study"):
        print(train_report.summary_text(study, part))
        if figures:
            for path in train_report.figures(study, part, Path(folder)):
                print(f"rsim: figure {path}")


EXPERIMENT = experiments.Experiment(validate=validate, run_job=run_job, finish=finish)
