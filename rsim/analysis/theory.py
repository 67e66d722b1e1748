"""The statements of rsim/THEORY.md sections 3-4 and 11 as functions: exact moments, bounds,
constants, for every branch (res-1, res-2, res-3, mlp, conv).

Every bound takes the network (:class:`Network`), alpha, the depth L and, for
high-probability statements, delta. It returns a number (or a :class:`Band`) only when every
condition of the statement holds; otherwise a :class:`NotApplicable` that names the first
failed condition with its value. Never a number for a statement whose conditions fail.

Notation: r_h^2 = ||h_L - h_0||^2 / ||h_0||^2 and r_p^2 = ||p_0 - p_L||^2 / ||p_L||^2.

Hypotheses (rsim/THEORY.md section 2), checked here from the cell's description and the
records of its law and branch (:mod:`rsim.core.laws`, :mod:`rsim.core.branches`): every
constant (s, the even moments, the entry variance, c) is the record's own.

* H1: entries of sqrt(d) V are i.i.d., symmetric, unit variance, s^2-sub-Gaussian. Holds
  for the laws gaussian, uniform, rademacher with gain = 1 (gain^2 times the law's variance
  is the variance). Laws correlated along the depth (smooth, fbm, ...) are not i.i.d., and
  a law that is not sub-Gaussian has no s: H1 fails. A
  convolution's matrix repeats each kernel entry along the pixels: H1 fails for conv, but
  its mean-square form H1' (E V = 0 and E[V^T V] = I given the past, rsim/THEORY.md section
  11) holds, and H1' is all that Lemma 1, Proposition 6 and Propositions 2 and 5 use.
* H2: ||h||^2/2 <= E||g(h)||^2 <= ||h||^2 and E||g(h)||^8 <= C ||h||^8 for every h. A branch
  with m hidden layers has E||g(h)||^2 = kappa^m ||h||^2 (gain 1): mlp and conv with ReLU
  and m >= 2 fail the lower bound (1/4 < 1/2 at m = 2).
* H3: b = p_L/||p_L|| is centred with E[b b^T | h_L] = I/d. rsim's loss ||B h_L - y||^2 with
  n_out = 1 gives b = +-B^T/||B||, B independent of the network, i.i.d. symmetric entries:
  it holds for every cell rsim simulates (and the jvp tangent z is uniform on the sphere).
* H4: ||q||^2/2 <= E(||dg/dh q||^2 | h, q) <= ||q||^2 almost surely.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rsim.core import branches, laws


@dataclass(frozen=True)
class NotApplicable:
    """A statement whose conditions do not hold; ``condition`` names the failed one."""

    condition: str

    def __str__(self) -> str:
        return f"not applicable: {self.condition}"


@dataclass(frozen=True)
class Band:
    """lower <= quantity <= upper (a one-sided statement uses -inf or +inf)."""

    lower: float
    upper: float


def kappa(activation: str, negative_slope: float) -> float | None:
    """kappa = E sigma(X)^2 / E X^2 for symmetric X (rsim/THEORY.md sections 4 and 11).

    Args:
        activation: a key of :data:`rsim.core.branches.ACTIVATIONS`.
        negative_slope: leaky ReLU's slope s.

    Returns:
        1/2 (ReLU), 1 (identity), (1 + s^2)/2 (leaky ReLU); None where it depends on the law
        of X (tanh) or the activation is unknown.

    >>> kappa("leaky_relu", 0.5)
    0.625
    """
    record = branches.ACTIVATIONS.get(activation)
    return None if record is None else record.kappa(negative_slope)


def _optional_int(value: object) -> int | None:
    """None for a missing, NaN or NA table entry (a column that does not apply to the model)."""
    if value is None:
        return None
    try:
        number = float(value)
    except TypeError:  # pandas' NA
        return None
    return None if math.isnan(number) else int(number)


@dataclass(frozen=True)
class Network:
    """What the statements need to know about a cell (names as in a results table).

    Every field is required: the defaults of a cell live on its spec
    (:class:`rsim.experiments.cells.CellSpec`), never here. ``branch_depth`` (mlp, conv),
    ``image_size`` and ``kernel_size`` (conv) are None for the models that do not use them;
    ``width`` is d for the dense branches and the number of channels C for conv. The
    branch's and the law's properties come from their records (:attr:`branch`, :attr:`law`).
    """

    model: str
    activation: str
    negative_slope: float
    init: str
    gain: float
    width: int
    branch_depth: int | None
    image_size: int | None
    kernel_size: int | None

    def __post_init__(self) -> None:
        record = self.branch
        if not record.fixed and (self.branch_depth is None or self.branch_depth < 1):
            raise ValueError(f"{self.model} needs branch_depth >= 1 (got {self.branch_depth})")
        if record.images and (self.image_size is None or self.kernel_size is None):
            raise ValueError(f"{self.model} needs image_size and kernel_size")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Network:
        """From a results row or dict; other keys (depth, beta, hurst, ...) are ignored, and
        a missing or NaN branch_depth, image_size or kernel_size (a table written before
        those columns, or a model that does not use them) is None.

        Args:
            values: a row (``pandas.Series``) or a dict with the field names.

        Returns:
            The network.

        >>> Network.from_mapping(dict(model="res3", activation="relu", negative_slope=0.01,
        ...     init="uniform", gain=1.0, width=40, depth=100)).dim
        40
        """
        return cls(
            model=str(values["model"]),
            activation=str(values["activation"]),
            negative_slope=float(values["negative_slope"]),
            init=str(values["init"]),
            gain=float(values["gain"]),
            width=int(values["width"]),
            branch_depth=_optional_int(values.get("branch_depth")),
            image_size=_optional_int(values.get("image_size")),
            kernel_size=_optional_int(values.get("kernel_size")),
        )

    @property
    def branch(self) -> branches.Branch:
        """The model's record (:data:`rsim.core.branches.BRANCHES`)."""
        return branches.branch_record(self.model)

    @property
    def law(self) -> laws.Law:
        """The weight law's record (:data:`rsim.core.laws.LAWS`)."""
        return laws.law(self.init)

    @property
    def branch_activation(self) -> str:
        """The nonlinearity the branch applies (res-3: ReLU)."""
        return self.branch.activation_of(self.activation)

    @property
    def hidden_layers(self) -> int:
        """m: the W's of the branch (0 for res-1, 1 for res-2/res-3)."""
        return self.branch.depth(self.branch_depth)

    @property
    def dim(self) -> int:
        """d, the length of a hidden state: width, or C N^2 for conv."""
        return self.width * self.image_size**2 if self.branch.images else self.width

    @property
    def variance(self) -> float:
        """gain^2 times the law's entry variance: E[V^T V] = variance I (1 under H1)."""
        return self.gain**2 * self.law.variance

    @property
    def unit_variance(self) -> bool:
        """True if the entries of sqrt(fan_in) V have variance 1 (up to rounding: a gain of
        1/sqrt(2) with a law of variance 2 has it)."""
        return math.isclose(self.variance, 1.0, rel_tol=1e-12)


