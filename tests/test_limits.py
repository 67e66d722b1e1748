"""Continuous-time limits: the coupling, the reference solver, the fitted orders, the weak
check, and the ode / sde experiments (rsim/THEORY.md section 5)."""

import functools
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import regression_record
import scipy.linalg

import rsim
from rsim import results, schema
from rsim.analysis import convergence
from rsim.core import branches, engine, laws, limits
from rsim.experiments import base
from rsim.experiments import limits as lx

F64 = jnp.float64


def _keys(seed, samples):
    return jax.vmap(lambda s: limits.sample_key(seed, s))(jnp.arange(samples))


def _frame(errors: np.ndarray, depths, metric: str = "error") -> pd.DataFrame:
    """A results-like table from ``errors`` (samples, depths)."""
    samples = np.arange(errors.shape[0])
    return pd.DataFrame(
        {
            "sample": np.repeat(samples, len(depths)),
            "depth": np.tile(depths, len(samples)),
            metric: errors.reshape(-1),
        }
    )


# --- the fit ------------------------------------------------------------------------------------


def test_convergence_order_recovers_a_planted_order_and_its_interval_covers_it():
    rng = np.random.default_rng(0)
    depths = 2 ** np.arange(3, 10)
    for order in (0.5, 1.0, 2.0):
        scale = rng.lognormal(0, 0.5, (200, 1))  # each realisation its own constant
        errors = scale * depths**-order * rng.lognormal(0, 0.1, (200, len(depths)))
        fit = rsim.convergence_order(_frame(errors, depths), "error", min_depth=0, correction=False)
        assert fit.low <= order <= fit.high, fit
        assert fit.high - fit.low < 0.05 and fit.slope == -fit.order
        assert fit.fit_depths == fit.depths == tuple(depths)
    # A mean error that does not decay has order 0, far outside a band around 1.
    flat = rsim.convergence_order(_frame(rng.lognormal(0, 0.3, (50, len(depths))), depths), "error")
    assert abs(flat.order) < 0.1


def test_convergence_order_refuses_mixed_series():
    frame = _frame(np.ones((4, 2)), [2, 4])
    frame = pd.concat([frame.assign(model="res1"), frame.assign(model="res3")])
    with pytest.raises(ValueError, match="several series"):
        rsim.convergence_order(frame, "error")
    assert len(convergence.convergence_orders(frame, "error")) == 2


def test_asymptotic_depths_drop_the_first_two_octaves_when_four_depths_remain():
    assert convergence.asymptotic_depths(2 ** np.arange(2, 13)) == tuple(2 ** np.arange(4, 13))
    # only 3 depths from 4 x 8 = 32 on: every depth
    assert convergence.asymptotic_depths([64, 8, 16, 32, 128]) == (8, 16, 32, 64, 128)
    assert convergence.asymptotic_depths([8, 16, 32, 64, 128, 256]) == (32, 64, 128, 256)
    assert convergence.asymptotic_depths([4, 8]) == (4, 8)


def test_the_fit_with_its_1_over_l_correction_removes_a_pre_asymptotic_bias():
    """Errors c L^-1/2 (1 - 2/L) (the SDE's local orders approach 1/2 like this, rsim/THEORY.md
    section 5) with per-sample noise, L = 4..4096: a power law over every depth is biased low
    and its interval misses 1/2; the default fit (L >= 16, power law x (1 + b/L)) covers it
    and finds b ~ -2."""
    rng = np.random.default_rng(1)
    depths = 2 ** np.arange(2, 13)
    truth = depths**-0.5 * (1 - 2 / depths)
    errors = truth * rng.lognormal(0, 0.3, (512, 1)) * rng.lognormal(0, 0.3, (512, len(depths)))
    frame = _frame(errors, depths, convergence.ORDER_METRIC)
    plain = rsim.convergence_order(frame, min_depth=0, correction=False)
    assert plain.high < 0.5 and plain.correction is None, plain
    fit = rsim.convergence_order(frame)
    assert fit.fit_depths == tuple(depths[2:]) and fit.low <= 0.5 <= fit.high, fit
    assert -3 < fit.correction < -1.5, fit
    np.testing.assert_allclose(fit.fitted(depths[2:]), fit.mean_errors[2:], rtol=0.05)
    # The local orders show the bend: low at the smallest depths, 1/2 at the largest.
    local = [p for _, _, p in fit.local_orders()]
    assert local[0] < 0.3 and abs(np.mean(local[-4:]) - 0.5) < 0.05, local
    with pytest.raises(ValueError, match="min_depth"):
        rsim.convergence_order(frame, min_depth=4096)


