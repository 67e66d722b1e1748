"""The reduced sampler (rsim/THEORY.md section 13): the law of every hidden-state and jvp
metric against the explicit sampler (KS at small d), the exact second moments at d = 10^4
and 10^6, and a one-line refusal before compute for every combination it is not exact for."""

import numpy as np
import pytest
from scipy import stats

import rsim
from rsim.analysis import theory
from rsim.core.samplers import sampler
from rsim.experiments.cells import CellSpec
from rsim.schema import HIDDEN_METRICS, JVP_METRICS

SAMPLES = 2000

# (cell options, depth, betas): small d, where the chi^2_{d-2} and binomial terms are far from
# their Gaussian limits.
KS_CELLS = [
    (dict(model="res3", width=6), 20, [0.25, 1.0]),
    (dict(model="res2", activation="leaky_relu", negative_slope=0.3, width=8), 20, [0.5]),
    (dict(model="mlp", branch_depth=2, activation="relu", width=16, gain=1.3), 10, [0.0, 0.5]),
    (dict(model="res2", activation="identity", width=8), 20, [0.5]),
    (dict(model="res1", activation="identity", width=6), 20, [0.25, 1.0]),
    # d = 4: with the tangent the frame (h_0, z, h_k, q_k) is all of R^4 (no Bartlett terms)
    (dict(model="res3", width=4), 20, [0.5]),
]


def _hidden(sampler_name, options, depth, betas, seed, samples=SAMPLES, gradients="none"):
    return rsim.simulate(
        sampler=sampler_name,
        init="gaussian",
        gradients=gradients,
        depth=depth,
        betas=betas,
        samples=samples,
        seed=seed,
        n_in=4,
        **options,
    )


@pytest.mark.parametrize("gradients", ["none", "jvp"])
@pytest.mark.parametrize(("options", "depth", "betas"), KS_CELLS, ids=lambda x: str(x))
def test_every_metric_has_the_explicit_samplers_law(options, depth, betas, gradients):
    """Two chains: (a, b) without the tangent, the 4-frame with it."""
    reduced = _hidden("reduced", options, depth, betas, seed=1, gradients=gradients)
    explicit = _hidden("explicit", options, depth, betas, seed=2, gradients=gradients)
    metrics = HIDDEN_METRICS + (JVP_METRICS if gradients == "jvp" else ())
    for beta in betas:
        for metric in metrics:
            ours = reduced.loc[reduced["beta"] == beta, metric].to_numpy()
            theirs = explicit.loc[explicit["beta"] == beta, metric].to_numpy()
            assert ours.size == theirs.size == SAMPLES and np.isfinite(ours).all()
            p = stats.ks_2samp(ours, theirs).pvalue
            assert p > 1e-3, (options, beta, metric, p)


@pytest.mark.parametrize("gradients", ["none", "jvp"])
@pytest.mark.parametrize("width", [10**4, 10**6])
def test_the_exact_second_moment_at_widths_no_other_sampler_reaches(width, gradients):
    """E r_h^2 (and E r_q^2 with the tangent) = (1 + c alpha^2)^L - 1 within 4 standard
    errors (res-3, L = 100)."""
    depth, beta = 100, 0.5
    frame = _hidden(
        "reduced", dict(model="res3", width=width), depth, [beta], 3, gradients=gradients
    )
    net = theory.Network.from_mapping(frame.iloc[0])
    exact = theory.exact_second_moment(net, depth**-beta, depth)
    for column in ["log_hidden_diff"] + (["log_jvp_diff"] if gradients == "jvp" else []):
        squares = np.exp(2 * frame[column].to_numpy())
        mean, se = squares.mean(), squares.std(ddof=1) / np.sqrt(squares.size)
        assert abs(mean - exact) < 4 * se, (column, mean, se, exact)


@pytest.mark.parametrize("gradients", ["none", pytest.param("jvp", marks=pytest.mark.slow)])
def test_the_exact_second_moment_where_float32_lost_the_drift(gradients):
    """d = 10^6, L = 10^4: a layer moves r_h^2 by alpha^2 / 2 = 5e-9 at beta = 1, below
    float32's rounding of 1 + O(alpha), and one block (1024 samples) knows E r_h^2 to a
    relative 6e-5. A float32 chain (this sampler before it ran in float64) was 7.2 standard
    errors low at beta = 1 and 5.5 high at beta = 1/2 here (1000 samples, seed 0)."""
    depth, width = 10**4, 10**6
    frame = _hidden(
        "reduced", dict(model="res3", width=width), depth, [0.5, 1.0], 4, 1024, gradients
    )
    for beta, rows in frame.groupby("beta"):
        net = theory.Network.from_mapping(rows.iloc[0])
        exact = theory.exact_second_moment(net, depth**-beta, depth)
        squares = np.exp(2 * rows["log_hidden_diff"].to_numpy(np.float64))
        mean, se = squares.mean(), squares.std(ddof=1) / np.sqrt(squares.size)
        assert abs(mean - exact) < 4 * se, (beta, mean, se, exact)
        assert se < 1e-4 * exact  # resolves the float32 chain's bias (3e-4 of E r_h^2)


@pytest.mark.parametrize("dof", [0, 1, 2, 3, 7, 40, 2000, 10**6])
def test_chi2_variates_have_the_chi2_law(dof):
    import jax
    import jax.numpy as jnp

    from rsim.core.samplers import reduced

    with jax.enable_x64(True):
        x = np.asarray(reduced.chi2(jax.random.key(dof), jnp.full((20000,), float(dof))))
    if dof == 0:
        assert (x == 0).all()
        return
    assert stats.kstest(x, stats.chi2(dof).cdf).pvalue > 1e-3