def _variance_text(net: Network) -> str:
    """Why the entries of sqrt(d) V do not have unit variance, in words."""
    if net.law.variance == 1.0:
        return f"gain={net.gain:g} gives variance {net.gain**2:g}"
    return (
        f"gain={net.gain:g} and init={net.init!r} of variance {net.law.variance:g} "
        f"give variance {net.variance:g}"
    )


# --------------------------------------------------------------------------------------------
# Exact second moments (rsim/THEORY.md sections 4 and 11)


def second_moment_factor(net: Network) -> float | None:
    """c with E||V g(h)||^2 = c ||h||^2 exactly for symmetric i.i.d. weights, or None.

    c = v (v kappa)^m with v = gain^2 times the law's entry variance and m hidden layers
    (:meth:`rsim.core.branches.Branch.second_moment_factor`; rsim/THEORY.md section 11);
    res-1 applies sigma to h itself, which is not symmetric: only the identity is exact
    (c = v). The tangent q obeys the same identity with the same c.

    Args:
        net: the network.

    Returns:
        c, or None where the branch has no closed form (tanh; res-1 other than the identity).

    >>> second_moment_factor(Network("mlp", "relu", 0.0, "gaussian", 1.0, 8, 2, None, None))
    0.25
    """
    return net.branch.second_moment_factor(
        net.activation, net.negative_slope, net.variance, net.branch_depth
    )


def exact_mean_squared_diff(net: Network, alpha: Any, depth: Any) -> np.ndarray:
    """E[r^2] with r = ||h_L - h_0|| / ||h_0|| (also ||q_L - z|| / ||z||): (1 + c alpha^2)^L - 1,
    elementwise over arrays of alpha and depth.

    Cross terms vanish because each V_k is independent of the past with mean zero, which
    needs i.i.d. symmetric weights; NaN where no closed form exists (weights correlated along
    the depth, tanh, res-1 with ReLU).

    Args:
        net: the network.
        alpha: alpha = L^-beta (array or number).
        depth: L (array or number).

    Returns:
        An array of the broadcast shape of ``alpha`` and ``depth`` (NaN where none).

    >>> net = Network("res1", "identity", 0.0, "gaussian", 2.0, 8, None, None, None)
    >>> float(exact_mean_squared_diff(net, 0.5, 1))
    1.0
    """
    c = second_moment_factor(net)
    if c is None or not (net.law.iid and net.law.symmetric):
        return np.full(np.broadcast(np.asarray(alpha), np.asarray(depth)).shape, np.nan)
    return np.expm1(np.asarray(depth) * np.log1p(c * np.asarray(alpha) ** 2))


def _compound(c: float, alpha: float, depth: int) -> float:
    """(1 + c alpha^2)^L - 1, accurate for tiny alpha (expm1/log1p), inf past float range."""
    try:
        return math.expm1(depth * math.log1p(c * alpha**2))
    except OverflowError:
        return math.inf


