"""Exact expectations of THEORY.md section 4, used as oracles by tests and sweep summaries."""

from __future__ import annotations

import numpy as np


def second_moment_factor(model: str, activation: str, negative_slope: float, gain: float):
    """c with E||V g(h)||^2 = c ||h||^2 exactly for symmetric i.i.d. weights, or None.

    V has variance gain^2/d and is independent of h, so E||V u||^2 = gain^2 E||u||^2. In
    res-2/res-3 the pre-activation X = w.h is symmetric, so E sigma(X)^2 = kappa E X^2 with
    kappa = 1/2 (ReLU), 1 (identity), (1 + s^2)/2 (leaky ReLU of slope s); W adds gain^2.
    res-1 applies sigma to h itself, which is not symmetric: only the identity is exact.
    The tangent q obeys the same identity with the same c.
    """
    kappa = {"relu": 0.5, "identity": 1.0, "leaky_relu": (1 + negative_slope**2) / 2}
    if model == "res1":
        return gain**2 if activation == "identity" else None
    if model == "res3":
        activation = "relu"
    if activation not in kappa:
        return None
    return gain**4 * kappa[activation]


def exact_mean_squared_diff(model, activation, negative_slope, gain, alpha, depth):
    """E[r^2] with r = ||h_L - h_0|| / ||h_0|| (also ||q_L - z|| / ||z||): (1 + c alpha^2)^L - 1.

    Cross terms vanish because each V_k is independent of the past with mean zero; returns
    NaN where no closed form exists (tanh, res-1 with ReLU).
    """
    c = second_moment_factor(model, activation, negative_slope, gain)
    if c is None:
        return np.full(np.shape(alpha), np.nan)
    return np.expm1(np.asarray(depth) * np.log1p(c * np.asarray(alpha) ** 2))
