"""The critical scaling beta*: where ||h_L - h_0|| / ||h_0|| stays of order one as L grows.

On the identity side (beta > beta*) the median ratio decays like L^(beta* - beta), so the slope
s(beta) of log median ratio against log L satisfies beta + s(beta) = beta*; on the explosion
side it grows faster than any power. The estimator fits s(beta) for every beta of a sweep over
depths, keeps the betas whose ratio decreases with depth (s < 0), and returns the median of
beta + s(beta) over them. A bootstrap over samples (each sample's betas kept together: they
share weights) gives the interval.

Finite depths bias it where the next term of the expansion decays slowly: with fbm weights at
H = 0.9, res-3 has terms of order L^0.9 and L^0.8 and depths up to 3000 give about 0.86.
``extrapolate=True`` removes that bias by finite-size scaling of the local exponents in
L^-omega, with omega from the theory (rsim/THEORY.md section 12), and widens the interval by
the extrapolation's own uncertainty. :func:`critical_curve` gives beta*(H) per architecture.

Both read the exponent p of the term linear in alpha. Where p is below 1/2 (res-1 with rough
fbm weights, H < 1/2), the betas between p and 1/2 need not be on the identity side: there
the second-order terms drift log ||h_L|| by about -alpha^2 L / d (THEORY.md section 12), which
diverges for beta < 1/2. :func:`second_order_drift` measures that drift; where it is seen,
beta* is reported as 1/2, and where it cannot be decided the result says so (estimate NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from rsim.analysis.theory import correction_exponent
from rsim.schema import CELL_SERIES

# Every cell column but the depth: model, branch_depth, image_size, kernel_size... so res-3,
# mlp with m = 2 and m = 4 and conv are separate series (each its own beta*).
SERIES = list(CELL_SERIES)


def _series(frame: pd.DataFrame) -> list[str]:
    """The series columns ``frame`` has (tables written before a column existed lack it)."""
    return [c for c in SERIES if c in frame]


def curve_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that make one critical curve beta*(H): every series column but H.

    Args:
        frame: a cell table.

    Returns:
        The series columns of ``frame`` other than ``hurst``.

    Example:
        >>> import pandas as pd
        >>> curve_keys(pd.DataFrame(columns=["model", "init", "hurst", "beta", "depth"]))
        ['model', 'init']
    """
    return [c for c in _series(frame) if c != "hurst"]


@dataclass(frozen=True)
class CriticalBeta:
    """The estimate of beta* with its interval (:func:`critical_beta`).

    ``estimate`` in [``low``, ``high``] (the bootstrap percentile interval); ``slopes``: per
    beta, the slope of the log ratio against log L, beta + slope and whether the beta is on
    the identity side. The other fields are filled by ``extrapolate=True`` and where the
    linear-term exponent lies below 1/2 (see the comments of the fields).
    """

    estimate: float
    low: float
    high: float
    slopes: pd.DataFrame  # beta, slope, beta_plus_slope, identity_side
    # extrapolate=True only: the local exponents p(L) per pair of successive depths (depth =
    # their geometric mean), the correction exponent omega used and where it came from.
    local: pd.DataFrame | None = None
    omega: float | None = None
    omega_source: str | None = None
    # Where the linear-term exponent is below 1/2 - _SECOND_ORDER_GAP: that exponent (estimate,
    # low, high), the drift table of :func:`second_order_drift` and a one-line verdict. The
    # estimate is then 1/2 (drift seen; low = the largest drifting beta) or NaN (undecided;
    # [low, high] = [linear low, 1/2]).
    linear: tuple[float, float, float] | None = None
    drift: pd.DataFrame | None = None
    note: str | None = None

    def __str__(self) -> str:
        text = f"beta* = {self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"
        if self.omega is not None:
            text += f" (extrapolated in L^-omega, omega = {self.omega:.3g}, {self.omega_source})"
        return text + (f"; {self.note}" if self.note else "")


