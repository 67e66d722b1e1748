"""The kernel against a plain reference, the exact moments of rsim/THEORY.md section 4, and its
engineering properties (chunk invariance, no retrace across betas, log domain)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_kernel
from scipy import stats
from tracing import ENGINE_BLOCK, count_traces

import rsim
from rsim.analysis import theory
from rsim.core import branches, engine, laws, spectra
from rsim.schema import CORRELATED_LAWS


def reference(
    kernel: engine.Kernel, seed: int, sample: int, betas, hurst: float | None = None
) -> dict[str, np.ndarray]:
    """Unrolled, unnormalised float64 ResNet with explicit Jacobians, same keys as the engine
    (``hurst``: the fbm law's H)."""
    shape = kernel.shape
    branch = branches.branch(kernel.model, kernel.activation, kernel.negative_slope, shape=shape)
    d = shape.dim
    with engine.numerics("float64"):
        key = jax.random.fold_in(engine.root_key(kernel, seed), sample)
        x = jax.random.uniform(
            jax.random.fold_in(key, 0), shape.input_shape(kernel.n_in), jnp.float64
        )
        a = laws.draw(
            kernel.init,
            jax.random.fold_in(key, 1),
            (kernel.width, kernel.n_in),
            kernel.n_in,
            kernel.gain,
            jnp.float64,
        )
        z = jax.random.normal(jax.random.fold_in(key, 2), (d,), jnp.float64)
        b = laws.draw(kernel.init, jax.random.fold_in(key, 3), (d,), d, kernel.gain, jnp.float64)
        layer_key = jax.random.fold_in(key, 4)
        weights = (branch.n_matrices, *shape.weight_shape)
        if kernel.init in CORRELATED_LAWS:
            scale = spectra.fgn_scale(hurst, kernel.depth) if kernel.init == "fbm" else None
            path = laws.path(
                kernel.init,
                layer_key,
                kernel.depth,
                weights,
                shape.fan_in,
                kernel.gain,
                jnp.float64,
                fgn_scale=scale,
                lengthscale=kernel.lengthscale,
            )
            ws = list(path)
        else:
            ws = [
                laws.draw(
                    kernel.init,
                    jax.random.fold_in(layer_key, k),
                    weights,
                    shape.fan_in,
                    kernel.gain,
                    jnp.float64,
                )
                for k in range(1, kernel.depth + 1)
            ]
        out = {name: [] for name in kernel.outputs}
        for beta in betas:
            alpha = kernel.depth**-beta

            def network(h0, alpha=alpha):
                hs = [h0]
                for w in ws:
                    hs.append(hs[-1] + alpha * branch.residual(w, hs[-1][None])[0])
                return hs

            h0 = shape.readin(a, x)
            hs = network(h0)
            jac = jax.jacfwd(lambda h: network(h)[-1])(h0)
            n0 = np.linalg.norm(h0)
            diffs = [np.linalg.norm(h - h0) / n0 for h in hs[1:]]
            values = {
                "log_hidden_ratio": np.linalg.norm(hs[-1]) / n0,
                "log_hidden_diff": diffs[-1],
                "log_hidden_maxdiff": max(diffs),
                "log_jvp_ratio": np.linalg.norm(jac @ z) / np.linalg.norm(z),
                "log_jvp_diff": np.linalg.norm(jac @ z - z) / np.linalg.norm(z),
                "log_grad_ratio": np.linalg.norm(jac.T @ b) / np.linalg.norm(b),
                "log_grad_diff": np.linalg.norm(jac.T @ b - b) / np.linalg.norm(b),
            }
            for name in kernel.outputs:
                out[name].append(np.log(values[name]))
    return {name: np.array(v) for name, v in out.items()}


@pytest.mark.parametrize(
    "model,activation,init,shape",
    [
        ("res3", "relu", "uniform", {}),
        ("res1", "identity", "gaussian", {}),
        ("res1", "tanh", "rademacher", {}),
        ("res2", "leaky_relu", "gaussian", {}),
        ("mlp", "leaky_relu", "uniform", {"branch_depth": 3}),
        ("mlp", "tanh", "gaussian", {"branch_depth": 2}),
        ("conv", "relu", "rademacher", {"width": 2, "image_size": 4, "kernel_size": 3}),
        ("conv", "tanh", "uniform", {"width": 2, "image_size": 3, "branch_depth": 2}),
    ],
    ids=lambda v: "-".join(f"{k}{x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_engine_matches_unrolled_reference(model, activation, init, shape):
    """Hidden states, jvp and exact backprop (vjp) of the engine (log domain, scan, vmap)
    against a plain unrolled ResNet with dense Jacobians, same weights, every model."""
    shape = {"width": 6, **shape}
    if model == "conv" and "kernel_size" not in shape:
        shape["kernel_size"] = 3
    kernel = make_kernel(
        model=model,
        activation=activation,
        negative_slope=0.3,
        init=init,
        gain=1.3,
        n_in=5,
        depth=12,
        gradients="both",
        precision="float64",
        **shape,
    )
    betas = [0.0, 0.5, 1.0]
    got = engine.run(kernel, betas, samples=3, seed=11, progress=False)
    for sample in range(3):
        want = reference(kernel, 11, sample, betas)
        for name in kernel.outputs:
            np.testing.assert_allclose(
                got[name][sample],
                want[name],
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"{name} sample {sample}",
            )


def _mean_and_se(log_values):
    squares = np.exp(2 * log_values)
    return squares.mean(), squares.std(ddof=1) / np.sqrt(squares.size)


@pytest.mark.parametrize(
    "model,activation,init,gain,width,depth,beta",
    [
        ("res3", "relu", "uniform", 1.0, 8, 10, 0.5),
        ("res3", "relu", "gaussian", 1.0, 16, 64, 0.25),
        ("res3", "relu", "rademacher", 1.0, 4, 100, 1.0),
        ("res1", "identity", "gaussian", 1.0, 8, 50, 0.5),
        ("res1", "identity", "uniform", 1.5, 12, 30, 0.75),
        ("res2", "leaky_relu", "rademacher", 0.8, 10, 40, 0.5),
    ],
)
def test_second_moment_is_exact(model, activation, init, gain, width, depth, beta):
    """E r_h^2 = E ||q_L - z||^2/||z||^2 = (1 + c alpha^2)^L - 1 within 4 standard errors."""
    frame = rsim.simulate(
        model=model,
        activation=activation,
        negative_slope=0.2,
        init=init,
        gain=gain,
        width=width,
        depth=depth,
        betas=[beta],
        samples=4000,
        seed=3,
        gradients="jvp",
        precision="float64",
    )
    net = theory.Network.from_mapping(frame.iloc[0])
    exact = theory.exact_mean_squared_diff(net, depth**-beta, depth)
    for column in ("log_hidden_diff", "log_jvp_diff"):
        mean, se = _mean_and_se(frame[column].to_numpy())
        assert abs(mean - exact) < 4 * se, (column, mean, se, exact)
        assert se < 0.05 * exact  # the test has power: a 20% error would be caught


def test_jvp_and_vjp_gradient_ratios_agree():
    """Forward-mode ratios with z on the sphere and backprop ratios have the same law
    (Gaussian weights make b isotropic), and both second moments are exact."""
    common = dict(
        model="res3",
        init="gaussian",
        width=12,
        depth=60,
        betas=[0.5],
        samples=3000,
        precision="float64",
    )
    jvp = rsim.simulate(seed=1, gradients="jvp", **common)
    vjp = rsim.simulate(seed=2, gradients="vjp", **common)
    for forward, backward in (
        ("log_jvp_ratio", "log_grad_ratio"),
        ("log_jvp_diff", "log_grad_diff"),
    ):
        assert stats.ks_2samp(jvp[forward], vjp[backward]).pvalue > 0.01
    exact = theory.exact_mean_squared_diff(theory.Network.from_mapping(jvp.iloc[0]), 60**-0.5, 60)
    for log_values in (jvp["log_jvp_diff"], vjp["log_grad_diff"]):
        mean, se = _mean_and_se(log_values.to_numpy())
        assert abs(mean - exact) < 4 * se


def test_ks_detects_a_wrong_law():
    """The KS comparison above has power: beta = 0.5 vs beta = 0.6 is rejected."""
    common = dict(model="res3", init="gaussian", width=12, depth=60, samples=3000)
    a = rsim.simulate(seed=1, betas=[0.5], **common)
    b = rsim.simulate(seed=2, betas=[0.6], **common)
    assert stats.ks_2samp(a["log_jvp_diff"], b["log_jvp_diff"]).pvalue < 1e-6


def test_results_do_not_depend_on_chunk_size():
    kernel = make_kernel(width=8, depth=30, gradients="both", block=4)
    runs = [
        engine.run(kernel, [0.3, 0.7], samples=21, seed=5, chunk=c, progress=False)
        for c in (1, 7, 64)
    ]
    for name in kernel.outputs:
        for other in runs[1:]:
            assert np.array_equal(runs[0][name], other[name]), name


def test_samples_are_a_prefix_of_a_larger_run():
    """Sample i is the same whether 10 or 40 samples are drawn: runs can be split."""
    kernel = make_kernel(width=40, depth=20, block=16)
    small = engine.run(kernel, [0.5], samples=10, seed=2, progress=False)
    large = engine.run(kernel, [0.5], samples=40, seed=2, chunk=32, progress=False)
    assert np.array_equal(small["log_jvp_diff"], large["log_jvp_diff"][:10])


def test_default_block_follows_the_measured_rule():
    res3, res1 = branches.Shape("res3", 40), branches.Shape("res1", 4)
    assert engine.default_block(res3, 1000, "jvp", "float32", "cpu") == 256
    assert engine.default_block(branches.Shape("res3", 100), 1000, "jvp", "float32", "cpu") == 64
    assert engine.default_block(res1, 10, "jvp", "float32", "cpu") == 256
    assert engine.default_block(res3, 100_000, "both", "float32", "cpu") == 16


def test_default_block_counts_the_real_weights_and_states():
    """mlp: (m + 1) d^2 weights per layer; conv: C^2 k^2 per kernel but k^2 C N^2 entries of
    shifted images, and a stored state of C N^2."""
    mlp = branches.Shape("mlp", 100, branch_depth=4)  # 5 x 10^4 weights: 2^20 / 5e4 ~ 2^4.4
    assert engine.default_block(mlp, 1000, "jvp", "float32", "cpu") == 16
    conv = branches.Shape("conv", 16, branch_depth=1, image_size=32, kernel_size=3)
    assert conv.weight_entries == 2 * 16**2 * 9 and conv.dim == 16 * 32**2
    # 9 x 16384 shifted entries: 2^20 / 147456 ~ 2^2.8
    assert engine.default_block(conv, 1000, "jvp", "float32", "cpu") == 8
    # exact backprop stores 16384 floats per layer: 2^28 / (4 x 1000 x 16384) ~ 2^2
    assert engine.default_block(conv, 1000, "vjp", "float32", "cpu") == 4


def test_sweeping_beta_never_retraces():
    kernel = make_kernel(width=8, depth=25)
    with count_traces() as first:
        engine.run(kernel, [0.1, 0.2], samples=8, seed=0, chunk=8, progress=False)
    with count_traces() as later:
        for betas in ([0.3, 0.4], [0.0, 1.7], [0.5, 0.5]):
            engine.run(kernel, betas, samples=8, seed=0, chunk=8, progress=False)
    assert first[ENGINE_BLOCK] <= 1  # none if an earlier test compiled this kernel
    assert later[ENGINE_BLOCK] == 0


def test_common_random_numbers_across_betas():
    """A sample's result for one beta is the same alone or beside other betas."""
    kernel = make_kernel(width=8, depth=20, precision="float64")
    alone = engine.run(kernel, [0.5], samples=5, seed=4, progress=False)
    beside = engine.run(kernel, [0.25, 0.5, 1.0], samples=5, seed=4, progress=False)
    np.testing.assert_allclose(
        alone["log_hidden_diff"][:, 0], beside["log_hidden_diff"][:, 1], rtol=1e-12
    )


@pytest.mark.parametrize(
    "model,activation", [("res3", "relu"), ("res1", "identity"), ("res2", "leaky_relu")]
)
def test_log_domain_keeps_beta_zero_finite(model, activation):
    """beta = 0, L = 1000: ||h_L||/||h_0|| ~ e^200 overflows nothing in float32."""
    frame = rsim.simulate(
        model=model, activation=activation, depth=1000, betas=[0.0], samples=8, gradients="both"
    )
    logs = frame.filter(like="log_")
    assert np.isfinite(logs.to_numpy()).all()
    assert (frame["log_hidden_ratio"] > 100).all()  # ratios past 10^43, float32's limit ~ e^88
    # In the explosive regime h_L - h_0 ~ h_L: the difference is computed without cancellation.
    np.testing.assert_allclose(frame["log_hidden_diff"], frame["log_hidden_ratio"], rtol=1e-5)
