"""The multi-layer branches, mlp and conv: their exact second moments, mlp m = 1 against res-2
bit for bit, the circular convolution, every weight law and gradient mode, the log domain,
their options (defaults, identities, labels)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_kernel
from test_engine import reference
from variants import MODELS

import rsim
from rsim.analysis import theory
from rsim.core import branches, engine
from rsim.core.branches import BRANCHES
from rsim.experiments.cells import CellSpec

KAPPA = {"relu": lambda s: 0.5, "identity": lambda s: 1.0, "leaky_relu": lambda s: (1 + s**2) / 2}


def exact_mean_squared_diff(activation, slope, gain, branch_depth, alpha, depth):
    """(1 + c alpha^2)^L - 1 with c = gain^2 (gain^2 kappa)^m, computed here by hand
    (rsim/THEORY.md): each of the m hidden layers multiplies E||.||^2 by gain^2 kappa, V by
    gain^2, for a dense matrix or a circular convolution alike."""
    c = gain**2 * (gain**2 * KAPPA[activation](slope)) ** branch_depth
    return np.expm1(depth * np.log1p(c * alpha**2))


def _mean_and_se(log_values):
    squares = np.exp(2 * np.asarray(log_values))
    return squares.mean(), squares.std(ddof=1) / np.sqrt(squares.size)


# (options, depth, beta, gain, columns): d = 8 for mlp; conv images of C N^2 = 18..50 entries.
MOMENT_CELLS = [
    (dict(model="mlp", branch_depth=2, activation="relu", init="gaussian"), 20, 0.5, 1.0),
    (dict(model="mlp", branch_depth=3, activation="identity", init="uniform"), 10, 0.25, 0.9),
    (dict(model="mlp", branch_depth=4, activation="leaky_relu", init="rademacher"), 30, 0.5, 1.3),
    (dict(model="mlp", branch_depth=1, activation="relu", init="uniform"), 12, 1.0, 1.1),
    (dict(model="conv", width=2, image_size=4, activation="relu", init="gaussian"), 20, 0.5, 1.0),
    (
        dict(model="conv", width=3, image_size=3, branch_depth=2, activation="leaky_relu"),
        10,
        0.5,
        1.1,
    ),
    (
        dict(model="conv", width=2, image_size=5, kernel_size=5, branch_depth=3),
        15,
        0.5,
        0.9,
    ),
    (
        dict(model="conv", width=2, image_size=4, activation="identity", init="rademacher"),
        25,
        1.0,
        1.2,
    ),
]


@pytest.mark.parametrize(
    "options,depth,beta,gain",
    MOMENT_CELLS,
    ids=lambda v: "-".join(str(x) for x in v.values()) if isinstance(v, dict) else str(v),
)
def test_second_moment_is_exact(options, depth, beta, gain):
    """E r_h^2, E r_q^2 (jvp) and E r_p^2 (exact backprop, b isotropic in mean square) equal
    (1 + c alpha^2)^L - 1, c = gain^2 (gain^2 kappa)^m, within 4 standard errors (float64,
    2000 samples, fixed seed)."""
    options = {"width": 8, "init": "uniform", "activation": "relu", **options}
    frame = rsim.simulate(
        **options,
        negative_slope=0.3,
        gain=gain,
        depth=depth,
        betas=[beta],
        samples=2000,
        seed=5,
        gradients="both",
        precision="float64",
    )
    spec = CellSpec(**options)
    exact = exact_mean_squared_diff(
        options["activation"], 0.3, gain, spec.branch_depth, depth**-beta, depth
    )
    for column in ("log_hidden_diff", "log_jvp_diff", "log_grad_diff"):
        mean, se = _mean_and_se(frame[column])
        assert abs(mean - exact) < 4 * se, (column, mean, se, exact)
        assert se < 0.08 * exact  # the test has power: a 35% error would be caught


@pytest.mark.parametrize("model", MODELS)
def test_every_registered_branch_has_its_records_exact_moment(model):
    """Every branch of the registry, at its defaults (conv: C = 2, N = 4) with the identity
    where it allows one (res-3: ReLU), i.i.d. Gaussian weights of gain 1.1: E r_h^2 and E r_q^2
    equal (1 + c alpha^2)^L - 1 with the record's c (float64, 2000 samples, seed 4, L = 10,
    beta = 1/2), within 4 standard errors."""
    record = BRANCHES[model]
    size = dict(width=2, image_size=4) if record.images else dict(width=6)
    frame = rsim.simulate(
        model=model,
        activation=record.activation_of("identity"),
        init="gaussian",
        gain=1.1,
        depth=10,
        betas=[0.5],
        samples=2000,
        seed=4,
        gradients="jvp",
        precision="float64",
        **size,
    )
    net = theory.Network.from_mapping(frame.iloc[0])
    exact = theory.exact_second_moment(net, 10**-0.5, 10)
    m = net.hidden_layers
    kappa = 1.0 if net.branch_activation == "identity" else 0.5
    assert exact == pytest.approx((1 + 1.21 * (1.21 * kappa) ** m / 10) ** 10 - 1)  # by hand
    for column in ("log_hidden_diff", "log_jvp_diff"):
        mean, se = _mean_and_se(frame[column])
        assert abs(mean - exact) < 4 * se, (column, mean, se, exact)


def test_moment_test_has_power_against_a_wrong_depth():
    """The comparison above rejects m = 2 when the branch has m = 3 (c off by gain^2 kappa)."""
    frame = rsim.simulate(
        model="mlp",
        branch_depth=3,
        width=8,
        init="gaussian",
        depth=20,
        betas=[0.5],
        samples=2000,
        seed=5,
        gradients="none",
        precision="float64",
    )
    mean, se = _mean_and_se(frame["log_hidden_diff"])
    wrong = exact_mean_squared_diff("relu", 0, 1.0, 2, 20**-0.5, 20)
    assert abs(mean - wrong) > 8 * se


@pytest.mark.parametrize("gradients", ["none", "jvp", "vjp", "both"])
@pytest.mark.parametrize(
    "sampler,init,activation",
    [("explicit", "uniform", "leaky_relu"), ("projection", "gaussian", "tanh")],
)
def test_mlp_with_one_hidden_layer_is_res2_bit_for_bit(gradients, sampler, init, activation):
    common = dict(
        activation=activation,
        init=init,
        sampler=sampler,
        gradients=gradients,
        width=6,
        depth=15,
        betas=[0.0, 0.5, 1.0],
        samples=5,
        seed=9,
    )
    res2 = rsim.simulate(model="res2", **common)
    mlp = rsim.simulate(model="mlp", branch_depth=1, **common)
    metrics = [c for c in res2 if c.startswith("log_")]
    assert len(metrics) == {"none": 3, "jvp": 5, "vjp": 5, "both": 7}[gradients]
    for column in metrics:
        assert np.array_equal(res2[column].to_numpy(), mlp[column].to_numpy()), column
    assert CellSpec(model="res2").block() == CellSpec(model="mlp", branch_depth=1).block()


@pytest.mark.parametrize("init,hurst", [("smooth", None), ("fbm", 0.7)])
@pytest.mark.parametrize(
    "shape",
    [dict(model="mlp", branch_depth=2, width=5), dict(model="conv", width=2, image_size=3)],
    ids=["mlp", "conv"],
)
def test_correlated_laws_match_the_unrolled_reference(init, hurst, shape):
    """The weight path along the depth (smooth, fbm) has the branch's shape and fan-in."""
    kernel = make_kernel(
        **shape,
        init=init,
        activation="leaky_relu",
        negative_slope=0.2,
        n_in=3,
        depth=10,
        gradients="both",
        precision="float64",
        weight_paths=1,
    )
    betas = [0.25, 1.0]
    got = engine.run(kernel, betas, samples=2, seed=3, hurst=hurst, progress=False)
    for sample in range(2):
        plain = dataclasses.replace(kernel, weight_paths=False)
        want = reference(plain, 3, sample, betas, hurst=hurst)
        for name in want:
            np.testing.assert_allclose(got[name][sample], want[name], rtol=1e-10, atol=1e-12)
    assert got["weight_path"].shape == (2, 10)