def _cube(frame: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Depths, betas and one ``(samples, betas)`` array of ``log_<metric>`` per depth (rows in
    the same sample order at every depth: coupled depths share sample ids)."""
    column = f"log_{metric}"
    if column not in frame:
        raise ValueError(f"metric={metric!r}: the table has no column {column!r}")
    varying = [c for c in _series(frame) if frame[c].nunique(dropna=False) > 1]
    if varying:
        raise ValueError(
            f"critical_beta needs one weight law and architecture; "
            f"{', '.join(varying)} vary: select one series first"
        )
    depths = np.sort(frame["depth"].unique())
    betas = np.sort(frame["beta"].unique())
    if len(depths) < 2 or len(betas) < 2:
        raise ValueError("critical_beta needs a sweep over at least 2 depths and 2 betas")
    cubes = []
    for depth in depths:
        table = frame[frame["depth"] == depth].pivot(index="sample", columns="beta", values=column)
        cubes.append(table[betas].to_numpy())
    return depths, betas, cubes


def _slopes(log_depths: np.ndarray, betas: np.ndarray, medians: np.ndarray) -> np.ndarray:
    """Least-squares slope of ``medians`` (depths x betas) against log depth, per beta."""
    x = log_depths - log_depths.mean()
    return (x @ (medians - medians.mean(axis=0))) / (x @ x)


def _estimate(betas: np.ndarray, slopes: np.ndarray) -> float:
    identity = slopes < 0
    return float(np.median(betas[identity] + slopes[identity])) if identity.any() else np.nan


def _resample(cubes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One bootstrap draw: the same sample indices at every depth (a sample's betas, and its
    depths when they are coupled, stay together), or independent draws where the depths
    have different sample counts."""
    sizes = {len(c) for c in cubes}
    if len(sizes) == 1:
        index = rng.integers(0, len(cubes[0]), len(cubes[0]))
        return [c[index] for c in cubes]
    return [c[rng.integers(0, len(c), len(c))] for c in cubes]


def critical_beta(
    frame: pd.DataFrame,
    metric: str = "hidden_diff",
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
    extrapolate: bool = False,
    omega: float | None = None,
) -> CriticalBeta:
    """Estimate beta* from a sweep over depths and betas of one weight law (see module doc).

    ``metric`` names a ratio (``hidden_diff``, ``jvp_diff``, ``grad_diff``...); the interval
    is the bootstrap percentile interval at ``level``. ``extrapolate=True`` removes the
    finite-depth bias (:func:`_extrapolated_beta`, at least 3 depths); ``omega`` then
    overrides the correction exponent the theory gives (:func:`correction_exponent`).
    Either estimate is the linear term's exponent; where it lies more than _SECOND_ORDER_GAP
    below 1/2, the betas between it and 1/2 decide (:func:`_check_second_order`, from the
    column log_hidden_ratio whatever ``metric``: the drift belongs to the product of the layers,
    which h, the tangent and the gradient share).

    Args:
        frame: the rows of one series (one law and architecture) at >= 2 depths and 2 betas,
            with ``depth``, ``beta``, ``sample`` and ``log_<metric>``.
        metric: the ratio.
        n_boot: the number of bootstrap draws.
        level: the level of the interval.
        seed: the seed of the bootstrap.
        extrapolate: remove the finite-depth bias (>= 3 depths).
        omega: the correction exponent of the extrapolation (None: the theory's, else fitted).

    Returns:
        The :class:`CriticalBeta`.

    Raises:
        ValueError: no such metric, several series, or too few depths or betas.

    Example:
        >>> import numpy as np, pandas as pd
        >>> frame = pd.DataFrame(  # log r = (1/2 - beta) log L: beta* = 1/2
        ...     [dict(model="res3", depth=L, beta=b, sample=s,
        ...           log_hidden_diff=(0.5 - b) * np.log(L) + 0.01 * s)
        ...      for L in (10, 100, 1000) for b in (0.25, 0.75, 1.0) for s in range(3)]
        ... )
        >>> print(critical_beta(frame, n_boot=20))
        beta* = 0.500 [0.500, 0.500]
    """
    depths, betas, cubes = _cube(frame, metric)
    if extrapolate:
        result = _extrapolated_beta(frame, depths, betas, cubes, n_boot, level, seed, omega)
        return _check_second_order(frame, result)
    log_depths = np.log(depths.astype(float))
    medians = np.stack([np.median(c, axis=0) for c in cubes])
    slopes = _slopes(log_depths, betas, medians)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        resampled = np.stack([np.median(c, axis=0) for c in _resample(cubes, rng)])
        boots.append(_estimate(betas, _slopes(log_depths, betas, resampled)))
    low, high = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    result = CriticalBeta(
        _estimate(betas, slopes), float(low), float(high), _slope_table(betas, slopes)
    )
    return _check_second_order(frame, result)


def _slope_table(betas: np.ndarray, slopes: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "beta": betas,
            "slope": slopes,
            "beta_plus_slope": betas + slopes,
            "identity_side": slopes < 0,
        }
    )