# --- SDE: coupling, order, weak check -----------------------------------------------------------


def test_coarse_increments_are_sums_of_the_fine_ones():
    with engine.numerics("float64"):
        fine = limits.brownian_increments(limits.sample_key(0, 3), 64, 3, F64)
        coarse = limits.coarsen(fine, 16)
    fine, coarse = np.asarray(fine), np.asarray(coarse)
    assert coarse.shape == (4, 3, 3)
    np.testing.assert_allclose(coarse[1], fine[16:32].sum(axis=0), rtol=1e-12)
    # The same path B_t at the coarse times, and nested: coarsening twice = coarsening once.
    np.testing.assert_allclose(np.cumsum(coarse, 0), np.cumsum(fine, 0)[15::16], atol=1e-12)
    np.testing.assert_allclose(
        np.asarray(limits.coarsen(limits.coarsen(fine, 4), 4)), coarse, atol=1e-12
    )
    assert abs(fine.var() * 64 - 1) < 0.2  # increments N(0, 1/n)


def test_euler_maruyama_is_the_resnet_with_gaussian_weights_of_variance_gain2_over_d():
    """One step by hand: h_1 = h_0 + L^-1/2 V sigma(h_0) with V = gain sqrt(L/d) dB."""
    with engine.numerics("float64"):
        inc = limits.brownian_increments(limits.sample_key(1, 0), 4, 5, F64)
        h0 = jnp.arange(1.0, 6.0, dtype=F64) - 3
        trajectory = limits.euler_maruyama("relu", 0.01, 1.5, h0, inc)
    v = 1.5 * math.sqrt(4 / 5) * np.asarray(inc[0])
    expected = np.asarray(h0) + 0.5 * v @ np.maximum(np.asarray(h0), 0)
    np.testing.assert_allclose(np.asarray(trajectory[1]), expected, rtol=1e-12)


def _gbm_finals(increments: np.ndarray, depth: int, milstein: bool) -> np.ndarray:
    """X_1 of dX = X dt / 2 + X dW / 2, X_0 = 1, by Euler-Maruyama or Milstein at ``depth``
    steps on the Brownian path of ``increments`` (samples, finest steps): nested grids."""
    dw = increments.reshape(len(increments), depth, -1).sum(-1)
    x = np.ones(len(increments))
    for k in range(depth):
        x = x * (1 + 0.5 / depth + 0.5 * dw[:, k] + milstein * (dw[:, k] ** 2 - 1 / depth) / 8)
    return x


def test_the_reference_free_order_tells_euler_maruyama_from_milstein():
    """Geometric Brownian motion (scalar, known strong orders: Euler-Maruyama 1/2, Milstein 1):
    the doubling gaps |X^(L)_1 - X^(2L)_1| on nested grids recover both orders within 0.1
    (measured over seeds 0-5: 0.472-0.502 and 0.987-1.003), with no solution. A reference
    that is itself the scheme at N = 2 max L biases the reference-based fit upward (its error
    ~ sqrt(1/L - 1/N) for Euler-Maruyama)."""
    rng = np.random.default_rng(0)
    finest, depths = 2048, 2 ** np.arange(3, 11)  # L = 8..1024, partners up to 2048
    increments = rng.normal(0, finest**-0.5, (2000, finest))
    for milstein, order in ((False, 0.5), (True, 1.0)):
        finals = {n: _gbm_finals(increments, n, milstein) for n in (*depths, finest)}
        gaps = np.stack([np.abs(finals[n] - finals[2 * n]) for n in depths], axis=1)
        fit = rsim.convergence_order(_frame(gaps, depths, convergence.ORDER_METRIC))
        assert fit.fit_depths == (32, 64, 128, 256, 512, 1024), fit
        assert abs(fit.order - order) < 0.1 and fit.high - fit.low < 0.1, (milstein, fit)
        if not milstein:
            errors = np.stack([np.abs(finals[n] - finals[finest]) for n in depths], axis=1)
            biased = rsim.convergence_order(_frame(errors, depths), "error")
            assert biased.low > order + 0.05, biased