def test_simulate_conv_and_mlp_with_every_gradient_mode():
    for gradients, names in [("none", 3), ("jvp", 5), ("vjp", 5), ("both", 7)]:
        for options in (
            dict(model="mlp", branch_depth=2, width=6),
            dict(model="conv", width=4, image_size=6, kernel_size=3),
        ):
            frame = rsim.simulate(
                **options, depth=8, betas=[0.5, 1.0], samples=3, gradients=gradients
            )
            logs = frame.filter(like="log_")
            assert logs.shape == (6, names) and np.isfinite(logs.to_numpy()).all()
    assert frame["image_size"].eq(6).all() and frame["branch_depth"].eq(1).all()


@pytest.mark.parametrize(
    "options",
    [
        dict(model="mlp", branch_depth=3, width=10, gain=1.3),
        dict(model="conv", width=3, image_size=4),
    ],
    ids=["mlp", "conv"],
)
def test_log_domain_keeps_beta_zero_finite(options):
    """beta = 0, L = 1000: ratios far past float32's range (e^88) stay finite logs."""
    frame = rsim.simulate(
        **options, init="gaussian", depth=1000, betas=[0.0], samples=4, gradients="both"
    )
    assert np.isfinite(frame.filter(like="log_").to_numpy()).all()
    assert (frame["log_hidden_ratio"] > 100).all()