@pytest.mark.parametrize("d", [16, 1025, 4096, 10**6])
def test_half_binomials_have_the_binomial_law(d):
    """Popcount up to d = 1024, transformed rejection (BTRS) above: a chi-square test of
    the counts against Bin(d, 1/2) over cells of equal probability."""
    import jax

    from rsim.core.samplers import reduced

    with jax.enable_x64(True):
        n = np.asarray(reduced._half_binomials(jax.random.key(d), d, 40000))
    assert (n == np.round(n)).all() and (0 <= n).all() and (n <= d).all()
    edges = np.unique(stats.binom(d, 0.5).ppf(np.linspace(0, 1, 21)[1:-1]))
    observed = np.bincount(np.searchsorted(edges, n, side="left"), minlength=edges.size + 1)
    cdf = stats.binom(d, 0.5).cdf(np.concatenate([edges, [d]]))  # bin i: (edge i-1, edge i]
    expected = np.diff(np.concatenate([[0], cdf])) * n.size
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_beta_zero_stays_finite_in_the_log_domain():
    frame = _hidden("reduced", dict(model="res3", width=1000), 1000, [0.0], seed=0, samples=8)
    assert np.isfinite(frame[list(HIDDEN_METRICS)].to_numpy()).all()
    assert (frame["log_hidden_ratio"] > 88).all()  # ||h_L|| / ||h_0|| beyond float32's range


def test_a_row_does_not_depend_on_the_other_betas_nor_on_the_block():
    options = dict(model="res3", width=8)
    both = _hidden("reduced", options, 10, [0.5, 1.0], seed=5, samples=8)
    alone = _hidden("reduced", options, 10, [1.0], seed=5, samples=8)
    columns = list(HIDDEN_METRICS)
    # The same random numbers: bit-identical with jaxlib 0.10.2; jaxlib 0.12 vectorises the
    # two-beta batch otherwise and rounds one value of 24 one float32 ulp apart (measured).
    np.testing.assert_allclose(
        both.loc[both["beta"] == 1.0, columns].to_numpy(),
        alone[columns].to_numpy(),
        rtol=4 * np.finfo(np.float32).eps,
        atol=0,
    )


REFUSED = [
    (dict(init="uniform"), "not exact in law for init='uniform'"),
    (dict(init="fbm", hurst=0.7), "not exact in law for init='fbm'"),
    (dict(model="conv", width=2, image_size=4), "model='conv'"),
    (dict(model="res1", activation="relu"), "res1 with relu: sigma acts on h's own"),
    (dict(model="res1", activation="leaky_relu"), "res1 with leaky_relu"),
    (dict(model="res1", activation="tanh"), "res1 with tanh"),
    (dict(model="res2", activation="tanh"), "activation='tanh'"),
    (dict(model="mlp", activation="tanh"), "activation='tanh'"),
    (dict(gradients="jvp", width=3), "jvp needs width >= 4"),
    (dict(gradients="vjp"), "gradients='vjp'"),
    (dict(gradients="both"), "gradients='both'"),
]


@pytest.mark.parametrize(("options", "reason"), REFUSED, ids=lambda x: str(x))
def test_every_other_combination_is_refused_in_one_line_before_compute(options, reason):
    options = {"init": "gaussian", "gradients": "none", **options}
    with pytest.raises(rsim.ConfigError) as error:
        CellSpec(sampler="reduced", **options)
    message = str(error.value)
    assert reason in message and "\n" not in message, message
    assert message.startswith("the reduced sampler")


@pytest.mark.parametrize("gradients", ["none", "jvp"])
def test_the_supported_combinations_are_accepted(gradients):
    for options in [cell for cell, _, _ in KS_CELLS]:
        spec = CellSpec(sampler="reduced", init="gaussian", gradients=gradients, **options)
        assert sampler("reduced").refusal(spec) is None


def test_blocks_are_bit_identical_across_chunks():
    options = dict(model="res3", width=8, chunk=1024)
    cells = dict(depth=5, betas=[0.5], samples=2048, seed=6, gradients="jvp", init="gaussian")
    one = rsim.simulate(sampler="reduced", **cells, **{**options, "chunk": 2048})
    two = rsim.simulate(sampler="reduced", **cells, **options)
    columns = list(HIDDEN_METRICS + JVP_METRICS)
    np.testing.assert_array_equal(one[columns].to_numpy(), two[columns].to_numpy())


def test_its_block_and_memory_do_not_grow_with_the_width():
    from rsim.core import memory

    kernels = [
        CellSpec(sampler="reduced", init="gaussian", gradients="jvp", width=d).kernel()
        for d in (16, 10**6)
    ]
    assert kernels[0].block == kernels[1].block == 1024  # CPU
    sizes = [memory.estimate(kernel, 3).block_bytes for kernel in kernels]
    assert sizes[0] == sizes[1] < 2**20


@pytest.mark.parametrize(("sampler_name", "shared"), [("reduced", False), ("explicit", True)])
def test_the_table_metadata_says_whether_betas_share_weights(sampler_name, shared, tmp_path):
    from rsim import results
    from rsim.experiments import base

    spec = CellSpec(
        sampler=sampler_name, init="gaussian", width=6, depth=3, samples=4, gradients="none"
    )
    notes = results.read_metadata(base.run_job(spec, tmp_path))["notes"]
    assert notes == {"betas_share_weights": shared}