def exact_second_moment(net: Network, alpha: float, depth: int) -> float | NotApplicable:
    """E[r_h^2] = E[r_p^2] = (1 + c alpha^2)^L - 1 exactly (rsim/THEORY.md sections 4, 11),
    any gain and any entry variance.

    Conditions: V_k i.i.d. across layers with symmetric entries (a law of the i.i.d.
    family with ``symmetric``), and a branch with a closed form (:func:`second_moment_factor`).
    The gradient equality uses H3 (b isotropic and independent of the Jacobian), true in rsim.

    Args:
        net: the network.
        alpha: alpha = L^-beta.
        depth: L.

    Returns:
        The exact mean, or :class:`NotApplicable` naming the failed condition.
    """
    if not net.law.iid:
        return NotApplicable(f"weights i.i.d. across layers (init={net.init!r} is not)")
    if not net.law.symmetric:
        return NotApplicable(f"symmetric weight entries (init={net.init!r} is not)")
    c = second_moment_factor(net)
    if c is None:
        return NotApplicable(
            f"a closed form for {net.model} with {net.branch_activation} "
            "(res-1 needs the identity; tanh has none)"
        )
    return _compound(c, alpha, depth)


def limit_log_sq_ratio(net: Network, beta: float) -> tuple[float, float] | NotApplicable:
    """The law of log(||h_L||^2/||h_0||^2) as L -> infinity, N(mean, variance), where the
    ResNet tends to the linear SDE dH = (gain/sqrt(d)) dB H (rsim/THEORY.md section 5,
    "Linear SDE"): mean = v (1 - 2/d), variance = 4 v / d, v = gain^2 times the law's variance.
    ||q_L||/||z|| and ||p_0||/||p_L|| have the same law (derived there).

    Conditions: beta = 1/2, res-1 with the identity (no hidden layer), Gaussian weights
    (the i.i.d. law the projection sampler draws exactly: rotation invariant).

    Args:
        net: the network.
        beta: alpha = L^-beta.

    Returns:
        (mean, variance) of the limit, or :class:`NotApplicable` naming the failed condition.

    >>> net = Network("res1", "identity", 0.0, "gaussian", 1.0, 4, None, None, None)
    >>> limit_log_sq_ratio(net, 0.5)
    (0.5, 1.0)
    """
    if beta != 0.5:
        return NotApplicable(f"beta = 1/2 (got {beta:g})")
    if net.hidden_layers != 0 or net.branch_activation != "identity":
        return NotApplicable(f"res-1 with the identity (got {net.model} {net.branch_activation})")
    if not (net.law.iid and net.law.projection_exact):
        return NotApplicable(f"Gaussian i.i.d. weights (init={net.init!r})")
    d = net.dim
    return net.variance * (1 - 2 / d), 4 * net.variance / d


# --------------------------------------------------------------------------------------------
# Constants of the hypotheses


def subgaussian_parameter(init: str) -> float | NotApplicable:
    """s in E exp(lambda X) <= exp(lambda^2 s^2 / 2) for a unit entry X of the law ``init``
    (:attr:`rsim.core.laws.Law.subgaussian`).

    Unit variance forces s >= 1 (compare the lambda^2 terms at lambda -> 0), and gaussian,
    uniform and rademacher attain s = 1 (the proofs are beside their records). Laws correlated
    along the depth are not i.i.d., so H1 (and s) does not apply to them, nor to an i.i.d.
    law that is not sub-Gaussian.

    Args:
        init: a registered law.

    Returns:
        s, or :class:`NotApplicable` (an H1 condition).

    >>> subgaussian_parameter("rademacher")
    1.0
    """
    record = laws.law(init)
    if not record.iid:
        return NotApplicable(
            f"H1: init={init!r} is not an i.i.d. law ({', '.join(laws.names(laws.IID))})"
        )
    if record.subgaussian is None:
        return NotApplicable(f"H1: sub-Gaussian entries (init={init!r} is not sub-Gaussian)")
    return float(record.subgaussian)


def _fourth_power_of_mean(moments: list[float], d: int) -> float:
    """E[((Z_1 + ... + Z_d)/d)^4] for i.i.d. Z >= 0 with E Z^k = moments[k - 1], k = 1..4.

    The multinomial expansion over how the four factors share indices (all equal; 3+1; 2+2;
    2+1+1; all distinct); every coefficient is non-negative.
    """
    m1, m2, m3, m4 = moments
    total = (
        d * m4
        + 4 * d * (d - 1) * m3 * m1
        + 3 * d * (d - 1) * m2**2
        + 6 * d * (d - 1) * (d - 2) * m2 * m1**2
        + d * (d - 1) * (d - 2) * (d - 3) * m1**4
    )
    return total / d**4


# E Y^8 / (E Y^2)^4 = 7!! for a Gaussian Y: the largest eighth moment of a symmetric sum of
# independent terms whose even moments are at most Gaussian ones (gaussian, uniform, rademacher).
GAUSSIAN_EIGHTH = laws.GAUSSIAN_EVEN_MOMENTS[3]


