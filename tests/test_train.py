"""Training with optax: the loss goes down, digits are learnt (res1, and the mlp and conv
branches, conv on the digits read as 8 x 8 images), a learning-rate grid compiles once,
diverged runs are flagged and kept, results round-trip through Parquet, the variogram Hurst
estimator recovers H of fbm paths, and bad input is refused naming the key."""

import dataclasses
import functools
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import regression_record
from tracing import TRAINING_EPOCH, count_traces
from variants import LAWS_ALL

import rsim
from rsim import data, experiments, labels, results
from rsim.analysis import training as analysis
from rsim.analysis.hurst import hurst_exponent
from rsim.checks import ConfigError
from rsim.core import laws, spectra
from rsim.core import training as core
from rsim.core.laws import LAWS
from rsim.experiments import base, training
from rsim.experiments.training import TrainSpec, compute, train_grid

# Every training test but the CLI one uses this architecture, the whole digits set and 4 runs
# side by side, so that one compilation serves them all (compiling dominates their time).
SMALL = dict(
    model="res1",
    init="fbm",
    hurst=0.5,
    width=12,
    depth=6,
    betas=[0.5, 1.0],
    lrs=[0.003, 0.03],
    epochs=4,
)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def spec(**values):
    return TrainSpec.from_config({**SMALL, **values})


@pytest.fixture(scope="module")
def grid(digits):
    return train_grid(spec(), digits)


# --- the Hurst estimator ----------------------------------------------------------------------


@pytest.mark.parametrize("hurst", [0.2, 0.5, 0.8])
def test_variogram_recovers_the_hurst_index_of_fbm_paths(hurst):
    depth = 256
    noise = laws.fgn(
        jax.random.PRNGKey(7), depth, 16, spectra.fgn_scale(hurst, depth), jnp.float32
    )  # 16 fGn paths; their partial sums are fbm
    assert abs(hurst_exponent(np.asarray(noise)) - hurst) < 0.05


def test_hurst_of_iid_and_smooth_weights():
    key = jax.random.PRNGKey(3)
    iid = laws.draw("gaussian", key, (256, 4, 4), 4, 1.0, jnp.float32)
    smooth = laws.path("smooth", key, 256, (4, 4), 4, 1.0, jnp.float32, lengthscale=0.1)
    assert abs(hurst_exponent(np.asarray(iid)) - 0.5) < 0.05
    # Training shifts whole paths: a constant offset of V_k is not smoothness.
    assert abs(hurst_exponent(np.asarray(iid) + 0.3) - 0.5) < 0.05
    assert hurst_exponent(np.asarray(smooth)) > 0.95
    assert np.isnan(hurst_exponent(np.full((64, 2), np.nan)))


# --- training ---------------------------------------------------------------------------------


def test_loss_decreases_on_a_small_problem(grid):
    for loss in grid.loc[grid["lr"] == 0.03, "train_loss"]:
        loss = np.asarray(loss)
        assert len(loss) == 4 and np.all(np.diff(loss) < 0), loss
        assert loss[-1] < 0.5 * loss[0], loss


def test_accuracy_well_above_chance_on_digits(grid):
    assert len(grid) == 4 and not grid["diverged"].any()
    assert grid["test_accuracy"].max() > 0.8, grid[["beta", "lr", "test_accuracy"]]  # chance 0.1


def test_runs_side_by_side_do_not_mix(grid, digits):
    """The same runs in another order give the same numbers, run by run."""
    swapped = train_grid(spec(lrs=[0.03, 0.003], betas=[1.0, 0.5]), digits)
    merged = grid.merge(swapped, on=["beta", "lr", "seed"], suffixes=("", "_swapped"))
    assert len(merged) == 4
    for a, b in zip(merged["train_loss"], merged["train_loss_swapped"]):
        np.testing.assert_allclose(a, b, rtol=1e-4)


def test_learning_rate_grid_beta_and_hurst_share_one_compilation(grid, digits):
    with count_traces() as traces:  # the fixture's grid compiled the epoch
        first = train_grid(spec(hurst=0.3, betas=[0.25, 0.75], lrs=[1e-3, 1e-2], epochs=1), digits)
        second = train_grid(spec(hurst=0.8, betas=[1.5, 2.0], lrs=[0.1, 1.0], epochs=1), digits)
    assert traces[TRAINING_EPOCH] == 0  # nothing retraced
    assert not np.allclose(first["final_train_loss"], second["final_train_loss"])


