"""The Gaussian-projection sampler: its algebra exactly, its law against explicit Gaussian
weights (KS, every metric), its refusal for other laws, and the engine's properties with it
(chunk invariance, duplicate betas, log domain, no retrace, several devices)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_kernel
from scipy import stats
from tracing import ENGINE_BLOCK, count_traces
from variants import LAWS_ALL

import rsim
from rsim.analysis import theory
from rsim.core import engine, projection
from rsim.core.laws import LAWS

ROOT = Path(__file__).resolve().parent.parent


def _rows_with_dependencies(rng, d):
    """Rows like the first layers' [h_b; q_b]: exact duplicates, a row in the span of two
    others, a near-duplicate (1e-3 apart) and a zero row."""
    h, q, g, k = rng.normal(size=(4, d))
    return np.stack([h, h, h + 0.3 * g, h - 0.7 * g, q, q + 1e-3 * k, np.zeros(d), 2 * q])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_orthonormal_factor_under_jit(dtype):
    rng = np.random.default_rng(0)
    with jax.enable_x64(dtype == jnp.float64):
        x = jnp.asarray(_rows_with_dependencies(rng, 40), dtype)
        basis, coeffs = jax.jit(projection.orthonormal_factor)(x)
        eps = float(jnp.finfo(dtype).eps)
        basis, coeffs = np.asarray(basis, float), np.asarray(coeffs, float)
    kept = np.linalg.norm(basis, axis=1) > 0.5
    # Independent rows: h, h + 0.3 g, q, q + 1e-3 k; the others are dependent (or zero).
    assert kept.tolist() == [True, False, True, False, True, True, False, False]
    np.testing.assert_allclose(basis @ basis.T, np.diag(kept.astype(float)), atol=16 * eps)
    # x = c e up to the dependence tolerance, relative to each row's norm.
    scale = projection.DEPENDENCE_TOLERANCE * eps * np.linalg.norm(np.asarray(x, float), axis=1)
    assert (np.abs(coeffs @ basis - np.asarray(x, float)).max(axis=1) <= scale + 4 * eps).all()
    assert np.allclose(np.triu(coeffs, 1), 0)


def test_action_and_transpose_have_the_joint_law_of_a_gaussian_matrix():
    """(M x_j, M^T p_b) is linear in M, so jointly Gaussian; the projection's output is linear
    in its noise. Both covariances, s^2 J J^T, must agree exactly (float64), with dependent
    rows among x and among p."""
    rng = np.random.default_rng(1)
    d, s = 6, 0.7
    with jax.enable_x64(True):
        x = jnp.asarray(_rows_with_dependencies(rng, d)[[0, 1, 2, 3, 4, 7]])
        p = jnp.asarray(np.stack([rng.normal(size=d)] * 2 + [rng.normal(size=d)]))

        def explicit(m):
            return jnp.concatenate([(x @ m.T).ravel(), (p @ m).ravel()])

        def projected(noise, fresh):
            y, basis = projection.action(noise, x)
            t = projection.transpose_action(basis, noise, p, fresh)
            return jnp.concatenate([y.ravel(), t.ravel()])

        j_m = jax.jacfwd(explicit)(jnp.zeros((d, d))).reshape(-1, d * d)
        j_noise, j_fresh = jax.jacfwd(projected, argnums=(0, 1))(
            jnp.zeros(x.shape), jnp.zeros(p.shape)
        )
        j_noise = j_noise.reshape(j_m.shape[0], -1)
        j_fresh = j_fresh.reshape(j_m.shape[0], -1)
        # The bases depend on x and p only, so the projection is linear in (noise, fresh).
        want = s**2 * j_m @ j_m.T
        got = s**2 * (j_noise @ j_noise.T + j_fresh @ j_fresh.T)
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert np.abs(want).max() > 0.5  # not vacuous


@pytest.mark.parametrize("init", [name for name in LAWS_ALL if not LAWS[name].projection_exact])
def test_projection_is_refused_where_it_is_not_exact(init):
    with pytest.raises(
        rsim.ConfigError,
        match=r"^sampler='projection' is not allowed with "
        rf"init='{init}'",
    ) as error:
        rsim.simulate(init=init, sampler="projection", samples=2, depth=3, width=4)
    assert "\n" not in str(error.value)


def test_unknown_sampler_is_refused():
    with pytest.raises(
        rsim.ConfigError,
        match=r"^sampler='exact' is not allowed; choose one of "
        "explicit, projection, reduced$",
    ):
        rsim.CellSpec.from_config({"sampler": "exact"})


def test_explicit_cells_keep_their_digest():
    """Adding the key must not rename the files of existing (explicit) results."""
    spec = rsim.CellSpec.from_config({"init": "gaussian"})
    assert "sampler" not in spec.identity()
    projected = rsim.CellSpec.from_config({"init": "gaussian", "sampler": "projection"})
    assert projected.identity()["sampler"] == "projection"
    assert projected.digest() != spec.digest()


# (model, activation, width, depth, betas): small cells for the default suite.
KS_CELLS = [
    ("res3", "relu", 10, 30, (0.0, 0.5, 1.0)),
    ("res1", "identity", 6, 40, (0.25, 0.5)),
    ("res2", "tanh", 5, 20, (0.5, 1.0)),
    ("mlp", "relu", 8, 25, (0.0, 0.5, 1.0)),  # m = 2 (mlp's default)
    ("mlp", "tanh", 6, 15, (0.5,)),
]


def _ks_pvalues(model, activation, width, depth, betas, samples, seeds=(1, 2), **options):
    common = dict(
        **options,
        model=model,
        activation=activation,
        init="gaussian",
        width=width,
        depth=depth,
        betas=betas,
        samples=samples,
        gradients="both",
        gain=1.2,
    )
    explicit = rsim.simulate(seed=seeds[0], **common)
    projected = rsim.simulate(seed=seeds[1], sampler="projection", **common)
    assert (projected["sampler"] == "projection").all()
    pvalues = {}
    for beta in betas:
        a, b = explicit[explicit.beta == beta], projected[projected.beta == beta]
        for name in [c for c in explicit if c.startswith("log_")]:
            pvalues[(name, beta)] = stats.ks_2samp(a[name], b[name]).pvalue
    return pvalues


@pytest.mark.parametrize("cell", KS_CELLS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_projection_has_the_law_of_explicit_gaussian_weights(cell):
    """Every metric, hidden, jvp and exact backprop, at every beta: 1500 vs 1500 samples."""
    pvalues = _ks_pvalues(*cell, samples=1500)
    assert len(pvalues) == 7 * len(cell[4])
    worst = min(pvalues, key=pvalues.get)
    assert pvalues[worst] > 1e-3, (worst, pvalues[worst])


@pytest.mark.slow
@pytest.mark.parametrize(
    "cell",
    KS_CELLS
    + [
        ("res3", "relu", 40, 100, (0.25, 0.5, 1.0)),
        ("res1", "leaky_relu", 16, 200, (0.5,)),
        ("mlp", "leaky_relu", 20, 100, (0.25, 0.5, 1.0)),
    ],
    ids=lambda c: f"{c[0]}-{c[1]}-d{c[2]}-L{c[3]}",
)
def test_projection_law_20000_samples(cell):
    pvalues = _ks_pvalues(*cell, samples=20000)
    worst = min(pvalues, key=pvalues.get)
    print(f"{cell}: {len(pvalues)} KS tests, smallest p = {pvalues[worst]:.3g} at {worst}")
    assert pvalues[worst] > 1e-3, (worst, pvalues[worst])


def test_ks_has_power_against_a_wrong_gain():
    """The comparison above detects a 10% error in the weights' scale."""
    common = dict(
        model="res3",
        init="gaussian",
        width=10,
        depth=30,
        betas=[0.5],
        samples=1500,
        sampler="projection",
    )
    a = rsim.simulate(seed=1, gain=1.0, **common)
    b = rsim.simulate(seed=2, gain=1.1, **common)
    assert stats.ks_2samp(a["log_hidden_diff"], b["log_hidden_diff"]).pvalue < 1e-6


