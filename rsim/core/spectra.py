"""The float64 NumPy side of the correlated weight laws (rsim.core.laws): their covariances,
and the spectra the samplers scale Gaussian noise by. No jax: rsim.analysis uses it too.

* smooth: the random Fourier features of the RBF kernel (:func:`rbf_spectrum`) and the
  covariance they produce (:func:`rbf_kernel_produced`);
* fbm: the autocovariance of unit fractional Gaussian noise (:func:`fgn_autocovariance`)
  and its circulant embedding's scale (:func:`fgn_scale`);
* fbm_official: the paper authors' generator's complex roots (:func:`fgn_official_scale`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


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


def rbf_kernel_produced(lengthscale: float, tau: ArrayLike) -> np.ndarray:
    """The covariance k_M(tau) that :func:`smooth_at` actually produces."""
    w, a = rbf_spectrum(lengthscale)
    return np.cos(np.multiply.outer(np.asarray(tau, float), w)) @ a


def fgn_autocovariance(hurst: float, lags: ArrayLike) -> np.ndarray:
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
