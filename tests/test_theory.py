"""rsim.analysis.theory: hand-computed values, conditions that must refuse, and properties
(hypothesis)."""

import math
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from variants import CORRELATED_LAWS, GAUSSIAN_BOUNDED_LAWS, IID_LAWS, LAWS_ALL, MODELS

from rsim.analysis import theory
from rsim.analysis.theory import Band, Network, NotApplicable
from rsim.core.branches import ACTIVATIONS, BRANCHES
from rsim.core.laws import LAWS


def network(**fields) -> Network:
    """A Network with the old default cell (res-3, uniform, d = 40, gain 1) where not given."""
    defaults = dict(
        model="res3",
        activation="relu",
        negative_slope=0.01,
        init="uniform",
        gain=1.0,
        width=40,
        branch_depth=None,
        image_size=None,
        kernel_size=None,
    )
    return Network(**{**defaults, **fields})


def mlp(m: int, **fields) -> Network:
    return network(model="mlp", branch_depth=m, **fields)


def conv(m: int = 1, channels: int = 4, side: int = 4, kernel: int = 3, **fields) -> Network:
    return network(
        model="conv", branch_depth=m, width=channels, image_size=side, kernel_size=kernel, **fields
    )


RES3 = network(model="res3", init="uniform", width=40)
WIDE = network(model="res3", init="gaussian", width=100)


def test_lemma1_and_prop6_by_hand():
    # alpha = 0.1, L = 100: 1.005^100 - 1 and 1.01^100 - 1.
    band = theory.lemma1_bounds(RES3, 0.1, 100)
    assert band.lower == pytest.approx(0.646668, rel=1e-5)
    assert band.upper == pytest.approx(1.704814, rel=1e-5)
    assert theory.prop6_bounds(RES3, 0.1, 100) == band


def test_exact_second_moments_by_hand():
    # res-3: (1 + alpha^2/2)^L - 1, Lemma 1's lower end; res-1 identity, gain 2: (1 + 4 a^2)^L - 1.
    assert theory.exact_second_moment(RES3, 0.1, 100) == pytest.approx(0.646668, rel=1e-5)
    res1 = network(model="res1", activation="identity", init="gaussian", gain=2.0)
    assert theory.exact_second_moment(res1, 0.1, 10) == pytest.approx(1.04**10 - 1)
    assert theory.exact_second_moment(res1, 0.5, 1) == pytest.approx(1.0)
    # beta = 1/2, L -> infinity: e^(1/2) - 1 and e - 1 (rsim/THEORY.md section 4).
    assert theory.exact_second_moment(RES3, 1e-3, 10**6) == pytest.approx(math.expm1(0.5), rel=1e-5)
    identity = network(model="res1", activation="identity")
    assert theory.exact_second_moment(identity, 1e-3, 10**6) == pytest.approx(math.e - 1, rel=1e-5)
    # The array form: the same value, NaN without a closed form, elementwise.
    assert theory.exact_mean_squared_diff(RES3, 0.1, 100) == pytest.approx(0.646668, rel=1e-5)
    assert np.isnan(theory.exact_mean_squared_diff(network(model="res1"), 0.1, 10))
    both = theory.exact_mean_squared_diff(RES3, np.array([0.1, 1e-3]), np.array([100, 10**6]))
    assert both == pytest.approx([0.646668, math.expm1(0.5)], rel=1e-5)


def test_prop2_and_prop5_markov_bound():
    alpha = math.sqrt(0.005)  # L alpha^2 = 0.5
    assert theory.prop2_upper(RES3, alpha, 100, 0.1) == pytest.approx(10.0)
    assert theory.prop5_upper(RES3, alpha, 100, 0.05) == pytest.approx(20.0)
    refused = theory.prop2_upper(RES3, 0.2, 100, 0.1)  # L alpha^2 = 4
    assert isinstance(refused, NotApplicable) and "L alpha^2 <= 1" in refused.condition
    assert isinstance(theory.prop2_upper(RES3, alpha, 100, 1.5), NotApplicable)


