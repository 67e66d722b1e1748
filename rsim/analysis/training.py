"""Summaries of the training studies, from results tables only (numpy and pandas; the figures
are :mod:`rsim.views.training`).

* ``accuracy``: the best test accuracy over the learning rates per cell (mean over seeds at
  each lr, then the max over lrs), after the last epoch or (``epoch="best"``) after the best
  epoch of each lr.
* ``weights``: the best run per (init, beta) with the Hurst estimates of V before and after
  training (:mod:`rsim.analysis.hurst`).
* ``lr_alpha``: the best learning rate per (optimizer, depth, beta): the minimiser of the mean
  final training loss over seeds (diverged runs count as +inf), refined by the vertex of the
  parabola through log-loss at the three neighbouring log-lrs; the least-squares fit
  log10 lr* = c + p log10 alpha_L per optimizer (and c + p log10 alpha + q log10 L).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rsim import schema
from rsim.labels import architecture_label, epoch_label, law_label

# The branch's shape keys (mlp, conv; NaN for res1-3): part of a cell as well.
SHAPE_COLUMNS = ("branch_depth", "image_size", "kernel_size")


def _cells(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that name a cell (a run is a cell plus lr and seed)."""
    names = dict.fromkeys((*schema.TRAINING_CELL, *SHAPE_COLUMNS))
    return [c for c in names if c in frame]


def varying_keys(best: pd.DataFrame) -> list[str]:
    """The cell keys besides the weight law and beta that take several values in ``best``
    (depth, width, ...): with the law they name a row of the accuracy table (a curve)."""
    law = ("init", "lengthscale", "hurst", "beta")
    return [c for c in _cells(best) if c not in law and best[c].nunique() > 1]


def _check_epoch(epoch: str) -> None:
    """Refuse (ValueError, one line) an ``epoch`` other than last or best."""
    epoch_label(epoch)


def best_accuracy(frame: pd.DataFrame, epoch: str = "last") -> pd.DataFrame:
    """Per cell: the lr whose mean test accuracy over seeds is highest, that accuracy
    (``best_test_accuracy``), the epoch it was measured after (``best_epoch``, counted from 1)
    and the number of diverged runs of the cell.

    ``epoch="last"`` scores every run by its accuracy after the last epoch (``test_accuracy``);
    ``epoch="best"`` by the epoch whose mean accuracy over seeds is highest, chosen per (cell,
    lr) like the lr itself, on the test set (needs ``test_accuracy_by_epoch``: results written
    since it exists)."""
    _check_epoch(epoch)
    cells = _cells(frame)
    if epoch == "best" and "test_accuracy_by_epoch" not in frame:
        raise ValueError(
            "epoch='best' needs the column test_accuracy_by_epoch (results written before "
            "it existed have the last epoch's test_accuracy only)"
        )
    rows = []
    for key, part in frame.groupby(cells + ["lr"], dropna=False):
        if epoch == "last":
            accuracy, after = part["test_accuracy"].mean(), part["epochs"].iat[0]
        else:
            curve = np.mean(np.stack(part["test_accuracy_by_epoch"].map(np.asarray)), axis=0)
            accuracy, after = curve.max(), int(np.argmax(curve)) + 1
        rows.append((*key, accuracy, after, int(part["diverged"].sum())))
    by_lr = pd.DataFrame(rows, columns=[*cells, "lr", "test_accuracy", "epoch", "diverged"])
    rows = []
    for key, part in by_lr.groupby(cells, dropna=False):
        best = part.loc[part["test_accuracy"].idxmax()]
        rows.append(
            {
                **dict(zip(cells, key)),
                "best_lr": best["lr"],
                "best_test_accuracy": best["test_accuracy"],
                "best_epoch": int(best["epoch"]),
                "diverged_runs": int(part["diverged"].sum()),
            }
        )
    return pd.DataFrame(rows)


