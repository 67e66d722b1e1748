"""Theory in the loop: every statement of :mod:`rsim.analysis.theory` judged on a results table.

Verdicts and markdown only (no figures, no files): :func:`check_table` gives one row per
check, :func:`sweep_verdict` the one-line verdict and :func:`render_markdown` the text of
report.md; :mod:`rsim.report` writes them with the figures of :mod:`rsim.views.report`.

For every cell (a row group of the table: the cell's columns and beta) and for hidden states
(r_h, ``log_hidden_diff``) and gradients (r_p, ``log_grad_diff``, else the forward-mode
``log_jvp_diff``) the report checks

* the Monte Carlo mean of r^2 against the exact value (rsim/THEORY.md section 4) and against
  the Lemma 1 / Proposition 6 band;
* for delta in {0.1, 0.05}, the fraction of samples outside each high-probability bound
  (Propositions 2, 3 (i), 3 (ii), Corollary 1 (iii); Proposition 5) against delta, shown
  with the empirical (1 - delta) quantile (delta quantile for lower bounds);

and gives each check a verdict: ``agrees``, ``violates`` (beyond Monte Carlo error),
``too few samples to judge`` or ``not applicable`` (with the failed condition), and says
whether its bound was informative at that cell (:func:`informative_sides`): a bound that
cannot fail there (a lower bound <= 0, an upper bound more than INFORMATIVE_RATIO times the
observed quantity) agrees vacuously, and the verdict line counts those agreements apart.
Proposition 5 judged on the forward-mode r_q (no backprop column) is labelled as holding
through Markov's inequality only (:data:`PROP5_ON_TANGENT`). The sweep gets a one-line
verdict, and report.md a table of informative checks per statement, and per series a table of
the hypotheses that fail (H1, H1', H2, H4) and of where each statement applies: the exact
value holds for every branch with a closed form, c = gain^2 (gain^2 kappa)^m (m hidden layers
for mlp and conv, rsim/THEORY.md section 11).

Monte Carlo error (the estimators are in :mod:`rsim.analysis.stats`; rsim/THEORY.md
section 8 states the same rules).

* Means: the sample mean +- 4 standard errors. For a correct simulator and light tails a
  false alarm has probability about 6e-5 per check. r^2 is positive and right-skewed, and
  where L alpha^2 is large (beta = 0.25) it is close to log-normal with a large log-variance:
  the sample mean and its standard error then both come out too small most of the time, and
  the rare large draws that would correct them are missing. A mean *above* the target is
  therefore trustworthy evidence (the skew works against it; a simulated log-normal with
  log-variance up to 8 never showed a false alarm on that side), but a mean *below* the
  target is not. A "too small" verdict therefore needs a second, tail-robust estimate to
  agree: the log-normal estimate exp(m + v/2) from the mean m and variance v of log r^2,
  with its delta-method error sqrt(v/n + v^2/(2(n - 1))) on the log scale, also 4 errors
  below the target. log r^2 is a sum of L per-layer log increments, so log-normality is
  the regime where the tails are heavy (the simulated log r^2 have skewness within +-0.25).
  Where log r^2 is clearly left-skewed (skewness < -0.5) the tail of r^2 is lighter than
  log-normal, the log-normal estimate would be biased upwards, and the plain interval
  decides alone. Where log r^2 is clearly right-skewed (skewness > 0.5, e.g. the conv branch
  at beta = 1/4) its tail is heavier than log-normal, the log-normal estimate is biased low
  too, and a deficit is never a violation. A mean that is below by the plain interval only is
  reported ``agrees`` with a note. The cost: a cell whose true mean is below its target by
  less than the log-normal estimate's error is not flagged (nor any deficit where log r^2 is
  right-skewed); the test of a planted halved alpha shows the power that remains.
* Sample floors: below MIN_MEAN_SAMPLES a mean check says ``too few samples to judge``, and
  so does a mean below its target resting on fewer than MIN_DEFICIT_EFFECTIVE effective
  samples (sum r^2)^2 / sum r^4 (the measured false-alarm rates
  are in rsim/THEORY.md section 8; :mod:`rsim.analysis.false_alarms` measures them).
* Probabilities: the number k of samples outside a bound is compared with Binomial(n, delta)
  exactly; the bound is violated if P(Binomial(n, delta) >= k) < 3.2e-5, the one-sided tail
  of 4 standard deviations. This needs no moment of r^2 at all, so heavy tails do not
  matter. The quantile shown comes with the distribution-free order-statistic interval at
  the same level.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsim import schema
from rsim.analysis import theory
from rsim.analysis.stats import (
    FALSE_ALARM,
    MeanEstimate,
    Z,
    binomial_tail,
    mean_estimate,
    quantile_interval,
)
from rsim.analysis.theory import Band, NotApplicable
from rsim.labels import series_label, statement_label

DELTAS = (0.1, 0.05)
AGREES, VIOLATES, NOT_APPLICABLE = "agrees", "violates", "not applicable"
TOO_FEW = "too few samples to judge"
# The fewest samples at which a mean check judges, and the fewest effective samples
# (sum r^2)^2 / sum r^4 on which a mean *below* its target may be called a violation. The null
# of the mean rules (mean +- 4 SE, the log-normal cross-check and the skewness of log r^2 that
# picks between them) rests on the sample SE and sample moments being near their true values.
# Measured on correct simulations (rsim.analysis.false_alarms, scripts/false_alarms.py;
# rsim/THEORY.md section 8): an excess beyond 4 SE never came up at any n >= 4, but a deficit
# did, at 4.4e-2 of the mean checks at n = 4, 2.8e-3 at n = 64 and 1.1e-3 at n = 256 and 512
# (small widths, beta = 1/4: heavy tails), every time with fewer than 300 effective samples
# (a planted halved alpha at n = 512, d = 16 has 440). Below MIN_MEAN_SAMPLES a mean check
# says "too few samples to judge"; a deficit on fewer than MIN_DEFICIT_EFFECTIVE effective
# samples says so too.
MIN_MEAN_SAMPLES = 64
MIN_DEFICIT_EFFECTIVE = 400
# Below this skewness of log r^2 the right tail of r^2 is lighter than log-normal (e.g. an
# exponential r^2 has -1.1, chi-square with 1 degree of freedom -1.6): the plain interval is
# trusted on its own and the log-normal estimate, biased upwards there, is not consulted.
LEFT_SKEWED = -0.5
# Above this skewness of log r^2 the right tail of r^2 is heavier than log-normal: the
# log-normal estimate exp(m + v/2) leaves out the positive third cumulant and is biased low
# like the sample mean, so it cannot confirm a deficit. The conv branch gives 0.8 at beta = 1/4
# (L = 1000, d = 64: few kernel entries per layer, rsim/THEORY.md section 11); the dense
# branches stay within +-0.25.
RIGHT_SKEWED = 0.5
# A bound is informative at a cell when the cell could contradict it: a lower bound above 0
# (r^2 > 0 always, so a lower bound <= 0 cannot fail), or an upper bound at most this many
# times the observed quantity it bounds (the (1 - delta) quantile of r^2 for a high-probability
# bound, the Monte Carlo mean for a bound on E[r^2]). An upper bound above the observed
# (1 - delta) quantile leaves fewer than delta n samples outside, so a vacuous check never
# violates (rsim/THEORY.md section 8).
INFORMATIVE_RATIO = 10.0
HIDDEN = "log_hidden_diff"
# The gradient's log r column, in order of preference: exact backprop, then forward mode.
GRADIENT_COLUMNS = tuple(f"log_{name}" for name in schema.GRADIENT_DIFFS)
JVP_COLUMN = "log_jvp_diff"
# Proposition 5 is a statement on the law of r_p. The forward-mode r_q shares only its second
# moment (E r_q^2 = E r_p^2, rsim/THEORY.md section 4), so 2 L alpha^2 / delta bounds r_q
# through Markov's inequality on that mean, not as Proposition 5 itself.
PROP5_ON_TANGENT = (
    "judged on the jvp tangent r_q, not r_p: holds only through Markov's inequality on "
    "E r_q^2 = E r_p^2 <= 2 L alpha^2"
)


# --------------------------------------------------------------------------------------------
# Checks


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def check_mean(log_sq: np.ndarray, target: float | Band) -> tuple[str, str, MeanEstimate]:
    """Verdict of the mean of r^2 against an exact value or a band (see the module doc).

    Args:
        log_sq: the samples of log r^2.
        target: the exact E[r^2], or a :class:`~rsim.analysis.theory.Band` it must lie in.

    Returns:
        ``(verdict, reason, estimate)``: AGREES, VIOLATES or TOO_FEW, the reason in words
        ('' when it agrees), and the :class:`~rsim.analysis.stats.MeanEstimate`.

    Example:
        >>> import numpy as np
        >>> log_sq = np.log(np.random.default_rng(0).exponential(size=400))  # E r^2 = 1
        >>> verdict, reason, estimate = check_mean(log_sq, 1.0)
        >>> verdict, round(estimate.value, 3)
        ('agrees', 1.126)
    """
    est = mean_estimate(log_sq)
    band = target if isinstance(target, Band) else Band(target, target)
    if est.n < MIN_MEAN_SAMPLES:
        return (
            TOO_FEW,
            f"n = {est.n} < {MIN_MEAN_SAMPLES} samples: no valid null for the 4-SE mean check",
            est,
        )
    if not (math.isfinite(band.upper) and math.isfinite(est.shift)):
        return NOT_APPLICABLE, "float64 overflow of the target or of r^2", est
    scale = math.exp(-est.shift)
    too_large = est.mean - Z * est.se > band.upper * scale
    too_small = est.mean + Z * est.se < band.lower * scale
    if too_large:
        return VIOLATES, "mean above the target by more than 4 SE", est
    if too_small:
        if est.log_skewness > RIGHT_SKEWED:
            return (
                AGREES,
                (
                    f"heavy tail: sample mean > 4 SE below, but log r^2 is right-skewed "
                    f"(skewness {est.log_skewness:.2f}): no estimate is trusted below "
                    f"(effective samples {est.effective_samples:.0f})"
                ),
                est,
            )
        if est.log_skewness < LEFT_SKEWED:
            why = "light tail"
        elif est.log_lognormal + Z * est.log_lognormal_error < _log(band.lower) - est.shift:
            why = "log-normal agrees"
        else:
            return (
                AGREES,
                (
                    f"heavy tail: sample mean > 4 SE below, log-normal estimate within "
                    f"error (effective samples {est.effective_samples:.0f})"
                ),
                est,
            )
        if est.effective_samples < MIN_DEFICIT_EFFECTIVE:
            return (
                TOO_FEW,
                (
                    f"mean > 4 SE below the target ({why}), but on {est.effective_samples:.0f} "
                    f"effective samples < {MIN_DEFICIT_EFFECTIVE}: too few to judge a deficit"
                ),
                est,
            )
        return VIOLATES, f"mean below the target by more than 4 SE ({why})", est
    return AGREES, "", est


def check_probability(log_sq: np.ndarray, band: Band, delta: float) -> tuple[str, str, int]:
    """Verdict of 'P(lower < r^2 < upper) >= 1 - delta' from the count k outside the band.

    Args:
        log_sq: the samples of log r^2.
        band: the band.
        delta: the probability the statement allows outside it.

    Returns:
        ``(verdict, reason, k)``: AGREES or VIOLATES (exact binomial test at
        :data:`~rsim.analysis.stats.FALSE_ALARM`), the reason ('' when it agrees), the count.

    Example:
        >>> import numpy as np
        >>> from rsim.analysis.theory import Band
        >>> log_sq = np.log(np.random.default_rng(0).exponential(size=400))
        >>> check_probability(log_sq, Band(0.0, 10.0), delta=0.01)
        ('agrees', '', 0)
        >>> check_probability(log_sq, Band(0.0, 0.5), delta=0.01)[0]
        'violates'
    """
    log_sq = np.asarray(log_sq, dtype=np.float64)
    outside = int(np.sum(log_sq >= _log(band.upper)) + np.sum(log_sq <= _log(band.lower)))
    p = binomial_tail(outside, log_sq.size, delta)
    if p < FALSE_ALARM:
        return (
            VIOLATES,
            f"{outside}/{log_sq.size} outside, P(Bin(n, delta) >= k) = {p:.1e}",
            outside,
        )
    return AGREES, "", outside


def informative_sides(band: Band, observed: float) -> tuple[bool, bool]:
    """(lower, upper): whether each end of ``band`` is informative against ``observed``, the
    quantity it bounds at this cell (see INFORMATIVE_RATIO): a lower end > 0, an upper end
    finite and <= INFORMATIVE_RATIO * observed. A one-sided bound has the other end at -inf
    or +inf, which is never informative; an exact value (lower = upper > 0) always is.

    Args:
        band: the bound.
        observed: the quantity it bounds, as measured.

    Returns:
        ``(lower informative, upper informative)``.

    Example:
        >>> from rsim.analysis.theory import Band
        >>> informative_sides(Band(0.1, 3.0), 1.0), informative_sides(Band(-math.inf, 100.0), 1.0)
        ((True, True), (False, False))
    """
    lower = band.lower > 0
    upper = (
        math.isfinite(band.upper)
        and math.isfinite(observed)
        and observed > 0
        and band.upper <= INFORMATIVE_RATIO * observed
    )
    return bool(lower), bool(upper)


def _informative_update(band: Band, observed: float) -> dict:
    """The row fields ``informative`` and ``bound_over_observed`` (upper end / observed)."""
    lower, upper = informative_sides(band, observed)
    ratio = band.upper / observed if math.isfinite(band.upper) and observed > 0 else math.nan
    return {"informative": lower or upper, "bound_over_observed": ratio}


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4g}"


def _row(
    key: dict, quantity: str, column: str, statement: str, kind: str, delta: float = math.nan
) -> dict:
    return {
        **key,
        "quantity": quantity,
        "column": column,
        "statement": statement,
        "kind": kind,
        "delta": delta,
        "bound_lower": math.nan,
        "bound_upper": math.nan,
        "estimate": math.nan,
        "ci_lower": math.nan,
        "ci_upper": math.nan,
        "outside": math.nan,
        "n": math.nan,
        "verdict": NOT_APPLICABLE,
        "informative": False,
        "bound_over_observed": math.nan,
        "note": "",
    }


def _mean_row(base: dict, log_sq: np.ndarray, target: float | NotApplicable) -> dict:
    row = dict(base)
    if isinstance(target, NotApplicable):
        row["note"] = target.condition
        return row
    band = target if isinstance(target, Band) else Band(target, target)
    verdict, note, est = check_mean(log_sq, target)
    low, high = est.interval
    row.update(
        bound_lower=band.lower,
        bound_upper=band.upper,
        estimate=est.value,
        ci_lower=low,
        ci_upper=high,
        n=est.n,
        verdict=verdict,
        note=note,
        **_informative_update(band, est.value),
    )
    return row


def _probability_row(
    base: dict, log_sq: np.ndarray, bound: float | Band | NotApplicable, side: str, delta: float
) -> dict:
    """``side``: 'upper' (P(r^2 <= b) >= 1 - delta), 'lower' (P(r^2 > b) >= 1 - delta), or
    'band' (a Band)."""
    row = dict(base)
    if isinstance(bound, NotApplicable):
        row["note"] = bound.condition
        return row
    band = (
        bound
        if isinstance(bound, Band)
        else (Band(-math.inf, bound) if side == "upper" else Band(bound, math.inf))
    )
    verdict, note, outside = check_probability(log_sq, band, delta)
    # The quantile on the side of the bound: (1 - delta) for an upper bound, delta for lower.
    q = delta if side == "lower" else 1 - delta
    estimate, low, high = quantile_interval(log_sq, q)
    row.update(
        bound_lower=band.lower,
        bound_upper=band.upper,
        estimate=math.exp(estimate),
        ci_lower=math.exp(low),
        ci_upper=math.exp(high),
        outside=outside,
        n=log_sq.size,
        verdict=verdict,
        note=note,
        **_informative_update(band, math.exp(estimate)),
    )
    return row


def hidden_statements(net: theory.Network, beta: float, depth: int) -> list[tuple]:
    """(name, kind, delta, bound, side) for every statement about r_h at alpha = L^-beta."""
    alpha = depth**-beta
    out = [
        ("exact E[r^2]", "mean", math.nan, theory.exact_second_moment(net, alpha, depth), ""),
        ("Lemma 1", "mean", math.nan, theory.lemma1_bounds(net, alpha, depth), ""),
    ]
    for delta in DELTAS:
        out += [
            ("Prop 2", "probability", delta, theory.prop2_upper(net, alpha, depth, delta), "upper"),
            (
                "Prop 3 (i)",
                "probability",
                delta,
                theory.prop3_lower(net, alpha, depth, delta),
                "lower",
            ),
            (
                "Prop 3 (ii)",
                "probability",
                delta,
                theory.prop3_upper(net, alpha, depth, delta),
                "upper",
            ),
            (
                "Cor 1 (iii)",
                "probability",
                delta,
                theory.corollary1_band(net, beta, depth, delta),
                "band",
            ),
        ]
    return out


def gradient_statements(net: theory.Network, beta: float, depth: int) -> list[tuple]:
    """(name, kind, delta, bound, side) for every statement about r_p at alpha = L^-beta.

    Corollary 2 (iii) is a limit statement: its band is kept for the figures, never judged.
    """
    alpha = depth**-beta
    out = [
        ("exact E[r^2]", "mean", math.nan, theory.exact_second_moment(net, alpha, depth), ""),
        ("Prop 6", "mean", math.nan, theory.prop6_bounds(net, alpha, depth), ""),
    ]
    out += [
        ("Prop 5", "probability", delta, theory.prop5_upper(net, alpha, depth, delta), "upper")
        for delta in DELTAS
    ]
    out.append(("Cor 2 (iii)", "limit", math.nan, theory.corollary2_limit_band(net, beta), ""))
    return out


def _unusable(log_sq: np.ndarray | None, missing: str) -> NotApplicable | None:
    """Why samples cannot be judged: no column, or NaN / +inf (overflow) among them."""
    if log_sq is None:
        return NotApplicable(missing)
    if not np.all(np.isfinite(log_sq) | (log_sq == -np.inf)):
        return NotApplicable("non-finite r^2 samples (overflow or NaN)")
    return None


def _judge(
    key: dict,
    quantity: str,
    column: str,
    log_sq: np.ndarray | None,
    statements: list[tuple],
    unusable: NotApplicable | None,
) -> list[dict]:
    rows = []
    for name, kind, delta, bound, side in statements:
        row = _row(key, quantity, column, name, kind, delta)
        if unusable is not None:
            row["note"] = unusable.condition
        elif kind == "limit":
            if isinstance(bound, Band):
                row.update(bound_lower=bound.lower, bound_upper=bound.upper)
                bound = NotApplicable(
                    "a statement about L -> infinity; at finite L Prop 6 "
                    "applies (its lower end is below e^(1/2) - 1)"
                )
            row["note"] = bound.condition
        elif kind == "mean":
            row = _mean_row(row, log_sq, bound)
        else:
            row = _probability_row(row, log_sq, bound, side, delta)
        rows.append(row)
    return rows


def cell_checks(key: dict, group: pd.DataFrame) -> list[dict]:
    """Every check of one (cell, beta) group, hidden states then gradients.

    alpha is the definition L^-beta from the cell's depth and beta, not the stored column:
    a simulator that used another alpha is what the report must catch.
    """
    net = theory.Network.from_mapping(key)
    beta, depth = float(key["beta"]), int(key["depth"])
    hidden = 2 * group[HIDDEN].to_numpy(dtype=np.float64)
    rows = _judge(
        key, "hidden", HIDDEN, hidden, hidden_statements(net, beta, depth), _unusable(hidden, "")
    )
    column = gradient_column(group)
    gradient = None if column is None else 2 * group[column].to_numpy(dtype=np.float64)
    unusable = _unusable(gradient, "no gradient column (simulated with gradients=none)")
    gradient_rows = _judge(
        key, "gradient", column or "", gradient, gradient_statements(net, beta, depth), unusable
    )
    if column == JVP_COLUMN:
        for row in gradient_rows:
            if row["statement"] == "Prop 5" and row["verdict"] != NOT_APPLICABLE:
                row["note"] = "; ".join(n for n in (PROP5_ON_TANGENT, row["note"]) if n)
    return rows + gradient_rows


def gradient_column(frame: pd.DataFrame) -> str | None:
    """The column of log r_p judged for gradients: exact backprop, else forward mode.

    Args:
        frame: a cell table.

    Returns:
        ``log_grad_diff``, else ``log_jvp_diff``, else None.

    Example:
        >>> gradient_column(pd.DataFrame(columns=["log_jvp_diff", "log_grad_diff"]))
        'log_grad_diff'
    """
    return next((c for c in GRADIENT_COLUMNS if c in frame), None)


def cell_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that identify a (cell, beta) group: the cell columns present
    and ``beta``. Other columns (other metrics, unknown keys) are tolerated and ignored.

    Args:
        frame: a cell table.

    Returns:
        The group columns.

    Example:
        >>> cell_columns(pd.DataFrame(columns=["model", "depth", "sample", "beta"]))
        ['model', 'depth', 'beta']
    """
    return [c for c in schema.CELL_COLUMNS if c in frame] + ["beta"]