def test_prop3_by_hand():
    alpha, depth = 1000**-0.5, 1000  # L alpha^2 = 1, d = 100
    # (i): exp(3/8 - sqrt(11 / (100 * 0.1))) - 1; (ii): exp(1 + sqrt(5 / (100 * 0.1))) + 1.
    assert theory.prop3_lower(WIDE, alpha, depth, 0.1) == pytest.approx(
        math.exp(0.375 - math.sqrt(1.1)) - 1
    )
    assert theory.prop3_upper(WIDE, alpha, depth, 0.1) == pytest.approx(
        math.exp(1 + math.sqrt(0.5)) + 1
    )
    assert theory.prop3_upper(WIDE, alpha, depth, 0.1) == pytest.approx(6.512988, rel=1e-6)


def test_prop3_conditions_are_named():
    narrow = theory.prop3_lower(RES3, 1000**-0.5, 1000, 0.1)
    assert isinstance(narrow, NotApplicable) and "d >= 64" in narrow.condition
    # alpha^2 = 0.01 is above 2 / ((sqrt(C) + 4 sqrt(C) + 16) d) ~ 1.1e-3 at d = 100.
    big = theory.prop3_lower(WIDE, 0.1, 100, 0.1)
    assert isinstance(big, NotApplicable) and "alpha^2 <=" in big.condition
    # (ii) at beta = 1/4: alpha^2 = L^-1/2 = 0.0316 > 1 / (sqrt(C) (d + 128)).
    upper = theory.prop3_upper(RES3, 1000**-0.25, 1000, 0.1)
    assert isinstance(upper, NotApplicable) and "d + 128 s^4" in upper.condition


def test_corollary1_band_by_hand_and_its_conditions():
    band = theory.corollary1_band(WIDE, 0.5, 1000, 0.1)
    assert band.lower == pytest.approx(math.exp(0.375 - math.sqrt(2.2)) - 1)
    assert band.upper == pytest.approx(math.e**2 + 1)
    short = theory.corollary1_band(WIDE, 0.5, 100, 0.1)
    assert isinstance(short, NotApplicable) and "L >= " in short.condition
    assert "beta = 1/2" in theory.corollary1_band(WIDE, 0.25, 1000, 0.1).condition
    assert "d >= 64" in theory.corollary1_band(RES3, 0.5, 1000, 0.1).condition


def test_corollary_regimes_and_limit_band():
    assert theory.corollary1_regime(1.0, 40) == "identity"
    assert theory.corollary1_regime(0.5, 40) == "non-degenerate"
    assert theory.corollary1_regime(0.25, 40) == "explosion"
    assert "d >= 9" in theory.corollary1_regime(0.25, 8).condition
    band = theory.corollary2_limit_band(RES3, 0.5)
    assert band == Band(math.expm1(0.5), math.expm1(4.0))
    # The limit band is not a finite-L bound: res-3's exact value sits below it at L = 10.
    assert theory.exact_second_moment(RES3, 10**-0.5, 10) < band.lower


def test_subgaussian_parameter():
    for law in GAUSSIAN_BOUNDED_LAWS:
        assert theory.subgaussian_parameter(law) == 1.0
    for law in CORRELATED_LAWS:
        assert "H1" in theory.subgaussian_parameter(law).condition
    # s = 1 really bounds the moment generating functions of rademacher and uniform.
    lam = np.linspace(-6, 6, 241)
    assert np.all(np.cosh(lam) <= np.exp(lam**2 / 2) * (1 + 1e-12))
    a = math.sqrt(3)
    uniform_mgf = np.where(lam == 0, 1.0, np.sinh(a * lam) / np.where(lam == 0, 1, a * lam))
    assert np.all(uniform_mgf <= np.exp(lam**2 / 2) * (1 + 1e-12))


