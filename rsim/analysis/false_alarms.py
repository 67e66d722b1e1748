"""The false-alarm rate of the theory report, measured on a correct simulator.

:func:`measure` runs the whole report (:func:`rsim.analysis.report.check_table` and
:func:`~rsim.analysis.report.sweep_verdict`) on many independent replicates of correct
simulations at each sample count n and tallies how often it cries wolf: per n, the fraction of
replicates whose sweep verdict is VIOLATES and the per-check rate (violations over judged
checks, overall, per kind of check and over the informative checks, also per statement),
each with its binomial standard error. SHARP_CELLS are the cells of ``+sweep=theory_sharp``,
where the high-probability bounds are informative.
``scripts/false_alarms.py`` prints the table; rsim/THEORY.md section 8 and the README quote it.

Replicates. Sample i of a cell always uses the key ``fold_in(root, i)`` (rsim.core.engine), so
the samples of one run are i.i.d. and the first n of them are exactly what ``samples=n`` would
give. One pool of ``samples = max(ns) * replicates`` per cell is simulated, and replicate j at
sample count n is the disjoint block of samples [j n, (j + 1) n): independent replicates without
one simulation per (seed, n). The report of a replicate covers every cell at once, as a sweep's
report does.

Only the simulation imports jax (inside :func:`simulate_pools`); the tallies are pandas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rsim.analysis import report
from rsim.analysis.report import AGREES, TOO_FEW, VIOLATES
from rsim.analysis.stats import FALSE_ALARM

SAMPLE_COUNTS = (4, 8, 16, 64, 256)
# The correct simulations the measurement runs: the CLI's default cell at the size of
# issue 14's false alarm (res-3 uniform, d = 3, L = 3, n_in = 64), small res-3 and res-1 cells
# (res-1 with the identity activation: its gradients are the heaviest-tailed), and a res-3
# Gaussian cell at d = 64 where the high-probability bounds apply (they need d >= 64).
CELLS = (
    dict(model="res3", init="uniform", width=3, n_in=64, depths=(3,)),
    dict(model="res3", init="uniform", width=4, n_in=4, depths=(10, 30)),
    dict(model="res1", init="gaussian", activation="identity", width=4, n_in=4, depths=(3, 30)),
    dict(model="res3", init="gaussian", width=64, n_in=8, sampler="projection", depths=(10, 30)),
)
BETAS = (0.25, 0.5, 1.0)
# The cells of conf/sweep/theory_sharp.yaml, where every high-probability bound of
# rsim/THEORY.md section 3 is informative somewhere (a test checks they match the sweep):
# their false-alarm rate on the informative checks is the one that exercises a bound which
# could fail.
SHARP_CELLS = tuple(
    dict(
        model="res1",
        activation="identity",
        init="gaussian",
        sampler="reduced",
        width=width,
        n_in=16,
        depths=(11000,),
    )
    for width in (4, 64, 1024)
)
SHARP_BETAS = (0.355, 0.5)
SHARP_SAMPLE_COUNTS = (4, 16, 64, 256)


def simulate_pools(
    replicates: int,
    ns: Sequence[int] = SAMPLE_COUNTS,
    seed: int = 0,
    cells: Sequence[dict[str, Any]] = CELLS,
    betas: Sequence[float] = BETAS,
) -> pd.DataFrame:
    """Every cell of ``cells`` at every depth with ``max(ns) * replicates`` samples.

    Args:
        replicates: the replicates per sample count.
        ns: the sample counts n of one replicate.
        seed: the root seed.
        cells: the cells, each a dict of ``rsim.simulate`` options with ``depths``.
        betas: the betas of every cell.

    Returns:
        One cell table of every cell and depth (``gradients="jvp"``).
    """
    import rsim

    frames = []
    for cell in cells:
        options = {k: v for k, v in cell.items() if k != "depths"}
        for depth in cell["depths"]:
            frames.append(
                rsim.simulate(
                    depth=depth,
                    betas=list(betas),
                    samples=max(ns) * replicates,
                    seed=seed,
                    gradients="jvp",
                    **options,
                )
            )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Rate:
    """k events in m trials: the rate k/m and its binomial standard error.

    Example:
        >>> rate = Rate(3, 1000)
        >>> rate.rate, rate.text()
        (0.003, '3.00e-03 ± 1.7e-03 (3/1000)')
    """

    events: int
    trials: int

    @property
    def rate(self) -> float:
        """k/m (NaN for no trial).

        Returns:
            The rate.
        """
        return self.events / self.trials if self.trials else math.nan

    @property
    def se(self) -> float:
        """sqrt(p (1 - p) / m), its binomial standard error (NaN for no trial).

        Returns:
            The standard error.
        """
        p = self.rate
        return math.sqrt(p * (1 - p) / self.trials) if self.trials else math.nan

    def text(self) -> str:
        """``3.00e-03 ± 1.7e-03 (3/1000)``.

        Returns:
            The rate in words.
        """
        return f"{self.rate:.2e} ± {self.se:.1e} ({self.events}/{self.trials})"


def measure(
    pool: pd.DataFrame, ns: Sequence[int] = SAMPLE_COUNTS, max_replicates: int | None = None
) -> pd.DataFrame:
    """One row per n: replicates, sweep VIOLATES rate, per-check rates (all, means,
    probabilities) as :class:`Rate`, and the number of checks the report skipped (too few).

    Args:
        pool: the cell table of :func:`simulate_pools` (replicate j at n: samples
            [j n, (j + 1) n)).
        ns: the sample counts.
        max_replicates: at most this many replicates per n (None: all the pool holds).

    Returns:
        One row per n: ``n``, ``replicates``, ``sweep``, ``check_all``, ``check_mean``,
        ``check_probability``, ``check_informative`` (each a :class:`Rate`),
        ``informative_by_statement`` and ``too_few_per_report``.

    Example:
        >>> import rsim
        >>> pool = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> measure(pool, ns=[2])[["n", "replicates"]]
           n  replicates
        0  2           2
    """
    samples = int(pool["sample"].max()) + 1
    rows = []
    for n in ns:
        count = samples // n
        if max_replicates is not None:
            count = min(count, max_replicates)
        block = pool["sample"].to_numpy() // n
        sweeps = 0
        tally = {kind: [0, 0] for kind in ("all", "mean", "probability", "informative")}
        by_statement: dict[str, list[int]] = {}
        skipped = 0
        for _, part in pool[block < count].groupby(block[block < count], sort=True):
            checks = report.check_table(part)
            sweeps += report.sweep_verdict(checks).startswith("VIOLATES")
            judged = checks[checks["verdict"].isin([AGREES, VIOLATES])]
            skipped += int((checks["verdict"] == TOO_FEW).sum())
            informative = judged[judged["informative"].astype(bool)]
            subsets = {
                "all": judged,
                "mean": judged[judged["kind"] == "mean"],
                "probability": judged[judged["kind"] == "probability"],
                "informative": informative,
            }
            for kind, mine in subsets.items():
                tally[kind][0] += int((mine["verdict"] == VIOLATES).sum())
                tally[kind][1] += len(mine)
            # a violated bound is always informative (rsim/THEORY.md section 8), so the
            # informative judged checks are the informative agreements and the violations
            for _, row in report.informative_counts(checks).iterrows():
                if row["informative"] or row["violate"]:
                    counts = by_statement.setdefault(
                        f"{row['quantity']} {row['statement']}", [0, 0]
                    )
                    counts[0] += int(row["violate"])
                    counts[1] += int(row["informative"] + row["violate"])
        rows.append(
            {
                "n": n,
                "replicates": count,
                "sweep": Rate(sweeps, count),
                **{f"check_{kind}": Rate(*tally[kind]) for kind in tally},
                "informative_by_statement": {k: Rate(*v) for k, v in by_statement.items()},
                "too_few_per_report": skipped / count,
            }
        )
    return pd.DataFrame(rows)


def exceeds_nominal(rate: Rate, sigmas: float = 3.0) -> bool:
    """Whether a measured per-check rate is above FALSE_ALARM by more than ``sigmas`` of its
    own standard errors.

    Args:
        rate: the measured rate.
        sigmas: the margin, in standard errors.

    Returns:
        True when the rate exceeds the nominal level.

    Example:
        >>> exceeds_nominal(Rate(0, 1000)), exceeds_nominal(Rate(30, 1000))
        (False, True)
    """
    return rate.rate > FALSE_ALARM + sigmas * rate.se


def format_table(table: pd.DataFrame) -> str:
    """The markdown table of :func:`measure`.

    Args:
        table: the table of :func:`measure`.

    Returns:
        The markdown, a header and one line per n.
    """
    header = (
        "| n | replicates | sweep VIOLATES | per check (all) | per check (means) | "
        "per check (probabilities) | per informative check | skipped per report |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    lines = [header]
    for _, r in table.iterrows():
        lines.append(
            f"| {r['n']} | {r['replicates']} | {r['sweep'].text()} | {r['check_all'].text()} | "
            f"{r['check_mean'].text()} | {r['check_probability'].text()} | "
            f"{r['check_informative'].text()} | {r['too_few_per_report']:.1f} |"
        )
    return "\n".join(lines)


def format_statement_table(table: pd.DataFrame) -> str:
    """Per statement (rows) and n (columns): violations over informative judged checks.

    Args:
        table: the table of :func:`measure`.

    Returns:
        The markdown table.
    """
    statements = list(dict.fromkeys(name for r in table["informative_by_statement"] for name in r))
    header = "| informative checks of | " + " | ".join(f"n = {n}" for n in table["n"]) + " |"
    lines = [header, "|---|" + "---|" * len(table)]
    for name in statements:
        cells = [
            f"{rates[name].events}/{rates[name].trials}" if name in rates else "-"
            for rates in table["informative_by_statement"]
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rates_array(table: pd.DataFrame, column: str = "check_all") -> np.ndarray:
    return np.array([r.rate for r in table[column]])