def eighth_moment_constant(net: Network) -> float | NotApplicable:
    """A certified C with E||g(h, theta)||^8 <= C ||h||^8 for every h, at this width d.

    * res-1, g(h) = sigma(h) is deterministic with |sigma(x)| <= b|x|: C = b^8 (b = 1 for the
      identity and for leaky ReLU with |slope| <= 1), tight at h = (1, 0, ..., 0).
    * res-2/res-3, g(h) = sigma(W h), rows w_i of sqrt(d) W i.i.d.: ||g||^2/||h||^2 =
      (1/d) sum_i Z_i with Z_i = sigma(Y_i)^2, Y_i = w_i.h/||h|| symmetric, unit variance.
      For sigma(x) = x (x > 0), s x (x < 0): E Z^k = E Y^(2k) (1 + s^(2k))/2 (ReLU s = 0,
      identity s = 1). Where the law's even moments are at most Gaussian ones
      (:attr:`rsim.core.laws.Law.even_moments`: uniform 3^m/(2m+1), rademacher 1, both
      <= (2m-1)!!), E Y^(2k) expands into products of them with non-negative coefficients, so
      E Y^(2k) <= (2k-1)!!. Plugging into the non-negative expansion of E(mean Z)^4 gives
      C(d); Gaussian weights attain it for every h, so it is the smallest constant valid for
      such laws at width d. A law with a larger even moment gets no certified constant here.
    * mlp, m hidden layers: ||g||^2/||h||^2 is the product of the m one-layer ratios R_i,
      and E[R_i^4 | the layers before] <= C(d) for every input, so C = C(d)^m, attained by
      Gaussian weights (their R_i are independent) (rsim/THEORY.md section 11).
    * conv: the outputs share kernel entries, so they are not independent; Minkowski's
      inequality in L^4 over the C N^2 outputs gives C = (105 (1 + s^8)/2)^m, the dense
      C(1)^m: certified for every h, not the smallest (rsim/THEORY.md section 11).
    C(d) decreases from its d = 1 value (52.5 for res-3) to kappa^4 (1/16 for res-3) as d
    grows. Proposition 3 uses the eighth-moment bound at the network's own width, so the
    width-d constant is what the conditions are evaluated with; rsim/THEORY.md's "independent of
    d" holds with C(1) as a uniform constant.
    Not applicable where H2's eighth-moment part fails (tanh's |tanh x| <= |x| would give a
    constant, but then H2's lower bound fails, see :func:`h2_failure`).

    Args:
        net: the network.

    Returns:
        C, or :class:`NotApplicable` naming the failed condition.
    """
    failed = h2_failure(net)
    if failed is not None:
        return failed
    slope = (
        1.0
        if net.branch_activation == "identity"
        else (0.0 if net.branch_activation == "relu" else abs(net.negative_slope))
    )
    if net.branch.sigma_on_h:
        return max(1.0, slope) ** 8
    if not net.law.moments_at_most_gaussian:
        moments = ", ".join(f"{m:g}" for m in net.law.even_moments)
        return NotApplicable(
            f"C: even moments of W's entries at most Gaussian ones (init={net.init!r} has "
            f"E X^2k = {moments} for k = 1..4; the Gaussian 1, 3, 15, 105)"
        )
    if not net.branch.dense:
        return (GAUSSIAN_EIGHTH * (1 + slope**8) / 2) ** net.hidden_layers
    moments = [g * (1 + slope ** (2 * k)) / 2 for k, g in enumerate(laws.GAUSSIAN_EVEN_MOMENTS, 1)]
    return _fourth_power_of_mean(moments, net.width) ** net.hidden_layers


# --------------------------------------------------------------------------------------------
# Hypotheses


def h1_failure(net: Network) -> NotApplicable | None:
    """None if H1 holds: an i.i.d. symmetric sub-Gaussian law with unit-variance entries of
    sqrt(d) V (the law's own constants: :attr:`rsim.core.laws.Law.subgaussian`, ``variance``,
    ``symmetric``).

    conv fails it: V's d x d matrix repeats each of its C^2 k^2 kernel entries at the N^2
    pixels and is zero outside the k x k neighbourhoods (rsim/THEORY.md section 11).

    Args:
        net: the network.

    Returns:
        None, or :class:`NotApplicable` naming the failed condition.
    """
    s = subgaussian_parameter(net.init)
    if isinstance(s, NotApplicable):
        return s
    if not net.law.symmetric:
        return NotApplicable(f"H1: symmetric entries (init={net.init!r} is not)")
    if not net.unit_variance:
        return NotApplicable(f"H1: unit variance of sqrt(d) V's entries ({_variance_text(net)})")
    if not net.branch.dense:
        return NotApplicable(
            "H1: i.i.d. entries of sqrt(d) V (a convolution's matrix repeats each kernel "
            "entry along the pixels)"
        )
    return None


def h1_mean_square_failure(net: Network) -> NotApplicable | None:
    """None if H1' holds: given the past, E V = 0 and E[V^T V] = I (rsim/THEORY.md section 11).

    H1 implies it, and for the dense branches it is equivalent to H1 here. A circular
    convolution with i.i.d. symmetric kernel entries of variance 1/(C k^2) has it too: each
    input pixel meets each kernel entry exactly once. H1' is all that Lemma 1 and
    Propositions 2, 5 and 6 use.

    Args:
        net: the network.

    Returns:
        None, or :class:`NotApplicable` naming the failed condition.
    """
    if net.branch.dense:
        return h1_failure(net)
    if not (net.law.iid and net.law.symmetric):
        return NotApplicable(
            f"H1': kernels i.i.d. symmetric across layers (init={net.init!r} is not)"
        )
    if not net.unit_variance:
        return NotApplicable(f"H1': E[V^T V] = I ({_variance_text(net)} I)")
    return None


