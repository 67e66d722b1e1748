"""The critical scaling beta*: where ||h_L - h_0|| / ||h_0|| stays of order one as L grows.

On the identity side (beta > beta*) the median ratio decays like L^(beta* - beta), so the slope
s(beta) of log median ratio against log L satisfies beta + s(beta) = beta*; on the explosion
side it grows faster than any power. The estimator fits s(beta) for every beta of a sweep over
depths, keeps the betas whose ratio decreases with depth (s < 0), and returns the median of
beta + s(beta) over them. A bootstrap over samples (each sample's betas kept together: they
share weights) gives the interval.

Finite depths bias it where the next term of the expansion decays slowly: with fbm weights at
H = 0.9, res-3 has terms of order L^0.9 and L^0.8 and depths up to 3000 give about 0.86.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rsim.schema import CELL_SERIES

# Every cell column but the depth: model, branch_depth, image_size, kernel_size... so res-3,
# mlp with m = 2 and m = 4 and conv are separate series (each its own beta*).
SERIES = list(CELL_SERIES)


def _series(frame: pd.DataFrame) -> list[str]:
    """The series columns ``frame`` has (tables written before a column existed lack it)."""
    return [c for c in SERIES if c in frame]


@dataclass(frozen=True)
class CriticalBeta:
    estimate: float
    low: float
    high: float
    slopes: pd.DataFrame  # beta, slope, beta_plus_slope, identity_side

    def __str__(self) -> str:
        return f"beta* = {self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _cube(frame: pd.DataFrame, metric: str):
    """Depths, betas and one ``(samples, betas)`` array of log ratios per depth."""
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


def _slopes(log_depths, betas, medians):
    """Least-squares slope of ``medians`` (depths x betas) against log depth, per beta."""
    x = log_depths - log_depths.mean()
    return (x @ (medians - medians.mean(axis=0))) / (x @ x)


def _estimate(betas, slopes) -> float:
    identity = slopes < 0
    return float(np.median(betas[identity] + slopes[identity])) if identity.any() else np.nan


def critical_beta(
    frame: pd.DataFrame,
    metric: str = "hidden_diff",
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> CriticalBeta:
    """Estimate beta* from a sweep over depths and betas of one weight law (see module doc).

    ``metric`` names a ratio (``hidden_diff``, ``jvp_diff``, ``grad_diff``...); the interval
    is the bootstrap percentile interval at ``level``.
    """
    depths, betas, cubes = _cube(frame, metric)
    log_depths = np.log(depths.astype(float))
    medians = np.stack([np.median(c, axis=0) for c in cubes])
    slopes = _slopes(log_depths, betas, medians)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        resampled = np.stack([np.median(c[rng.integers(0, len(c), len(c))], axis=0) for c in cubes])
        boots.append(_estimate(betas, _slopes(log_depths, betas, resampled)))
    low, high = np.nanquantile(boots, [(1 - level) / 2, (1 + level) / 2])
    table = pd.DataFrame(
        {
            "beta": betas,
            "slope": slopes,
            "beta_plus_slope": betas + slopes,
            "identity_side": slopes < 0,
        }
    )
    return CriticalBeta(_estimate(betas, slopes), float(low), float(high), table)


def critical_betas(frame: pd.DataFrame, metric: str = "hidden_diff", **kwargs) -> pd.DataFrame:
    """:func:`critical_beta` for every series (law, H, architecture: model, branch_depth,
    image_size, kernel_size...) of a sweep that has at least 2 depths and 2 betas; one row
    per series."""
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
            }
        )
    return pd.DataFrame(rows)


def zero_crossings(frame: pd.DataFrame, metric: str = "hidden_diff") -> pd.DataFrame:
    """At a single depth: for every series (e.g. every H of the heatmap), the beta at which
    the mean log10 ratio crosses 0, by linear interpolation on the beta grid (the fixed-depth
    reading of the official Figure 7); NaN where it does not cross."""
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
