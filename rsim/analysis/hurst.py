"""The Hurst exponent of weight paths, by the second-order variogram (numpy only).

A weight entry V_k (k = 1..L) is read as the increments of a path X_k = V_1 + ... + V_k, as
rsim's fbm law builds it: V is fractional Gaussian noise with Hurst index H exactly when X is
fractional Brownian motion. The second-order increments of fBm have the variogram

    gamma2(m) = E (X_{k+2m} - 2 X_{k+m} + X_k)^2 = (4 - 2^{2H}) sigma^2 m^{2H}

for every k and lag m, so H is half the least-squares slope of log gamma2(m) against log m
(lags m = 1, 2, 4, ..., pooled over k and all entries). Second-order increments are blind to
a linear trend in X, i.e. to a constant offset of V_k: training shifts whole weight paths
(Figure 8), which would read as smoothness in the first-order variogram (m^2 offset^2) though
the path is as rough as before. i.i.d. weights give H = 1/2; weights smooth in k give
gamma2 ~ m^4, reported as the cap H = 1.
"""

from __future__ import annotations

import numpy as np


def _default_lags(depth: int) -> np.ndarray:
    """Lags 1, 2, 4, ... with 2m <= depth / 8 (at least m = 1, 2): short lags, where each
    variogram value averages many nearly independent windows."""
    top = max(2, depth // 16)
    return 2 ** np.arange(int(np.floor(np.log2(top))) + 1)


def second_order_variogram(increments: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """gamma2(m) = mean over k and entries of (X_{k+2m} - 2 X_{k+m} + X_k)^2, X the partial
    sums along axis 0 of ``increments``.

    Args:
        increments: the steps V_k, shape ``(L, ...)`` (every trailing entry one path).
        lags: the lags m, each with 2m < L.

    Returns:
        gamma2 at each lag, shape ``(len(lags),)``.

    Example:
        >>> import numpy as np
        >>> second_order_variogram(np.ones(8), [1, 2])  # a straight line: no curvature
        array([0., 0.])
        >>> second_order_variogram(np.array([1.0, -1.0, 1.0, -1.0]), [1])
        array([4.])
    """
    steps = np.asarray(increments, np.float64).reshape(len(increments), -1)
    partial = np.concatenate([np.zeros((1, steps.shape[1])), np.cumsum(steps, axis=0)])
    return np.array(
        [np.mean((partial[2 * m :] - 2 * partial[m:-m] + partial[: -2 * m]) ** 2) for m in lags]
    )


def hurst_exponent(increments: np.ndarray, lags: np.ndarray | None = None) -> float:
    """min(1, half the slope of log gamma2(m) against log m); NaN if a variogram value is not a
    positive finite number (a diverged or constant path).

    Args:
        increments: the steps V_k of the path(s), shape ``(L, ...)``.
        lags: the lags m (default: 1, 2, 4, ... with 2m <= L / 8, at least 1 and 2).

    Returns:
        The Hurst exponent estimate, in (-inf, 1], or NaN.

    Raises:
        ValueError: a path shorter than twice the largest lag.

    Example:
        >>> import numpy as np
        >>> steps = np.random.default_rng(0).standard_normal((256, 4))  # i.i.d.: H = 1/2
        >>> round(hurst_exponent(steps), 1)
        0.5
        >>> hurst_exponent(np.ones(64))  # constant steps: a straight line, gamma2 = 0
        nan
    """
    increments = np.asarray(increments)
    lags = _default_lags(len(increments)) if lags is None else np.asarray(lags)
    if len(increments) < 2 * lags.max():
        raise ValueError(f"a path of {len(increments)} steps is too short for lag {lags.max()}")
    gamma = second_order_variogram(increments, lags)
    if not np.all(np.isfinite(gamma) & (gamma > 0)):
        return float("nan")
    slope = np.polyfit(np.log(lags), np.log(gamma), 1)[0]
    return float(min(1.0, slope / 2))
