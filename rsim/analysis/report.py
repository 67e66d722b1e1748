"""Theory in the loop: every statement of :mod:`rsim.theory` checked against a results folder.

    python -m rsim.report results/<sweep>      # writes report.md, report.csv and figures

For every cell (a row group of the table: the cell's columns and beta) and for hidden states
(r_h, ``log_hidden_diff``) and gradients (r_p, ``log_grad_diff``, else the forward-mode
``log_jvp_diff``) the report checks

* the Monte Carlo mean of r^2 against the exact value (THEORY.md section 4) and against the
  Lemma 1 / Proposition 6 band;
* for delta in {0.1, 0.05}, the fraction of samples outside each high-probability bound
  (Propositions 2, 3 (i), 3 (ii), Corollary 1 (iii); Proposition 5) against delta, shown
  with the empirical (1 - delta) quantile (delta quantile for lower bounds);

and gives each check a verdict: ``agrees``, ``violates`` (beyond Monte Carlo error) or
``not applicable`` (with the failed condition). The sweep gets a one-line verdict.

Monte Carlo error.

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
  decides alone. A mean that is below by the plain interval only is reported ``agrees``
  with a note. The cost: a cell whose true mean is below its target by less than the
  log-normal estimate's error is not flagged; the test of a planted halved alpha shows the
  power that remains.
* Probabilities: the number k of samples outside a bound is compared with Binomial(n, delta)
  exactly; the bound is violated if P(Binomial(n, delta) >= k) < 3.2e-5, the one-sided tail
  of 4 standard deviations. This needs no moment of r^2 at all, so heavy tails do not
  matter. The quantile shown comes with the distribution-free order-statistic interval at
  the same level.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rsim import theory
from rsim.theory import Band, NotApplicable

DELTAS = (0.1, 0.05)
Z = 4.0
# P(N(0, 1) > 4): the binomial tests use the same false-alarm level as the 4-SE intervals.
FALSE_ALARM = 0.5 * math.erfc(Z / math.sqrt(2))
AGREES, VIOLATES, NOT_APPLICABLE = "agrees", "violates", "not applicable"
# Below this skewness of log r^2 the right tail of r^2 is lighter than log-normal (e.g. an
# exponential r^2 has -1.1, chi-square with 1 degree of freedom -1.6): the plain interval is
# trusted on its own and the log-normal estimate, biased upwards there, is not consulted.
LEFT_SKEWED = -0.5
# Columns that identify a cell, when present; ``beta`` is added. Unknown extra columns of a
# table (other metrics, future cell keys) are tolerated and ignored.
CELL_KEYS = ("model", "init", "activation", "negative_slope", "lengthscale", "hurst", "width",
             "n_in", "depth", "gain", "seed")
HIDDEN = "log_hidden_diff"
MAX_HISTOGRAM_ROWS = 6
STATEMENT_COLORS = {"Prop 2": "k", "Prop 3 (i)": "C4", "Prop 3 (ii)": "C3", "Cor 1 (iii)": "C5",
                    "Prop 5": "k"}
GRADIENTS = ("log_grad_diff", "log_jvp_diff")


# --------------------------------------------------------------------------------------------
# Monte Carlo estimates


@dataclass(frozen=True)
class MeanEstimate:
    """Mean of r^2 = exp(log_sq) with its standard error and the log-normal cross-estimate.

    All values are on the scale exp(``shift``) to survive r^2 past float64 range:
    the mean of r^2 is exp(shift) * mean.
    """

    n: int
    shift: float
    mean: float
    se: float
    log_lognormal: float  # log of the log-normal estimate exp(m + v/2)
    log_lognormal_error: float  # its delta-method standard error on the log scale
    effective_samples: float  # (sum r^2)^2 / sum r^4: how many draws the mean rests on
    log_skewness: float  # skewness of log r^2: < LEFT_SKEWED means a tail lighter than log-normal

    @property
    def value(self) -> float:
        return _times_exp(self.mean, self.shift)

    @property
    def interval(self) -> tuple[float, float]:
        return (_times_exp(self.mean - Z * self.se, self.shift),
                _times_exp(self.mean + Z * self.se, self.shift))


def _times_exp(x: float, shift: float) -> float:
    """x * exp(shift) without overflow in the intermediate exp."""
    if x == 0:
        return 0.0
    try:
        return math.copysign(math.exp(math.log(abs(x)) + shift), x)
    except OverflowError:
        return math.copysign(math.inf, x)


def mean_estimate(log_sq: np.ndarray) -> MeanEstimate:
    """The estimate of E[r^2] from samples of log r^2 (finite or -inf for r = 0)."""
    log_sq = np.asarray(log_sq, dtype=np.float64)
    n = log_sq.size
    shift = float(np.max(log_sq))
    x = np.exp(log_sq - shift)
    mean = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    finite = log_sq[np.isfinite(log_sq)]
    m, v = float(finite.mean()), float(finite.var(ddof=1)) if finite.size > 1 else math.inf
    log_lognormal = m + v / 2 - shift
    error = math.sqrt(v / n + v**2 / (2 * (n - 1))) if n > 1 else math.inf
    effective = float(x.sum() ** 2 / (x**2).sum())
    centred = finite - m
    skewness = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5) if v > 0 else 0.0
    return MeanEstimate(n, shift, mean, se, log_lognormal, error, effective, skewness)


def _log_binomial_pmf(n: int, p: float) -> np.ndarray:
    k = np.arange(n + 1)
    lgamma = np.vectorize(math.lgamma)
    return (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_pmf = _log_binomial_pmf(n, p)[k:]
    top = log_pmf.max()
    return float(min(1.0, math.exp(top) * np.exp(log_pmf - top).sum()))


def quantile_interval(values: np.ndarray, q: float,
                      level: float = FALSE_ALARM) -> tuple[float, float, float]:
    """(estimate, lower, upper) of the q-quantile; each end fails with probability <= level.

    Distribution-free: with n draws, x_(i) <= xi_q exactly when at least i draws are
    <= xi_q, a Binomial(n, q) event. The lower end is x_(l) with the largest l such that
    P(Binomial(n, q) <= l - 1) <= level; the upper end symmetric. -inf / +inf where n is too
    small for that level.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    estimate = float(np.quantile(x, q))
    cdf = np.cumsum(np.exp(_log_binomial_pmf(n, q)))  # cdf[j] = P(Bin <= j)
    low_ok = np.nonzero(cdf <= level)[0]  # j = l - 1 with P(Bin <= l - 1) <= level
    lower = float(x[low_ok[-1]]) if low_ok.size else -math.inf
    # x_(u) >= xi_q fails iff Bin >= u: need P(Bin >= u) = 1 - cdf[u - 1] <= level
    high_ok = np.nonzero(1 - cdf <= level)[0]  # j = u - 1
    upper = float(x[high_ok[0] + 1]) if high_ok.size and high_ok[0] + 1 < n else math.inf
    return estimate, lower, upper