def test_diverging_runs_are_flagged_and_kept(digits):
    frame = train_grid(spec(lrs=[1e-3, 1e4], betas=[0.0, 0.5], epochs=1), digits)
    assert frame["lr"].tolist() == [1e-3, 1e4, 1e-3, 1e4]
    assert frame["diverged"].tolist() == [False, True, False, True]
    assert np.isfinite(frame["train_loss"].iat[0]).all()


def test_learning_rate_is_divided_by_ten_halfway():
    assert [core.learning_rate_factor(e, 10) for e in range(10)] == [1.0] * 5 + [0.1] * 5
    assert [core.learning_rate_factor(e, 3) for e in range(3)] == [1.0, 1.0, 0.1]


def test_runs_per_call_splits_evenly_within_the_memory_budget():
    arch = core.Architecture("res1", "relu", 0.01, "fbm", 1.0, None, 30, 1000, 64, 10)
    # The official Figure 9 job: 50 runs x (1000 x 128 x 30 stored states + 5 x 1000 x 900
    # weight arrays) x 4 bytes = 1.7 GB, one call.
    assert core.runs_per_call(arch, 128, 50) == 50
    assert core.runs_per_call(arch, 128, 1) == 1
    deeper = dataclasses.replace(arch, depth=3000)  # 100 MB per run: 20 per call at most
    assert core.runs_per_call(deeper, 128, 50) == 17  # 3 calls of 17, 17, 16


def test_accuracy_is_recorded_after_every_epoch(grid, digits):
    """The learning curve ends at test_accuracy and starts where a one-epoch job ends (same
    weights, same first permutation, same learning rate in epoch 0)."""
    for curve, last in zip(grid["test_accuracy_by_epoch"], grid["test_accuracy"]):
        assert len(curve) == SMALL["epochs"] and curve[-1] == last
        n_right = np.asarray(curve) * len(digits.y_test)
        np.testing.assert_allclose(n_right, np.round(n_right), atol=1e-3)  # counts of examples
    first = train_grid(spec(epochs=1), digits)
    assert first["test_accuracy"].tolist() == [c[0] for c in grid["test_accuracy_by_epoch"]]
    assert first["final_train_loss"].tolist() == [loss[0] for loss in grid["train_loss"]]
    assert len(set(map(tuple, grid["test_accuracy_by_epoch"]))) > 1


# --- the layer loop written for training (columns, all runs, backward by hand) ---------------

GRADIENT_CASES = {
    "res1": dict(model="res1", width=8),
    "mlp tanh": dict(model="mlp", width=8, branch_depth=2, activation="tanh"),
    "conv": dict(model="conv", width=3, image_size=8, kernel_size=3, branch_depth=1),
}


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_hand_written_backward_matches_autodiff_of_the_reference_model(case, digits):
    """loss_and_gradients (columns, all runs at once, the layer loop's backward pass by hand)
    against jax.value_and_grad of cross_entropy (rows, one run, lax.scan), run by run; and the
    test accuracy against the reference logits. (The dense column form covers res2 and res3:
    mlp with m = 1 and m = 1 with ReLU.)"""
    keys = dict(GRADIENT_CASES[case])
    model, width, activation = keys.pop("model"), keys.pop("width"), keys.pop("activation", "relu")
    n_in = 1 if model == "conv" else 64
    depth, runs, n = 5, 3, 16
    arch = core.Architecture(
        model, activation, 0.01, "gaussian", 1.5, None, width, depth, n_in, 10, **keys
    )
    x_all = digits.as_images().x_train if model == "conv" else digits.x_train
    x = jnp.asarray(np.stack([x_all[i * n : (i + 1) * n] for i in range(runs)]))
    y = jnp.asarray(np.stack([digits.y_train[i * n : (i + 1) * n] for i in range(runs)]))
    shape = arch.shape
    shapes = {
        "A": (runs, width, n_in),
        "layers": (runs, depth, shape.n_matrices, *shape.weight_shape),
        "B": (runs, 10, shape.dim),
    }
    fan_in = {"A": n_in, "layers": shape.fan_in, "B": shape.dim}
    with core.numerics():
        keys = dict(zip(shapes, jax.random.split(jax.random.PRNGKey(4), 3)))
        params = {
            name: jax.random.normal(keys[name], shapes[name]) * 1.5 / np.sqrt(fan_in[name])
            for name in shapes
        }
        alpha = jnp.asarray([0.2, 0.5, 1.0], jnp.float32)
        work = core.work_buffers(arch, n, runs)
        losses, grads, _ = jax.jit(functools.partial(core.loss_and_gradients, arch))(
            params, alpha, x, y, *work
        )
        reference = jax.value_and_grad(functools.partial(core.cross_entropy, arch))
        ref_losses, ref_grads = jax.jit(jax.vmap(reference))(params, alpha, x, y)
        accuracy = jax.jit(functools.partial(core._accuracy, arch))(params, alpha, x[0], y[0])
        reference_logits = jax.vmap(functools.partial(core.logits, arch), in_axes=(0, 0, None))
        scores = jax.jit(reference_logits)(params, alpha, x[0])
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-6)
    for name in ("A", "layers", "B"):
        scale = np.abs(ref_grads[name]).max(axis=tuple(range(1, ref_grads[name].ndim)))
        error = np.abs(grads[name] - ref_grads[name]).max(axis=tuple(range(1, grads[name].ndim)))
        assert np.all(error <= 1e-5 * scale), (name, error / scale)
    np.testing.assert_array_equal(accuracy, (np.argmax(scores, -1) == y[0]).mean(-1))


