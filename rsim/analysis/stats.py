"""Monte Carlo statistics shared by the summaries, the theory report and the limit checks.

Plain numpy. :func:`mean_and_se` is the one sample mean and standard error of the project
(the summary table, the report's means and the sde weak check all use it);
:func:`mean_estimate` adds what the report needs to judge the mean of a heavy-tailed r^2;
:func:`binomial_tail` and :func:`quantile_interval` are the exact, distribution-free tools of
the probability checks. The rules that turn these into verdicts are in
:mod:`rsim.analysis.report` and rsim/THEORY.md section 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# Every Monte Carlo verdict is taken at 4 standard errors ...
Z = 4.0
# ... and P(N(0, 1) > 4) = 3.2e-5 is the false-alarm level of the exact binomial tests, so
# both kinds of check raise a false alarm equally rarely.
FALSE_ALARM = 0.5 * math.erfc(Z / math.sqrt(2))


def mean_and_se(values: ArrayLike) -> tuple[float, float]:
    """Sample mean and its standard error std(ddof=1) / sqrt(n) of ``values`` (flattened).

    The standard error is NaN for n < 2 (and the mean NaN for n = 0). Values past float64
    range give inf / NaN without a warning: the result says so itself.

    Args:
        values: the samples, any shape (flattened).

    Returns:
        ``(mean, standard error)`` as floats.

    Example:
        >>> mean_and_se([1.0, 2.0, 3.0, 4.0])
        (2.5, 0.6454972243679028)
        >>> mean_and_se([7.0])
        (7.0, nan)
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    n = x.size
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(x.mean()) if n else math.nan
        se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, se


@dataclass(frozen=True)
class MeanEstimate:
    """Mean of r^2 = exp(log_sq) with its standard error and the log-normal cross-estimate.

    All values are on the scale exp(``shift``) to survive r^2 past float64 range:
    the mean of r^2 is exp(shift) * mean.
    """

    n: int
    shift: float
    mean: float
    se: float  # inf for n < 2: nothing can be concluded
    log_lognormal: float  # log of the log-normal estimate exp(m + v/2)
    log_lognormal_error: float  # its delta-method standard error on the log scale
    effective_samples: float  # (sum r^2)^2 / sum r^4: how many draws the mean rests on
    log_skewness: float  # skewness of log r^2; very negative: a tail lighter than log-normal

    @property
    def value(self) -> float:
        """The estimate of E[r^2] on its own scale (``mean * exp(shift)``).

        Returns:
            The mean of r^2, inf where it is past float64 range.
        """
        return _times_exp(self.mean, self.shift)

    @property
    def interval(self) -> tuple[float, float]:
        """mean +- Z standard errors, on the scale of r^2.

        Returns:
            ``(lower, upper)``.
        """
        return (
            _times_exp(self.mean - Z * self.se, self.shift),
            _times_exp(self.mean + Z * self.se, self.shift),
        )


def _times_exp(x: float, shift: float) -> float:
    """x * exp(shift) without overflow in the intermediate exp."""
    if x == 0:
        return 0.0
    try:
        return math.copysign(math.exp(math.log(abs(x)) + shift), x)
    except OverflowError:
        return math.copysign(math.inf, x)


def mean_estimate(log_sq: np.ndarray) -> MeanEstimate:
    """The estimate of E[r^2] from samples of log r^2 (finite or -inf for r = 0).

    The plain mean and standard error are :func:`mean_and_se` of r^2 / max r^2; the
    log-normal estimate exp(m + v/2) uses the mean m and variance v of the finite log r^2,
    with the delta-method error sqrt(v/n + v^2/(2(n - 1))) on the log scale.

    Args:
        log_sq: samples of log r^2, any shape.

    Returns:
        A :class:`MeanEstimate` (its values on the scale exp(``shift``) = max r^2).

    Example:
        >>> import numpy as np
        >>> estimate = mean_estimate(np.log([1.0, 2.0, 3.0, 4.0]))
        >>> round(estimate.value, 6), estimate.n, round(estimate.effective_samples, 3)
        (2.5, 4, 3.333)
    """
    log_sq = np.asarray(log_sq, dtype=np.float64)
    n = log_sq.size
    shift = float(np.max(log_sq))
    x = np.exp(log_sq - shift)
    mean, se = mean_and_se(x)
    if n < 2:
        se = math.inf
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
    return (
        lgamma(n + 1)
        - lgamma(k + 1)
        - lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k), summed in the log domain (exact for any n).

    Args:
        k: the smallest count of the tail.
        n: the number of trials.
        p: the success probability of one trial.

    Returns:
        The tail probability, 1 for k <= 0 and 0 for k > n.

    Example:
        >>> binomial_tail(2, 2, 0.5)
        0.25
        >>> binomial_tail(0, 10, 0.3), binomial_tail(11, 10, 0.3)
        (1.0, 0.0)
    """
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_pmf = _log_binomial_pmf(n, p)[k:]
    top = log_pmf.max()
    return float(min(1.0, math.exp(top) * np.exp(log_pmf - top).sum()))


def quantile_interval(
    values: np.ndarray, q: float, level: float = FALSE_ALARM
) -> tuple[float, float, float]:
    """(estimate, lower, upper) of the q-quantile; each end fails with probability <= level.

    Distribution-free: with n draws, x_(i) <= xi_q exactly when at least i draws are
    <= xi_q, a Binomial(n, q) event. The lower end is x_(l) with the largest l such that
    P(Binomial(n, q) <= l - 1) <= level; the upper end symmetric. -inf / +inf where n is too
    small for that level.

    Args:
        values: the draws, any shape (flattened).
        q: the quantile's level, in (0, 1).
        level: the probability that each end fails (default :data:`FALSE_ALARM`).

    Returns:
        ``(estimate, lower, upper)``: the sample quantile and the two order statistics.

    Example:
        >>> import numpy as np
        >>> quantile_interval(np.arange(1.0, 21.0), 0.5, level=0.05)
        (10.5, 6.0, 15.0)
        >>> quantile_interval([1.0, 2.0], 0.5)  # too few draws for the default level
        (1.5, -inf, inf)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    estimate = float(np.quantile(x, q))
    cdf = np.cumsum(np.exp(_log_binomial_pmf(n, q)))  # cdf[j] = P(Bin <= j)
    low_ok = np.nonzero(cdf <= level)[0]  # j = l - 1 with P(Bin <= l - 1) <= level
    lower = float(x[low_ok[-1]]) if low_ok.size else -math.inf
    # x_(u) >= xi_q fails iff Bin >= u: need P(Bin >= u) = 1 - cdf[u - 1] <= level
    high_ok = np.nonzero(1 - cdf <= level)[0]  # j = u - 1
    upper = float(x[high_ok[0]]) if high_ok.size and high_ok[0] < n else math.inf
    return estimate, lower, upper