SDE_DEPTHS = (8, 16, 32, 64, 128, 256, 512)


@functools.cache
def _sde_errors(activation: str, samples: int = 64):
    sample = functools.partial(
        limits.sde_sample,
        activation=activation,
        negative_slope=0.01,
        width=4,
        n_in=8,
        gain=math.sqrt(2),
        depths=SDE_DEPTHS,
        reference_depth=1024,
    )
    with engine.numerics("float64"):
        out = jax.jit(jax.vmap(sample))(_keys(11, samples))
    return {k: np.asarray(v) for k, v in out.items()}


def test_sde_doubling_gaps_compare_depth_l_with_2l_on_one_path():
    """The gaps of sde_sample, recomputed from euler_maruyama on the coarsened path."""
    key = limits.sample_key(3, 2)  # h_0 with positive entries: relu moves it
    with engine.numerics("float64"):
        out = limits.sde_sample(
            key,
            activation="relu",
            negative_slope=0.01,
            width=3,
            n_in=4,
            gain=1.0,
            depths=(4, 8),
            reference_depth=32,
        )
        h0 = limits.initial_state(key, 3, 4, F64)
        fine = limits.brownian_increments(key, 32, 3, F64)
        path = {
            n: limits.euler_maruyama("relu", 0.01, 1.0, h0, limits.coarsen(fine, 32 // n))
            for n in (4, 8, 16)
        }
    gaps = [np.linalg.norm(np.asarray(path[n] - path[2 * n][::2]), axis=-1) for n in (4, 8)]
    np.testing.assert_allclose(out["doubling_gap"], [g.max() for g in gaps], rtol=1e-12)
    np.testing.assert_allclose(out["doubling_gap_final"], [g[-1] for g in gaps], rtol=1e-12)
    assert (np.asarray(out["doubling_gap"]) > 0).all()


@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_sde_strong_order_is_one_half(activation):
    """The doubling gaps of sde_sample at 64 samples, d = 4: a power law over L >= 32 (the
    1/L-corrected default needs more samples; see the slow test below)."""
    out = _sde_errors(activation)
    frame = _frame(out["doubling_gap_final"], SDE_DEPTHS, convergence.ORDER_METRIC)
    fit = rsim.convergence_order(frame, min_depth=32, correction=False)
    assert abs(fit.order - 0.5) < 0.1 and fit.low <= 0.5 <= fit.high, fit
    assert fit.low > 0.35 and fit.high < 0.65, fit


@pytest.mark.slow
@pytest.mark.parametrize("activation", ["relu", "identity"])
def test_sde_sweep_order_at_full_depth_is_one_half(activation):
    """The default pipeline (L = 4..4096, 1/L-corrected fit over L >= 16) at d = 4 and 512
    samples (the sweep at another width; measured 0.504 / 0.510): within 0.03 of 1/2, its
    interval covering 1/2."""
    spec = lx.SdeSpec.from_config({"activation": activation, "width": 4})
    fit = rsim.convergence_order(lx.compute(spec)[""])
    assert fit.fit_depths == tuple(2 ** np.arange(4, 13)) and fit.correction is not None
    assert abs(fit.order - 0.5) < 0.03 and fit.low <= 0.5 <= fit.high, fit


def test_sde_without_the_coupling_does_not_converge():
    """An independent Brownian path for the ResNet (no coupling) gives order about 0."""
    depths = (4, 16, 64)

    def errors(key):
        h0 = limits.initial_state(key, 4, 8, F64)
        limit = limits.euler_maruyama(
            "identity", 0.0, math.sqrt(2), h0, limits.brownian_increments(key, 256, 4, F64)
        )
        found = []
        for depth in depths:
            other = limits.brownian_increments(jax.random.fold_in(key, depth), depth, 4, F64)
            resnet = limits.euler_maruyama("identity", 0.0, math.sqrt(2), h0, other)
            found.append(jnp.linalg.norm(resnet - limit[:: 256 // depth], axis=-1).max())
        return jnp.stack(found)

    with engine.numerics("float64"):
        table = np.asarray(jax.jit(jax.vmap(errors))(_keys(5, 32)))
    assert abs(rsim.convergence_order(_frame(table, depths), "error").order) < 0.15


def test_weak_check_matches_the_linear_sde_closed_form():
    """Identity: E||h_L||^2/||h_0||^2 = (1 + g^2/L)^L exactly, and log(||H_1||^2/||H_0||^2)
    is N(g^2 (1 - 2/d), 4 g^2/d) for the limit (1024 steps here)."""
    out = _sde_errors("identity")
    table = convergence.weak_check(
        pd.DataFrame(
            {
                "activation": "identity",
                "gain": math.sqrt(2),
                "width": 4,
                "reference_depth": 1024,
                "sample": np.repeat(np.arange(64), len(SDE_DEPTHS)),
                "depth": np.tile(SDE_DEPTHS, 64),
                "sq_ratio": out["sq_ratio"].reshape(-1),
                "limit_sq_ratio": np.repeat(out["limit_sq_ratio"], len(SDE_DEPTHS)),
            }
        )
    )
    assert len(table) == len(SDE_DEPTHS) + 2 and (table["z"].abs() < 3.5).all(), table
    mean, variance = convergence.linear_sde_log_moments(math.sqrt(2), 4)
    assert (mean, variance) == pytest.approx((1.0, 2.0))
    assert convergence.linear_sde_second_moment(math.sqrt(2)) == pytest.approx(math.e**2)
    # The log-normal law: its second moment exp(mean + variance/2) is exp(g^2).
    assert math.exp(mean + variance / 2) == pytest.approx(math.e**2)


# --- ODE: reference solver and order ------------------------------------------------------------


def test_reference_solver_matches_the_matrix_exponential_for_constant_weights():
    """res-1 identity with V(t) = V constant (only the zero frequency): H_1 = expm(V) H_0."""
    d, lengthscale = 5, 0.1
    with engine.numerics("float64"):
        coefficients = laws.smooth_coefficients(
            limits.sample_key(0, 0), (1, d, d), d, 1.0, lengthscale, F64
        )
        coefficients = coefficients.at[:, 1:].set(0).at[1].set(0)  # keep xi_0 only
        v = np.asarray(laws.smooth_at(coefficients, 0.3, lengthscale))[0]
        h0 = jnp.linspace(-1, 1, d, dtype=F64)
        residual = branches.branch("res1", "identity").residual
        ys = limits.reference_ode(
            residual, coefficients, lengthscale, h0, jnp.linspace(0, 1, 3, dtype=F64), 1e-10
        )
    np.testing.assert_allclose(
        np.asarray(ys[-1]), scipy.linalg.expm(v) @ np.asarray(h0), rtol=1e-8, atol=1e-9
    )


def test_reference_solver_error_is_negligible_against_the_euler_errors():
    """At the sweep's size (res-3, d = 16, L up to 4096) the reference at tolerance 1e-10 moves
    by < 1e-3 of the smallest Euler error when the tolerance goes to 1e-13 (res-3 has ReLU
    kinks in t, where an adaptive solver must cut its steps)."""
    d, lengthscale = 16, 0.1
    branch = branches.branch("res3")
    with engine.numerics("float64"):
        ts = jnp.arange(257, dtype=F64) / 256
        key = limits.sample_key(0, 0)
        h0 = limits.initial_state(key, d, 64, F64)
        coefficients = limits.smooth_weights(key, 2, d, 1.0, lengthscale, F64)
        solve = jax.jit(
            lambda tol: limits.reference_ode(
                branch.residual, coefficients, lengthscale, h0, ts, tol
            )
        )
        tight = solve(1e-13)
        gap = float(jnp.linalg.norm(solve(1e-10) - tight, axis=-1).max())
        path = limits.weight_path(coefficients, 4096, lengthscale)
        euler = limits.euler(branch.residual, path, h0, [1 / 4096])[::16, 0]
        euler_error = float(jnp.linalg.norm(euler - tight, axis=-1).max())
    assert euler_error > 1e-5
    assert gap < 1e-3 * euler_error, (gap, euler_error)


@pytest.mark.parametrize(
    "model,activation", [pytest.param("res1", "identity", marks=pytest.mark.slow), ("res3", "relu")]
)
def test_ode_order_is_one(model, activation):
    depths = (16, 32, 64, 128, 256)
    sample = functools.partial(
        limits.ode_sample,
        model=model,
        activation=activation,
        negative_slope=0.01,
        width=6,
        n_in=8,
        gain=1.0,
        lengthscale=0.1,
        depths=depths,
        betas=(0.5, 1.0, 1.5),
        tolerance=1e-10,
    )
    with engine.numerics("float64"):
        out = {k: np.asarray(v) for k, v in jax.jit(jax.vmap(sample))(_keys(2, 8)).items()}
    # One pipeline: the reference-free gaps (the order finish prints) and the errors against
    # the Dopri8 reference both give order 1.
    for metric in (convergence.ORDER_METRIC, "doubling_gap", "error"):
        fit = rsim.convergence_order(_frame(out[metric], depths, metric), metric)
        assert abs(fit.order - 1) < 0.1 and fit.low > 0.9 and fit.high < 1.1, (metric, fit)
    # h^(L) - h^(2L) = e_L - e_2L ~ C/L - C/(2L): half the error against the limit.
    ratio = out[convergence.ORDER_METRIC][:, -1] / out["error_final"][:, -1]
    assert np.median(ratio) == pytest.approx(0.5, abs=0.05)
    # The beta = 1 row is the alpha = 1/L scheme: r_h converges; beta = 1.5 goes to 0 like
    # L^-1/2; beta = 0.5 grows (Propositions 8 and 9).
    median_diff = np.exp(np.median(out["log_hidden_diff"], axis=0))  # (depths, betas)
    assert 0.8 < median_diff[-1, 1] / median_diff[-2, 1] < 1.2
    assert median_diff[-1, 2] / median_diff[0, 2] == pytest.approx(16**-0.5, rel=0.2)
    assert median_diff[-1, 0] > 10 * median_diff[0, 0]
    assert (out["reference_gap"] < 1e-3 * out["error"].min()).all()


# --- the experiments --------------------------------------------------------------------------

SDE_SMALL = dict(
    experiment="sde",
    activation="identity",
    negative_slope=0.01,
    gain=math.sqrt(2),
    width=3,
    n_in=4,
    depths=[4, 8, 16],
    samples=6,
    seed=0,
    reference_depth=64,
)
ODE_SMALL = dict(
    experiment="ode",
    model="res1",
    activation="identity",
    negative_slope=0.01,
    gain=1.0,
    lengthscale=0.1,
    width=3,
    n_in=4,
    depths=[4, 8, 16],
    betas=[0.5, 1.0],
    samples=3,
    seed=0,
    tolerance=1e-10,
)


def test_sde_experiment_writes_parquet_prints_orders_and_skips_on_rerun(tmp_path, capsys):
    folder = tmp_path / "sde"
    spec = base.spec_from_config(SDE_SMALL)
    path = base.run_job(spec, folder)
    frame = rsim.load(folder)
    assert len(frame) == 6 * 3
    for column in (
        "depth",
        "sample",
        "doubling_gap",
        "doubling_gap_final",
        "error",
        "error_final",
        "alpha",
        "sq_ratio",
        "limit_sq_ratio",
        "model",
        "activation",
        "seed",
    ):
        assert column in frame, column
    # The constants of the experiment are columns, not options: analysis groups by them.
    assert (frame["model"] == "res1").all() and (frame["init"] == "gaussian").all()
    assert list(frame.columns[: len(schema.LIMIT_SERIES)]) == list(schema.LIMIT_SERIES)
    np.testing.assert_allclose(frame["alpha"], frame["depth"] ** -0.5)
    meta = results.read_metadata(path)
    assert meta["spec"]["reference_depth"] == 64 and meta["x64"] and meta["git_revision"]
    mtime = path.stat().st_mtime_ns
    assert base.run_job(spec, folder) == path and path.stat().st_mtime_ns == mtime
    # The same sample gives the same numbers in a run of another size (fixed blocks, keys).
    more = lx.compute(lx.SdeSpec.from_config({**SDE_SMALL, "samples": 13}))[""]
    np.testing.assert_array_equal(more["error"].to_numpy()[:18], frame["error"].to_numpy())
    lx.SDE.finish(folder, figures=True)
    out = capsys.readouterr().out
    assert "strong order" in out and "weak check (limit log" in out
    assert "rsim: sde res1 identity d=3: strong order" in out and "reference-free" in out
    assert "diagnostic, reference-based (H = Euler-Maruyama at N = 64 steps" in out
    orders = pd.read_csv(folder / "_tables" / "orders.csv")
    assert (orders["metric"] == convergence.ORDER_METRIC).all() and len(orders) == 1
    assert (folder / "_tables" / "weak_check.csv").stat().st_size > 0
    for figure in ("error_vs_depth.png", "weak_check.png"):
        assert (folder / "_figures" / figure).stat().st_size > 0


def test_ode_experiment_writes_errors_and_regimes_and_reports_progress(tmp_path, capsys):
    spec = base.spec_from_config(ODE_SMALL)
    assert spec.tables() == ("regimes",) and spec.label() == "ode res1 identity d=3"
    done = []
    tables = lx.compute(spec, done.append)
    assert sum(done) == spec.samples == spec.progress_total()
    assert set(tables) == {"", "regimes"}
    assert len(tables[""]) == 3 * 3 and len(tables["regimes"]) == 3 * 3 * 2
    np.testing.assert_allclose(tables[""]["alpha"], tables[""]["depth"] ** -1.0)
    folder = tmp_path / "ode"
    base.run_job(spec, folder)
    regimes = rsim.load(folder / "_tables" / "regimes")
    assert (regimes["lengthscale"] == 0.1).all() and (regimes["init"] == "smooth").all()
    np.testing.assert_allclose(regimes["alpha"], regimes["depth"] ** -regimes["beta"])
    lx.ODE.finish(folder, figures=True)
    out = capsys.readouterr().out
    assert "rsim: ode res1 identity d=3: strong order" in out and "(theory 1)" in out
    assert "reference solver" in out and "beta=0.5: r_h" in out
    for figure in ("error_vs_depth.png", "regimes.png"):
        assert (folder / "_figures" / figure).stat().st_size > 0
    assert not (folder / "_tables" / "weak_check.csv").exists()


def test_defaults_are_the_sweeps_values_and_lengthscale_is_never_none():
    """`python -m rsim +sweep=ode` crashed when lengthscale ended up None: the defaults of the
    specs are the sweeps' values, so a sweep sets only its name and its swept keys."""
    ode, sde = lx.OdeSpec(), lx.SdeSpec()
    assert ode.lengthscale == 0.1 and lx.OdeSpec.options()["lengthscale"] == 0.1
    assert base.spec_from_config({"experiment": "ode", "model": "res1"}).lengthscale == 0.1
    assert (ode.width, ode.samples, ode.tolerance, ode.betas) == (
        16,
        128,
        1e-10,
        (0.5, 0.75, 1.0, 1.5),
    )
    assert ode.depths == tuple(2**k for k in range(4, 13))
    assert (sde.gain, sde.width, sde.samples, sde.reference_depth) == (math.sqrt(2), 10, 512, 8192)
    assert sde.depths == tuple(2**k for k in range(2, 13))
    # One legal value is not an option: kept as constants (and table columns) instead.
    for name in ("init", "precision"):
        assert name not in lx.OdeSpec.options() and name not in lx.SdeSpec.options()
    assert "model" not in lx.SdeSpec.options() and lx.SdeSpec.model == "res1"
    assert {"lengthscale", "tolerance", "betas"}.isdisjoint(lx.SdeSpec.options())
    assert "reference_depth" not in lx.OdeSpec.options()
    assert ode.precision == sde.precision == "float64"
    assert lx.OdeSpec(gain=1).digest() == ode.digest()  # gain=1 and gain=1.0: one job
    root = Path(__file__).resolve().parent.parent / "conf" / "sweep"
    for name, spec in (("ode", lx.OdeSpec), ("sde", lx.SdeSpec)):
        text = (root / f"{name}.yaml").read_text()
        swept = [
            line.split(":")[0].strip()
            for line in text.split("params:")[1].splitlines()
            if line.strip()
        ]
        assert swept and set(swept) <= set(spec.options()), swept
        assert f"override /experiment: {name}" in text


@pytest.mark.parametrize(
    "values,override,key",
    [
        (SDE_SMALL, {"experiment": "sde", "model": "res3"}, "model"),
        (SDE_SMALL, {"init": "uniform"}, "init"),
        (SDE_SMALL, {"precision": "float32"}, "precision"),
        (SDE_SMALL, {"depths": [4]}, "depths"),
        (SDE_SMALL, {"depths": [4, 0]}, "depths"),
        (SDE_SMALL, {"reference_depth": 16}, "reference_depth"),
        (SDE_SMALL, {"reference_depth": 72}, "reference_depth"),
        (SDE_SMALL, {"samples": 1}, "samples"),
        (SDE_SMALL, {"gain": 0.0}, "gain"),
        (SDE_SMALL, {"activation": "softplus"}, "activation"),
        (SDE_SMALL, {"tolerance": 1e-10}, "tolerance"),
        (SDE_SMALL, {"lengthscale": 0.1}, "lengthscale"),
        (ODE_SMALL, {"depths": [16, 24]}, "depths"),
        (ODE_SMALL, {"tolerance": 1e-3}, "tolerance"),
        (ODE_SMALL, {"lengthscale": 0.001}, "lengthscale"),
        (ODE_SMALL, {"lengthscale": None}, "lengthscale"),
        (ODE_SMALL, {"betas": [float("nan")]}, "betas"),
        (ODE_SMALL, {"betas": []}, "betas"),
        (ODE_SMALL, {"model": "res4"}, "model"),
        (ODE_SMALL, {"init": "smooth"}, "init"),
        (ODE_SMALL, {"precision": "float64"}, "precision"),
        (ODE_SMALL, {"reference_depth": 64}, "reference_depth"),
        (ODE_SMALL, {"depths": [2**21, 2**22]}, "depths"),
        (SDE_SMALL, {"reference_depth": 2**22, "width": 10}, "reference_depth"),
    ],
)
def test_bad_input_is_refused_with_one_line_naming_the_key(values, override, key):
    with pytest.raises(rsim.ConfigError) as error:
        base.spec_from_config({**values, **override})
    message = str(error.value)
    assert "\n" not in message and message.startswith(key), message


def test_res3_ignores_activation_so_its_identity_job_is_the_relu_job():
    ode = {**ODE_SMALL, "model": "res3"}
    relu = lx.OdeSpec.from_config({**ode, "activation": "relu"})
    identity = lx.OdeSpec.from_config({**ode, "activation": "identity"})
    assert identity.digest() == relu.digest() and identity.activation == "relu"


# Arrays of one value per sample (the others are per depth, or per depth and beta).
# On another CPU than the recording's: 100x below the ode reference's 1e-9 accuracy.
LIMIT_ATOL = 1e-11
PER_SAMPLE = ("h0_norm", "reference_gap", "limit_sq_ratio", "positive_eigenvalue")


@pytest.mark.parametrize("experiment", ["ode", "sde"])
def test_regression_ode_sde_values_are_bit_identical(experiment):
    """The values of compute's tables are, bit for bit, those recorded from the code before
    the pipeline refactor (tests/data/regression.json: the old spec, float.hex of every
    per-sample array flattened)."""
    recording = regression_record.recorded()
    recorded = recording[experiment]
    old = dict(recorded["options"])
    spec_type = base.get(experiment).spec
    # The old spec's keys that are no longer options hold the experiment's constants.
    constants = {k: old.pop(k) for k in list(old) if k not in spec_type.options()}
    assert constants.pop("experiment") == experiment
    assert constants.pop("init") == spec_type.init
    assert constants.pop("precision") == spec_type.precision
    if experiment == "sde":
        assert constants.pop("model") == spec_type.model
        assert constants == {"lengthscale": None, "tolerance": None, "betas": []}
    else:
        assert constants == {"reference_depth": None}
    spec = spec_type.from_config(old)
    tables = lx.compute(spec)
    assert set(recorded["values"]) <= set(tables[""]) | set(tables.get("regimes", ()))
    for name, hexes in recorded["values"].items():
        table = tables[""] if name in tables[""] else tables["regimes"]
        found = table.groupby("sample")[name].first() if name in PER_SAMPLE else table[name]
        regression_record.assert_reproduced(
            found, hexes, name, spec_type.precision, recording, absolute=LIMIT_ATOL
        )
    # The raw arrays too (before any table layout).
    arrays = lx.sample_arrays(spec)
    # Arrays added since the recording (the doubling gaps) are checked elsewhere.
    assert set(recorded["values"]) <= set(arrays)
    for name, hexes in recorded["values"].items():
        regression_record.assert_reproduced(
            arrays[name], hexes, name, spec_type.precision, recording, absolute=LIMIT_ATOL
        )


@pytest.mark.slow
@pytest.mark.parametrize("sweep", ["ode", "sde"])
def test_sweep_runs_end_to_end_from_the_command_line(run_cli, tmp_path, sweep):
    small = ["samples=4", "width=3", "n_in=4"]
    small += ["depths=[16,32,64]"] if sweep == "ode" else ["depths=[4,8,16]", "reference_depth=64"]
    proc = run_cli(f"+sweep={sweep}", *small, f"output={tmp_path}")
    assert "strong order" in proc.stdout
    assert (tmp_path / sweep / "_figures" / "error_vs_depth.png").stat().st_size > 0
    assert rsim.load(tmp_path / sweep)["depth"].nunique() == 3


def test_sde_order_check_script_runs():
    """scripts/sde_order_check.py (the README's replicate check) end to end, at a tiny size."""
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "scripts/sde_order_check.py", "--activations", "identity"]
    command += ["--widths", "3", "--samples", "4", "--seeds", "0", "1"]
    command += ["--depths", "4", "8", "16", "--reference-depth", "32"]
    proc = subprocess.run(
        command,
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 and all(" 1/2)" in line for line in lines[::3]), proc.stdout
    assert lines[3].startswith("identity d=3 samples=4 seed=1: order ")
    assert (
        "on the max over the depth-L grid" in lines[4]
        and len(lines[5].split(": ")[1].split(", ")) == 2
    )
