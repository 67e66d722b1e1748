"""rsim: Monte Carlo simulation of deep residual networks at initialisation.

    import rsim
    df = rsim.simulate(model="res3", init="uniform", width=40, depth=1000,
                       betas=[0.25, 0.5, 1.0], samples=4096, seed=0, gradients="jvp")
    df = rsim.load("results/corollary1")

The public names are loaded on first use, so ``import rsim.views.cells`` (or the analysis
modules) never starts jax.
"""

from __future__ import annotations

import importlib

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
# public name -> module, for module-level access: rsim.critical.critical_curve(df)
_MODULES = {"critical": "rsim.analysis.critical"}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rsim' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_MODULES])
