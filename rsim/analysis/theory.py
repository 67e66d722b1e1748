"""The statements of rsim/THEORY.md sections 3-4 and 11 as functions: exact moments, bounds,
constants, for every branch (res-1, res-2, res-3, mlp, conv).

Every bound takes the network (:class:`Network`), alpha, the depth L and, for
high-probability statements, delta. It returns a number (or a :class:`Band`) only when every
condition of the statement holds; otherwise a :class:`NotApplicable` that names the first
failed condition with its value. Never a number for a statement whose conditions fail.

Notation: r_h^2 = ||h_L - h_0||^2 / ||h_0||^2 and r_p^2 = ||p_0 - p_L||^2 / ||p_L||^2.

Hypotheses (rsim/THEORY.md section 2), checked here from the cell's description:

* H1: entries of sqrt(d) V are i.i.d., symmetric, unit variance, s^2-sub-Gaussian. Holds
  for the laws gaussian, uniform, rademacher with gain = 1 (gain != 1 gives variance gain^2).
  Laws correlated along the depth (smooth, fbm, ...) are not i.i.d.: H1 fails. A
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
from dataclasses import dataclass

import numpy as np

from rsim import schema
from rsim.core import spectra


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


# The branches whose depth m (number of W's) is an option; res-1 has m = 0, res-2/res-3 m = 1.
DEEP_BRANCHES = ("mlp", "conv")
# kappa with E sigma(X)^2 = kappa E X^2 for X symmetric (rsim/THEORY.md sections 4 and 11).
KAPPA_ACTIVATIONS = ("relu", "identity", "leaky_relu")


def kappa(activation: str, negative_slope: float) -> float | None:
    """kappa = E sigma(X)^2 / E X^2 for symmetric X: 1/2 (ReLU), 1 (identity), (1 + s^2)/2
    (leaky ReLU of slope s); None where it depends on the law of X (tanh)."""
    return {"relu": 0.5, "identity": 1.0, "leaky_relu": (1 + negative_slope**2) / 2}.get(activation)


def hidden_layers(model: str, branch_depth: int | None = None) -> int:
    """m, the number of W's in the branch: 0 (res-1), 1 (res-2, res-3), branch_depth (mlp,
    conv; required there)."""
    if model == "res1":
        return 0
    if model in ("res2", "res3"):
        return 1
    if model in DEEP_BRANCHES:
        if branch_depth is None:
            raise ValueError(f"model={model!r} needs its branch_depth (m >= 1)")
        return int(branch_depth)
    raise ValueError(f"unknown model {model!r}")


def _optional_int(value) -> int | None:
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
    ``width`` is d for the dense branches and the number of channels C for conv.
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
        if self.model in DEEP_BRANCHES and (self.branch_depth is None or self.branch_depth < 1):
            raise ValueError(f"{self.model} needs branch_depth >= 1 (got {self.branch_depth})")
        if self.model == "conv" and (self.image_size is None or self.kernel_size is None):
            raise ValueError("conv needs image_size and kernel_size")

    @classmethod
    def from_mapping(cls, values) -> Network:
        """From a results row or dict; other keys (depth, beta, hurst, ...) are ignored, and
        a missing or NaN branch_depth, image_size or kernel_size (a table written before
        those columns, or a model that does not use them) is None."""
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
    def branch_activation(self) -> str:
        """The nonlinearity the branch applies (:func:`rsim.schema.branch_activation`)."""
        return schema.branch_activation(self.model, self.activation)

    @property
    def hidden_layers(self) -> int:
        """m: the W's of the branch (0 for res-1, 1 for res-2/res-3)."""
        return hidden_layers(self.model, self.branch_depth)

    @property
    def dim(self) -> int:
        """d, the length of a hidden state: width, or C N^2 for conv."""
        return self.width * self.image_size**2 if self.model == "conv" else self.width


# --------------------------------------------------------------------------------------------
# Exact second moments (rsim/THEORY.md sections 4 and 11); the two functions below keep their
# historic signatures (branch_depth is a new keyword) because rsim.analysis.summary and
# rsim.views.cells call them.