# --------------------------------------------------------------------------------------------
# Checks


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def check_mean(log_sq: np.ndarray, target: float | Band) -> tuple[str, str, MeanEstimate]:
    """Verdict of the mean of r^2 against an exact value or a band (see the module doc)."""
    est = mean_estimate(log_sq)
    band = target if isinstance(target, Band) else Band(target, target)
    if not (math.isfinite(band.upper) and math.isfinite(est.shift)):
        return NOT_APPLICABLE, "float64 overflow of the target or of r^2", est
    scale = math.exp(-est.shift)
    too_large = est.mean - Z * est.se > band.upper * scale
    too_small = est.mean + Z * est.se < band.lower * scale
    if too_large:
        return VIOLATES, "mean above the target by more than 4 SE", est
    if too_small:
        if est.log_skewness < LEFT_SKEWED:
            return VIOLATES, "mean below the target by more than 4 SE (light tail)", est
        lognormal_small = (est.log_lognormal + Z * est.log_lognormal_error
                           < _log(band.lower) - est.shift)
        if lognormal_small:
            return VIOLATES, "mean below the target by more than 4 SE (log-normal agrees)", est
        return AGREES, (f"heavy tail: sample mean > 4 SE below, log-normal estimate within "
                        f"error (effective samples {est.effective_samples:.0f})"), est
    return AGREES, "", est