def best_learning_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cell: ``best_lr`` (refined minimiser of the mean final training loss over seeds),
    ``grid_best_lr`` (the grid's minimiser) and ``accuracy_best_lr`` (the grid's most accurate)."""
    cells = _cells(frame)
    loss = np.where(frame["diverged"], np.inf, frame["final_train_loss"])
    work = frame.assign(loss=loss)
    by_lr = (
        work.groupby(cells + ["lr"], dropna=False)
        .agg(loss=("loss", "mean"), test_accuracy=("test_accuracy", "mean"))
        .reset_index()
        .sort_values("lr")
    )
    rows = []
    for key, part in by_lr.groupby(cells, dropna=False):
        log_lr = np.log10(part["lr"].to_numpy())
        losses = part["loss"].to_numpy()
        if not np.isfinite(losses).any():
            best, grid_best = np.nan, np.nan
        else:
            i = int(np.argmin(losses))
            grid_best = 10 ** log_lr[i]
            best = 10 ** _parabola_vertex(log_lr, np.log(losses), i)
        rows.append(
            {
                **dict(zip(cells, key)),
                "best_lr": best,
                "grid_best_lr": grid_best,
                "accuracy_best_lr": part["lr"].iat[int(np.argmax(part["test_accuracy"]))],
                "best_loss": np.nanmin(np.where(np.isfinite(losses), losses, np.nan))
                if np.isfinite(losses).any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _parabola_vertex(x: np.ndarray, y: np.ndarray, i: int) -> float:
    """The minimiser of the parabola through (x, y) at i - 1, i, i + 1; x[i] at an edge of the
    grid, next to a non-finite value, or if the parabola is not convex; kept within one grid
    step of x[i]."""
    if i == 0 or i == len(x) - 1 or not np.all(np.isfinite(y[i - 1 : i + 2])):
        return float(x[i])
    a, b, _ = np.polyfit(x[i - 1 : i + 2], y[i - 1 : i + 2], 2)
    if a <= 0:
        return float(x[i])
    return float(np.clip(-b / (2 * a), x[i - 1], x[i + 1]))


def fit_lr_alpha(best: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer: log10 lr* = c + p log10 alpha (slope p, R^2), and the two-variable fit
    log10 lr* = c2 + p2 log10 alpha + q2 log10 L (when there are several depths)."""
    rows = []
    for name, part in best.dropna(subset=["best_lr"]).groupby("optimizer"):
        y = np.log10(part["best_lr"].to_numpy())
        log_alpha = -part["beta"].to_numpy() * np.log10(part["depth"].to_numpy())
        row = {"optimizer": name, "cells": len(part)}
        if len(part) >= 2 and np.ptp(log_alpha) > 0:
            p, c = np.polyfit(log_alpha, y, 1)
            residual = y - (c + p * log_alpha)
            row.update(p=p, c=c, r2=1 - residual.var() / y.var() if y.var() > 0 else np.nan)
        log_depth = np.log10(part["depth"].to_numpy())
        if len(part) >= 3 and np.ptp(log_depth) > 0:
            design = np.column_stack([np.ones_like(y), log_alpha, log_depth])
            coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
            if np.linalg.matrix_rank(design) == 3:
                residual = y - design @ coefficients
                row.update(
                    c2=coefficients[0],
                    p2=coefficients[1],
                    q2=coefficients[2],
                    r2_2=1 - residual.var() / y.var() if y.var() > 0 else np.nan,
                )
        rows.append(row)
    return pd.DataFrame(rows)


def summary_head(study: str, frame: pd.DataFrame) -> str:
    """The first line a training study prints: runs, diverged runs, data, model, chance.

    Args:
        study: the study's name (it starts the line).
        frame: the runs, one row per run.

    Returns:
        One line starting ``<study>:``.
    """
    chance = 1 / frame["n_classes"].iat[0]
    return (
        f"{study}: {len(frame)} runs, {int(frame['diverged'].sum())} diverged; "
        f"{frame['dataset'].iat[0]}, {architecture_label(frame.iloc[0])}, "
        f"{frame['optimizer'].iat[0]}, {frame['epochs'].iat[0]} epochs; chance = {chance:.3f}"
    )