def test_mlp_projection_has_the_law_of_explicit_weights_at_depth_four():
    """Each of V, W_1..W_4 meets its own vectors; 1500 vs 1500 samples, every metric."""
    pvalues = _ks_pvalues("mlp", "leaky_relu", 6, 12, (0.5,), samples=1500, branch_depth=4)
    worst = min(pvalues, key=pvalues.get)
    assert pvalues[worst] > 1e-3, (worst, pvalues[worst])


def test_projection_is_refused_for_conv_saying_why():
    with pytest.raises(
        rsim.ConfigError,
        match=r"^sampler='projection' is not allowed with model='conv'; a convolution's matrix "
        r"repeats each kernel entry along the pixels, so its action on a vector is not that of "
        r"an i.i.d. Gaussian matrix and the projection would not be exact in law",
    ) as error:
        rsim.simulate(model="conv", init="gaussian", sampler="projection", samples=2, width=2)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "model,activation,options",
    [
        ("res3", "relu", {}),
        ("res1", "identity", {}),
        ("mlp", "relu", {"branch_depth": 3, "gradients": "vjp"}),  # backprop without a tangent
        ("mlp", "leaky_relu", {"branch_depth": 2, "gradients": "none"}),
    ],
)
def test_projection_second_moments_are_exact(model, activation, options):
    """E r_h^2, E ||q_L - z||^2 / ||z||^2 and E ||p_0 - p_L||^2 / ||p_L||^2 equal
    (1 + c alpha^2)^L - 1 (rsim/THEORY.md section 4) within 4 standard errors."""
    options = {"gradients": "both", **options}
    depth, beta = 100, 0.5
    frame = rsim.simulate(
        model=model,
        activation=activation,
        init="gaussian",
        width=16,
        depth=depth,
        betas=[beta],
        samples=4000,
        seed=7,
        sampler="projection",
        precision="float64",
        negative_slope=0.5,
        **options,
    )
    m = {"res1": 0, "res3": 1}.get(model, options.get("branch_depth"))
    # c = gain^2 (gain^2 kappa)^m by hand (res1 with the identity: c = gain^2); gain = 1
    kappa = (1 + 0.5**2) / 2 if activation == "leaky_relu" else 0.5
    c = 1.0 if model == "res1" else kappa**m
    exact = np.expm1(depth * np.log1p(c * depth ** (-2 * beta)))
    if model != "mlp":
        assert exact == pytest.approx(
            theory.exact_mean_squared_diff(
                theory.Network.from_mapping(frame.iloc[0]), depth**-beta, depth
            )
        )
    for column in [c for c in ("log_hidden_diff", "log_jvp_diff", "log_grad_diff") if c in frame]:
        squares = np.exp(2 * frame[column].to_numpy())
        mean, se = squares.mean(), squares.std(ddof=1) / np.sqrt(squares.size)
        assert abs(mean - exact) < 4 * se, (column, mean, se, exact)
        assert se < 0.05 * exact