def series_columns(frame: pd.DataFrame) -> list[str]:
    """The columns of ``frame`` that identify a series of cells (one curve against L).

    Args:
        frame: a cell table.

    Returns:
        The series columns present.

    Example:
        >>> series_columns(pd.DataFrame(columns=["model", "depth", "init", "beta"]))
        ['model', 'init']
    """
    return [c for c in schema.CELL_SERIES if c in frame]


def check_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, beta, quantity, statement, delta) with bounds, estimate, verdict.

    Args:
        frame: a cell table (``rsim.simulate`` or ``rsim.load``).

    Returns:
        The checks (what report.csv holds): the cell columns, ``beta``, ``quantity``,
        ``column``, ``statement``, ``kind``, ``delta``, the bounds, the estimate with its
        interval, ``verdict``, ``informative`` and ``note``.

    Example:
        >>> import rsim
        >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> checks = check_table(df)
        >>> checks[["quantity", "statement"]].drop_duplicates().head(3)
          quantity     statement
        0   hidden  exact E[r^2]
        1   hidden       Lemma 1
        2   hidden        Prop 2
    """
    keys = cell_columns(frame)
    rows = []
    for values, group in frame.groupby(keys, sort=True, dropna=False):
        rows.extend(cell_checks(dict(zip(keys, values)), group))
    return pd.DataFrame(rows)


def sweep_verdict(checks: pd.DataFrame) -> str:
    """One line: how many checks agree (informative and vacuous apart), violate, are too few
    samples to judge (means below the sample floors), are not applicable; AGREES or VIOLATES.
    AGREES with no informative agreement says so: nothing the cells could contradict was
    checked.

    Args:
        checks: the table of :func:`check_table`.

    Returns:
        The verdict line.

    Example:
        >>> import rsim
        >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> sweep_verdict(check_table(df)).split()[0]
        'AGREES'
    """
    judged = checks[checks["kind"] != "limit"]
    counts = judged["verdict"].value_counts()
    n_cells = len(judged.drop_duplicates(cell_columns(judged)))
    agree, violate = int(counts.get(AGREES, 0)), int(counts.get(VIOLATES, 0))
    na, few = int(counts.get(NOT_APPLICABLE, 0)), int(counts.get(TOO_FEW, 0))
    informative = int(judged[judged["verdict"] == AGREES]["informative"].astype(bool).sum())
    skipped = f", {few} too few samples to judge" if few else ""
    text = (
        f"{n_cells} cells, {len(judged)} checks: {agree} agree ({informative} informative, "
        f"{agree - informative} vacuous), {violate} violate beyond Monte Carlo error{skipped}, "
        f"{na} not applicable"
    )
    if violate:
        bad = judged[judged["verdict"] == VIOLATES]
        first = bad.iloc[0]
        return (
            f"VIOLATES: {text} (first: {first['quantity']} {first['statement']} at "
            f"depth={first['depth']}, beta={first['beta']:g})"
        )
    if not agree:
        if few:
            return f"TOO FEW SAMPLES: {text}"
        return f"NOTHING CHECKED: {text}"
    if not informative:
        return f"AGREES (0 informative checks: every agreeing bound is vacuous here): {text}"
    return f"AGREES: {text}"


def informative_counts(checks: pd.DataFrame) -> pd.DataFrame:
    """Per (quantity, statement, column), in the order of the checks: how many checks agree
    with an informative bound, agree vacuously, violate, are too few to judge, not apply.

    Args:
        checks: the table of :func:`check_table`.

    Returns:
        One row per statement with the five counts.
    """
    judged = checks[checks["kind"] != "limit"]
    rows = []
    keys = ["quantity", "statement", "column"]
    for (quantity, statement, column), part in judged.groupby(keys, sort=False):
        verdict, informative = part["verdict"], part["informative"].astype(bool)
        rows.append(
            {
                "quantity": quantity,
                "statement": statement_label(quantity, statement, column),
                "informative": int(((verdict == AGREES) & informative).sum()),
                "vacuous": int(((verdict == AGREES) & ~informative).sum()),
                "violate": int((verdict == VIOLATES).sum()),
                "too_few": int((verdict == TOO_FEW).sum()),
                "not_applicable": int((verdict == NOT_APPLICABLE).sum()),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# report.md


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # A '|' inside a cell (norms: ||h||) would split it: escape it.
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict_mark(row: Mapping[str, Any]) -> str:
    return {
        AGREES: "agrees",
        VIOLATES: "**VIOLATES**",
        NOT_APPLICABLE: "n/a",
        TOO_FEW: "too few samples",
    }[row["verdict"]]


def _bound_text(row: Mapping[str, Any]) -> str:
    lo, hi = row["bound_lower"], row["bound_upper"]
    if math.isnan(lo) and math.isnan(hi):
        return ""
    if lo == hi:
        return _fmt(lo)
    if lo == -math.inf:
        return f"≤ {_fmt(hi)}"
    if hi == math.inf:
        return f"> {_fmt(lo)}"
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


def _cell_tables(checks: pd.DataFrame) -> list[str]:
    """Per series (everything but depth and beta): a table of means and one of quantiles."""
    out = []
    series_keys = series_columns(checks)
    for _, series in checks.groupby(series_keys, sort=True, dropna=False):
        first = series.iloc[0]
        out.append(f"### {series_label(first)}\n")
        for quantity in ("hidden", "gradient"):
            part = series[series["quantity"] == quantity]
            column = part["column"].iloc[0] if len(part) else ""
            title = (
                "hidden states, r² = ‖h_L − h_0‖²/‖h_0‖²"
                if quantity == "hidden"
                else (f"gradients, r² from `{column}`" if column else "gradients")
            )
            means = part[part["kind"] == "mean"]
            rows = []
            for (depth, beta), cell in means.groupby(["depth", "beta"], sort=True):
                by = {r["statement"]: r for _, r in cell.iterrows()}
                exact = by["exact E[r^2]"]
                band = by.get("Lemma 1", by.get("Prop 6"))
                est = exact if exact["verdict"] != NOT_APPLICABLE else band
                estimate = (
                    f"{_fmt(est['estimate'])} [{_fmt(est['ci_lower'])}, {_fmt(est['ci_upper'])}]"
                    if not math.isnan(est["estimate"])
                    else ""
                )
                notes = "; ".join(
                    n
                    for n in (exact["note"], band["note"])
                    if n and (exact["verdict"] != NOT_APPLICABLE or n == exact["note"])
                )
                net = theory.Network.from_mapping(exact)
                regime = theory.corollary1_regime(beta, net.dim, net)
                rows.append(
                    [
                        f"{depth}",
                        f"{beta:g}",
                        estimate,
                        _bound_text(exact),
                        _verdict_mark(exact),
                        _bound_text(band),
                        _verdict_mark(band),
                        regime if isinstance(regime, str) else "n/a",
                        notes,
                    ]
                )
            band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
            out.append(f"**{title}: E[r²], Monte Carlo mean [± 4 SE]**\n")
            out.append(
                _markdown_table(
                    [
                        "L",
                        "β",
                        "E[r²] MC",
                        "exact",
                        "verdict",
                        band_name,
                        "verdict",
                        "L → ∞ (Cor 1/2)",
                        "note",
                    ],
                    rows,
                )
                + "\n"
            )
            probs = part[part["kind"] == "probability"]
            statements = list(dict.fromkeys(probs["statement"]))
            rows = []
            for (depth, beta, _, delta), cell in probs.assign(_order=-probs["delta"]).groupby(
                ["depth", "beta", "_order", "delta"], sort=True
            ):
                by = {r["statement"]: r for _, r in cell.iterrows()}
                first_applicable = next(
                    (r for r in by.values() if r["verdict"] != NOT_APPLICABLE), None
                )
                quantiles = ""
                if first_applicable is not None:
                    quantiles = _quantiles_text(cell)
                entries = []
                for name in statements:
                    r = by[name]
                    entries.append(
                        "n/a"
                        if r["verdict"] == NOT_APPLICABLE
                        else f"{_bound_text(r)} {_verdict_mark(r)} "
                        f"({int(r['outside'])}/{int(r['n'])} out; {_informative_text(r)})"
                    )
                rows.append([f"{depth}", f"{beta:g}", f"{delta:g}", quantiles] + entries)
            out.append(
                f"**{title}: high-probability bounds on r² "
                "(verdict: count outside vs Binomial(n, δ); informative or vacuous, with the "
                "upper bound over the observed quantile q)**\n"
            )
            labels = [statement_label(quantity, name, column) for name in statements]
            out.append(
                _markdown_table(["L", "β", "δ", "q_δ, q_(1−δ) of r² [interval]"] + labels, rows)
                + "\n"
            )
    return out


def _informative_text(row: Mapping[str, Any]) -> str:
    """'informative: lower > 0, 2.3 q' / 'vacuous: 14 q' for a high-probability check: whether
    an end bites, and the upper end over the observed quantile q (``estimate``)."""
    lower, upper = informative_sides(Band(row["bound_lower"], row["bound_upper"]), row["estimate"])
    parts = ["lower > 0"] if lower else []
    if math.isfinite(row["bound_over_observed"]):
        parts.append(f"{row['bound_over_observed']:.2g} q")
    word = "informative" if lower or upper else "vacuous"
    return f"{word}: {', '.join(parts)}" if parts else word


def _informative_table(checks: pd.DataFrame) -> str:
    counts = informative_counts(checks)
    rows = [
        [
            r["quantity"],
            r["statement"],
            str(r["informative"]),
            str(r["vacuous"]),
            str(r["violate"]),
            str(r["too_few"]),
            str(r["not_applicable"]),
        ]
        for _, r in counts.iterrows()
    ]
    return _markdown_table(
        [
            "quantity",
            "statement",
            "agree, informative",
            "agree, vacuous",
            "violate",
            "too few samples",
            "not applicable",
        ],
        rows,
    )


def _quantiles_text(cell: pd.DataFrame) -> str:
    parts = []
    lower = cell[(cell["verdict"] != NOT_APPLICABLE) & (cell["bound_upper"] == math.inf)]
    upper = cell[(cell["verdict"] != NOT_APPLICABLE) & (cell["bound_upper"] != math.inf)]
    for rows in (lower, upper):
        if len(rows):
            r = rows.iloc[0]
            parts.append(f"{_fmt(r['estimate'])} [{_fmt(r['ci_lower'])}, {_fmt(r['ci_upper'])}]")
    return "; ".join(parts)


def _constants_table(checks: pd.DataFrame) -> str:
    rows = []
    series_keys = [c for c in series_columns(checks) if c not in ("n_in", "seed")]
    for _, series in checks.groupby(series_keys, sort=True, dropna=False):
        net = theory.Network.from_mapping(series.iloc[0])
        s = theory.subgaussian_parameter(net.init)
        c = theory.eighth_moment_constant(net)
        exact = theory.second_moment_factor(net)
        rows.append(
            [
                series_label(series.iloc[0]),
                _fmt(s) if not isinstance(s, NotApplicable) else "n/a",
                _fmt(c) if not isinstance(c, NotApplicable) else "n/a",
                theory.hypotheses_text(net),
                _fmt(exact) if exact is not None else "none",
            ]
        )
    return _markdown_table(
        [
            "series",
            "s (sub-Gaussian)",
            "C (E‖g‖⁸ ≤ C‖h‖⁸)",
            "H1, H1', H2, H4 hold",
            "c in (1 + c α²)^L − 1",
        ],
        rows,
    )


# The statements of the applicability table, in the order of rsim/THEORY.md section 3.
APPLICABILITY = (
    ("hidden", "exact E[r^2]"),
    ("hidden", "Lemma 1"),
    ("hidden", "Prop 2"),
    ("hidden", "Prop 3 (i)"),
    ("hidden", "Prop 3 (ii)"),
    ("hidden", "Cor 1 (iii)"),
    ("gradient", "Prop 5"),
    ("gradient", "Prop 6"),
)


def _applicability_entry(rows: pd.DataFrame) -> str:
    """'yes' (every cell), 'k/n cells', or 'no (H1)' / 'no: condition' (the commonest)."""
    if not len(rows):
        return ""
    cells = rows.drop_duplicates(cell_columns(rows))
    applies = rows[rows["verdict"] != NOT_APPLICABLE].drop_duplicates(cell_columns(rows))
    if len(applies) == len(cells):
        return "yes"
    if len(applies):
        return f"{len(applies)}/{len(cells)} cells"
    note = rows["note"].map(_condition_without_values).value_counts().index[0]
    hypothesis = re.match(r"(H\d'?):", note)
    return f"no ({hypothesis.group(1)})" if hypothesis else f"no: {note}"


def _applicability_table(checks: pd.DataFrame) -> str:
    """Per series, where each statement applies; 'no (Hn)' names the failed hypothesis,
    whose condition the table of constants spells out."""
    rows = []
    series_keys = [c for c in series_columns(checks) if c not in ("n_in", "seed")]
    for _, series in checks.groupby(series_keys, sort=True, dropna=False):
        entries = []
        for quantity, statement in APPLICABILITY:
            mine = series[(series["quantity"] == quantity) & (series["statement"] == statement)]
            entries.append(_applicability_entry(mine))
        rows.append([series_label(series.iloc[0])] + entries)
    header = ["series"] + [
        ("exact E r_h²" if name == "exact E[r^2]" else name) for _, name in APPLICABILITY
    ]
    return _markdown_table(header, rows)


def _condition_without_values(note: str) -> str:
    """'L alpha^2 <= 1 (L alpha^2 = 3.2)' -> 'L alpha^2 <= 1'; 'x <= f(C) = 0.01 (C = 2)' ->
    'x <= f(C)': the same condition at different cells groups together."""
    note = re.sub(r" \([^()]*\)$", "", note)
    return re.sub(r" = [-+0-9.e]+$", "", note)


def _not_applicable_summary(checks: pd.DataFrame) -> str:
    na = checks[(checks["verdict"] == NOT_APPLICABLE) & (checks["kind"] != "limit")]
    if not len(na):
        return "Every check applied.\n"
    na = na.assign(condition=na["note"].map(_condition_without_values))
    rows = [
        [statement, condition, group["note"].iloc[0], str(len(group))]
        for (statement, condition), group in na.groupby(["statement", "condition"], sort=False)
    ]
    return _markdown_table(["statement", "failed condition", "first case", "checks"], rows) + "\n"


def _method_text() -> str:
    return (
        "Monte Carlo error: means are judged with the sample mean ± 4 standard errors; a mean "
        "*below* its target must also be 4 errors below by the log-normal estimate "
        "exp(m + v/2) of log r² (heavy right tails at large L α² make the plain mean and its "
        "SE too small; see `rsim.analysis.report` and rsim/THEORY.md section 8). Means are "
        f"judged from n = {MIN_MEAN_SAMPLES} samples, a deficit from {MIN_DEFICIT_EFFECTIVE} "
        "effective samples (sum r²)²/sum r⁴ (below: 'too few samples to judge'; floors "
        "measured by scripts/false_alarms.py). A "
        "high-probability bound 'with probability ≥ 1 − δ' "
        f"is violated when the count outside it has P(Binomial(n, δ) ≥ k) < {FALSE_ALARM:.1e} "
        "(the one-sided 4σ level); the quantile shown carries the distribution-free "
        "order-statistic interval at the same level. α = L^−β. Corollary 2 (iii) is a limit "
        "statement and is drawn, not judged; Corollary 1 (i)-(ii) and 2 (i)-(ii) are limits "
        "too: the column 'L → ∞' names the regime they predict. A bound is *informative* at a "
        f"cell when the cell could contradict it: a lower bound > 0, or an upper bound within "
        f"{INFORMATIVE_RATIO:g}x of the observed quantity (the (1 − δ) quantile of r², or the "
        "Monte Carlo mean for E[r²]); otherwise it agrees *vacuously* (it cannot fail there), "
        "and the verdict counts those agreements apart. Proposition 5 judged on the jvp "
        "tangent r_q (no backprop column) holds only through Markov's inequality on "
        "E r_q² = E r_p².\n"
    )


def render_markdown(
    checks: pd.DataFrame, folder: Path, figures: list[Path], verdict: str | None = None
) -> str:
    """report.md; ``verdict``: the line to state (default :func:`sweep_verdict`; rsim.report
    adds the run's coverage, e.g. ``— 5 of 10 jobs missing``).

    Args:
        checks: the table of :func:`check_table`.
        folder: the results folder, as the title names it.
        figures: the figures to show (embedded by their path relative to ``folder``, where
            the report goes).
        verdict: the verdict line (None: :func:`sweep_verdict`).

    Returns:
        The markdown.

    Example:
        >>> import rsim
        >>> df = rsim.simulate(width=8, depth=20, betas=[0.5], samples=4, progress=False)
        >>> render_markdown(check_table(df), Path("results/x"), []).splitlines()[0]
        '# rsim theory report: `results/x`'
    """
    parts = [
        f"# rsim theory report: `{folder}`\n",
        f"**Verdict: {verdict or sweep_verdict(checks)}.**\n",
        _method_text(),
        "## Informative checks\n",
        _informative_table(checks) + "\n",
        "## Constants and hypotheses\n",
        _constants_table(checks) + "\n",
        "## Which statements apply\n",
        "H1' is H1's mean-square form (E V = 0, E[VᵀV] = I given the past; rsim/THEORY.md "
        "section 11): Lemma 1 and Props 2, 5, 6 need only H1', Props 3 and Cor 1 (iii) need "
        "H1 itself.\n",
        _applicability_table(checks) + "\n",
    ]
    violations = checks[checks["verdict"] == VIOLATES]
    if len(violations):
        parts.append("## Violations\n")
        rows = [
            [
                r["quantity"],
                r["statement"],
                str(r["depth"]),
                f"{r['beta']:g}",
                _fmt(r["delta"]),
                _bound_text(r),
                f"{_fmt(r['estimate'])} [{_fmt(r['ci_lower'])}, {_fmt(r['ci_upper'])}]",
                r["note"],
            ]
            for _, r in violations.iterrows()
        ]
        parts.append(
            _markdown_table(
                ["quantity", "statement", "L", "β", "δ", "bound", "estimate [interval]", "why"],
                rows,
            )
            + "\n"
        )
    if figures:
        parts.append("## Figures\n")
        parts += [f"![{p.stem}]({Path(os.path.relpath(p, folder)).as_posix()})\n" for p in figures]
    parts.append("## Cells\n")
    parts += _cell_tables(checks)
    parts.append("## Not applicable\n")
    parts.append(_not_applicable_summary(checks))
    return "\n".join(parts)