def check_probability(log_sq: np.ndarray, band: Band, delta: float) -> tuple[str, str, int]:
    """Verdict of 'P(lower < r^2 < upper) >= 1 - delta' from the count k outside the band."""
    log_sq = np.asarray(log_sq, dtype=np.float64)
    outside = int(np.sum(log_sq >= _log(band.upper)) + np.sum(log_sq <= _log(band.lower)))
    p = binomial_tail(outside, log_sq.size, delta)
    if p < FALSE_ALARM:
        return VIOLATES, f"{outside}/{log_sq.size} outside, P(Bin(n, delta) >= k) = {p:.1e}", \
            outside
    return AGREES, "", outside


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4g}"


def _row(key: dict, quantity: str, column: str, statement: str, kind: str,
         delta: float = math.nan) -> dict:
    return {**key, "quantity": quantity, "column": column, "statement": statement,
            "kind": kind, "delta": delta, "bound_lower": math.nan, "bound_upper": math.nan,
            "estimate": math.nan, "ci_lower": math.nan, "ci_upper": math.nan,
            "outside": math.nan, "n": math.nan, "verdict": NOT_APPLICABLE, "note": ""}


def _mean_row(base: dict, log_sq: np.ndarray, target) -> dict:
    row = dict(base)
    if isinstance(target, NotApplicable):
        row["note"] = target.condition
        return row
    band = target if isinstance(target, Band) else Band(target, target)
    verdict, note, est = check_mean(log_sq, target)
    low, high = est.interval
    row.update(bound_lower=band.lower, bound_upper=band.upper, estimate=est.value,
               ci_lower=low, ci_upper=high, n=est.n, verdict=verdict, note=note)
    return row


def _probability_row(base: dict, log_sq: np.ndarray, bound, side: str, delta: float) -> dict:
    """``side``: 'upper' (P(r^2 <= b) >= 1 - delta), 'lower' (P(r^2 > b) >= 1 - delta), or
    'band' (a Band)."""
    row = dict(base)
    if isinstance(bound, NotApplicable):
        row["note"] = bound.condition
        return row
    band = bound if isinstance(bound, Band) else (
        Band(-math.inf, bound) if side == "upper" else Band(bound, math.inf))
    verdict, note, outside = check_probability(log_sq, band, delta)
    # The quantile on the side of the bound: (1 - delta) for an upper bound, delta for lower.
    q = delta if side == "lower" else 1 - delta
    estimate, low, high = quantile_interval(log_sq, q)
    row.update(bound_lower=band.lower, bound_upper=band.upper, estimate=math.exp(estimate),
               ci_lower=math.exp(low), ci_upper=math.exp(high), outside=outside,
               n=log_sq.size, verdict=verdict, note=note)
    return row


def hidden_statements(net: theory.Network, beta: float, depth: int) -> list[tuple]:
    """(name, kind, delta, bound, side) for every statement about r_h at alpha = L^-beta."""
    alpha = depth**-beta
    out = [("exact E[r^2]", "mean", math.nan, theory.exact_second_moment(net, alpha, depth), ""),
           ("Lemma 1", "mean", math.nan, theory.lemma1_bounds(net, alpha, depth), "")]
    for delta in DELTAS:
        out += [("Prop 2", "probability", delta, theory.prop2_upper(net, alpha, depth, delta),
                 "upper"),
                ("Prop 3 (i)", "probability", delta,
                 theory.prop3_lower(net, alpha, depth, delta), "lower"),
                ("Prop 3 (ii)", "probability", delta,
                 theory.prop3_upper(net, alpha, depth, delta), "upper"),
                ("Cor 1 (iii)", "probability", delta,
                 theory.corollary1_band(net, beta, depth, delta), "band")]
    return out