# --- extrapolation in the depth ------------------------------------------------------------

# Betas this far above the finite-depth estimate make the local exponents: there the branch's
# term linear in alpha dominates and the alpha^2 corrections (relative size L^-(beta - beta*))
# are small.
_FAR_SIDE = 0.25
_OMEGA_GRID = np.round(np.arange(0.05, 2.001, 0.05), 2)


def _local_exponents(depths: np.ndarray, betas: np.ndarray, cubes: list[np.ndarray]) -> np.ndarray:
    """p_i(beta) = beta + slope of the mean log ratio between depths i and i + 1."""
    means = np.stack([c.mean(axis=0) for c in cubes])
    return betas + np.diff(means, axis=0) / np.diff(np.log(depths.astype(float)))[:, None]


def _far_side(betas: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """The betas on the identity side at every pair of depths, _FAR_SIDE above the deepest
    pair's estimate (all identity-side betas where none is that far)."""
    identity = (exponents < betas).all(axis=0)
    if not identity.any():
        return identity
    deepest = np.median(exponents[-1][identity])
    far = identity & (betas >= deepest + _FAR_SIDE)
    return far if far.any() else identity


def _fit(mid_depths: np.ndarray, p: np.ndarray, omega: float) -> tuple[float, float]:
    """Least squares p = beta* + c L^-omega; returns (beta*, sum of squared residuals)."""
    if np.isinf(omega):
        return float(p.mean()), float(((p - p.mean()) ** 2).sum())
    x = mid_depths**-omega
    design = np.stack([np.ones_like(x), x], axis=1)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    return float(coef[0]), float(((design @ coef - p) ** 2).sum())


def _two_term_fit(mid_depths: np.ndarray, p: np.ndarray, omega: float) -> float:
    """beta* of the two-term model y = A L^(2 beta*) (1 + u), u = c L^-omega, whose local
    exponent is p = beta* - (omega / 2) u / (1 + u): the curvature the L^-2 omega terms of
    the theory give the linear fit. c is scanned so that u at the deepest pair is in
    [-1/2, 1] (beyond it the correction dominates and nothing can be extrapolated)."""
    deepest = mid_depths[-1] ** -omega
    u = np.linspace(-0.5, 1.0, 151)[:, None] / deepest * mid_depths**-omega
    u = u[(1 + u > 0.05).all(axis=1)]
    fitted = p + (omega / 2) * u / (1 + u)  # beta* + residual, per c
    estimates = fitted.mean(axis=1)
    best = int(np.argmin(((fitted - estimates[:, None]) ** 2).sum(axis=1)))
    return float(estimates[best])


def _extrapolate(
    depths: np.ndarray,
    betas: np.ndarray,
    cubes: list[np.ndarray],
    omega: float | None,
    mask: np.ndarray | None = None,
) -> tuple[dict[str, float], float | None, np.ndarray, np.ndarray]:
    """Estimates from one set of cubes: ``{"linear": (all pairs), "deep": (without the
    shallowest pair, 3 pairs or more), "two_term": (omega finite)}``, omega (fitted where
    None), the local exponents and the betas used."""
    exponents = _local_exponents(depths, betas, cubes)
    far = _far_side(betas, exponents) if mask is None else mask
    if not far.any():
        return {"linear": np.nan}, omega, exponents, far
    p = np.median(exponents[:, far], axis=1)
    mid = np.sqrt(depths[1:] * depths[:-1]).astype(float)
    if omega is None:
        fits = [_fit(mid, p, w) for w in _OMEGA_GRID]
        omega = float(_OMEGA_GRID[int(np.argmin([sse for _, sse in fits]))])
    estimates = {"linear": _fit(mid, p, omega)[0]}
    if len(p) >= 3:
        estimates["deep"] = _fit(mid[1:], p[1:], omega)[0]
    if np.isfinite(omega) and len(p) >= 2:
        estimates["two_term"] = _two_term_fit(mid, p, omega)
    return estimates, omega, exponents, far


def _extrapolated_beta(
    frame: pd.DataFrame,
    depths: np.ndarray,
    betas: np.ndarray,
    cubes: list[np.ndarray],
    n_boot: int,
    level: float,
    seed: int,
    omega: float | None = None,
) -> CriticalBeta:
    """beta* with the finite-depth bias removed (rsim/THEORY.md section 12).

    1. Local exponents: between successive depths, p_i = beta + slope of the mean log ratio,
       taken at betas well on the identity side (_FAR_SIDE above the finite-depth value), where
       it is the growth exponent of the term linear in alpha.
    2. Finite-size scaling: p_i = beta* + c L_i^-omega (L_i the pair's geometric mean depth),
       least squares; omega from the theory (:func:`correction_exponent`) or ``omega``, fitted
       on a grid where the theory gives none (then at least 4 depths). omega = inf: no
       correction, the mean of the p_i. This is the estimate.
    3. Interval: the bootstrap over samples of the whole procedure (the omega fit included),
       at ``level``, for the estimate and for two other models of the correction (the same
       fit without the shallowest pair; the two-term model, :func:`_two_term_fit`); the
       interval spans all three, so it carries the extrapolation's model error.
    """
    key = frame.iloc[0]
    source = "given"
    if omega is None:
        hurst = key["hurst"] if "hurst" in key and pd.notna(key["hurst"]) else None
        omega = correction_exponent(key["model"], key["activation"], key["init"], hurst)
        source = "theory" if omega is not None else "fitted"
    minimum = 4 if omega is None else 3
    if len(depths) < minimum:
        raise ValueError(
            f"extrapolate=True needs at least {minimum} depths"
            + (" (omega is fitted: the theory gives none for this series)" if omega is None else "")
        )
    estimates, fitted, exponents, far = _extrapolate(depths, betas, cubes, omega)
    rng = np.random.default_rng(seed)
    boots = {name: [] for name in estimates}
    for _ in range(n_boot):
        drawn = _extrapolate(depths, betas, _resample(cubes, rng), omega, far)[0]
        for name in boots:
            boots[name].append(drawn.get(name, np.nan))
    quantiles = [(1 - level) / 2, (1 + level) / 2]
    bounds = np.array([np.nanquantile(b, quantiles) for b in boots.values()])
    mid = np.sqrt(depths[1:] * depths[:-1])
    local = pd.DataFrame(
        {
            "depth_low": depths[:-1],
            "depth_high": depths[1:],
            "depth": mid,
            "local_exponent": np.median(exponents[:, far], axis=1) if far.any() else np.nan,
        }
    )
    means = np.stack([c.mean(axis=0) for c in cubes])
    slopes = _slopes(np.log(depths.astype(float)), betas, means)
    return CriticalBeta(
        estimates["linear"],
        float(bounds[:, 0].min()),
        float(bounds[:, 1].max()),
        _slope_table(betas, slopes),
        local,
        fitted,
        source,
    )


# --- the betas between the linear-term exponent and 1/2 -------------------------------------

# The check runs where the linear-term exponent is this far below 1/2: i.i.d. laws, smooth
# weights and fbm with H >= 1/2 have it at 1/2 or above (up to Monte Carlo error), and their
# estimates are unchanged.
_SECOND_ORDER_GAP = 0.05
# A drift coefficient this many standard errors from 0 is a drift (the level of the theory
# report: false alarm 3.2e-5 per side and beta).
_DRIFT_Z = 4.0


def second_order_drift(frame: pd.DataFrame, linear: float) -> pd.DataFrame:
    """The drift of the mean log ||h_L|| / ||h_0|| at the betas strictly between the linear-term
    exponent ``linear`` (p) and 1/2 (rsim/THEORY.md section 12).

    To order alpha^2 (alpha = L^-beta) that mean is A L^(2p - 2 beta) + B L^(1 - 2 beta): the
    energy of the linear term (res-1: (1 - 1/d) K L^2H / 2) and the second-order drift (res-1:
    B = -K / (2d)). Between p and 1/2 the first vanishes and the second diverges unless B = 0,
    so B != 0 means those betas are not on the identity side. Per beta: the least-squares B
    over the depths, its standard error (samples paired across depths where the depths have
    the same sample count, as coupled depths share their samples; independent otherwise),
    z = B / SE, ``detected`` (|z| > _DRIFT_Z) and the mean at the shallowest and deepest depth.

    Args:
        frame: the rows of one series with ``depth``, ``beta``, ``sample`` and
            ``log_hidden_ratio``.
        linear: the linear-term exponent p.

    Returns:
        One row per beta in (p, 1/2).
    """
    depths, betas, cubes = _cube(frame, "hidden_ratio")
    depths = depths.astype(float)
    paired = len({len(c) for c in cubes}) == 1
    rows = []
    for j in np.flatnonzero((betas > linear) & (betas < 0.5)):
        beta = betas[j]
        design = np.stack([depths ** (2 * linear - 2 * beta), depths ** (1 - 2 * beta)], axis=1)
        weights = np.linalg.pinv(design)[1]  # B = weights @ (mean per depth)
        columns = [c[:, j] for c in cubes]
        if paired:
            combined = np.stack(columns, axis=1) @ weights
            coefficient = combined.mean()
            se = combined.std(ddof=1) / np.sqrt(len(combined))
        else:
            coefficient = sum(w * c.mean() for w, c in zip(weights, columns))
            se = np.sqrt(sum(w**2 * c.var(ddof=1) / len(c) for w, c in zip(weights, columns)))
        z = coefficient / se if se > 0 else (0.0 if coefficient == 0 else np.inf * coefficient)
        rows.append(
            {
                "beta": beta,
                "mean_shallowest": columns[0].mean(),
                "mean_deepest": columns[-1].mean(),
                "drift": coefficient,
                "se": se,
                "z": z,
                "detected": bool(abs(z) > _DRIFT_Z),
            }
        )
    columns = ["beta", "mean_shallowest", "mean_deepest", "drift", "se", "z", "detected"]
    return pd.DataFrame(rows, columns=columns)


def _check_second_order(frame: pd.DataFrame, result: CriticalBeta) -> CriticalBeta:
    """``result`` as it is where its linear-term exponent is not below 1/2 - _SECOND_ORDER_GAP;
    otherwise beta* = 1/2 if :func:`second_order_drift` sees a drift, else undecided."""
    p = result.estimate
    if not np.isfinite(p) or p >= 0.5 - _SECOND_ORDER_GAP:
        return result
    linear = (p, result.low, result.high)
    head = f"linear-term exponent {p:.3f} [{result.low:.3f}, {result.high:.3f}]"
    undecided = dict(estimate=np.nan, low=result.low, high=0.5, linear=linear)
    if "log_hidden_ratio" not in frame:
        why = "the table has no log_hidden_ratio column to check the betas between it and 1/2"
        return replace(result, **undecided, note=f"undecided: {head}; {why}")
    drift = second_order_drift(frame, p)
    if drift.empty:
        why = "no beta of the sweep lies between it and 1/2"
        return replace(result, **undecided, drift=drift, note=f"undecided: {head}; {why}")
    seen = drift[drift["detected"]]
    zs = ", ".join(f"{b:g} (z = {z:.1f})" for b, z in zip(drift["beta"], drift["z"]))
    if seen.empty:
        why = (
            f"no drift of mean log ||h_L||/||h_0|| in L^(1-2beta) at beta {zs}: these depths "
            "cannot tell whether beta* is the linear-term exponent or 1/2 (THEORY.md section 12)"
        )
        return replace(result, **undecided, drift=drift, note=f"undecided: {head}; {why}")
    note = (
        f"{head}, but mean log ||h_L||/||h_0|| drifts in L^(1-2beta) at beta {zs}: the "
        "alpha^2 L/d drift of THEORY.md section 12, so beta* = 1/2 at fixed width "
        "(interval: the largest drifting beta to 1/2)"
    )
    return replace(
        result,
        estimate=0.5,
        low=float(seen["beta"].max()),
        high=0.5,
        linear=linear,
        drift=drift,
        note=note,
    )


def critical_betas(frame: pd.DataFrame, metric: str = "hidden_diff", **kwargs: Any) -> pd.DataFrame:
    """:func:`critical_beta` for every series (law, H, architecture: model, branch_depth,
    image_size, kernel_size...) of a sweep that has at least 2 depths and 2 betas; one row
    per series.

    Args:
        frame: a cell table of one or several series.
        metric: the ratio.
        **kwargs: passed to :func:`critical_beta`.

    Returns:
        One row per series: its series columns, ``beta_star``, ``low``, ``high`` and the
        other fields of :class:`CriticalBeta` that apply.

    Example:
        >>> import numpy as np, pandas as pd
        >>> frame = pd.DataFrame(  # log r = (1/2 - beta) log L: beta* = 1/2
        ...     [dict(model="res3", depth=L, beta=b, sample=s,
        ...           log_hidden_diff=(0.5 - b) * np.log(L) + 0.01 * s)
        ...      for L in (10, 100, 1000) for b in (0.25, 0.75, 1.0) for s in range(3)]
        ... )
        >>> critical_betas(frame, n_boot=20)[["model", "beta_star", "low", "high"]]
          model  beta_star  low  high
        0  res3        0.5  0.5   0.5
    """
    rows = []
    series = _series(frame)
    for key, group in frame.groupby(series, dropna=False, sort=True):
        if group["depth"].nunique() < 2 or group["beta"].nunique() < 2:
            continue
        result = critical_beta(group, metric, **kwargs)
        rows.append(
            {
                **dict(zip(series, key)),
                "metric": metric,
                "beta_star": result.estimate,
                "low": result.low,
                "high": result.high,
                **({"omega": result.omega} if result.omega is not None else {}),
                **({"note": result.note} if result.note else {}),
            }
        )
    return pd.DataFrame(rows)


def zero_crossings(frame: pd.DataFrame, metric: str = "hidden_diff") -> pd.DataFrame:
    """At each depth: for every series (e.g. every H of the heatmap), the beta at which the
    mean log10 ratio crosses 0, by linear interpolation on the beta grid (the fixed-depth
    reading of the official Figure 7); NaN where it does not cross. This is the contour
    r = 1 at that L, not beta*: at finite depth it lies below beta* (rsim/THEORY.md sections 8
    and 12), even for i.i.d. weights; :func:`extrapolated_curve` removes that bias.

    Args:
        frame: a cell table.
        metric: the ratio.

    Returns:
        One row per (series, depth): the series columns, ``depth``, ``metric``, ``beta_zero``.

    Example:
        >>> import numpy as np, pandas as pd
        >>> frame = pd.DataFrame(  # log r = (1/2 - beta) log L: beta* = 1/2
        ...     [dict(model="res3", depth=L, beta=b, sample=s,
        ...           log_hidden_diff=(0.5 - b) * np.log(L) + 0.01 * s)
        ...      for L in (10, 100, 1000) for b in (0.25, 0.75, 1.0) for s in range(3)]
        ... )
        >>> zero_crossings(frame[frame["depth"] == 100]).round(4)
          model  depth       metric  beta_zero
        0  res3    100  hidden_diff     0.5022
    """
    column = f"log_{metric}"
    rows = []
    keys = _series(frame) + ["depth"]
    for key, group in frame.groupby(keys, dropna=False, sort=True):
        curve = (group.groupby("beta")[column].mean() / np.log(10)).sort_index()
        betas, values = curve.index.to_numpy(), curve.to_numpy()
        below = np.flatnonzero((values[:-1] > 0) & (values[1:] <= 0))
        crossing = np.nan
        if below.size:
            i = below[0]
            step = betas[i + 1] - betas[i]
            crossing = betas[i] + step * values[i] / (values[i] - values[i + 1])
        rows.append({**dict(zip(keys, key)), "metric": metric, "beta_zero": crossing})
    return pd.DataFrame(rows)


def critical_curve(frame: pd.DataFrame, metric: str = "hidden_diff", **kwargs: Any) -> pd.DataFrame:
    """beta*(H) of every architecture and law family of an H sweep: one row per (series, H).

    Every series but the Hurst index (model, branch, width, init...) is one curve. At a single
    depth, ``beta_star`` is where the mean log10 ratio crosses 0 (:func:`zero_crossings`: the
    official Figure 7 reading, the contour r = 1 at that L, below beta* at finite depth;
    ``low`` and ``high`` are NaN); a sweep over several depths uses :func:`critical_beta` per H
    (``kwargs`` go to it, ``extrapolate`` included; :func:`extrapolated_curve` keeps the H
    whose depths allow the extrapolation).

    Args:
        frame: a cell table over H (and betas, and one or several depths).
        metric: the ratio.
        **kwargs: passed to :func:`critical_beta` (several depths only).

    Returns:
        Columns: the series columns, ``depth`` (the depth, or the largest one), ``metric``,
        ``beta_star``, ``low``, ``high``, ``method`` (``zero_crossing`` | ``depth_slopes`` |
        ``extrapolated``).

    Example:
        >>> import numpy as np, pandas as pd
        >>> frame = pd.DataFrame(  # log r = (1/2 - beta) log L: beta* = 1/2
        ...     [dict(model="res3", depth=L, beta=b, sample=s,
        ...           log_hidden_diff=(0.5 - b) * np.log(L) + 0.01 * s)
        ...      for L in (10, 100, 1000) for b in (0.25, 0.75, 1.0) for s in range(3)]
        ... )
        >>> curve = critical_curve(frame.assign(hurst=0.5), n_boot=20)
        >>> curve[["hurst", "depth", "beta_star", "method"]]
           hurst  depth  beta_star        method
        0    0.5   1000        0.5  depth_slopes
    """
    if "hurst" not in frame or frame["hurst"].isna().all():
        raise ValueError("critical_curve needs an H sweep: the table has no Hurst index")
    frame = frame[frame["hurst"].notna()]
    if frame["depth"].nunique() == 1:
        table = zero_crossings(frame, metric).rename(columns={"beta_zero": "beta_star"})
        table["low"] = table["high"] = np.nan
        table["method"] = "zero_crossing"
    else:
        table = critical_betas(frame, metric, **kwargs)
        table["depth"] = frame["depth"].max()
        table["method"] = "extrapolated" if kwargs.get("extrapolate") else "depth_slopes"
    columns = [c for c in SERIES if c in table] + ["depth", "metric", "beta_star", "low", "high"]
    return table[columns + ["method"]].reset_index(drop=True)


def extrapolated_curve(
    frame: pd.DataFrame, metric: str = "hidden_diff", **kwargs: Any
) -> pd.DataFrame:
    """The extrapolated beta*(H) (:func:`critical_curve` with ``extrapolate=True``) of every
    (series, H) of an H sweep whose depths allow it, with :func:`critical_curve`'s columns;
    ``kwargs`` go to :func:`critical_beta`. A series at one depth, or at fewer depths than its
    extrapolation needs (:func:`critical_beta` raises), has no row; none at all gives an empty
    table. ``beta_star``, ``low`` or ``high`` may be NaN where the estimator cannot decide.

    Args:
        frame: a cell table over H, betas and depths.
        metric: the ratio.
        **kwargs: passed to :func:`critical_beta`.

    Returns:
        The rows of :func:`critical_curve` with ``method`` ``extrapolated``.
    """
    if f"log_{metric}" not in frame:
        raise ValueError(f"metric={metric!r}: the table has no column 'log_{metric}'")
    parts = []
    swept = frame[frame["hurst"].notna()]
    for _, series in swept.groupby(_series(swept), dropna=False, sort=True):
        if series["depth"].nunique() < 2:
            continue
        try:
            parts.append(critical_curve(series, metric, extrapolate=True, **kwargs))
        except ValueError:  # too few depths (or betas) to extrapolate this series
            continue
    if parts:
        return pd.concat(parts, ignore_index=True)
    columns = [*_series(frame), "depth", "metric", "beta_star", "low", "high", "method"]
    return pd.DataFrame(columns=columns)