# --- the mlp and conv branches ----------------------------------------------------------------

# Tiny mlp and conv jobs; conv reads the digits as 1 x 8 x 8 images (C = 4 channels, d = 256).
BRANCHES = {
    "conv": dict(model="conv", width=4, image_size=8, kernel_size=3, branch_depth=1),
    "mlp": dict(model="mlp", width=16, branch_depth=2),
}


def architecture(model: str, init: str = "gaussian", depth: int = 4, n_in: int | None = None):
    """The static description of a BRANCHES model (gain 1.5) on digits-like inputs."""
    keys = {k: v for k, v in BRANCHES[model].items() if k not in ("model", "width")}
    n_in = n_in or (1 if model == "conv" else 64)
    lengthscale = 0.1 if init == "smooth" else None
    width = BRANCHES[model]["width"]
    return core.Architecture(
        model, "relu", 0.01, init, 1.5, lengthscale, width, depth, n_in, 10, **keys
    )


@pytest.mark.parametrize("model,init", [("conv", "fbm"), ("mlp", "smooth")])
def test_mlp_and_conv_learn_digits(model, init, digits):
    job = spec(**BRANCHES[model], init=init, hurst=0.7, depth=4, betas=[0.5], lrs=[0.01], epochs=3)
    frame = train_grid(job, digits)
    loss = np.asarray(frame["train_loss"].iat[0])
    assert np.all(np.diff(loss) < 0) and loss[-1] < 0.5 * loss[0], loss
    assert frame["test_accuracy"].iat[0] > 0.7, frame["test_accuracy"]  # chance 0.1
    assert not frame["diverged"].iat[0]
    assert frame["n_in"].iat[0] == (1 if model == "conv" else 64)  # channels, or the flat length
    assert frame["branch_depth"].iat[0] == BRANCHES[model]["branch_depth"]
    assert np.isnan(frame["kernel_size"].iat[0]) == (model == "mlp")


@pytest.mark.parametrize("init", LAWS_ALL)
@pytest.mark.parametrize("model", ["conv", "mlp"])
def test_every_law_draws_the_mlp_and_conv_weights(model, init, digits):
    """Shapes from the branch's Shape, entries of variance gain^2 / fan_in (fan_in = C k^2
    for a kernel), finite logits on images or flat vectors."""
    depth = 64
    arch = architecture(model, init, depth)
    shape = arch.shape
    path_scale = LAWS[init].path_scale  # the laws with a Hurst index
    scale = np.zeros(2 * depth) if path_scale is None else path_scale(0.7, depth)
    with core.numerics():
        params = core.init_params(arch, jax.random.PRNGKey(1), jnp.asarray(scale, jnp.float32))
        x = digits.as_images().x_test[:5] if model == "conv" else digits.x_test[:5]
        scores = core.logits(arch, params, jnp.float32(depth**-0.5), jnp.asarray(x))
    assert params["layers"].shape == (depth, shape.n_matrices, *shape.weight_shape)
    assert params["A"].shape == (arch.width, arch.n_in) and params["B"].shape == (10, shape.dim)
    fan_in = 4 * 9 if model == "conv" else 16
    assert shape.fan_in == fan_in
    variance = float(np.var(np.asarray(params["layers"])))
    assert abs(variance * fan_in / 1.5**2 - 1) < 0.15, variance
    assert scores.shape == (5, 10) and np.all(np.isfinite(scores))