def second_moment_factor(
    model: str,
    activation: str,
    negative_slope: float,
    gain: float,
    branch_depth: int | None = None,
):
    """c with E||V g(h)||^2 = c ||h||^2 exactly for symmetric i.i.d. weights, or None.

    V has variance gain^2/fan_in and is independent of h, so E||V u||^2 = gain^2 E||u||^2
    (for a circular convolution too: each input pixel meets each kernel entry once). Each of
    the m hidden layers sigma(W u) has a symmetric pre-activation given u, so it multiplies
    the expected squared norm by gain^2 kappa: c = gain^2 (gain^2 kappa)^m with kappa = 1/2
    (ReLU), 1 (identity), (1 + s^2)/2 (leaky ReLU of slope s), and m = 1 for res-2/res-3,
    branch_depth for mlp and conv (rsim/THEORY.md section 11). res-1 applies sigma to h
    itself, which is not symmetric: only the identity is exact (c = gain^2). The tangent q
    obeys the same identity with the same c.
    """
    if model == "res1":
        return gain**2 if activation == "identity" else None
    m = hidden_layers(model, branch_depth)
    k = kappa(schema.branch_activation(model, activation), negative_slope)
    if k is None:
        return None
    return gain**2 * (gain**2 * k) ** m


def exact_mean_squared_diff(
    model,
    activation,
    negative_slope,
    gain,
    alpha,
    depth,
    init: str = "gaussian",
    branch_depth: int | None = None,
):
    """E[r^2] with r = ||h_L - h_0|| / ||h_0|| (also ||q_L - z|| / ||z||): (1 + c alpha^2)^L - 1.

    Cross terms vanish because each V_k is independent of the past with mean zero, which
    needs i.i.d. weights; returns NaN where no closed form exists (weights correlated along
    the depth, tanh, res-1 with ReLU). ``branch_depth`` is m for mlp and conv.
    """
    c = second_moment_factor(model, activation, negative_slope, gain, branch_depth)
    if c is None or init not in schema.IID_LAWS:
        return np.full(np.shape(alpha), np.nan)
    return np.expm1(np.asarray(depth) * np.log1p(c * np.asarray(alpha) ** 2))


def _compound(c: float, alpha: float, depth: int) -> float:
    """(1 + c alpha^2)^L - 1, accurate for tiny alpha (expm1/log1p), inf past float range."""
    try:
        return math.expm1(depth * math.log1p(c * alpha**2))
    except OverflowError:
        return math.inf


def exact_second_moment(net: Network, alpha: float, depth: int) -> float | NotApplicable:
    """E[r_h^2] = E[r_p^2] = (1 + c alpha^2)^L - 1 exactly (rsim/THEORY.md sections 4, 11),
    any gain.

    Conditions: V_k i.i.d. across layers with symmetric entries (law gaussian, uniform or
    rademacher), and a branch with a closed form: c = gain^2 (gain^2 kappa)^m for res-2,
    res-3 (m = 1), mlp and conv (m = branch_depth) with ReLU, identity or leaky ReLU; res-1
    with the identity (c = gain^2). The gradient equality uses H3 (b isotropic and
    independent of the Jacobian), true in rsim.
    """
    if net.init not in schema.IID_LAWS:
        return NotApplicable(f"weights i.i.d. across layers (init={net.init!r} is not)")
    c = second_moment_factor(
        net.model, net.activation, net.negative_slope, net.gain, net.branch_depth
    )
    if c is None:
        return NotApplicable(
            f"a closed form for {net.model} with {net.branch_activation} "
            "(res-1 needs the identity; tanh has none)"
        )
    return _compound(c, alpha, depth)


# --------------------------------------------------------------------------------------------
# Constants of the hypotheses


def subgaussian_parameter(init: str) -> float | NotApplicable:
    """s in E exp(lambda X) <= exp(lambda^2 s^2 / 2) for an entry X of sqrt(d) V / gain.

    Unit variance forces s >= 1 (compare the lambda^2 terms at lambda -> 0), and s = 1 is
    attained by all three laws, so s = 1 is the best constant for each:
    * gaussian: E exp(lambda X) = exp(lambda^2 / 2), equality.
    * rademacher: cosh(lambda) = sum lambda^(2k)/(2k)! <= sum lambda^(2k)/(2^k k!)
      = exp(lambda^2 / 2), since (2k)! >= 2^k k!.
    * uniform on [-sqrt 3, sqrt 3]: sinh(a lambda)/(a lambda) = sum (a lambda)^(2k)/(2k+1)!
      <= exp(a^2 lambda^2 / 6) since (2k+1)! >= 6^k k!; with a = sqrt(3) this is
      exp(lambda^2 / 2).
    Laws correlated along the depth are not i.i.d., so H1 (and s) does not apply to them.
    """
    if init in schema.IID_LAWS:
        return 1.0
    return NotApplicable(f"H1: init={init!r} is not an i.i.d. law ({', '.join(schema.IID_LAWS)})")


def _gaussian_even_moment(k: int) -> float:
    """E G^(2k) = (2k - 1)!! for G ~ N(0, 1)."""
    return float(math.prod(range(1, 2 * k, 2)))


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
GAUSSIAN_EIGHTH = _gaussian_even_moment(4)