def _naive_circular_convolution(kernel, image):
    """The definition, one output at a time (NumPy): out[c, x, y] = sum kernel[c, c', a, b]
    image[c', x + a - k//2, y + b - k//2], indices mod N."""
    c_out, c_in, k, _ = kernel.shape
    side = image.shape[-1]
    out = np.zeros((c_out, side, side))
    for c in range(c_out):
        for x in range(side):
            for y in range(side):
                for a in range(k):
                    for b in range(k):
                        pixels = image[:, (x + a - k // 2) % side, (y + b - k // 2) % side]
                        out[c, x, y] += kernel[c, :, a, b] @ pixels
    return out


@pytest.mark.parametrize("side,k", [(5, 3), (3, 3), (4, 1), (6, 5)])
def test_circular_convolution_is_the_definition(side, k):
    rng = np.random.default_rng(side * k)
    kernel, images = rng.normal(size=(3, 2, k, k)), rng.normal(size=(2, 2, side, side))
    with jax.enable_x64(True):
        got = np.asarray(branches.circular_convolution(jnp.asarray(kernel), jnp.asarray(images)))
        # lax.conv_general_dilated on the image padded by wrapping: the same map.
        half = k // 2
        padded = jnp.pad(images, ((0, 0), (0, 0), (half, half), (half, half)), mode="wrap")
        lax = jax.lax.conv_general_dilated(
            padded, kernel, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
    for i in range(2):
        np.testing.assert_allclose(got[i], _naive_circular_convolution(kernel, images[i]))
    np.testing.assert_allclose(got, np.asarray(lax), atol=1e-12)


def test_conv_branch_is_shift_equivariant():
    """Circular padding: shifting the input image (any shift, wrapping) shifts the branch's
    output by the same amount, for every layer of a 3-layer branch with its own kernels."""
    shape = branches.Shape("conv", 3, branch_depth=3, image_size=5, kernel_size=3)
    branch = branches.branch("conv", "tanh", shape=shape)
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        w = jnp.asarray(rng.normal(size=(shape.n_matrices, *shape.weight_shape)))
        images = jnp.asarray(rng.normal(size=(2, 3, 5, 5)))
        out = branch.residual(w, images.reshape(2, -1)).reshape(images.shape)
        for shift in [(1, 0), (0, 2), (3, 4), (-1, -2)]:
            moved = jnp.roll(images, shift, axis=(-2, -1))
            got = branch.residual(w, moved.reshape(2, -1)).reshape(images.shape)
            np.testing.assert_allclose(got, jnp.roll(out, shift, axis=(-2, -1)), atol=1e-12)
        # Not vacuous: the output is not invariant to the shift.
        assert np.abs(np.asarray(out - jnp.roll(out, (1, 0), axis=(-2, -1)))).max() > 0.1


def test_readin_is_a_one_by_one_convolution():
    shape = branches.Shape("conv", 3, branch_depth=1, image_size=4, kernel_size=3)
    rng = np.random.default_rng(1)
    a, x = rng.normal(size=(3, 2)), rng.normal(size=shape.input_shape(2))
    h = np.asarray(shape.readin(jnp.asarray(a), jnp.asarray(x))).reshape(3, 4, 4)
    np.testing.assert_allclose(h[:, 1, 2], a @ x[:, 1, 2], rtol=1e-6)
    assert shape.input_shape(2) == (2, 4, 4) and shape.dim == 48


def test_spec_defaults_shapes_and_labels():
    mlp, conv, res3 = CellSpec(model="mlp"), CellSpec(model="conv", width=4), CellSpec()
    assert (mlp.branch_depth, mlp.image_size, mlp.kernel_size) == (2, None, None)
    assert (conv.branch_depth, conv.image_size, conv.kernel_size) == (1, 8, 3)
    assert (res3.branch_depth, res3.image_size, res3.kernel_size) == (None, None, None)
    assert mlp.shape() == branches.Shape("mlp", 40, 2)
    assert conv.shape().dim == 4 * 64 and conv.shape().fan_in == 4 * 9
    assert conv.shape().weight_shape == (4, 4, 3, 3)
    assert res3.shape().n_matrices == 2 and res3.shape().dim == 40
    assert mlp.label() == "mlp m=2 uniform d=40 L=1000"
    assert conv.label() == "conv m=1 uniform C=4 N=8 k=3 d=256 L=1000"
    assert res3.label() == "res3 uniform d=40 L=1000"
    # The resolved default is the same cell as the explicit value, and part of the identity.
    assert CellSpec(model="mlp", branch_depth=2).digest() == mlp.digest()
    assert mlp.identity()["branch_depth"] == 2
    assert "branch_depth" not in res3.identity() and "image_size" not in res3.identity()
    kernel = conv.kernel()
    assert kernel.shape == conv.shape()
