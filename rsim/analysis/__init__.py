"""Analysis of results tables in numpy and pandas: theory, statistics, summaries, estimators
and the report's verdicts. Never imports jax.

The public API is :data:`__all__`, loaded on first use (``import rsim.analysis.stats`` loads
only what it imports); each module's other public names are its own API, and a name with a
leading underscore is internal.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:  # what a type checker reads; at run time __getattr__ loads them
    from rsim.analysis.convergence import (
        ConvergenceOrder,
        convergence_order,
        convergence_orders,
        weak_check,
    )
    from rsim.analysis.critical import (
        CriticalBeta,
        critical_beta,
        critical_betas,
        critical_curve,
        zero_crossings,
    )
    from rsim.analysis.hurst import hurst_exponent
    from rsim.analysis.report import check_table, render_markdown, sweep_verdict
    from rsim.analysis.stats import binomial_tail, mean_and_se, quantile_interval
    from rsim.analysis.summary import summarize
    from rsim.analysis.training import best_accuracy

# public name -> module that defines it
_EXPORTS = {
    "ConvergenceOrder": "rsim.analysis.convergence",
    "CriticalBeta": "rsim.analysis.critical",
    "best_accuracy": "rsim.analysis.training",
    "binomial_tail": "rsim.analysis.stats",
    "check_table": "rsim.analysis.report",
    "convergence_order": "rsim.analysis.convergence",
    "convergence_orders": "rsim.analysis.convergence",
    "critical_beta": "rsim.analysis.critical",
    "critical_betas": "rsim.analysis.critical",
    "critical_curve": "rsim.analysis.critical",
    "hurst_exponent": "rsim.analysis.hurst",
    "mean_and_se": "rsim.analysis.stats",
    "quantile_interval": "rsim.analysis.stats",
    "render_markdown": "rsim.analysis.report",
    "summarize": "rsim.analysis.summary",
    "sweep_verdict": "rsim.analysis.report",
    "weak_check": "rsim.analysis.convergence",
    "zero_crossings": "rsim.analysis.critical",
}
__all__ = [
    "ConvergenceOrder",
    "CriticalBeta",
    "best_accuracy",
    "binomial_tail",
    "check_table",
    "convergence_order",
    "convergence_orders",
    "critical_beta",
    "critical_betas",
    "critical_curve",
    "hurst_exponent",
    "mean_and_se",
    "quantile_interval",
    "render_markdown",
    "summarize",
    "sweep_verdict",
    "weak_check",
    "zero_crossings",
]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rsim.analysis' has no attribute {name!r}")
    return getattr(_importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
