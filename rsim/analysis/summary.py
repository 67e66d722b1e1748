"""Per-cell summary of a results table: quantiles of each ratio and the exact-moment check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rsim.analysis import theory
from rsim.analysis.stats import mean_and_se
from rsim.results import with_ratios
from rsim.schema import CELL_COLUMNS, GRADIENT_DIFFS, RATIOS

GROUP = list(CELL_COLUMNS) + ["beta"]
# The widest line of the summary a run prints (the full table goes to _tables/summary.csv).
TERMINAL_COLUMNS = 100


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, beta): n; median, q10, q90 of each plain ratio present; and
    mean_hidden_diff_sq (mean of r_h^2) with its standard error ``se`` beside ``exact``
    = (1 + c alpha^2)^L - 1 where rsim/THEORY.md gives it (NaN elsewhere) and ``z`` = gap / se
    (:func:`rsim.analysis.stats.mean_and_se`: NaN se for a single sample). c depends on the
    branch: m = branch_depth hidden layers for mlp and conv (rsim/THEORY.md section 11).

    Args:
        frame: a cell table (``rsim.simulate`` or ``rsim.load``).

    Returns:
        The summary table, one row per (cell, beta).

    Example:
        >>> import rsim
        >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> summarize(df)[["model", "beta", "n", "exact"]].round(4)
          model  beta  n   exact
        0  res3   0.5  4  0.6386
    """
    rows = []
    frame = with_ratios(frame.copy())
    group_columns = [c for c in GROUP if c in frame]
    for key, group in frame.groupby(group_columns, sort=True, dropna=False):
        row = dict(zip(group_columns, key))
        row["alpha"] = float(group["alpha"].iloc[0])
        row["n"] = len(group)
        for name in RATIOS:
            if name in group:
                q10, median, q90 = np.quantile(group[name], [0.1, 0.5, 0.9])
                row.update({f"{name}_median": median, f"{name}_q10": q10, f"{name}_q90": q90})
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            squares = np.exp(2 * group["log_hidden_diff"].to_numpy(dtype=np.float64))
            row["mean_hidden_diff_sq"], row["se"] = mean_and_se(squares)
            net = theory.Network.from_mapping(row)
            row["exact"] = float(theory.exact_mean_squared_diff(net, row["alpha"], row["depth"]))
            row["z"] = float(np.divide(row["mean_hidden_diff_sq"] - row["exact"], row["se"]))
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(table: pd.DataFrame, columns: int = TERMINAL_COLUMNS) -> str:
    """The terminal's few columns of :func:`summarize` (the full table is ``_tables/summary.csv``):
    the cell, beta, n, 'median [q10, q90]' of r_h (``hidden_diff``), the median of the
    gradient ratio, and the exact-moment check: E[r_h^2] +- se, exact, z. Columns are
    dropped, least telling first (the r_h interval, E[r_h^2] and exact, the optional cell
    columns), until every line fits ``columns``.

    Args:
        table: the table of :func:`summarize`.
        columns: the widest line allowed.

    Returns:
        The table as text, one line per (cell, beta) under a header.

    Example:
        >>> import rsim
        >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> text = format_summary(summarize(df))
        >>> text.splitlines()[0].split()[:6], max(map(len, text.splitlines())) <= 100
        (['model', 'init', 'width', 'depth', 'beta', 'n'], True)
    """
    optional = ("branch_depth", "image_size", "kernel_size", "lengthscale", "hurst")
    present = [c for c in optional if c in table and table[c].notna().any()]
    shown = pd.DataFrame({c: table[c] for c in ["model", "init", *present]})
    shown = shown.assign(width=table["width"], depth=table["depth"], beta=table["beta"])
    shown["n"] = table["n"]
    if "hidden_diff_median" in table:
        shown["hidden_diff [q10, q90]"] = [
            f"{m:.3g} [{lo:.3g}, {hi:.3g}]"
            for m, lo, hi in zip(
                table["hidden_diff_median"], table["hidden_diff_q10"], table["hidden_diff_q90"]
            )
        ]
    gradient = next((g for g in GRADIENT_DIFFS if f"{g}_median" in table), None)
    if gradient:
        shown[gradient] = [f"{m:.3g}" for m in table[f"{gradient}_median"]]
    shown["E[hidden_diff^2]"] = [
        f"{m:.4g} ± {s:.2g}" for m, s in zip(table["mean_hidden_diff_sq"], table["se"])
    ]
    shown["exact"] = [f"{e:.4g}" for e in table["exact"]]
    shown["z"] = [f"{z:+.2f}" for z in table["z"]]
    # least telling first: the interval (its median stays), the moment's terms (z stays)
    drops = ["hidden_diff [q10, q90]", "E[hidden_diff^2]", "exact", *present[::-1], "init"]
    text = shown.to_string(index=False)
    while max(map(len, text.splitlines())) > columns and drops:
        name = drops.pop(0)
        if name == "hidden_diff [q10, q90]" and name in shown:
            shown.insert(shown.columns.get_loc(name), "hidden_diff", table["hidden_diff_median"])
            shown["hidden_diff"] = [f"{m:.3g}" for m in shown["hidden_diff"]]
        shown = shown.drop(columns=name, errors="ignore")
        text = shown.to_string(index=False)
    return text