def test_mlp_with_one_hidden_layer_trains_as_res2(digits):
    """Same weights, same logits, bit for bit (the mlp branch with m = 1 is res-2)."""
    res2 = core.Architecture("res2", "relu", 0.01, "uniform", 1.0, None, 8, 5, 64, 10)
    mlp = dataclasses.replace(res2, model="mlp", branch_depth=1)
    with core.numerics():
        key, scale, alpha = jax.random.PRNGKey(2), jnp.zeros(10), jnp.float32(0.3)
        x = jnp.asarray(digits.x_test[:7])
        first, second = core.init_params(res2, key, scale), core.init_params(mlp, key, scale)
        for name in ("A", "layers", "B"):
            np.testing.assert_array_equal(first[name], second[name])
        np.testing.assert_array_equal(
            core.logits(res2, first, alpha, x), core.logits(mlp, second, alpha, x)
        )


def test_conv_reads_every_pixel_through_the_same_1x1_convolution():
    arch = architecture("conv", n_in=3)
    x = np.zeros((2, 3, 8, 8), np.float32)
    x[1, 2, 5, 6] = 1.0  # channel 2 of image 1, row 5, column 6
    a = jnp.arange(12.0).reshape(4, 3)
    h = np.asarray(core.readin(arch, a, jnp.asarray(x))).reshape(2, 4, 8, 8)
    expected = np.zeros((4, 8, 8))
    expected[:, 5, 6] = a[:, 2]
    assert not h[0].any()
    np.testing.assert_array_equal(h[1], expected)


def test_runs_per_call_counts_conv_kernels_and_hidden_images():
    conv = architecture("conv", depth=100)
    dense = core.Architecture("res2", "relu", 0.01, "gaussian", 1.0, None, 256, 100, 1, 10)
    # Same hidden size d = 256, so the same activations; a kernel holds 144 numbers, not 65536.
    assert core.runs_per_call(conv, 128, 1000) > core.runs_per_call(dense, 128, 1000)


# --- results, reports, configuration ----------------------------------------------------------


def fake_runs(study="lr_alpha"):
    """A results table of the shape train_grid writes, with a known best lr per cell."""
    rows = []
    for optimizer in ("adam", "sgd"):
        for depth in (10, 100):
            for beta in (0.5, 1.0):
                alpha = depth**-beta
                best = 0.01 * alpha**-1.0  # lr* = 0.01 / alpha
                for lr in 10.0 ** np.arange(-4, 3.01, 0.5):
                    loss = 0.5 + (np.log10(lr) - np.log10(best)) ** 2
                    rows.append(
                        dict(
                            study=study,
                            dataset="digits",
                            model="res1",
                            init="gaussian",
                            lengthscale=np.nan,
                            hurst=np.nan,
                            width=8,
                            depth=depth,
                            optimizer=optimizer,
                            epochs=2,
                            beta=beta,
                            lr=lr,
                            seed=0,
                            n_classes=10,
                            test_accuracy=1 / (1 + loss),
                            final_train_loss=loss,
                            train_loss=[2.0, loss],
                            diverged=bool(lr > 300),
                        )
                    )
    return pd.DataFrame(rows)


def test_lr_alpha_fit_recovers_a_known_power_law(tmp_path):
    best = analysis.best_learning_rates(fake_runs())
    np.testing.assert_allclose(best["best_lr"], 0.01 * (best["depth"] ** best["beta"]), rtol=0.05)
    fit = analysis.fit_lr_alpha(best).set_index("optimizer")
    np.testing.assert_allclose(fit["p"], -1.0, atol=0.02)
    text = training.summary_text("lr_alpha", fake_runs())
    assert "lr* ~ alpha_L^-1.00" in text
    assert training.STUDIES["lr_alpha"].draw(fake_runs(), tmp_path)[0].stat().st_size > 0