def h2_failure(net: Network) -> NotApplicable | None:
    """None if H2 holds: ||h||^2/2 <= E||g(h)||^2 <= ||h||^2 for all h (the C part follows).

    res-1 (g = sigma(h), deterministic): needs a|x| <= |sigma(x)| <= b|x| with a^2 >= 1/2,
    b <= 1: the identity, or leaky ReLU with 1/2 <= slope^2 <= 1. ReLU fails (h < 0 gives 0),
    tanh fails (bounded). res-2/res-3, mlp and conv (g = sigma(W_m ... sigma(W_1 h)), each W
    with i.i.d. symmetric entries or kernel entries): E||g(h)||^2 = kappa^m ||h||^2 with
    kappa = (1 + slope^2)/2 (ReLU kappa = 1/2, identity 1) and m hidden layers
    (rsim/THEORY.md section 11), inside [1/2, 1] iff slope^2 <= 1 and kappa^m >= 1/2: ReLU
    with m >= 2 fails the lower bound; needs W of unit variance (gain^2 times the law's
    variance = 1); tanh fails (E||tanh(W h)||^2 <= d while ||h||^2/2 is unbounded).

    Args:
        net: the network.

    Returns:
        None, or :class:`NotApplicable` naming the failed condition.
    """
    activation = net.branch_activation
    if activation == "tanh":
        return NotApplicable("H2: ||h||^2/2 <= E||g(h)||^2 fails for tanh (g is bounded)")
    if kappa(activation, net.negative_slope) is None:
        return NotApplicable(f"H2: unknown activation {activation!r}")
    if net.branch.sigma_on_h:
        if activation == "relu":
            return NotApplicable("H2: ||h||^2/2 <= ||ReLU(h)||^2 fails for res-1 (h <= 0)")
        if activation == "leaky_relu" and not 0.5 <= net.negative_slope**2 <= 1:
            return NotApplicable(
                f"H2: 1/2 <= slope^2 <= 1 for res-1 leaky ReLU (slope={net.negative_slope:g})"
            )
        return None
    if not net.unit_variance:
        if net.law.variance == 1.0:
            return NotApplicable(f"H2: W of unit variance (gain={net.gain:g})")
        return NotApplicable(f"H2: W of unit variance ({_variance_text(net)})")
    if not (net.law.iid and net.law.symmetric):
        return NotApplicable(f"H2: W with i.i.d. symmetric entries (init={net.init!r})")
    if activation == "leaky_relu" and net.negative_slope**2 > 1:
        return NotApplicable(
            f"H2: E||g||^2 <= ||h||^2 needs slope^2 <= 1 (slope={net.negative_slope:g})"
        )
    factor = kappa(activation, net.negative_slope) ** net.hidden_layers
    if factor < 0.5:
        return NotApplicable(
            f"H2: ||h||^2/2 <= E||g(h)||^2 = kappa^m ||h||^2 fails for {net.model} with "
            f"{activation} and m = {net.hidden_layers} (kappa^m = {factor:.4g} < 1/2)"
        )
    return None


def h4_failure(net: Network) -> NotApplicable | None:
    """None if H4 holds: ||q||^2/2 <= E||dg/dh q||^2 <= ||q||^2 (Proposition 4).

    For the activations here it holds exactly where H2 does: res-1 needs a <= sigma' <= b
    with a^2 >= 1/2 (identity, leaky ReLU with 1/2 <= slope^2 <= 1); res-2/res-3, mlp and
    conv give E||dg/dh q||^2 = kappa^m ||q||^2 by the symmetry w -> -w of each layer
    (rsim/THEORY.md sections 4 and 11).
    """
    failed = h2_failure(net)
    return None if failed is None else NotApplicable(failed.condition.replace("H2", "H4"))


def _hypotheses(
    net: Network, gradients: bool = False, mean_square: bool = False
) -> NotApplicable | None:
    """The first failed hypothesis among H1 (H1' with ``mean_square``: the statements on
    E[r^2] and their Markov bounds), H2 (and H3, H4 for gradient statements; H3 holds in
    every rsim cell)."""
    first = h1_mean_square_failure if mean_square else h1_failure
    for check in (first, h2_failure) + ((h4_failure,) if gradients else ()):
        failed = check(net)
        if failed is not None:
            return failed
    return None


def hypotheses_text(net: Network) -> str:
    """'yes' when H1, H1', H2 and H4 all hold, else 'no: ' and each failed condition, the
    hypotheses that fail for one reason named together ('H2, H4: ...')."""
    checks = (h1_failure, h1_mean_square_failure, h2_failure, h4_failure)
    reasons: dict[str, list[str]] = {}
    for failed in (check(net) for check in checks):
        if failed is not None:
            name, _, reason = failed.condition.partition(": ")
            names = reasons.setdefault(reason.replace("H4", "H2"), [])
            if name not in names:
                names.append(name)
    if not reasons:
        return "yes"
    return "no: " + "; ".join(f"{', '.join(names)}: {r}" for r, names in reasons.items())


def _delta_failure(delta: float) -> NotApplicable | None:
    if not 0 < delta < 1:
        return NotApplicable(f"delta in (0, 1) (delta={delta:g})")
    return None


# --------------------------------------------------------------------------------------------
# Hidden states