def gradient_statements(net: theory.Network, beta: float, depth: int) -> list[tuple]:
    """(name, kind, delta, bound, side) for every statement about r_p at alpha = L^-beta.

    Corollary 2 (iii) is a limit statement: its band is kept for the figures, never judged.
    """
    alpha = depth**-beta
    out = [("exact E[r^2]", "mean", math.nan, theory.exact_second_moment(net, alpha, depth), ""),
           ("Prop 6", "mean", math.nan, theory.prop6_bounds(net, alpha, depth), "")]
    out += [("Prop 5", "probability", delta, theory.prop5_upper(net, alpha, depth, delta),
             "upper") for delta in DELTAS]
    out.append(("Cor 2 (iii)", "limit", math.nan, theory.corollary2_limit_band(net, beta), ""))
    return out


def _unusable(log_sq: np.ndarray | None, missing: str) -> NotApplicable | None:
    """Why samples cannot be judged: no column, or NaN / +inf (overflow) among them."""
    if log_sq is None:
        return NotApplicable(missing)
    if not np.all(np.isfinite(log_sq) | (log_sq == -np.inf)):
        return NotApplicable("non-finite r^2 samples (overflow or NaN)")
    return None


def _judge(key: dict, quantity: str, column: str, log_sq: np.ndarray | None,
           statements: list[tuple], unusable: NotApplicable | None) -> list[dict]:
    rows = []
    for name, kind, delta, bound, side in statements:
        row = _row(key, quantity, column, name, kind, delta)
        if unusable is not None:
            row["note"] = unusable.condition
        elif kind == "limit":
            if isinstance(bound, Band):
                row.update(bound_lower=bound.lower, bound_upper=bound.upper)
                bound = NotApplicable("a statement about L -> infinity; at finite L Prop 6 "
                                      "applies (its lower end is below e^(1/2) - 1)")
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
    rows = _judge(key, "hidden", HIDDEN, hidden, hidden_statements(net, beta, depth),
                  _unusable(hidden, ""))
    column = next((c for c in GRADIENTS if c in group), None)
    gradient = None if column is None else 2 * group[column].to_numpy(dtype=np.float64)
    unusable = _unusable(gradient, "no gradient column (simulated with gradients=none)")
    rows += _judge(key, "gradient", column or "", gradient,
                   gradient_statements(net, beta, depth), unusable)
    return rows


def cell_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in CELL_KEYS if c in frame] + ["beta"]