def learning_curves():
    """One cell, two lrs, two seeds, three epochs: after the last epoch lr = 0.1 is best (0.75
    against 0.65); at its best epoch (2) lr = 0.01 is (0.85)."""
    curves = {
        (0.01, 0): [0.5, 0.9, 0.7],
        (0.01, 1): [0.5, 0.8, 0.6],
        (0.1, 0): [0.6, 0.7, 0.8],
        (0.1, 1): [0.6, 0.7, 0.7],
    }
    cell = dict(dataset="digits", model="res1", init="fbm", lengthscale=np.nan, hurst=0.5)
    cell.update(width=8, depth=10, optimizer="adam", epochs=3, beta=0.5, n_classes=10)
    return pd.DataFrame(
        [
            dict(
                cell,
                study="accuracy",
                lr=lr,
                seed=seed,
                test_accuracy=curve[-1],
                test_accuracy_by_epoch=curve,
                diverged=False,
            )
            for (lr, seed), curve in curves.items()
        ]
    )


def test_best_accuracy_after_the_last_or_the_best_epoch(tmp_path):
    frame = learning_curves()
    last = analysis.best_accuracy(frame).iloc[0]
    assert (last["best_lr"], last["best_epoch"]) == (0.1, 3)
    assert last["best_test_accuracy"] == pytest.approx(0.75)
    best = analysis.best_accuracy(frame, epoch="best").iloc[0]
    assert (best["best_lr"], best["best_epoch"]) == (0.01, 2)
    assert best["best_test_accuracy"] == pytest.approx(0.85)
    text = training.summary_text("accuracy", frame)
    assert "after the last epoch" in text and "0.750" in text and "0.850 [2]" in text
    assert labels.epoch_label() == "after the last epoch"
    assert "best epoch" in labels.epoch_label("best")
    with pytest.raises(ValueError, match="epoch='first'"):
        analysis.best_accuracy(frame, epoch="first")
    with pytest.raises(ValueError, match="test_accuracy_by_epoch"):
        analysis.best_accuracy(frame.drop(columns="test_accuracy_by_epoch"), epoch="best")
    assert training.STUDIES["accuracy"].draw(frame, tmp_path)[0].stat().st_size > 0


def test_results_round_trip_through_parquet(tmp_path, digits):
    frame = train_grid(spec(epochs=1), digits)  # every study stores the weight paths
    results.write(frame, tmp_path / "part-x.parquet", {"spec": {}})
    back = rsim.load(tmp_path)
    for column in (
        "beta",
        "hurst",
        "lr",
        "seed",
        "test_accuracy",
        "test_accuracy_by_epoch",
        "train_loss",
        "diverged",
        "hurst_init",
        "hurst_trained",
        "weight_path",
    ):
        assert column in back, column
    assert list(back["train_loss"].iat[0]) == pytest.approx(frame["train_loss"].iat[0])
    assert len(back["weight_path"].iat[0]) == SMALL["depth"]
    assert back["diverged"].dtype == bool
    assert training.STUDIES["weights"].draw(back, tmp_path)[0].stat().st_size > 0


def test_another_study_reanalyses_the_stored_runs_without_training(tmp_path, monkeypatch, capsys):
    """``study`` is analysis only: the same runs asked for with study=weights are the stored
    job's (same digest, its file untouched, compute never called), and finish draws the
    weights study from them."""
    accuracy = {**SMALL, "experiment": "training"}
    weights = {**accuracy, "study": "weights"}
    path = base.run_job(TrainSpec.from_config(accuracy), tmp_path)
    stamp = path.stat().st_mtime_ns
    assert TrainSpec.from_config(weights).digest() == TrainSpec.from_config(accuracy).digest()

    def retrain(spec, progress=None):
        raise AssertionError("a finished run was trained again")

    record = experiments.EXPERIMENTS["training"]
    monkeypatch.setitem(
        experiments.EXPERIMENTS, "training", dataclasses.replace(record, compute=retrain)
    )
    assert base.run_job(TrainSpec.from_config(weights), tmp_path) == path
    assert path.stat().st_mtime_ns == stamp
    results.write_manifest(tmp_path, "training", base.job_manifest([weights]), command=[])
    training.finish(tmp_path, figures=True)
    out = capsys.readouterr().out
    assert "rsim: skip" in out and "rsim: weights: 4 runs" in out, out
    assert out.count("Hurst of V before") == 2  # one line per (law, beta)
    assert (tmp_path / "_figures" / "weights_after_training.png").stat().st_size > 0
    assert not (tmp_path / "_figures" / "training_accuracy.png").exists()


