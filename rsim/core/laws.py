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


def rbf_spectrum(lengthscale: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies w_m = m * dw and weights a_m of the trapezoid rule for the RBF kernel:

        k_M(tau) = sum_m a_m cos(w_m tau)  ~  exp(-tau^2 / (2 l^2)) = int S(w) cos(w tau) dw,

    with S the N(0, 1/l^2) density, a_0 = dw S(0), a_m = 2 dw S(w_m). By Poisson summation
    k_M(tau) = sum_j k(tau + j P) with period P = 2 pi / dw: choosing P = 1 + 9 l puts the
    first alias at distance 9 l from any |tau| <= 1 (error exp(-40.5)), and stopping at
    w = 9 / l drops spectral mass below exp(-40.5). The weights are normalised to sum to 1
    so the process has unit variance exactly. l = 0.1 needs 29 frequencies (57 features).
    """
    if not lengthscale > 0:
        raise ValueError(f"lengthscale must be > 0, got {lengthscale}")
    dw = 2 * math.pi / (1 + 9 * lengthscale)
    w = dw * np.arange(math.ceil(9 / lengthscale / dw) + 1)
    density = lengthscale / math.sqrt(2 * math.pi) * np.exp(-((w * lengthscale) ** 2) / 2)
    a = dw * density * np.where(w == 0, 1.0, 2.0)
    return w, a / a.sum()


def rbf_kernel_produced(lengthscale: float, tau) -> np.ndarray:
    """The covariance k_M(tau) that :func:`smooth_at` actually produces."""
    w, a = rbf_spectrum(lengthscale)
    return np.cos(np.multiply.outer(np.asarray(tau, float), w)) @ a


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


def fgn_autocovariance(hurst: float, lags) -> np.ndarray:
    """gamma(k) = (|k-1|^{2H} - 2|k|^{2H} + |k+1|^{2H}) / 2, the covariance of unit fGn.

    Computed in float64 NumPy: in float32 the second difference of k^{2H} loses every digit
    at k ~ 1000 (H = 0.97 gave circulant eigenvalues of -2)."""
    k = np.abs(np.asarray(lags, np.float64))
    two_h = 2 * float(hurst)
    return 0.5 * (np.abs(k - 1) ** two_h - 2 * k**two_h + (k + 1) ** two_h)


def fgn_scale(hurst: float, n: int) -> np.ndarray:
    """sqrt(lambda / 2n) for the circulant embedding of fGn of length n (Davies-Harte).

    The circulant of size 2n whose first row is gamma(0..n), gamma(n-1..1) has nonnegative
    eigenvalues lambda for fGn (rounding makes some -1e-13: clipped at 0). This vector is
    all a kernel needs to know of H, so it is computed here in float64 and passed traced:
    a sweep over H compiles once.
    """
    lags = np.concatenate([np.arange(n + 1), np.arange(n - 1, 0, -1)])
    eigenvalues = np.fft.fft(fgn_autocovariance(hurst, lags)).real
    return np.sqrt(np.maximum(eigenvalues, 0) / (2 * n))


def fgn(key, n: int, count: int, scale, dtype):
    """``count`` independent unit-variance fGn paths of length ``n``: ``(n, count)``.

    With complex Gaussian eps, the real and the imaginary parts of FFT(scale * eps)[:n] are
    two independent exact samples (``scale`` from :func:`fgn_scale`).
    """
    pairs = (count + 1) // 2
    eps = jax.random.normal(key, (2, pairs, 2 * n), dtype)
    y = jnp.fft.fft(jnp.asarray(scale, dtype) * (eps[0] + 1j * eps[1]), axis=-1)[:, :n]
    return jnp.concatenate([y.real, y.imag])[:count].T.astype(dtype)


# --- fbm_official: the paper authors' generator, defects included --------------------------------


def fgn_official_scale(hurst: float, n: int) -> np.ndarray:
    """The complex roots c_0..c_{2n-1} of the official generator (scaling-resnets, utils.py,
    ``generate_fbm``) as a real ``(2, 2n)`` array: real parts, imaginary parts.

    That generator embeds gamma(0..n-1) in a circulant of size 2n whose first row has 0 at
    position n (not gamma(n)): r = gamma(0..n-1), 0, gamma(n-1..1). Its eigenvalues lambda_j
    are computed as the FFT of r_j exp(2 pi i (2n-1) j / 2n), read backwards: in exact
    arithmetic the DFT of r, real, but here complex numbers with rounding-level imaginary
    parts. With the 0 at position n the circulant is not positive semi-definite for H near 1
    (55 negative eigenvalues at n = 1000, H = 0.9; 913 at H = 0.97), and the complex square
    root of a negative lambda_j is (nearly) imaginary with the sign of the rounding error
    of its imaginary part. The roots are c_0 = c_n = sqrt(lambda_0 / 2n) (lambda_0 is used
    at frequency n too) and c_j = sqrt(lambda_j / 4n) for the other j. Every step is done
    with the same float64 NumPy operations in the same order as the generator, so these
    rounding-determined signs are the generator's (on the same NumPy). Passed traced, so a
    sweep over H compiles once.
    """
    two_h = 2 * float(hurst)

    def gamma(k: int) -> float:  # NumPy scalar powers of integers, as the generator's
        return 0.5 * (
            np.abs(np.int64(k) - 1) ** two_h
            - 2 * np.abs(np.int64(k)) ** two_h
            + np.abs(np.int64(k) + 1) ** two_h
        )

    head = [gamma(k) for k in range(n)]
    first_row = np.array(head + [0.0] + head[::-1][: n - 1])
    twist = np.exp(2 * np.pi * complex(0, 1) * (2 * n - 1) * np.arange(2 * n) * (1 / (2 * n)))
    eigenvalues = np.fft.fft(first_row * twist)[::-1]
    roots = np.empty(2 * n, complex)
    roots[0] = roots[n] = np.sqrt(eigenvalues[0] / (2 * n))
    roots[1:n] = np.sqrt(eigenvalues[1:n] / (4 * n))
    roots[n + 1 :] = np.sqrt(eigenvalues[n + 1 :] / (4 * n))
    return np.stack([roots.real, roots.imag])


def fgn_official_from_normals(normals, scale):
    """The official generator's sequences from given standard normals: ``(n, count)``.

    ``normals`` is ``(count, 2, n)``: row 0 holds V_0, a_1..a_{n-1}, row 1 V_n, b_1..b_{n-1}.
    The generator's vector of length 2n is w_0 = c_0 V_0, w_n = c_n V_n,
    w_j = c_j (a_j + i b_j) and w_{2n-j} = c_{2n-j} (a_j - i b_j) for 0 < j < n (``scale``
    from :func:`fgn_official_scale`); the sequence is the real part of FFT(w)[:n] (the
    imaginary part is dropped, as the official model's torch.Tensor(...) does).
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


def hurst_scale(law: str, hurst: float, n: int) -> np.ndarray:
    """The traced array a law with a Hurst index needs at length ``n`` (host, float64)."""
    if law == "fbm":
        return fgn_scale(hurst, n)
    if law == "fbm_official":
        return fgn_official_scale(hurst, n)
    raise ValueError(f"{law!r} has no Hurst index")


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
    :func:`fgn_official_scale`).
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