def eighth_moment_constant(net: Network) -> float | NotApplicable:
    """A certified C with E||g(h, theta)||^8 <= C ||h||^8 for every h, at this width d.

    * res-1, g(h) = sigma(h) is deterministic with |sigma(x)| <= b|x|: C = b^8 (b = 1 for the
      identity and for leaky ReLU with |slope| <= 1), tight at h = (1, 0, ..., 0).
    * res-2/res-3, g(h) = sigma(W h), rows w_i of sqrt(d) W i.i.d.: ||g||^2/||h||^2 =
      (1/d) sum_i Z_i with Z_i = sigma(Y_i)^2, Y_i = w_i.h/||h|| symmetric, unit variance.
      For sigma(x) = x (x > 0), s x (x < 0): E Z^k = E Y^(2k) (1 + s^(2k))/2 (ReLU s = 0,
      identity s = 1). Each law's even moments are at most Gaussian ones (uniform 3^m/(2m+1),
      rademacher 1, both <= (2m-1)!!), and E Y^(2k) expands into products of them with
      non-negative coefficients, so E Y^(2k) <= (2k-1)!!. Plugging into the non-negative
      expansion of E(mean Z)^4 gives C(d); Gaussian weights attain it for every h, so it
      is the smallest constant valid for the three laws at width d.
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
    """
    failed = h2_failure(net)
    if failed is not None:
        return failed
    slope = (
        1.0
        if net.branch_activation == "identity"
        else (0.0 if net.branch_activation == "relu" else abs(net.negative_slope))
    )
    if net.model == "res1":
        return max(1.0, slope) ** 8
    if net.model == "conv":
        return (GAUSSIAN_EIGHTH * (1 + slope**8) / 2) ** net.hidden_layers
    moments = [_gaussian_even_moment(k) * (1 + slope ** (2 * k)) / 2 for k in range(1, 5)]
    return _fourth_power_of_mean(moments, net.width) ** net.hidden_layers


# --------------------------------------------------------------------------------------------
# Hypotheses


def h1_failure(net: Network) -> NotApplicable | None:
    """None if H1 holds: an i.i.d. symmetric law with unit-variance entries of sqrt(d) V.

    conv fails it: V's d x d matrix repeats each of its C^2 k^2 kernel entries at the N^2
    pixels and is zero outside the k x k neighbourhoods (rsim/THEORY.md section 11)."""
    s = subgaussian_parameter(net.init)
    if isinstance(s, NotApplicable):
        return s
    if net.gain != 1.0:
        return NotApplicable(
            f"H1: unit variance of sqrt(d) V's entries (gain={net.gain:g} "
            f"gives variance {net.gain**2:g})"
        )
    if net.model == "conv":
        return NotApplicable(
            "H1: i.i.d. entries of sqrt(d) V (a convolution's matrix repeats each kernel "
            "entry along the pixels)"
        )
    return None


def h1_mean_square_failure(net: Network) -> NotApplicable | None:
    """None if H1' holds: given the past, E V = 0 and E[V^T V] = I (rsim/THEORY.md section 11).

    H1 implies it, and for the dense branches it is equivalent to H1 here (an i.i.d. law at
    gain 1). A circular convolution with i.i.d. symmetric kernel entries of variance
    1/(C k^2) has it too: each input pixel meets each kernel entry exactly once. H1' is all
    that Lemma 1 and Propositions 2, 5 and 6 use."""
    if net.model != "conv":
        return h1_failure(net)
    if net.init not in schema.IID_LAWS:
        return NotApplicable(f"H1': kernels i.i.d. across layers (init={net.init!r} is not)")
    if net.gain != 1.0:
        return NotApplicable(f"H1': E[V^T V] = I (gain={net.gain:g} gives {net.gain**2:g} I)")
    return None


