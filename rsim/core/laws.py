"""Weight laws: i.i.d. draws per layer, and laws correlated along the depth.

Every entry has variance gain^2 / fan_in.

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
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from rsim.core.spectra import rbf_spectrum
from rsim.schema import CORRELATED_LAWS


def draw(law: str, key: jax.Array, shape: tuple[int, ...], fan_in: int, gain: float, dtype):
    """Draw an array of i.i.d. entries of ``law`` with variance ``gain**2 / fan_in``.

    Correlated laws draw their (Gaussian) marginal: this is how A and B are drawn for them.
    """
    scale = gain / math.sqrt(fan_in)
    if law in ("gaussian",) + CORRELATED_LAWS:
        unit = jax.random.normal(key, shape, dtype)
    elif law == "uniform":
        unit = jax.random.uniform(key, shape, dtype, -math.sqrt(3.0), math.sqrt(3.0))
    elif law == "rademacher":
        unit = jax.random.rademacher(key, shape, dtype)
    else:
        raise ValueError(f"unknown weight law {law!r}")
    return unit * jnp.asarray(scale, dtype)


# --- smooth: a Gaussian process with the RBF kernel as a Fourier series -----------------------


def smooth_coefficients(key, shape, fan_in: int, gain: float, lengthscale: float, dtype):
    """One realisation of the smooth law: Gaussian coefficients ``(2, M, *shape)``
    (cosine and sine parts of each of the M frequencies), scaled to variance gain^2/fan_in."""
    n_freq = rbf_spectrum(lengthscale)[0].size
    return draw("gaussian", key, (2, n_freq, *shape), fan_in, gain, dtype)


def smooth_at(coefficients, t, lengthscale: float):
    """Evaluate a smooth realisation at times ``t`` (any shape): ``(*t.shape, *shape)``.

    W(t) = sum_m sqrt(a_m) (xi_m cos(w_m t) + eta_m sin(w_m t)): Gaussian, stationary, with
    covariance (gain^2/fan_in) k_M(s - t) per entry, entries independent.
    """
    w, a = rbf_spectrum(lengthscale)
    dtype = coefficients.dtype
    phase = jnp.asarray(t, dtype)[..., None] * jnp.asarray(w, dtype)
    root_a = jnp.asarray(np.sqrt(a), dtype)
    features = jnp.concatenate([root_a * jnp.cos(phase), root_a * jnp.sin(phase)], axis=-1)
    flat = coefficients.reshape(2 * w.size, -1)
    return (features @ flat).reshape(*jnp.shape(t), *coefficients.shape[2:])


# --- fbm: fractional Gaussian noise by circulant embedding ------------------------------------


def fgn(key, n: int, count: int, scale, dtype):
    """``count`` independent unit-variance fGn paths of length ``n``: ``(n, count)``.

    With complex Gaussian eps, the real and the imaginary parts of FFT(scale * eps)[:n] are
    two independent exact samples (``scale`` from :func:`rsim.core.spectra.fgn_scale`).
    """
    pairs = (count + 1) // 2
    eps = jax.random.normal(key, (2, pairs, 2 * n), dtype)
    y = jnp.fft.fft(jnp.asarray(scale, dtype) * (eps[0] + 1j * eps[1]), axis=-1)[:, :n]
    return jnp.concatenate([y.real, y.imag])[:count].T.astype(dtype)


# --- fbm_official: the paper authors' generator, defects included --------------------------------


def fgn_official_from_normals(normals, scale):
    """The official generator's sequences from given standard normals: ``(n, count)``.

    ``normals`` is ``(count, 2, n)``: row 0 holds V_0, a_1..a_{n-1}, row 1 V_n, b_1..b_{n-1}.
    The generator's vector of length 2n is w_0 = c_0 V_0, w_n = c_n V_n,
    w_j = c_j (a_j + i b_j) and w_{2n-j} = c_{2n-j} (a_j - i b_j) for 0 < j < n (``scale``
    from :func:`rsim.core.spectra.fgn_official_scale`); the sequence is the real part of
    FFT(w)[:n] (the imaginary part is dropped, as the official model's torch.Tensor(...) does).
    """
    a, b = normals[:, 0], normals[:, 1]
    zero = jnp.zeros_like(a[:, :1])
    u_real = jnp.concatenate([a, b[:, :1], a[:, :0:-1]], axis=-1)
    u_imag = jnp.concatenate([zero, b[:, 1:], zero, -b[:, :0:-1]], axis=-1)
    c_real, c_imag = scale[0], scale[1]
    w = (c_real * u_real - c_imag * u_imag) + 1j * (c_real * u_imag + c_imag * u_real)
    n = normals.shape[-1]
    return jnp.fft.fft(w, axis=-1)[:, :n].real.T.astype(normals.dtype)


def fgn_official(key, n: int, count: int, scale, dtype):
    """``count`` independent sequences of length ``n`` of the official generator's law:
    ``(n, count)`` (:func:`fgn_official_from_normals` of normals drawn from ``key``)."""
    normals = jax.random.normal(key, (count, 2, n), dtype)
    return fgn_official_from_normals(normals, jnp.asarray(scale, dtype))


def path(
    law: str,
    key,
    depth: int,
    shape,
    fan_in: int,
    gain: float,
    dtype,
    *,
    fgn_scale=None,
    lengthscale: float | None = None,
    stream_depth: int | None = None,
):
    """The weights of layers k = 1..L of a correlated law at once: ``(depth, *shape)``.

    smooth: W_k = W(k / L) of one realisation; fbm: fGn in k scaled by gain / sqrt(fan_in),
    the first L entries of a path of length ``stream_depth`` (default L; ``fgn_scale`` of H
    and that length): a stationary path's first L entries are fGn of length L; fbm_official:
    the official generator's sequences of length L (``fgn_scale`` is then
    :func:`rsim.core.spectra.fgn_official_scale`).
    """
    if law == "smooth":
        coefficients = smooth_coefficients(key, shape, fan_in, gain, lengthscale, dtype)
        return smooth_at(coefficients, jnp.arange(1, depth + 1) / depth, lengthscale)
    if law == "fbm":
        noise = fgn(key, stream_depth or depth, math.prod(shape), fgn_scale, dtype)[:depth]
        return noise.reshape(depth, *shape) * jnp.asarray(gain / math.sqrt(fan_in), dtype)
    if law == "fbm_official":
        noise = fgn_official(key, depth, math.prod(shape), fgn_scale, dtype)
        return noise.reshape(depth, *shape) * jnp.asarray(gain / math.sqrt(fan_in), dtype)
    raise ValueError(f"{law!r} is not a correlated law")
