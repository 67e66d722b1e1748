"""Figures with matplotlib: tables in, PNG (or SVG, PDF) out. Never imports jax or the engine.

Every figure has a view that draws on the caller's ``ax=`` (or ``axes=``, an array, for a
figure of several panels) or on a new figure and returns the Figure, and a writer that saves
it in the format of its path's suffix (``.png``, ``.svg`` or ``.pdf``; the sweeps write PNG).

One module per experiment, each drawing from its tables (:data:`__all__`, loaded on first
use, so ``import rsim.views`` does not import matplotlib): :mod:`~rsim.views.cells`
(Figures 1-3, 6 and 7), :mod:`~rsim.views.report` (the theory report's bounds),
:mod:`~rsim.views.limits` (ode and sde) and :mod:`~rsim.views.training`. A name with a
leading underscore is internal.
"""

import importlib as _importlib

__all__ = ["cells", "limits", "report", "training"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module 'rsim.views' has no attribute {name!r}")
    return _importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