def h2_failure(net: Network) -> NotApplicable | None:
    """None if H2 holds: ||h||^2/2 <= E||g(h)||^2 <= ||h||^2 for all h (the C part follows).

    res-1 (g = sigma(h), deterministic): needs a|x| <= |sigma(x)| <= b|x| with a^2 >= 1/2,
    b <= 1: the identity, or leaky ReLU with 1/2 <= slope^2 <= 1. ReLU fails (h < 0 gives 0),
    tanh fails (bounded). res-2/res-3, mlp and conv (g = sigma(W_m ... sigma(W_1 h)), each W
    with i.i.d. symmetric entries or kernel entries): E||g(h)||^2 = kappa^m ||h||^2 with
    kappa = (1 + slope^2)/2 (ReLU kappa = 1/2, identity 1) and m hidden layers
    (rsim/THEORY.md section 11), inside [1/2, 1] iff slope^2 <= 1 and kappa^m >= 1/2: ReLU
    with m >= 2 fails the lower bound; needs W of unit variance (gain 1); tanh fails
    (E||tanh(W h)||^2 <= d while ||h||^2/2 is unbounded).
    """
    activation = net.branch_activation
    if activation == "tanh":
        return NotApplicable("H2: ||h||^2/2 <= E||g(h)||^2 fails for tanh (g is bounded)")
    if activation not in KAPPA_ACTIVATIONS:
        return NotApplicable(f"H2: unknown activation {activation!r}")
    if net.model == "res1":
        if activation == "relu":
            return NotApplicable("H2: ||h||^2/2 <= ||ReLU(h)||^2 fails for res-1 (h <= 0)")
        if activation == "leaky_relu" and not 0.5 <= net.negative_slope**2 <= 1:
            return NotApplicable(
                f"H2: 1/2 <= slope^2 <= 1 for res-1 leaky ReLU (slope={net.negative_slope:g})"
            )
        return None
    if net.model not in ("res2", "res3") + DEEP_BRANCHES:
        return NotApplicable(f"H2: unknown model {net.model!r}")
    if net.gain != 1.0:
        return NotApplicable(f"H2: W of unit variance (gain={net.gain:g})")
    if net.init not in schema.IID_LAWS:
        return NotApplicable(f"H2: W with i.i.d. entries (init={net.init!r})")
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


def depth_correlation(init: str, hurst: float | None, lags) -> np.ndarray | NotApplicable:
    """rho(k): the correlation of a weight entry between layers j and j + k, for the i.i.d.
    laws (rho = 1 at k = 0, else 0) and fbm (the unit fGn autocovariance)."""
    k = np.abs(np.asarray(lags, np.float64))
    if init in schema.IID_LAWS:
        return (k == 0).astype(np.float64)
    if init == "fbm":
        return spectra.fgn_autocovariance(hurst, k)
    return NotApplicable(f"a depth correlation in closed form (init={init!r})")


def _dual_kernel(model: str, activation: str):
    """K(rho) = E[u_j . u_k] / ||h_0||^2 for u = g's input to V (section 12), gain 1: res-1
    has u = sigma(h_0), the same at every layer (E ||ReLU(h_0)||^2 / ||h_0||^2 = 1/2 by the
    symmetry h_0 -> -h_0); res-2/res-3 have u = sigma(W h_0) with W_j h_0, W_k h_0 Gaussian
    of correlation rho: the arc-cosine kernel for ReLU, rho for the identity."""
    sigma = schema.branch_activation(model, activation)
    if model == "res1" and sigma in ("relu", "identity"):
        constant = 0.5 if sigma == "relu" else 1.0
        return lambda rho: np.full_like(rho, constant)
    if model in ("res2", "res3") and sigma == "relu":
        return lambda rho: (
            (np.sqrt(np.clip(1 - rho**2, 0, None)) + rho * (np.pi - np.arccos(np.clip(rho, -1, 1))))
            / (2 * np.pi)
        )
    if model in ("res2", "res3") and sigma == "identity":
        return lambda rho: rho
    return None


def linear_second_moment(
    model: str, activation: str, init: str, hurst: float | None, depth: int
) -> float | NotApplicable:
    """y(L) = lim_{alpha -> 0} E||h_L - h_0||^2 / (alpha^2 ||h_0||^2) (section 12), gain 1:
    the mean square of sum_k V_k g(h_0, theta_k), = sum_{j,k <= L} rho(k - j) K(rho(k - j)).

    Exact for res-1 (ReLU, identity) and res-2/res-3 (ReLU, identity) with i.i.d. or fbm
    weights, V independent of the rest: E[(V_j u_j) . (V_k u_k)] = rho(k - j) E[u_j . u_k].
    i.i.d. laws give y = L K(1) (K(1) = 1/2 for ReLU: E r_h^2 ~ alpha^2 L / 2).
    """
    kernel = _dual_kernel(model, activation)
    if kernel is None:
        return NotApplicable(f"a dual kernel in closed form for {model} with {activation}")
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
    """
    if init == "smooth":
        return 1.0
    if init not in schema.IID_LAWS + ("fbm",) or (init == "fbm" and hurst is None):
        return None
    h = float(hurst) if init == "fbm" else 0.5
    sigma = schema.branch_activation(model, activation)
    if (model == "res1" and sigma in ("relu", "identity")) or h == 0.5:
        return math.inf if model in ("res1", "res2", "res3") else None
    if model in ("res2", "res3") and sigma == "relu":
        return 1 - 2 * h if h < 0.5 else 2 * min(1 - h, h - 0.5)
    return None