def test_duplicate_betas_give_identical_columns():
    """All betas start from the same h_0 and z, so the first layers' rows are exactly
    dependent; a sloppy orthonormalisation made equal betas diverge (measured: 2.4 in log)."""
    kernel = make_kernel(
        init="gaussian", width=12, depth=50, gradients="both", block=8, sampler="projection"
    )
    out = engine.run(kernel, [1.0, 0.3, 1.0], samples=8, seed=0, progress=False)
    for name in kernel.outputs:
        np.testing.assert_allclose(out[name][:, 2], out[name][:, 0], atol=1e-4, err_msg=name)


def test_projection_results_do_not_depend_on_chunk_size():
    kernel = make_kernel(init="gaussian", width=8, depth=30, block=4, sampler="projection")
    runs = [
        engine.run(kernel, [0.3, 0.7], samples=10, seed=5, chunk=c, progress=False) for c in (1, 12)
    ]
    for name in kernel.outputs:
        assert np.array_equal(runs[0][name], runs[1][name]), name


def test_projection_sweeping_beta_never_retraces():
    kernel = make_kernel(init="gaussian", width=8, depth=25, sampler="projection", block=8)
    with count_traces() as first:
        engine.run(kernel, [0.1, 0.2], samples=8, seed=0, progress=False)
    with count_traces() as later:
        for betas in ([0.3, 0.4], [0.0, 1.7]):
            engine.run(kernel, betas, samples=8, seed=0, progress=False)
    assert first[ENGINE_BLOCK] <= 1  # none if an earlier test compiled this kernel
    assert later[ENGINE_BLOCK] == 0


def test_projection_log_domain_keeps_beta_zero_finite():
    kernel = make_kernel(
        init="gaussian", depth=1000, gradients="both", block=8, sampler="projection"
    )
    out = engine.run(kernel, [0.0], samples=8, seed=0, progress=False)
    assert all(np.isfinite(value).all() for value in out.values())
    assert (out["log_hidden_ratio"] > 100).all()


_DEVICE_SCRIPT = """
import dataclasses, json, jax
from rsim.core import engine
from rsim.experiments.cells import CellSpec
def make_kernel(block, **options):
    return dataclasses.replace(CellSpec(**options).kernel(), block=block)
out = {}
for sampler, init in [("explicit", "uniform"), ("projection", "gaussian")]:
    kernel = make_kernel(init=init, width=8, depth=30, gradients="both", block=4,
                           sampler=sampler)
    run = engine.run(kernel, [0.3, 0.7], samples=21, seed=5, chunk=8, progress=False)
    out[sampler] = {name: value.tobytes().hex() for name, value in run.items()}
print(json.dumps({"devices": jax.local_device_count(), "runs": out}))
"""


def _start_on_devices(count: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        JAX_PLATFORMS="cpu",
        XLA_FLAGS=f"--xla_force_host_platform_device_count={count}",
    )
    return subprocess.Popen(
        [sys.executable, "-c", _DEVICE_SCRIPT],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_two_devices_give_the_bits_of_one():
    """Samples sharded over two forced host devices (blocks dealt out, 21 samples padded to
    whole blocks on both) are bit-for-bit those of one device, for both samplers."""
    procs = [_start_on_devices(1), _start_on_devices(2)]  # concurrently: mostly compilation
    one, two = (_result(proc) for proc in procs)
    assert (one["devices"], two["devices"]) == (1, 2)
    assert one["runs"] == two["runs"]
