"""Weight laws as records: one :class:`Law` per law, registered once in :data:`LAWS`.

Every entry has variance ``variance * gain^2 / fan_in`` (``variance`` = 1 for the laws below).
A record carries what is known about its law: how to draw it, its family, its parameters and
their checks, the constants the theory report uses (rsim/THEORY.md section 2), whether the
projection sampler is exact for it, why it cannot be truncated to a shorter depth, and its
memory footprint per draw. Every consumer (schema's choices, validation, the engine, the
memory estimate, :mod:`rsim.analysis.theory`) reads these fields; adding an i.i.d. law is one
:func:`register_law` call.

i.i.d. (drawn layer by layer with :func:`draw`):
* gaussian   N(0, gain^2 / fan_in)
* uniform    U[-sqrt(3), sqrt(3)] * gain / sqrt(fan_in)   (the official code's default)
* rademacher +-1 * gain / sqrt(fan_in)
All three are symmetric with unit-variance, sub-Gaussian entries of sqrt(fan_in) W / gain (H1).

Correlated along the layer index (a whole path per entry, with :func:`path`):
* smooth  every entry is an independent stationary Gaussian process in t = k / L with the
          RBF kernel exp(-(s - t)^2 / (2 l^2)), written as a random Fourier series with fixed
          frequencies (:func:`rbf_spectrum`), so one realisation is a function of t in [0, 1]
          that serves every depth and an ODE solver (:func:`smooth_coefficients`,
          :func:`smooth_at`).
* fbm     every entry is unit-variance fractional Gaussian noise in k with Hurst index H,
          exact covariance by circulant embedding (Davies-Harte, :func:`fgn`), not rescaled
          by L^-H (as the official code). H = 1/2 is i.i.d. Gaussian.
* fbm_official  the law of the paper authors' own fGn generator, its defects included
          (:func:`fgn_official`): not fGn; kept to reproduce the published figures.
The readin A and readout B of these laws are i.i.d. Gaussian (the marginal law of an entry).

jax is imported inside the samplers only, so the records load without it (the specs, the
schema and :mod:`rsim.analysis` read them and never start jax).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rsim.core import spectra

if TYPE_CHECKING:
    import jax

IID, CORRELATED = "iid", "correlated"
# E G^(2k), k = 1..4, for G ~ N(0, 1): (2k - 1)!!.
GAUSSIAN_EVEN_MOMENTS = (1.0, 3.0, 15.0, 105.0)

# A unit sampler: (key, shape, dtype) -> entries of variance 1.
UnitSampler = Callable[["jax.Array", tuple[int, ...], Any], "jax.Array"]


@dataclass(frozen=True)
class Parameter:
    """A law's parameter: the spec option ``name`` and the values it allows."""

    name: str  # the option of the spec: "hurst", "lengthscale"
    allowed: str  # the rule in words, after "it must be"
    holds: Callable[[float], bool]

    def failure(self, value: float) -> str | None:
        """The one-line refusal of ``value`` (a finite number), or None if it is allowed.

        Args:
            value: the option's value.

        Returns:
            ``"<name>=<value> is not allowed; it must be <allowed>"`` or None.

        >>> LAWS["fbm"].parameters[0].failure(1.5)
        'hurst=1.5 is not allowed; it must be in (0, 1)'
        """
        if self.holds(value):
            return None
        return f"{self.name}={value!r} is not allowed; it must be {self.allowed}"