def lemma1_bounds(net: Network, alpha: float, depth: int) -> Band | NotApplicable:
    """Lemma 1 (H1', H2): (1 + alpha^2/2)^L - 1 <= E[r_h^2] <= (1 + alpha^2)^L - 1.

    The paper states it under H1; its proof uses H1 only through H1' (rsim/THEORY.md
    section 11), so it applies to conv as well."""
    failed = _hypotheses(net, mean_square=True)
    if failed is not None:
        return failed
    return Band(_compound(0.5, alpha, depth), _compound(1.0, alpha, depth))


def prop2_upper(net: Network, alpha: float, depth: int, delta: float) -> float | NotApplicable:
    """Proposition 2 (H1', H2, L alpha^2 <= 1): with probability >= 1 - delta,
    r_h^2 <= 2 L alpha^2 / delta (Markov's inequality on Lemma 1's upper bound)."""
    failed = _hypotheses(net, mean_square=True) or _delta_failure(delta)
    if failed is not None:
        return failed
    if depth * alpha**2 > 1:
        return NotApplicable(f"L alpha^2 <= 1 (L alpha^2 = {depth * alpha**2:.4g})")
    return 2 * depth * alpha**2 / delta


def prop3_lower(net: Network, alpha: float, depth: int, delta: float) -> float | NotApplicable:
    """Proposition 3 (i) (H1, H2): if d >= 64, alpha^2 <= 2 / ((sqrt(C) s^4 + 4 sqrt(C) +
    16 s^4) d) and 2 L exp(-d / (64 alpha^2 s^2)) <= delta / 11, then with probability
    >= 1 - delta, r_h^2 > exp(3 L alpha^2 / 8 - sqrt(11 L alpha^2 / (d delta))) - 1."""
    failed = _hypotheses(net) or _delta_failure(delta)
    if failed is not None:
        return failed
    s, c, d = subgaussian_parameter(net.init), eighth_moment_constant(net), net.dim
    if d < 64:
        return NotApplicable(f"d >= 64 (d = {d})")
    limit = 2 / ((math.sqrt(c) * s**4 + 4 * math.sqrt(c) + 16 * s**4) * d)
    if alpha**2 > limit:
        return NotApplicable(
            f"alpha^2 <= 2/((sqrt(C) s^4 + 4 sqrt(C) + 16 s^4) d) = {limit:.4g} "
            f"(alpha^2 = {alpha**2:.4g}, C = {c:.4g}, s = {s:g})"
        )
    # exp(-d / (64 alpha^2 s^2)) underflows to 0 for small alpha, which is the right limit.
    tail = 2 * depth * math.exp(-d / (64 * alpha**2 * s**2)) if alpha > 0 else 0.0
    if tail > delta / 11:
        return NotApplicable(f"2 L exp(-d/(64 alpha^2 s^2)) <= delta/11 (= {tail:.4g})")
    x = depth * alpha**2
    return math.exp(3 * x / 8 - math.sqrt(11 * x / (d * delta))) - 1


def prop3_upper(net: Network, alpha: float, depth: int, delta: float) -> float | NotApplicable:
    """Proposition 3 (ii) (H1, H2): if alpha^2 <= 1 / (sqrt(C) (d + 128 s^4)), then with
    probability >= 1 - delta, r_h^2 < exp(L alpha^2 + sqrt(5 L alpha^2 / (d delta))) + 1."""
    failed = _hypotheses(net) or _delta_failure(delta)
    if failed is not None:
        return failed
    s, c, d = subgaussian_parameter(net.init), eighth_moment_constant(net), net.dim
    limit = 1 / (math.sqrt(c) * (d + 128 * s**4))
    if alpha**2 > limit:
        return NotApplicable(
            f"alpha^2 <= 1/(sqrt(C) (d + 128 s^4)) = {limit:.4g} "
            f"(alpha^2 = {alpha**2:.4g}, C = {c:.4g}, s = {s:g})"
        )
    x = depth * alpha**2
    try:
        return math.exp(x + math.sqrt(5 * x / (d * delta))) + 1
    except OverflowError:
        return math.inf


def corollary1_band(net: Network, beta: float, depth: int, delta: float) -> Band | NotApplicable:
    """Corollary 1 (iii) (H1, H2, alpha = L^-1/2): if beta = 1/2, d >= 64,
    L >= (sqrt(C) s^4/2 + 2 sqrt(C) + 8 s^4) d + 96 sqrt(C) s^4 and
    2 L exp(-L d / (64 s^2)) <= delta / 11, then with probability >= 1 - delta,
    exp(3/8 - sqrt(22/(d delta))) - 1 < r_h^2 < exp(1 + sqrt(10/(d delta))) + 1.

    It is the union of Proposition 3 (i) and (ii) at delta/2 each with alpha^2 = 1/L (the
    depth condition implies both alpha conditions when d >= 64). The side condition is stated
    with delta/11 as in the source; Proposition 3 (i) at delta/2 would ask for delta/22,
    which is immaterial here (the left side is below 1e-100 for d >= 64, L >= 100).
    """
    failed = _hypotheses(net) or _delta_failure(delta)
    if failed is not None:
        return failed
    if beta != 0.5:
        return NotApplicable(f"beta = 1/2 (beta = {beta:g})")
    s, c, d = subgaussian_parameter(net.init), eighth_moment_constant(net), net.dim
    if d < 64:
        return NotApplicable(f"d >= 64 (d = {d})")
    root = math.sqrt(c)
    least = (root * s**4 / 2 + 2 * root + 8 * s**4) * d + 96 * root * s**4
    if depth < least:
        return NotApplicable(
            f"L >= (sqrt(C) s^4/2 + 2 sqrt(C) + 8 s^4) d + 96 sqrt(C) s^4 "
            f"= {least:.1f} (L = {depth}, C = {c:.4g})"
        )
    tail = 2 * depth * math.exp(-depth * d / (64 * s**2))
    if tail > delta / 11:
        return NotApplicable(f"2 L exp(-L d/(64 s^2)) <= delta/11 (= {tail:.4g})")
    return Band(
        math.exp(3 / 8 - math.sqrt(22 / (d * delta))) - 1,
        math.exp(1 + math.sqrt(10 / (d * delta))) + 1,
    )


