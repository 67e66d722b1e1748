"""rsim: Monte Carlo simulation of deep residual networks at initialisation.

    import rsim
    df = rsim.simulate(model="res3", init="uniform", width=40, depth=1000,
                       betas=[0.25, 0.5, 1.0], samples=4096, seed=0, gradients="jvp")
    df = rsim.load("results/corollary1")

The public API is :data:`__all__` (README, "Python"); the analysis and the figures have
their own, :mod:`rsim.analysis` and :mod:`rsim.views`. A name with a leading underscore, or
one in no ``__all__``, is internal. The public names are loaded on first use, so
``import rsim.views.cells`` (or the analysis modules) never starts jax.
"""

import importlib as _importlib
import importlib.metadata as _metadata
import typing as _typing

if _typing.TYPE_CHECKING:  # what a type checker reads; at run time __getattr__ loads them
    from rsim.analysis.convergence import convergence_order
    from rsim.analysis.critical import critical_beta, critical_curve
    from rsim.analysis.summary import summarize
    from rsim.checks import ConfigError
    from rsim.experiments.cells import CellSpec, simulate
    from rsim.results import load

# public name -> module that defines it
_EXPORTS = {
    "CellSpec": "rsim.experiments.cells",
    "ConfigError": "rsim.checks",
    "convergence_order": "rsim.analysis.convergence",
    "critical_beta": "rsim.analysis.critical",
    "critical_curve": "rsim.analysis.critical",
    "load": "rsim.results",
    "simulate": "rsim.experiments.cells",
    "summarize": "rsim.analysis.summary",
}
# A module alias kept for older code (``rsim.critical.critical_curve(df)``); not in __all__.
_MODULES = {"critical": "rsim.analysis.critical"}
__all__ = [
    "CellSpec",
    "ConfigError",
    "convergence_order",
    "critical_beta",
    "critical_curve",
    "load",
    "simulate",
    "summarize",
]
try:  # set from git tags when the package is built (pyproject.toml, setuptools-scm)
    __version__ = _metadata.version("rsim")
except _metadata.PackageNotFoundError:  # a checkout on the path that is not installed
    __version__ = "unknown"


def __getattr__(name: str) -> object:
    if name in _MODULES:
        return _importlib.import_module(_MODULES[name])
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rsim' has no attribute {name!r}")
    return getattr(_importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