def test_regression_training_values_are_bit_identical(tmp_path):
    """The grid recorded from the code before the pipeline refactor (its ``options`` are that
    code's spec; ``precision`` was always float32): the same floats, bit for bit, through the
    shared runner and Parquet, whatever the process's Threefry mode (training pins its own)."""
    recorded = regression_record.recorded()["training"]
    options = dict(recorded["options"])
    assert options.pop("precision") == "float32"
    job = TrainSpec.from_config(options)
    units = []
    with jax.threefry_partitionable(not core.PRNG_SETTINGS["threefry_partitionable"]):
        frame = compute(job, units.append)[""]
    assert sum(units) == job.progress_total() == 2 * 2
    assert [float(v).hex() for v in frame["test_accuracy"]] == recorded["test_accuracy"]
    assert [float(v).hex() for v in frame["final_train_loss"]] == recorded["final_train_loss"]
    back = results.load(base.run_job(job, tmp_path))
    assert [float(v).hex() for v in back["test_accuracy"]] == recorded["test_accuracy"]
    assert [float(v).hex() for v in back["final_train_loss"]] == recorded["final_train_loss"]


@pytest.mark.parametrize(
    "values,key",
    [
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lrs": [0.1, 0.0]}, "lrs"),
        ({"lrs": [-1e-3]}, "lrs"),
        ({"lrs": []}, "lrs"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"study": "figure10"}, "study"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"dataset": "mnist", "data_dir": "/dev/null"}, "data_dir"),
        ({"init": "fbm", "hurst": 1.0}, "hurst"),
        ({"replicates": 0}, "replicates"),
        ({"precision": "float64"}, "precision"),
        ({**BRANCHES["conv"], "image_size": 6}, "image_size"),
        ({**BRANCHES["conv"], "image_size": 32}, "image_size"),
        ({**BRANCHES["conv"], "kernel_size": 4}, "kernel_size"),
        ({**BRANCHES["mlp"], "branch_depth": 0}, "branch_depth"),
    ],
)
def test_bad_training_input_is_refused_naming_the_key(values, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        TrainSpec.from_config({**SMALL, **values})


def test_specs_summaries_and_figures_never_import_jax():
    """A training spec is built, validated and named, and its tables summarised and drawn,
    without starting jax (the engine is imported by compute and block only)."""
    code = (
        "import sys; from rsim.experiments.training import TrainSpec; "
        "import rsim.analysis.training, rsim.analysis.hurst, rsim.views.training; "
        "spec = TrainSpec(init='fbm', hurst=0.3); spec.digest(); "
        "print(spec.label(), spec.progress_total(), 'jax' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "training",  # the job (its runs), without the study: no part of it
        "res3",
        "fbm",
        "H=0.3",
        "L=1000",
        "150",
        "False",
    ]


def test_cli_training_sweep_end_to_end(run_cli, tmp_path):
    small = (
        "+sweep=training",
        "depth=3",
        "width=4",
        "epochs=1",
        "hurst=0.3,0.7",
        "betas=[0.5,1.0]",
        "lrs=[0.1]",
        "train_limit=128",
        f"output={tmp_path}",
    )
    proc = run_cli(*small)
    folder = tmp_path / "training"
    frame = rsim.load(folder)
    assert len(frame) == 2 * 2 and sorted(frame["hurst"].unique()) == [0.3, 0.7]
    assert "best test accuracy over lr" in proc.stdout
    assert (folder / "_figures" / "training_accuracy.png").stat().st_size > 0
    rerun = run_cli(*small)
    assert rerun.stdout.count("skip") == 2
    bad = run_cli("experiment=training", "optimizer=rmsprop", f"output={tmp_path}", check=False)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1 and "optimizer" in lines[0]