def corollary1_regime(beta: float, width: int, net: Network | None = None) -> str | NotApplicable:
    """Corollary 1 (i)-(iii) as L -> infinity: 'identity' (beta > 1/2, r_h -> 0 in
    probability), 'explosion' (beta < 1/2 and d >= 9, r_h -> infinity), 'non-degenerate'
    (beta = 1/2, r_h^2 stays in the band of (iii)). A limit statement, not a finite-L bound.

    With ``net``, the hypotheses each regime is proved under are checked too (``width`` is
    then d): (i) follows from Proposition 2 (H1', H2) or, by Markov's inequality, from an
    exact E[r_h^2] -> 0 (mlp and conv with ReLU and m >= 2 fail H2 but have it); (ii) and
    (iii) need the concentration of Proposition 3 (H1, H2), which conv does not have."""
    if beta > 0.5:
        if net is not None:
            failed = _hypotheses(net, mean_square=True)
            if failed is not None and isinstance(exact_second_moment(net, 1.0, 1), NotApplicable):
                return failed
        return "identity"
    failed = None if net is None else _hypotheses(net)
    if failed is not None:
        return failed
    if beta == 0.5:
        return "non-degenerate"
    if width < 9:
        return NotApplicable(f"d >= 9 for the explosion regime (d = {width})")
    return "explosion"


# --------------------------------------------------------------------------------------------
# Gradients


def prop5_upper(net: Network, alpha: float, depth: int, delta: float) -> float | NotApplicable:
    """Proposition 5 (H1', H2-H4, L alpha^2 <= 1): with probability >= 1 - delta,
    r_p^2 <= 2 L alpha^2 / delta (Markov's inequality on Proposition 6's upper bound)."""
    failed = _hypotheses(net, gradients=True, mean_square=True) or _delta_failure(delta)
    if failed is not None:
        return failed
    if depth * alpha**2 > 1:
        return NotApplicable(f"L alpha^2 <= 1 (L alpha^2 = {depth * alpha**2:.4g})")
    return 2 * depth * alpha**2 / delta


def prop6_bounds(net: Network, alpha: float, depth: int) -> Band | NotApplicable:
    """Proposition 6 (H1', H2-H4): (1 + alpha^2/2)^L - 1 <= E[r_p^2] <= (1 + alpha^2)^L - 1.

    Also a band for E||q_L - z||^2/||z||^2 (jvp), an unbiased estimator of E[r_p^2] under H3.
    Through that estimator it is Lemma 1's argument for the tangent, so H1' suffices
    (rsim/THEORY.md section 11).
    """
    failed = _hypotheses(net, gradients=True, mean_square=True)
    if failed is not None:
        return failed
    return Band(_compound(0.5, alpha, depth), _compound(1.0, alpha, depth))


def corollary2_limit_band(net: Network, beta: float) -> Band | NotApplicable:
    """Corollary 2 (iii) (H1', H2-H4, beta = 1/2): exp(1/2) - 1 <= E[r_p^2] <= exp(4) - 1, as the
    source states it. It is a statement about L -> infinity: at finite L, Proposition 6's
    lower end (1 + 1/(2L))^L - 1 is *below* exp(1/2) - 1 (and res-3 attains it exactly),
    so the report compares finite-L cells with Proposition 6 and draws this band only.
    The limit of Proposition 6's band at beta = 1/2 lies inside it, so H1' suffices.
    """
    failed = _hypotheses(net, gradients=True, mean_square=True)
    if failed is not None:
        return failed
    if beta != 0.5:
        return NotApplicable(f"beta = 1/2 (beta = {beta:g})")
    return Band(math.expm1(0.5), math.expm1(4.0))


# --------------------------------------------------------------------------------------------
# The regime linear in alpha and the finite-depth corrections of beta* (section 12)