@dataclass(frozen=True)
class Law:
    """Everything rsim knows about one weight law.

    Entries of an i.i.d. law are ``unit(key, shape, dtype) * sqrt(variance) * gain /
    sqrt(fan_in)``. The theory constants describe a *unit* entry X (variance 1): ``X`` is
    sqrt(fan_in) W / (gain sqrt(variance)).
    """

    name: str
    label: str  # what tables and figures call it (rsim.labels.law_label adds its parameter)
    family: str  # IID | CORRELATED
    # Unit-variance entries; for a correlated law its (Gaussian) marginal, used for A and B.
    unit: UnitSampler
    # The theory constants have no defaults: a new law states its own (the report would
    # otherwise judge it with another law's). s with E exp(lambda X) <= exp(lambda^2 s^2 / 2)
    # for a unit entry X; None if X is not sub-Gaussian or the law not i.i.d. (H1 fails).
    subgaussian: float | None
    # E X^(2k), k = 1..4, of a unit entry (math.inf where infinite; a correlated law: its
    # marginal's).
    even_moments: tuple[float, float, float, float]
    # Entry variance in units of gain^2 / fan_in (H1 and H2 need gain^2 variance = 1).
    variance: float = 1.0
    symmetric: bool = True
    # Correlated laws: the weights of layers 1..L at once, (key, depth, shape, fan_in, gain,
    # dtype, *, fgn_scale, lengthscale, stream_depth) -> (depth, *shape).
    path: Callable[..., Any] | None = None
    parameters: tuple[Parameter, ...] = ()
    # Laws with a Hurst index: the host array (hurst, n) -> scale their path builder takes
    # (traced, so a sweep over H compiles once).
    path_scale: Callable[[float, int], np.ndarray] | None = None
    # rho(k) = corr(W_j, W_{j+k}) of an entry along the depth, (hurst, lags) -> array, for a
    # correlated law where known in closed form (see :attr:`correlation`).
    depth_correlation: Callable[[float | None, np.ndarray], np.ndarray] | None = None
    # Why the first L layers of a deeper network's streams do not have the law at depth L
    # (``coupled_depth``), or None if they do.
    not_truncatable: str | None = None
    # One realisation serves every depth (a function of t = k / L): the cell's key does not
    # fold in the depth, so sample i at depths 10 and 1000 discretise the same path.
    shared_across_depths: bool = False
    # The projection sampler draws each matrix's action as that of an i.i.d. Gaussian matrix:
    # exact in law for this law?
    projection_exact: bool = False
    # Memory (rsim.core.memory): numbers held per drawn entry (its value, its random bits and
    # the temporaries of the transform), and for correlated laws the numbers per weight entry
    # to build a path of the given stream depth, (stream_depth, lengthscale) -> numbers.
    draw_copies: int = 4
    path_numbers: Callable[[int, float | None], int] | None = None

    def __post_init__(self) -> None:
        if self.family not in (IID, CORRELATED):
            raise ValueError(f"law {self.name!r}: family must be {IID!r} or {CORRELATED!r}")
        if (self.family == CORRELATED) != (self.path is not None):
            raise ValueError(f"law {self.name!r}: correlated laws and only they need a path")
        if not self.variance > 0 or len(self.even_moments) != 4:
            raise ValueError(f"law {self.name!r}: variance > 0 and four even moments needed")

    @property
    def iid(self) -> bool:
        """True for a law i.i.d. across layers and entries."""
        return self.family == IID

    @property
    def correlation(self) -> Callable[[float | None, np.ndarray], np.ndarray] | None:
        """rho(k) along the depth: :func:`iid_correlation` for an i.i.d. law, else the
        record's ``depth_correlation`` (None where not known in closed form)."""
        return iid_correlation if self.iid else self.depth_correlation

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The spec options this law reads (``("hurst",)``, ``("lengthscale",)`` or ``()``)."""
        return tuple(p.name for p in self.parameters)

    @property
    def has_hurst(self) -> bool:
        """True if the law has a Hurst index H."""
        return "hurst" in self.parameter_names

    @property
    def moments_at_most_gaussian(self) -> bool:
        """E X^(2k) <= (2k - 1)!! for k = 1..4: the Gaussian-certified moment bounds apply."""
        return all(m <= g * (1 + 1e-12) for m, g in zip(self.even_moments, GAUSSIAN_EVEN_MOMENTS))

    def scale(self, fan_in: int, gain: float) -> float:
        """The factor of a unit entry: sqrt(variance) gain / sqrt(fan_in).

        Args:
            fan_in: terms summed by each output of the weight array.
            gain: the cell's gain.

        Returns:
            The standard deviation of an entry.

        >>> LAWS["uniform"].scale(4, 3.0)
        1.5
        """
        return gain * math.sqrt(self.variance) / math.sqrt(fan_in)


LAWS: dict[str, Law] = {}


def register_law(record: Law) -> Law:
    """Add ``record`` to :data:`LAWS` (a new name only).

    Args:
        record: the law.

    Returns:
        ``record``, so a module can write ``MY_LAW = register_law(Law(...))``.

    Raises:
        ValueError: if a law of that name is registered already.

    >>> register_law(LAWS["gaussian"])
    Traceback (most recent call last):
    ...
    ValueError: weight law 'gaussian' is registered already
    """
    if record.name in LAWS:
        raise ValueError(f"weight law {record.name!r} is registered already")
    LAWS[record.name] = record
    return record


def law(name: str) -> Law:
    """The record of the law ``name``.

    Args:
        name: a key of :data:`LAWS`.

    Returns:
        Its :class:`Law`.

    Raises:
        ValueError: one line naming the choices, for an unknown name.

    >>> law("rademacher").subgaussian
    1.0
    >>> law("cauchy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown weight law 'cauchy'; choose one of gaussian, uniform, rademacher, ...
    """
    try:
        return LAWS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown weight law {name!r}; choose one of {', '.join(LAWS)}") from None


def names(family: str | None = None) -> tuple[str, ...]:
    """The registered laws' names, of one family if given, in registration order.

    Args:
        family: ``"iid"``, ``"correlated"`` or None for all.

    Returns:
        The names.

    >>> names("correlated")
    ('smooth', 'fbm', 'fbm_official')
    """
    return tuple(n for n, r in LAWS.items() if family is None or r.family == family)


def draw(
    name: str, key: jax.Array, shape: tuple[int, ...], fan_in: int, gain: float, dtype: Any
) -> jax.Array:
    """Draw an array of i.i.d. entries of law ``name`` with variance ``variance gain^2 / fan_in``.

    Correlated laws draw their (Gaussian) marginal: this is how A and B are drawn for them.

    Args:
        name: the law.
        key: a PRNG key.
        shape: the array's shape.
        fan_in: terms summed by each output (the variance is per 1 / fan_in).
        gain: the cell's gain.
        dtype: the float type.

    Returns:
        An array of ``shape``.

    >>> import jax, jax.numpy as jnp
    >>> w = draw("rademacher", jax.random.PRNGKey(0), (3,), 4, 1.0, jnp.float32)
    >>> sorted({abs(float(x)) for x in w})
    [0.5]
    """
    import jax.numpy as jnp

    record = law(name)
    return record.unit(key, shape, dtype) * jnp.asarray(record.scale(fan_in, gain), dtype)


def path(
    name: str,
    key: jax.Array,
    depth: int,
    shape: tuple[int, ...],
    fan_in: int,
    gain: float,
    dtype: Any,
    **options: Any,
) -> jax.Array:
    """The weights of layers k = 1..L of a correlated law at once: ``(depth, *shape)``.

    smooth: W_k = W(k / L) of one realisation; fbm: fGn in k scaled by gain / sqrt(fan_in),
    the first L entries of a path of length ``stream_depth`` (default L; ``fgn_scale`` of H
    and that length): a stationary path's first L entries are fGn of length L; fbm_official:
    the official generator's sequences of length L (``fgn_scale`` is then
    :func:`rsim.core.spectra.fgn_official_scale`).

    Args:
        name: a correlated law.
        key, depth, shape, fan_in, gain, dtype: as :func:`draw`, for ``depth`` layers.
        **options: ``fgn_scale``, ``lengthscale``, ``stream_depth`` (each law reads its own).

    Returns:
        An array ``(depth, *shape)``.
    """
    record = law(name)
    if record.path is None:
        raise ValueError(f"{name!r} is not a correlated law")
    return record.path(key, depth, shape, fan_in, gain, dtype, **options)


# --- the i.i.d. laws' unit samplers -------------------------------------------------------------


def gaussian_unit(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """N(0, 1) entries."""
    import jax

    return jax.random.normal(key, shape, dtype)


def uniform_unit(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """U[-sqrt(3), sqrt(3)] entries (variance 1)."""
    import jax

    return jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))


def rademacher_unit(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """+-1 entries with probability 1/2 each."""
    import jax

    return jax.random.rademacher(key, shape, dtype)


def iid_correlation(hurst: float | None, lags: np.ndarray) -> np.ndarray:
    """rho(k) of an i.i.d. law: 1 at lag 0, else 0 (``hurst`` is ignored)."""
    return (np.abs(np.asarray(lags)) == 0).astype(np.float64)


# --- smooth: a Gaussian process with the RBF kernel as a Fourier series -----------------------


def smooth_coefficients(
    key: jax.Array,
    shape: tuple[int, ...],
    fan_in: int,
    gain: float,
    lengthscale: float,
    dtype: Any,
) -> jax.Array:
    """One realisation of the smooth law: Gaussian coefficients ``(2, M, *shape)``
    (cosine and sine parts of each of the M frequencies), scaled to variance gain^2/fan_in."""
    n_freq = spectra.rbf_spectrum(lengthscale)[0].size
    return draw("gaussian", key, (2, n_freq, *shape), fan_in, gain, dtype)


def smooth_at(coefficients: jax.Array, t: Any, lengthscale: float) -> jax.Array:
    """Evaluate a smooth realisation at times ``t`` (any shape): ``(*t.shape, *shape)``.

    W(t) = sum_m sqrt(a_m) (xi_m cos(w_m t) + eta_m sin(w_m t)): Gaussian, stationary, with
    covariance (gain^2/fan_in) k_M(s - t) per entry, entries independent.
    """
    import jax.numpy as jnp

    w, a = spectra.rbf_spectrum(lengthscale)
    dtype = coefficients.dtype
    phase = jnp.asarray(t, dtype)[..., None] * jnp.asarray(w, dtype)
    root_a = jnp.asarray(np.sqrt(a), dtype)
    features = jnp.concatenate([root_a * jnp.cos(phase), root_a * jnp.sin(phase)], axis=-1)
    flat = coefficients.reshape(2 * w.size, -1)
    return (features @ flat).reshape(*jnp.shape(t), *coefficients.shape[2:])


def _smooth_path(
    key: jax.Array,
    depth: int,
    shape: tuple[int, ...],
    fan_in: int,
    gain: float,
    dtype: Any,
    *,
    lengthscale: float | None = None,
    **_: Any,
) -> jax.Array:
    """W_k = W(k / L), k = 1..L, of one smooth realisation."""
    import jax.numpy as jnp

    coefficients = smooth_coefficients(key, shape, fan_in, gain, lengthscale, dtype)
    return smooth_at(coefficients, jnp.arange(1, depth + 1) / depth, lengthscale)


def _smooth_numbers(stream_depth: int, lengthscale: float | None) -> int:
    """The path and its Fourier coefficients: 2 (L + 2 n_freq) numbers per weight entry."""
    return 2 * (stream_depth + 2 * spectra.rbf_spectrum(lengthscale)[0].size)


# --- fbm: fractional Gaussian noise by circulant embedding ------------------------------------


def fgn(key: jax.Array, n: int, count: int, scale: Any, dtype: Any) -> jax.Array:
    """``count`` independent unit-variance fGn paths of length ``n``: ``(n, count)``.

    With complex Gaussian eps, the real and the imaginary parts of FFT(scale * eps)[:n] are
    two independent exact samples (``scale`` from :func:`rsim.core.spectra.fgn_scale`).
    """
    import jax
    import jax.numpy as jnp

    pairs = (count + 1) // 2
    eps = jax.random.normal(key, (2, pairs, 2 * n), dtype)
    y = jnp.fft.fft(jnp.asarray(scale, dtype) * (eps[0] + 1j * eps[1]), axis=-1)[:, :n]
    return jnp.concatenate([y.real, y.imag])[:count].T.astype(dtype)


def _fbm_path(
    key: jax.Array,
    depth: int,
    shape: tuple[int, ...],
    fan_in: int,
    gain: float,
    dtype: Any,
    *,
    fgn_scale: Any = None,
    stream_depth: int | None = None,
    **_: Any,
) -> jax.Array:
    """The first L entries of fGn paths of length ``stream_depth`` (default L)."""
    import jax.numpy as jnp

    noise = fgn(key, stream_depth or depth, math.prod(shape), fgn_scale, dtype)[:depth]
    return noise.reshape(depth, *shape) * jnp.asarray(gain / math.sqrt(fan_in), dtype)


def _fgn_numbers(stream_depth: int, lengthscale: float | None) -> int:
    """The path and its circulant FFT: 4 L numbers per weight entry (measured for fbm)."""
    return 4 * stream_depth


# --- fbm_official: the paper authors' generator, defects included --------------------------------


def fgn_official_from_normals(normals: jax.Array, scale: Any) -> jax.Array:
    """The official generator's sequences from given standard normals: ``(n, count)``.

    ``normals`` is ``(count, 2, n)``: row 0 holds V_0, a_1..a_{n-1}, row 1 V_n, b_1..b_{n-1}.
    The generator's vector of length 2n is w_0 = c_0 V_0, w_n = c_n V_n,
    w_j = c_j (a_j + i b_j) and w_{2n-j} = c_{2n-j} (a_j - i b_j) for 0 < j < n (``scale``
    from :func:`rsim.core.spectra.fgn_official_scale`); the sequence is the real part of
    FFT(w)[:n] (the imaginary part is dropped, as the official model's torch.Tensor(...) does).
    """
    import jax.numpy as jnp

    a, b = normals[:, 0], normals[:, 1]
    zero = jnp.zeros_like(a[:, :1])
    u_real = jnp.concatenate([a, b[:, :1], a[:, :0:-1]], axis=-1)
    u_imag = jnp.concatenate([zero, b[:, 1:], zero, -b[:, :0:-1]], axis=-1)
    c_real, c_imag = scale[0], scale[1]
    w = (c_real * u_real - c_imag * u_imag) + 1j * (c_real * u_imag + c_imag * u_real)
    n = normals.shape[-1]
    return jnp.fft.fft(w, axis=-1)[:, :n].real.T.astype(normals.dtype)


def fgn_official(key: jax.Array, n: int, count: int, scale: Any, dtype: Any) -> jax.Array:
    """``count`` independent sequences of length ``n`` of the official generator's law:
    ``(n, count)`` (:func:`fgn_official_from_normals` of normals drawn from ``key``)."""
    import jax
    import jax.numpy as jnp

    normals = jax.random.normal(key, (count, 2, n), dtype)
    return fgn_official_from_normals(normals, jnp.asarray(scale, dtype))


def _fbm_official_path(
    key: jax.Array,
    depth: int,
    shape: tuple[int, ...],
    fan_in: int,
    gain: float,
    dtype: Any,
    *,
    fgn_scale: Any = None,
    **_: Any,
) -> jax.Array:
    """The official generator's sequences of length L."""
    import jax.numpy as jnp

    noise = fgn_official(key, depth, math.prod(shape), fgn_scale, dtype)
    return noise.reshape(depth, *shape) * jnp.asarray(gain / math.sqrt(fan_in), dtype)


# --- the registry -------------------------------------------------------------------------------

HURST = Parameter("hurst", "in (0, 1)", lambda h: 0 < h < 1)
LENGTHSCALE = Parameter(
    "lengthscale",
    ">= 0.01 (the Fourier series needs about 4 / lengthscale terms)",
    lambda scale: scale >= 0.01,
)

# s = 1 is the best constant for each i.i.d. law below (unit variance forces s >= 1):
# gaussian: E exp(lambda X) = exp(lambda^2 / 2); rademacher: cosh(lambda) <= exp(lambda^2 / 2)
# since (2k)! >= 2^k k!; uniform on [-sqrt 3, sqrt 3]: sinh(a lambda)/(a lambda) <=
# exp(a^2 lambda^2 / 6) since (2k+1)! >= 6^k k!, = exp(lambda^2 / 2) at a = sqrt 3.
register_law(
    Law(
        "gaussian",
        "gaussian",
        IID,
        gaussian_unit,
        subgaussian=1.0,
        even_moments=GAUSSIAN_EVEN_MOMENTS,
        projection_exact=True,
    )
)
register_law(
    Law(
        "uniform",
        "uniform",
        IID,
        uniform_unit,
        subgaussian=1.0,
        even_moments=(1.0, 9 / 5, 27 / 7, 9.0),  # 3^k / (2k + 1)
        draw_copies=2,
    )
)
register_law(
    Law(
        "rademacher",
        "rademacher",
        IID,
        rademacher_unit,
        subgaussian=1.0,
        even_moments=(1.0, 1.0, 1.0, 1.0),
        draw_copies=2,
    )
)
# Correlated laws: not i.i.d., so no sub-Gaussian constant of H1; a Gaussian marginal.
register_law(
    Law(
        "smooth",
        "smooth",
        CORRELATED,
        gaussian_unit,
        subgaussian=None,
        even_moments=GAUSSIAN_EVEN_MOMENTS,
        path=_smooth_path,
        parameters=(LENGTHSCALE,),
        not_truncatable="its realisation is a function of t = k / L shared by every depth already",
        shared_across_depths=True,
        path_numbers=_smooth_numbers,
    )
)
register_law(
    Law(
        "fbm",
        "fbm",
        CORRELATED,
        gaussian_unit,
        subgaussian=None,
        even_moments=GAUSSIAN_EVEN_MOMENTS,
        path=_fbm_path,
        parameters=(HURST,),
        path_scale=spectra.fgn_scale,
        depth_correlation=spectra.fgn_autocovariance,
        path_numbers=_fgn_numbers,
    )
)
register_law(
    Law(
        "fbm_official",
        "fbm_official",
        CORRELATED,
        gaussian_unit,
        subgaussian=None,
        even_moments=GAUSSIAN_EVEN_MOMENTS,
        path=_fbm_official_path,
        parameters=(HURST,),
        path_scale=spectra.fgn_official_scale,
        not_truncatable="the official generator's law depends on the path length, so the first "
        "L entries of a longer path do not have its law at length L",
        path_numbers=_fgn_numbers,
    )
)