def unit_entries(law: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Unit-variance entries of ``law`` from its own sampler (float64)."""
    with jax.enable_x64(True):
        return np.asarray(LAWS[law].unit(jax.random.PRNGKey(seed), shape, jnp.float64))


@pytest.mark.parametrize("law", IID_LAWS)
def test_every_law_has_its_subgaussian_constant_and_moments(law):
    """Each i.i.d. record's constants against its own sampler (200 000 entries): E X^2k
    within 4 standard errors (k = 1..3 and 4 where finite), and E exp(lambda X) <=
    exp(lambda^2 s^2 / 2) + 4 standard errors for |lambda| <= 2 where s is given."""
    record = LAWS[law]
    x = unit_entries(law, (200_000,))
    for k, moment in enumerate(record.even_moments, 1):
        # The sample mean of X^2k has a finite variance where E X^4k is finite.
        light = record.subgaussian is not None
        if light or (2 * k <= 4 and math.isfinite(record.even_moments[2 * k - 1])):
            values = x ** (2 * k)
            se = values.std() / math.sqrt(x.size)
            assert abs(values.mean() - moment) < 4 * se + 1e-12, (law, k, values.mean(), moment)
    if record.subgaussian is not None:
        for lam in np.linspace(-2, 2, 9):
            values = np.exp(lam * x)
            bound = math.exp(lam**2 * record.subgaussian**2 / 2)
            assert values.mean() <= bound + 4 * values.std() / math.sqrt(x.size), (law, lam)


def _eighth_moment_of_chi_square(k: np.ndarray) -> np.ndarray:
    return k * (k + 2) * (k + 4) * (k + 6)


@pytest.mark.parametrize("width", [1, 2, 40, 100])
def test_eighth_moment_constant_by_chi_square(width):
    """Gaussian W: ||W h||^2 d/||h||^2 ~ chi^2_d and ||ReLU(W h)||^2 d/||h||^2 ~ chi^2_K
    with K ~ Binomial(d, 1/2); E (chi^2_k)^4 = k (k + 2) (k + 4) (k + 6)."""
    identity = theory.eighth_moment_constant(
        network(model="res2", activation="identity", init="gaussian", width=width)
    )
    assert identity == pytest.approx(_eighth_moment_of_chi_square(width) / width**4)
    k = np.arange(width + 1)
    weights = np.array([math.comb(width, int(j)) for j in k]) / 2.0**width
    relu = theory.eighth_moment_constant(network(model="res3", width=width))
    assert relu == pytest.approx(float(weights @ _eighth_moment_of_chi_square(k)) / width**4)
    assert theory.eighth_moment_constant(network(width=1)) == 52.5
    res1 = network(model="res1", activation="leaky_relu", negative_slope=0.8)
    assert theory.eighth_moment_constant(res1) == 1.0


@pytest.mark.parametrize("law", GAUSSIAN_BOUNDED_LAWS)
def test_eighth_moment_constant_bounds_every_law_with_gaussian_bounded_moments(law):
    """Monte Carlo at d = 4, along a coordinate and along the diagonal: the law's
    E ||ReLU(W h)||^8 / ||h||^8 and leaky ReLU's stay below the certified C (Gaussian equal)."""
    d, n = 4, 200_000
    for slope, activation in ((0.0, "relu"), (0.3, "leaky_relu")):
        c = theory.eighth_moment_constant(
            network(model="res2", activation=activation, negative_slope=slope, width=d, init=law)
        )
        for seed, h in enumerate((np.eye(d)[0], np.full(d, 0.5))):
            y = unit_entries(law, (n, d, d), seed) @ h  # rows of sqrt(d) W times the unit h
            z = np.where(y > 0, y, slope * y) ** 2
            moment = float(np.mean(z.mean(axis=1) ** 4))
            assert moment <= c * 1.03, (law, activation, h, moment, c)
            if law == "gaussian":
                assert moment == pytest.approx(c, rel=0.05)


@pytest.mark.parametrize(
    "net, word",
    [
        (network(model="res1", activation="relu"), "H2"),
        (network(model="res2", activation="tanh"), "H2"),
        (network(model="res1", activation="leaky_relu", negative_slope=0.5), "H2"),
        (network(gain=2.0), "H1"),
    ]
    + [(network(init=law), "H1") for law in CORRELATED_LAWS],
)
def test_every_bound_refuses_when_a_hypothesis_fails(net, word):
    bounds = [
        theory.lemma1_bounds(net, 0.03, 1000),
        theory.prop2_upper(net, 0.03, 1000, 0.1),
        theory.prop3_lower(net, 0.03, 1000, 0.1),
        theory.prop3_upper(net, 0.03, 1000, 0.1),
        theory.corollary1_band(net, 0.5, 1000, 0.1),
        theory.prop5_upper(net, 0.03, 1000, 0.1),
        theory.prop6_bounds(net, 0.03, 1000),
        theory.corollary2_limit_band(net, 0.5),
    ]
    for bound in bounds:
        assert isinstance(bound, NotApplicable) and word in bound.condition, bound
        assert str(bound).startswith("not applicable: ")


def test_exact_moment_refuses_correlated_laws_and_tanh():
    assert "i.i.d." in theory.exact_second_moment(network(init="fbm"), 0.1, 10).condition
    tanh = network(model="res2", activation="tanh")
    assert isinstance(theory.exact_second_moment(tanh, 0.1, 10), NotApplicable)
    # A gain other than 1 breaks H1 but not the exact identity.
    assert theory.exact_second_moment(network(gain=2.0), 0.1, 10) == pytest.approx(1.08**10 - 1)


@st.composite
def networks(draw) -> Network:
    model = draw(st.sampled_from(MODELS))
    images = BRANCHES[model].images
    return Network(
        model=model,
        activation=draw(st.sampled_from(list(ACTIVATIONS))),
        negative_slope=draw(st.floats(-1.5, 1.5)),
        init=draw(st.sampled_from(LAWS_ALL)),
        gain=draw(st.sampled_from([1.0, 1.0, 1.0, 0.5, 2.0])),
        width=draw(st.integers(1, 64 if images else 2000)),
        branch_depth=None if BRANCHES[model].fixed else draw(st.integers(1, 5)),
        image_size=draw(st.integers(3, 16)) if images else None,
        kernel_size=draw(st.sampled_from([1, 3])) if images else None,
    )


networks = networks()
alphas = st.floats(1e-4, 2.0)
depths = st.integers(1, 3000)
deltas = st.floats(1e-3, 0.999)


def _value(bound):
    return None if isinstance(bound, NotApplicable) else bound


def _high_probability_ends(net, alpha, depth, delta):
    """Lower and upper ends of Propositions 2 and 3 at the same delta (applicable ones)."""
    lows = [_value(theory.prop3_lower(net, alpha, depth, delta))]
    highs = [
        _value(theory.prop2_upper(net, alpha, depth, delta)),
        _value(theory.prop3_upper(net, alpha, depth, delta)),
    ]
    return [x for x in lows if x is not None], [x for x in highs if x is not None]


# derandomize: hypothesis draws the same examples on every run (fixed seeds).
@settings(max_examples=300, deadline=None, derandomize=True)
@given(networks, alphas, depths, deltas, st.sampled_from([0.25, 0.5, 1.0]))
def test_lower_bounds_never_exceed_upper_bounds(net, alpha, depth, delta, beta):
    for band in (
        theory.lemma1_bounds(net, alpha, depth),
        theory.prop6_bounds(net, alpha, depth),
        theory.corollary1_band(net, beta, depth, delta),
    ):
        if isinstance(band, Band):
            assert band.lower <= band.upper
    # Any applicable lower end below any applicable upper end, at the same alpha and delta;
    # Corollary 1 (iii) is compared at its own alpha = L^-1/2.
    lows, highs = _high_probability_ends(net, alpha, depth, delta)
    for low in lows:
        for high in highs:
            assert low <= high, (low, high)
    band = _value(theory.corollary1_band(net, beta, depth, delta))
    if band is not None:
        lows, highs = _high_probability_ends(net, depth**-0.5, depth, delta)
        for low in lows + [band.lower]:
            for high in highs + [band.upper]:
                assert low <= high, (low, high)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(networks, alphas, depths)
def test_exact_moments_sit_inside_lemma1_and_prop6(net, alpha, depth):
    exact = _value(theory.exact_second_moment(net, alpha, depth))
    for band in (theory.lemma1_bounds(net, alpha, depth), theory.prop6_bounds(net, alpha, depth)):
        if exact is not None and isinstance(band, Band):
            assert band.lower <= exact <= band.upper


@settings(max_examples=200, deadline=None, derandomize=True)
@given(networks, alphas, depths, deltas)
def test_statements_return_a_number_or_a_named_condition(net, alpha, depth, delta):
    for bound in (
        theory.prop2_upper(net, alpha, depth, delta),
        theory.prop3_lower(net, alpha, depth, delta),
        theory.prop3_upper(net, alpha, depth, delta),
        theory.prop5_upper(net, alpha, depth, delta),
    ):
        assert isinstance(bound, NotApplicable | float), bound
        if isinstance(bound, NotApplicable):
            assert bound.condition
        else:
            assert not math.isnan(bound)


# --------------------------------------------------------------------------------------------
# The fourth architecture: mlp and conv branches with m hidden layers (rsim/THEORY.md section 11)


def test_second_moment_factor_for_m_hidden_layers_by_hand():
    # c = gain^2 (gain^2 kappa)^m.
    def c(model, activation, slope, gain, m=None):
        fields = dict(activation=activation, negative_slope=slope, gain=gain, init="gaussian")
        if model == "mlp":
            return theory.second_moment_factor(mlp(m, **fields))
        if model == "conv":
            return theory.second_moment_factor(conv(m, **fields))
        return theory.second_moment_factor(network(model=model, **fields))

    assert c("mlp", "relu", 0.0, 1.0, 1) == 0.5
    assert c("mlp", "relu", 0.0, 1.0, 2) == 0.25
    assert c("mlp", "relu", 0.0, 1.0, 4) == 1 / 16
    assert c("mlp", "identity", 0.0, 2.0, 3) == 4.0 * 4.0**3
    assert c("mlp", "leaky_relu", 0.5, 1.0, 2) == pytest.approx(0.625**2)
    assert c("conv", "relu", 0.0, 1.5, 2) == pytest.approx(2.25 * (2.25 / 2) ** 2)
    assert c("mlp", "tanh", 0.0, 1.0, 2) is None
    # m = 1 is res-2 (and res-3 with ReLU); conv with m = 1 has res-3's c.
    for activation, slope in (("relu", 0.0), ("identity", 0.0), ("leaky_relu", 0.3)):
        res2 = c("res2", activation, slope, 1.3)
        assert c("mlp", activation, slope, 1.3, 1) == res2
        assert c("conv", activation, slope, 1.3, 1) == res2
    with pytest.raises(ValueError, match="branch_depth"):
        BRANCHES["mlp"].second_moment_factor("relu", 0.0, 1.0, None)


def test_exact_second_moment_of_mlp_and_conv_by_hand():
    # mlp, ReLU, m = 2: (1 + alpha^2/4)^L - 1; at beta = 1/2 it tends to e^(1/4) - 1.
    assert theory.exact_second_moment(mlp(2), 0.1, 100) == pytest.approx(1.0025**100 - 1)
    assert theory.exact_second_moment(mlp(4), 1e-3, 10**6) == pytest.approx(
        math.expm1(1 / 16), rel=1e-5
    )
    assert theory.exact_second_moment(conv(1), 0.1, 100) == theory.exact_second_moment(
        RES3, 0.1, 100
    )
    assert theory.exact_mean_squared_diff(mlp(2), 0.1, 100) == pytest.approx(1.0025**100 - 1)
    assert "i.i.d." in theory.exact_second_moment(conv(1, init="fbm"), 0.1, 10).condition
    tanh = theory.exact_second_moment(mlp(2, activation="tanh"), 0.1, 10)
    assert isinstance(tanh, NotApplicable)


def test_network_reads_the_branch_columns_and_knows_d():
    row = dict(
        model="conv",
        activation="relu",
        negative_slope=0.01,
        init="gaussian",
        gain=1.0,
        width=4,
        branch_depth=2.0,
        image_size=4.0,
        kernel_size=3.0,
        depth=10,
    )
    net = Network.from_mapping(row)
    assert (net.branch_depth, net.image_size, net.kernel_size, net.dim) == (2, 4, 3, 64)
    assert net.hidden_layers == 2
    dense = Network.from_mapping({**row, "model": "res3", "branch_depth": math.nan})
    assert dense.branch_depth is None and dense.dim == 4 and dense.hidden_layers == 1
    old = {k: v for k, v in row.items() if k not in ("branch_depth", "image_size", "kernel_size")}
    assert Network.from_mapping({**old, "model": "res2"}).branch_depth is None
    with pytest.raises(ValueError, match="branch_depth"):
        Network.from_mapping({**old, "model": "mlp"})
    with pytest.raises(ValueError, match="image_size"):
        network(model="conv", branch_depth=1)


def test_h2_fails_for_relu_branches_with_two_or_more_hidden_layers():
    for m in (2, 4):
        failed = theory.h2_failure(mlp(m))
        assert isinstance(failed, NotApplicable)
        assert f"m = {m}" in failed.condition and f"{0.5**m:.4g} < 1/2" in failed.condition
        assert "H4" in theory.h4_failure(mlp(m)).condition
        assert "H2" in theory.lemma1_bounds(mlp(m), 0.03, 1000).condition
        assert "H2" in theory.prop6_bounds(mlp(m), 0.03, 1000).condition
        assert "H2" in theory.h2_failure(conv(m)).condition
        # The exact identity does not need H2.
        assert theory.exact_second_moment(mlp(m), 0.1, 10) == pytest.approx(
            (1 + 0.01 * 0.5**m) ** 10 - 1
        )
    assert theory.h2_failure(mlp(1)) is None
    # kappa^m >= 1/2: the identity for every m; leaky ReLU while ((1 + s^2)/2)^m >= 1/2.
    assert theory.h2_failure(mlp(5, activation="identity")) is None
    assert theory.h2_failure(mlp(2, activation="leaky_relu", negative_slope=0.7)) is None
    low = theory.h2_failure(mlp(2, activation="leaky_relu", negative_slope=0.5))
    assert "kappa^m = 0.3906 < 1/2" in low.condition
    assert (
        "slope^2 <= 1"
        in theory.h2_failure(mlp(2, activation="leaky_relu", negative_slope=1.2)).condition
    )


def test_mlp_statements_where_the_hypotheses_hold():
    net = mlp(3, activation="identity", init="gaussian", width=100)
    assert theory.lemma1_bounds(net, 0.1, 100) == theory.lemma1_bounds(RES3, 0.1, 100)
    assert theory.prop2_upper(net, 0.01, 100, 0.1) == pytest.approx(0.2)
    # C = C(d)^m: the dense identity constant E(chi^2_d / d)^4, to the power m.
    one_layer = theory.eighth_moment_constant(
        network(model="res2", activation="identity", width=100)
    )
    assert theory.eighth_moment_constant(net) == pytest.approx(one_layer**3)
    lower = theory.prop3_lower(net, 1000**-0.5, 1000, 0.1)
    assert isinstance(lower, NotApplicable) and "alpha^2 <=" in lower.condition
    assert theory.prop3_upper(net, 1e-3, 1000, 0.1) == pytest.approx(
        math.exp(1e-3 + math.sqrt(5e-3 / 10)) + 1
    )
    assert theory.hypotheses_text(net) == "yes"


def test_conv_fails_h1_but_keeps_the_mean_square_statements():
    net = conv(1, init="gaussian", channels=4, side=8)  # d = 256
    assert net.dim == 256
    assert "convolution" in theory.h1_failure(net).condition
    assert theory.h1_mean_square_failure(net) is None
    # Lemma 1, Props 2, 5, 6 and Cor 2 (iii) use H1' only.
    assert theory.lemma1_bounds(net, 0.1, 100) == theory.lemma1_bounds(RES3, 0.1, 100)
    assert theory.prop6_bounds(net, 0.1, 100) == theory.lemma1_bounds(RES3, 0.1, 100)
    assert theory.prop2_upper(net, 0.01, 100, 0.1) == pytest.approx(0.2)
    assert theory.prop5_upper(net, 0.01, 100, 0.05) == pytest.approx(0.4)
    assert isinstance(theory.corollary2_limit_band(net, 0.5), Band)
    # Props 3 and Cor 1 (iii) need H1 itself.
    for bound in (
        theory.prop3_lower(net, 1e-3, 1000, 0.1),
        theory.prop3_upper(net, 1e-3, 1000, 0.1),
        theory.corollary1_band(net, 0.5, 10**5, 0.1),
    ):
        assert isinstance(bound, NotApplicable) and bound.condition.startswith("H1:")
    # H1' fails with correlated kernels and with gain != 1.
    assert "H1'" in theory.lemma1_bounds(conv(1, init="fbm"), 0.1, 10).condition
    assert "H1'" in theory.prop6_bounds(conv(1, gain=2.0), 0.1, 10).condition
    # C by Minkowski: the dense C(1) = 52.5 per hidden layer for ReLU, 105 for the identity.
    assert theory.eighth_moment_constant(net) == 52.5
    assert theory.eighth_moment_constant(conv(2, activation="identity")) == 105.0**2
    text = theory.hypotheses_text(net)
    assert text.startswith("no: H1:") and "H1'" not in text


def test_corollary1_regime_checks_the_hypotheses_of_each_regime():
    assert theory.corollary1_regime(0.25, 64, mlp(1, width=64)) == "explosion"
    assert theory.corollary1_regime(0.5, 64, mlp(1, width=64)) == "non-degenerate"
    conv_net = conv(1)
    assert theory.corollary1_regime(1.0, conv_net.dim, conv_net) == "identity"
    assert theory.corollary1_regime(0.25, conv_net.dim, conv_net).condition.startswith("H1:")
    # mlp with ReLU and m = 2 fails H2, but E[r^2] -> 0 exactly for beta > 1/2.
    assert theory.corollary1_regime(1.0, 40, mlp(2)) == "identity"
    assert "H2" in theory.corollary1_regime(0.5, 40, mlp(2)).condition
    assert "H1" in theory.corollary1_regime(1.0, 40, network(init="fbm")).condition


def _circular_conv(kernels: np.ndarray, images: np.ndarray) -> np.ndarray:
    """(n, C, C, k, k) kernels on (n, C, N, N) images, circular padding: out[c, x, y] =
    sum kernel[c, c', a, b] image[c', x + a - k//2, y + b - k//2] (indices mod N)."""
    k = kernels.shape[-1]
    out = np.zeros_like(images)
    for a in range(k):
        for b in range(k):
            shifted = np.roll(images, (k // 2 - a, k // 2 - b), axis=(2, 3))
            out += np.einsum("noi,nixy->noxy", kernels[:, :, :, a, b], shifted)
    return out


@pytest.mark.parametrize("law", IID_LAWS)
@pytest.mark.parametrize("m, side, activation", [(1, 4, "relu"), (2, 3, "leaky_relu")])
def test_conv_branch_second_moment_by_monte_carlo(law, m, side, activation):
    """E||V * sigma(W_m * ... sigma(W_1 * h))||^2 = c ||h||^2 for a circular convolution
    (numpy, float64, independent of the engine): within 4 standard errors."""
    rng = np.random.default_rng(11)
    n, channels, k, gain, slope = 20_000, 2, 3, 1.3, 0.4
    draws = iter(range(1, 10))

    def draw(shape):  # the law's own entries, independent draws
        return unit_entries(law, shape, next(draws)) * math.sqrt(LAWS[law].variance)

    scale = gain / math.sqrt(channels * k * k)
    h = np.broadcast_to(rng.standard_normal((channels, side, side)), (n, channels, side, side))
    u = h
    for _ in range(m):
        u = _circular_conv(scale * draw((n, channels, channels, k, k)), u)
        u = np.where(u > 0, u, (0.0 if activation == "relu" else slope) * u)
    out = _circular_conv(scale * draw((n, channels, channels, k, k)), u)
    ratio = np.sum(out**2, axis=(1, 2, 3)) / np.sum(h[0] ** 2)
    net = conv(m, channels=channels, side=side, kernel=k, init=law, gain=gain)
    c = theory.second_moment_factor(replace(net, activation=activation, negative_slope=slope))
    assert abs(ratio.mean() - c) < 4 * ratio.std() / math.sqrt(n), (ratio.mean(), c)


def test_theory_sharp_sweep_runs_each_bound_where_it_bites():
    """conf/sweep/theory_sharp.yaml (issue 22): at its (d, L, beta) each high-probability bound
    applies, inside its hypotheses, with an informative lower end where the sweep says so, for
    res-1 with the identity (C = 1) and for res-3 (C(d)) alike; one layer fewer (or a beta a
    little lower) and Corollary 1 (iii) or Proposition 3 (i) no longer applies."""
    from pathlib import Path

    from omegaconf import OmegaConf

    sweep = OmegaConf.load(Path(__file__).resolve().parent.parent / "conf/sweep/theory_sharp.yaml")
    depth, (low_beta, half) = int(sweep.depth), [float(b) for b in sweep.betas]
    widths = [int(w) for w in str(sweep.hydra.sweeper.params.width).split(",")]
    assert half == 0.5 and widths == [4, 64, 1024]
    for model, activation in ((sweep.model, sweep.activation), ("res3", "relu")):

        def net(d, model=model, activation=activation):
            return network(model=model, activation=activation, init=sweep.init, width=d)

        # Prop 3 (i) > 0 at d = 64 on the explosion side and at d = 1024 at beta = 1/2 (delta
        # 0.1); at delta = 0.05 it applies but is <= 0 there.
        assert theory.prop3_lower(net(64), depth**-low_beta, depth, 0.1) > 0.5
        assert 0.04 < theory.prop3_lower(net(1024), depth**-half, depth, 0.1) < 0.05
        assert theory.prop3_lower(net(1024), depth**-half, depth, 0.05) < 0
        assert isinstance(
            theory.prop3_lower(net(64), depth ** -(low_beta - 0.02), depth, 0.1), NotApplicable
        )
        # Prop 3 (ii) and Cor 1 (iii) apply at beta = 1/2 from d = 64; Cor 1 (iii)'s lower end
        # is <= 0 (d delta < 156); Prop 2 everywhere at beta = 1/2 (L alpha^2 = 1).
        for d in widths[1:]:
            assert theory.prop3_upper(net(d), depth**-half, depth, 0.05) < 11
            band = theory.corollary1_band(net(d), half, depth, 0.1)
            assert band.lower < 0 < band.upper < 11
        assert theory.prop2_upper(net(4), depth**-half, depth, 0.1) == pytest.approx(20)
    # L >= 10.5 d + 96 for res-1 (C = s = 1): 10848 at d = 1024.
    res1 = network(model="res1", activation="identity", init="gaussian", width=1024)
    assert isinstance(theory.corollary1_band(res1, 0.5, 10848, 0.1), Band)
    assert isinstance(theory.corollary1_band(res1, 0.5, 10847, 0.1), NotApplicable)