def depth_correlation(init: str, hurst: float | None, lags: Any) -> np.ndarray | NotApplicable:
    """rho(k): the correlation of a weight entry between layers j and j + k, from the law's
    record (:attr:`rsim.core.laws.Law.correlation`: the i.i.d. laws rho = 1 at k = 0, else 0;
    fbm the unit fGn autocovariance).

    Args:
        init: a registered law.
        hurst: its Hurst index where it has one.
        lags: the lags k.

    Returns:
        rho at each lag, or :class:`NotApplicable` where the law has none in closed form.

    >>> depth_correlation("uniform", None, [0, 1]).tolist()
    [1.0, 0.0]
    """
    correlation = laws.law(init).correlation
    if correlation is None:
        return NotApplicable(f"a depth correlation in closed form (init={init!r})")
    return correlation(hurst, np.abs(np.asarray(lags, np.float64)))


def _dual_kernel(model: str, activation: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """K(rho) = E[u_j . u_k] / ||h_0||^2 for u = g's input to V (section 12), gain 1: res-1
    has u = sigma(h_0), the same at every layer (E ||ReLU(h_0)||^2 / ||h_0||^2 = 1/2 by the
    symmetry h_0 -> -h_0); res-2/res-3 have u = sigma(W h_0) with W_j h_0, W_k h_0 Gaussian
    of correlation rho: the arc-cosine kernel for ReLU, rho for the identity."""
    record = branches.branch_record(model)
    sigma = record.activation_of(activation)
    if record.sigma_on_h and sigma in ("relu", "identity"):
        constant = 0.5 if sigma == "relu" else 1.0
        return lambda rho: np.full_like(rho, constant)
    one_dense_layer = record.fixed and record.dense and record.hidden_layers == 1
    if one_dense_layer and sigma == "relu":
        return lambda rho: (
            (np.sqrt(np.clip(1 - rho**2, 0, None)) + rho * (np.pi - np.arccos(np.clip(rho, -1, 1))))
            / (2 * np.pi)
        )
    if one_dense_layer and sigma == "identity":
        return lambda rho: rho
    return None


def linear_second_moment(
    model: str, activation: str, init: str, hurst: float | None, depth: int
) -> float | NotApplicable:
    """y(L) = lim_{alpha -> 0} E||h_L - h_0||^2 / (alpha^2 ||h_0||^2) (section 12), gain 1:
    the mean square of sum_k V_k g(h_0, theta_k), = sum_{j,k <= L} rho(k - j) K(rho(k - j)).

    Exact for res-1 (ReLU, identity) and res-2/res-3 (ReLU, identity) with i.i.d. or fbm
    weights of unit variance, V independent of the rest: E[(V_j u_j) . (V_k u_k)] =
    rho(k - j) E[u_j . u_k]. i.i.d. laws give y = L K(1) (K(1) = 1/2 for ReLU:
    E r_h^2 ~ alpha^2 L / 2).

    Args:
        model, activation: the branch.
        init, hurst: the law and its Hurst index.
        depth: L.

    Returns:
        y(L), or :class:`NotApplicable`.

    >>> linear_second_moment("res3", "relu", "gaussian", None, 10)
    5.0
    """
    kernel = _dual_kernel(model, activation)
    if kernel is None:
        return NotApplicable(f"a dual kernel in closed form for {model} with {activation}")
    if laws.law(init).variance != 1.0:
        return NotApplicable(f"weight entries of variance gain^2/fan_in (init={init!r})")
    lags = np.arange(depth)
    rho = depth_correlation(init, hurst, lags)
    if isinstance(rho, NotApplicable):
        return rho
    pairs = np.where(lags == 0, depth, 2 * (depth - lags))  # ordered pairs (j, k) at each lag
    return float((pairs * rho * kernel(rho)).sum())


def correction_exponent(
    model: str, activation: str, init: str, hurst: float | None
) -> float | None:
    """omega in p(L) = beta* + c L^-omega + ..., the leading finite-depth correction of the
    local growth exponent p(L) = d log ||h_L - h_0|| / d log L on the identity side (section
    12); ``inf`` where y(L) is an exact power of L; None where the theory gives none.

    y(L) = sum rho K(rho): res-1 has K constant, so y = L^2H exactly (p = H, omega = inf);
    res-2/res-3 with ReLU have K(r) = 1/(2 pi) + r/4 + ..., so y = a L^2H + b L^max(4H-2, 1)
    + ...: for H > 1/2, p = H and omega = 2 min(1 - H, H - 1/2); for H < 1/2, p = 1/2 and
    omega = 1 - 2H; i.i.d. weights give y = L / 2 exactly. The smooth law's Riemann sums
    converge like 1/L (omega = 1).

    Args:
        model, activation: the branch.
        init, hurst: the law and its Hurst index.

    Returns:
        omega, ``inf`` or None.

    >>> correction_exponent("res3", "relu", "fbm", 0.25)
    0.5
    """
    if init == "smooth":
        return 1.0
    record = laws.LAWS.get(init)
    if record is None or not (record.iid or init == "fbm") or (init == "fbm" and hurst is None):
        return None
    h = float(hurst) if init == "fbm" else 0.5
    branch = branches.branch_record(model)
    sigma = branch.activation_of(activation)
    fixed = branch.fixed and branch.dense
    if (branch.sigma_on_h and sigma in ("relu", "identity")) or h == 0.5:
        return math.inf if fixed else None
    if fixed and branch.hidden_layers == 1 and sigma == "relu":
        return 1 - 2 * h if h < 0.5 else 2 * min(1 - h, h - 0.5)
    return None