def lr_alpha_lines(frame: pd.DataFrame) -> list[str]:
    """Study ``lr_alpha``: the best learning rate per cell and the fits lr* ~ alpha^p.

    Args:
        frame: the runs, one row per run.

    Returns:
        One line per (optimizer, depth, beta), then one per optimizer's fit.
    """
    lines = []
    best = best_learning_rates(frame)
    for _, row in best.iterrows():
        lines.append(
            f"  {row['optimizer']} L={row['depth']} beta={row['beta']:.3g} "
            f"alpha={row['depth'] ** -row['beta']:.3g}: best lr {row['best_lr']:.3g}"
            f" (grid {row['grid_best_lr']:.3g}, most accurate "
            f"{row['accuracy_best_lr']:.3g}, loss {row['best_loss']:.3g})"
        )
    for _, fit in fit_lr_alpha(best).iterrows():
        if "p" in fit and np.isfinite(fit.get("p", np.nan)):
            text = (
                f"  fit {fit['optimizer']}: lr* ~ alpha_L^{fit['p']:.2f} "
                f"(log10 lr* = {fit['c']:.2f} + {fit['p']:.2f} log10 alpha, "
                f"R^2 = {fit['r2']:.2f}, {fit['cells']} cells)"
            )
            if np.isfinite(fit.get("q2", np.nan)):
                text += (
                    f"; with depth: lr* ~ alpha^{fit['p2']:.2f} L^{fit['q2']:.2f} "
                    f"(R^2 = {fit['r2_2']:.2f})"
                )
            lines.append(text)
    return lines


def weights_lines(frame: pd.DataFrame) -> list[str]:
    """Study ``weights``: per (law, beta) the best accuracy and the Hurst index of V before
    and after training.

    Args:
        frame: the runs, one row per run.

    Returns:
        One line per (init, beta) cell.
    """
    lines = []
    for _, row in best_accuracy(frame).iterrows():
        cell = frame[(frame["init"] == row["init"]) & (frame["beta"] == row["beta"])]
        lines.append(
            f"  {law_label(row)} beta={row['beta']:.3g}: best test accuracy "
            f"{row['best_test_accuracy']:.3f} (lr {row['best_lr']:.3g}); Hurst of V "
            f"before {cell['hurst_init'].mean():.3f}, after "
            f"{cell['hurst_trained'].median():.3f} (median over runs)"
        )
    return lines


def accuracy_lines(frame: pd.DataFrame) -> list[str]:
    """Study ``accuracy``: the best test accuracy over lr per cell, as a table (rows: weight
    law and the other varying keys, columns: beta), after the last epoch and, where the runs
    have learning curves, after the best epoch.

    Args:
        frame: the runs, one row per run.

    Returns:
        The tables' lines, each table under a line naming it.
    """
    best = best_accuracy(frame)
    varying = varying_keys(best)
    rows = ", ".join(["weight law", *varying])
    lines = [f"  best test accuracy over lr, after the last epoch (rows: {rows}, columns: beta)"]
    lines.append(_accuracy_table(best, varying, lambda row: f"{row['best_test_accuracy']:.3f}"))
    if "test_accuracy_by_epoch" in frame and frame["test_accuracy_by_epoch"].notna().all():
        lines.append(
            f"  best test accuracy over lr and epochs [epoch] (rows: {rows}, columns: beta)"
        )
        best = best_accuracy(frame, epoch="best")
        lines.append(
            _accuracy_table(
                best, varying, lambda row: f"{row['best_test_accuracy']:.3f} [{row['best_epoch']}]"
            )
        )
    return lines


def _accuracy_table(
    best: pd.DataFrame, varying: list[str], text: Callable[[pd.Series], str]
) -> str:
    """The cells of ``best`` as a table: rows weight law and ``varying``, columns beta, each
    entry ``text(row)``."""
    best = best.assign(law=best.apply(law_label, axis=1), entry=best.apply(text, axis=1))
    table = best.pivot_table(
        index=["law", *varying], columns="beta", values="entry", aggfunc="first", sort=False
    )
    return table.to_string()