def check_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, beta, quantity, statement, delta) with bounds, estimate, verdict."""
    keys = cell_columns(frame)
    rows = []
    for values, group in frame.groupby(keys, sort=True, dropna=False):
        rows.extend(cell_checks(dict(zip(keys, values)), group))
    return pd.DataFrame(rows)


def sweep_verdict(checks: pd.DataFrame) -> str:
    """One line: how many checks agree, violate, are not applicable; AGREES or VIOLATES."""
    judged = checks[checks["kind"] != "limit"]
    counts = judged["verdict"].value_counts()
    n_cells = len(judged.drop_duplicates([c for c in judged.columns
                                          if c in CELL_KEYS or c == "beta"]))
    agree, violate = int(counts.get(AGREES, 0)), int(counts.get(VIOLATES, 0))
    na = int(counts.get(NOT_APPLICABLE, 0))
    text = (f"{n_cells} cells, {len(judged)} checks: {agree} agree, {violate} violate beyond "
            f"Monte Carlo error, {na} not applicable")
    if violate:
        bad = judged[judged["verdict"] == VIOLATES]
        first = bad.iloc[0]
        return (f"VIOLATES: {text} (first: {first['quantity']} {first['statement']} at "
                f"depth={first['depth']}, beta={first['beta']:g})")
    if not agree:
        return f"NOTHING CHECKED: {text}"
    return f"AGREES: {text}"


# --------------------------------------------------------------------------------------------
# report.md


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # A '|' inside a cell (norms: ||h||) would split it: escape it.
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _verdict_mark(row) -> str:
    return {AGREES: "agrees", VIOLATES: "**VIOLATES**", NOT_APPLICABLE: "n/a"}[row["verdict"]]


def _bound_text(row) -> str:
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


def _series_label(key: pd.Series) -> str:
    parts = [f"{key['model']}", f"{key['init']}"]
    if key["model"] != "res3":
        parts.append(str(key["activation"]))
    for extra in ("lengthscale", "hurst"):
        if extra in key and pd.notna(key[extra]):
            parts.append(f"{extra}={key[extra]:g}")
    parts += [f"d={key['width']}", f"gain={key['gain']:g}"]
    return ", ".join(parts)


def _cell_tables(checks: pd.DataFrame) -> list[str]:
    """Per series (everything but depth and beta): a table of means and one of quantiles."""
    out = []
    series_keys = [c for c in CELL_KEYS if c in checks and c != "depth"]
    for _, series in checks.groupby(series_keys, sort=True, dropna=False):
        first = series.iloc[0]
        out.append(f"### {_series_label(first)}\n")
        for quantity in ("hidden", "gradient"):
            part = series[series["quantity"] == quantity]
            column = part["column"].iloc[0] if len(part) else ""
            title = "hidden states, r² = ‖h_L − h_0‖²/‖h_0‖²" if quantity == "hidden" else (
                f"gradients, r² from `{column}`" if column else "gradients")
            means = part[part["kind"] == "mean"]
            rows = []
            for (depth, beta), cell in means.groupby(["depth", "beta"], sort=True):
                by = {r["statement"]: r for _, r in cell.iterrows()}
                exact = by["exact E[r^2]"]
                band = by.get("Lemma 1", by.get("Prop 6"))
                est = exact if exact["verdict"] != NOT_APPLICABLE else band
                estimate = (f"{_fmt(est['estimate'])} [{_fmt(est['ci_lower'])}, "
                            f"{_fmt(est['ci_upper'])}]" if not math.isnan(est["estimate"]) else "")
                notes = "; ".join(n for n in (exact["note"], band["note"]) if n
                                  and (exact["verdict"] != NOT_APPLICABLE or n == exact["note"]))
                regime = theory.corollary1_regime(beta, int(exact["width"]))
                rows.append([f"{depth}", f"{beta:g}", estimate, _bound_text(exact),
                             _verdict_mark(exact), _bound_text(band), _verdict_mark(band),
                             regime if isinstance(regime, str) else "n/a", notes])
            band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
            out.append(f"**{title}: E[r²], Monte Carlo mean [± 4 SE]**\n")
            out.append(_markdown_table(["L", "β", "E[r²] MC", "exact", "verdict", band_name,
                                        "verdict", "L → ∞ (Cor 1/2)", "note"], rows) + "\n")
            probs = part[part["kind"] == "probability"]
            statements = list(dict.fromkeys(probs["statement"]))
            rows = []
            for (depth, beta, _, delta), cell in probs.assign(_order=-probs["delta"]).groupby(
                    ["depth", "beta", "_order", "delta"], sort=True):
                by = {r["statement"]: r for _, r in cell.iterrows()}
                first_applicable = next((r for r in by.values()
                                         if r["verdict"] != NOT_APPLICABLE), None)
                quantiles = ""
                if first_applicable is not None:
                    quantiles = _quantiles_text(cell)
                entries = []
                for name in statements:
                    r = by[name]
                    entries.append("n/a" if r["verdict"] == NOT_APPLICABLE else
                                   f"{_bound_text(r)} {_verdict_mark(r)} "
                                   f"({int(r['outside'])}/{int(r['n'])} out)")
                rows.append([f"{depth}", f"{beta:g}", f"{delta:g}", quantiles] + entries)
            out.append(f"**{title}: high-probability bounds on r² "
                       "(verdict: count outside vs Binomial(n, δ))**\n")
            out.append(_markdown_table(["L", "β", "δ", "q_δ, q_(1−δ) of r² [interval]"]
                                       + statements, rows) + "\n")
    return out


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
    series_keys = [c for c in CELL_KEYS if c in checks and c not in ("depth", "n_in", "seed")]
    for _, series in checks.groupby(series_keys, sort=True, dropna=False):
        net = theory.Network.from_mapping(series.iloc[0])
        s = theory.subgaussian_parameter(net.init)
        c = theory.eighth_moment_constant(net)
        hyp = theory._hypotheses(net, gradients=True)
        exact = theory.second_moment_factor(net.model, net.activation, net.negative_slope,
                                            net.gain)
        rows.append([_series_label(series.iloc[0]),
                     _fmt(s) if not isinstance(s, NotApplicable) else "n/a",
                     _fmt(c) if not isinstance(c, NotApplicable) else "n/a",
                     "yes" if hyp is None else f"no: {hyp.condition}",
                     _fmt(exact) if exact is not None else "none"])
    return _markdown_table(["series", "s (sub-Gaussian)", "C (E‖g‖⁸ ≤ C‖h‖⁸)",
                            "H1-H4 hold", "c in (1 + c α²)^L − 1"], rows)


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
    rows = [[statement, condition, group["note"].iloc[0], str(len(group))]
            for (statement, condition), group in na.groupby(["statement", "condition"],
                                                            sort=False)]
    return _markdown_table(["statement", "failed condition", "first case", "checks"],
                           rows) + "\n"


def _method_text() -> str:
    return (
        "Monte Carlo error: means are judged with the sample mean ± 4 standard errors; a mean "
        "*below* its target must also be 4 errors below by the log-normal estimate "
        "exp(m + v/2) of log r² (heavy right tails at large L α² make the plain mean and its "
        "SE too small; see `rsim.report`). A high-probability bound 'with probability ≥ 1 − δ' "
        f"is violated when the count outside it has P(Binomial(n, δ) ≥ k) < {FALSE_ALARM:.1e} "
        "(the one-sided 4σ level); the quantile shown carries the distribution-free "
        "order-statistic interval at the same level. α = L^−β. Corollary 2 (iii) is a limit "
        "statement and is drawn, not judged; Corollary 1 (i)-(ii) and 2 (i)-(ii) are limits "
        "too: the column 'L → ∞' names the regime they predict.\n")


def render_markdown(checks: pd.DataFrame, folder: Path, figures: list[Path]) -> str:
    parts = [f"# rsim theory report: `{folder}`\n",
             f"**Verdict: {sweep_verdict(checks)}.**\n", _method_text(),
             "## Constants and hypotheses\n", _constants_table(checks) + "\n"]
    violations = checks[checks["verdict"] == VIOLATES]
    if len(violations):
        parts.append("## Violations\n")
        rows = [[r["quantity"], r["statement"], str(r["depth"]), f"{r['beta']:g}",
                 _fmt(r["delta"]), _bound_text(r), f"{_fmt(r['estimate'])} "
                 f"[{_fmt(r['ci_lower'])}, {_fmt(r['ci_upper'])}]", r["note"]]
                for _, r in violations.iterrows()]
        parts.append(_markdown_table(["quantity", "statement", "L", "β", "δ", "bound",
                                      "estimate [interval]", "why"], rows) + "\n")
    if figures:
        parts.append("## Figures\n")
        parts += [f"![{p.stem}]({p.name})\n" for p in figures]
    parts.append("## Cells\n")
    parts += _cell_tables(checks)
    parts.append("## Not applicable\n")
    parts.append(_not_applicable_summary(checks))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Figures (drawn here from the results and check tables; rsim.plots draws the raw figures)


def _series_groups(frame: pd.DataFrame):
    keys = [c for c in CELL_KEYS if c in frame and c != "depth"]
    return list(frame.groupby(keys, sort=True, dropna=False))


def _draw_vs_depth(group: pd.DataFrame, checks: pd.DataFrame, quantity: str, column: str,
                   path: Path) -> Path:
    """Median and 10-90% band of r against L per beta, with the bounds as bands:
    sqrt of the Lemma 1 / Prop 6 band for E[r^2] (shaded), sqrt of the exact E[r^2] (dashed),
    sqrt of the tightest applicable high-probability upper bound at delta = 0.1 (dotted, with
    the empirical 90% quantile as crosses), and violations in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    r = np.exp(group[column].to_numpy(dtype=np.float64))
    data = group.assign(_r=r)
    for i, (beta, part) in enumerate(data.groupby("beta")):
        color = f"C{i}"
        stats = part.groupby("depth")["_r"].quantile([0.1, 0.5, 0.9]).unstack()
        depths = stats.index.to_numpy()
        ax.plot(depths, stats[0.5], marker="o", ms=3, color=color, label=rf"$\beta$ = {beta:g}")
        ax.fill_between(depths, stats[0.1], stats[0.9], color=color, alpha=0.15, lw=0)
        mine = checks[(checks["quantity"] == quantity) & (checks["beta"] == beta)]
        band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
        band = mine[mine["statement"] == band_name].set_index("depth").reindex(depths)
        ok = band["verdict"] != NOT_APPLICABLE
        if ok.any():
            ax.fill_between(depths[ok], np.sqrt(band["bound_lower"][ok]),
                            np.sqrt(band["bound_upper"][ok]), facecolor="none",
                            edgecolor=color, hatch="///", lw=0.5, alpha=0.6)
        exact = mine[mine["statement"] == "exact E[r^2]"].set_index("depth").reindex(depths)
        ok = exact["verdict"] != NOT_APPLICABLE
        if ok.any():
            ax.plot(depths[ok], np.sqrt(exact["bound_upper"][ok]), ls="--", lw=1, color=color)
        upper = mine[(mine["kind"] == "probability") & (mine["delta"] == 0.1)
                     & (mine["verdict"] != NOT_APPLICABLE) & (mine["bound_upper"] < math.inf)]
        if len(upper):
            tight = upper.groupby("depth")["bound_upper"].min()
            ax.plot(tight.index, np.sqrt(tight.to_numpy()), ls=":", lw=1.5, color=color)
            q90 = part.groupby("depth")["_r"].quantile(0.9).reindex(tight.index)
            ax.plot(tight.index, q90, ls="none", marker="x", ms=4, color=color)
        bad = mine[mine["verdict"] == VIOLATES]
        if len(bad):
            medians = stats[0.5].reindex(bad["depth"].unique())
            ax.plot(medians.index, medians.to_numpy(), ls="none", marker="o", ms=9, mfc="none",
                    mec="red", mew=2)
    ax.set_yscale("log")
    ax.set_xlabel("depth L")
    label = "‖h_L − h_0‖/‖h_0‖" if quantity == "hidden" else f"gradient ratio ({column[4:]})"
    ax.set_ylabel(label)
    first = group.iloc[0]
    ax.set_title(f"{_series_label(first)}\nmedian, 10-90% band; hatched: √(Lemma 1 / Prop 6 "
                 "band); dashed: √exact E r²;\ndotted: √(tightest δ = 0.1 bound), ×: empirical "
                 "90% quantile; red: violation", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _draw_histograms(group: pd.DataFrame, checks: pd.DataFrame, columns: list[tuple[str, str]],
                     path: Path) -> Path:
    """Histograms of log10 r^2 at the largest depth, one row per beta, one column per
    quantity; shaded: the band for E[r^2] (Lemma 1 / Prop 6) with the MC mean (solid);
    vertical lines: each applicable high-probability bound at delta = 0.1 (dashed) and
    0.05 (dotted), with the empirical 90% quantile (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = group["depth"].max()
    deepest = group[group["depth"] == depth]
    betas = sorted(deepest["beta"].unique())
    if len(betas) > MAX_HISTOGRAM_ROWS:  # a fine beta grid: an even selection of rows
        betas = [betas[i] for i in np.linspace(0, len(betas) - 1, MAX_HISTOGRAM_ROWS).round()
                 .astype(int)]
    fig, axes = plt.subplots(len(betas), len(columns), figsize=(6 * len(columns),
                                                               3.3 * len(betas)), squeeze=False)
    for row, beta in zip(axes, betas):
        part = deepest[deepest["beta"] == beta]
        for ax, (quantity, column) in zip(row, columns):
            log10_sq = 2 * part[column].to_numpy(dtype=np.float64) / math.log(10)
            log10_sq = log10_sq[np.isfinite(log10_sq)]
            ax.hist(log10_sq, bins=60, color="C0", alpha=0.7)
            mine = checks[(checks["quantity"] == quantity) & (checks["beta"] == beta)
                          & (checks["depth"] == depth)]
            band_name = "Lemma 1" if quantity == "hidden" else "Prop 6"
            for _, r in mine.iterrows():
                if r["verdict"] == NOT_APPLICABLE:
                    continue
                color = "red" if r["verdict"] == VIOLATES else "k"
                if r["statement"] == "exact E[r^2]":
                    ax.axvline(np.log10(r["bound_upper"]), color="C1", lw=1.5,
                               label="exact E r²")
                elif r["statement"] == band_name:
                    ax.axvspan(np.log10(r["bound_lower"]), np.log10(r["bound_upper"]),
                               color="C2", alpha=0.25, label=f"{band_name} band for E r²")
                    ax.axvline(np.log10(r["estimate"]), color="C2", lw=2, label="MC mean of r²")
                elif r["kind"] == "probability":
                    style = "--" if r["delta"] == 0.1 else ":"
                    if r["verdict"] != VIOLATES:
                        color = STATEMENT_COLORS.get(r["statement"], "k")
                    for b in (r["bound_lower"], r["bound_upper"]):
                        if 0 < b < math.inf:
                            ax.axvline(np.log10(b), color=color, ls=style, lw=1,
                                       label=f"{r['statement']}, δ = {r['delta']:g}")
            if len(log10_sq):
                ax.axvline(np.quantile(log10_sq, 0.9), color="grey", lw=1,
                           label="empirical 90% quantile")
            handles, labels = ax.get_legend_handles_labels()
            unique = dict(zip(labels, handles))
            ax.legend(unique.values(), unique.keys(), fontsize=6)
            ax.set_xlabel(f"log10 r² ({column[4:]})")
            ax.set_title(rf"$\beta$ = {beta:g}, L = {depth}", fontsize=9)
    fig.suptitle(_series_label(group.iloc[0]), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report_figures(frame: pd.DataFrame, checks: pd.DataFrame, folder: Path) -> list[Path]:
    """bounds_<quantity>_vs_depth[_i].png (Figures 1, 3) and bounds_histograms[_i].png
    (Figure 2) with the bounds as bands."""
    written = []
    series = _series_groups(frame)
    gradient = next((c for c in GRADIENTS if c in frame), None)
    columns = [("hidden", HIDDEN)] + ([("gradient", gradient)] if gradient else [])
    for i, (values, group) in enumerate(series):
        suffix = f"_{i}" if len(series) > 1 else ""
        keys = [c for c in CELL_KEYS if c in frame and c != "depth"]
        mask = np.ones(len(checks), dtype=bool)
        for k, v in zip(keys, values):
            mask &= (checks[k] == v).to_numpy() | (pd.isna(v) & checks[k].isna()).to_numpy()
        mine = checks[mask]
        if not (mine["verdict"] != NOT_APPLICABLE).any():
            continue  # nothing to draw a bound for (e.g. laws correlated along the depth)
        if group["depth"].nunique() > 1:
            for quantity, column in columns:
                written.append(_draw_vs_depth(group, mine, quantity, column,
                                              folder / f"bounds_{quantity}_vs_depth{suffix}.png"))
        written.append(_draw_histograms(group, mine, columns,
                                        folder / f"bounds_histograms{suffix}.png"))
    return written


# --------------------------------------------------------------------------------------------
# Entry points


@dataclass(frozen=True)
class Report:
    path: Path
    verdict: str
    checks: pd.DataFrame


def write_report(folder: str | Path, figures: bool = True) -> Report:
    """Check a results folder against the theory; write report.md, report.csv and figures."""
    from rsim import results

    folder = Path(folder)
    frame = results.load(folder)
    checks = check_table(frame)
    drawn = report_figures(frame, checks, folder) if figures else []
    path = folder / "report.md"
    path.write_text(render_markdown(checks, folder, drawn), encoding="utf-8")
    checks.to_csv(folder / "report.csv", index=False)
    return Report(path, sweep_verdict(checks), checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rsim.report", description=__doc__.split(
        "\n")[0])
    parser.add_argument("folder", help="a results folder, e.g. results/corollary1")
    parser.add_argument("--no-figures", action="store_true", help="write report.md only")
    args = parser.parse_args(argv)
    try:
        report = write_report(args.folder, figures=not args.no_figures)
    except FileNotFoundError as error:
        print(f"rsim.report: error: {error}", file=sys.stderr)
        return 2
    print(f"rsim: report {report.path}: {report.verdict}")
    return 1 if report.verdict.startswith("VIOLATES") else 0


if __name__ == "__main__":
    sys.exit(main())