def _extrapolated(frame: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """The extrapolated critical betas, row for row with critical_betas, or None where a
    series has too few depths to extrapolate."""
    from rsim.analysis.critical import critical_betas

    try:
        return critical_betas(frame, metric, extrapolate=True)
    except ValueError:
        return None


def critical_text(frame: pd.DataFrame) -> str | None:
    """The critical beta of every series swept over depths and betas (the finite-depth value
    and, with 3 depths or more, the extrapolated one), or, for an H sweep at one depth, the
    beta where the mean log10 ratio crosses 0; None when neither applies.

    Args:
        frame: a cell table.

    Returns:
        The lines printed after the summary of a sweep, or None.
    """
    from rsim.analysis.critical import critical_betas, critical_curve, curve_keys
    from rsim.labels import architecture_label

    if frame["beta"].nunique() < 2:
        return None
    lines = []
    if frame["depth"].nunique() >= 2:
        for metric in ("hidden_diff", "grad_diff", "jvp_diff"):
            if f"log_{metric}" not in frame:
                continue
            finite = critical_betas(frame, metric)
            extrapolated = _extrapolated(frame, metric)
            for i, row in finite.iterrows():
                law = row["init"] + (f" H={row['hurst']:g}" if pd.notna(row["hurst"]) else "")
                line = (
                    f"critical beta ({metric}, {architecture_label(row)}, {law}): "
                    f"{row['beta_star']:.3f} [{row['low']:.3f}, {row['high']:.3f}] at "
                    f"L <= {frame['depth'].max()}"
                )
                if extrapolated is not None:
                    ext = extrapolated.iloc[i]
                    line += (
                        f"; extrapolated {ext['beta_star']:.3f} [{ext['low']:.3f}, "
                        f"{ext['high']:.3f}] (omega {ext['omega']:.3g})"
                    )
                line += " (90%)"
                if isinstance(row.get("note"), str):  # the second-order check (critical.py)
                    line += f"; {row['note']}"
                lines.append(line)
    elif frame["hurst"].nunique() > 1 and frame["beta"].nunique() >= 5:
        curve = critical_curve(frame, "hidden_diff")
        for _, part in curve.groupby(curve_keys(curve), sort=True, dropna=False):
            first = part.iloc[0]
            pairs = ", ".join(
                f"H={h:.3g}: {b:.3f}" for h, b in zip(part["hurst"], part["beta_star"])
            )
            lines.append(
                f"beta where mean log10 hidden_diff crosses 0 ({architecture_label(first)}, "
                f"{first['init']}, L={first['depth']}): {pairs}"
            )
    return "\n".join(lines) or None
