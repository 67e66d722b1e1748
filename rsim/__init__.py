"""rsim: Monte Carlo simulation of deep residual networks at initialisation.

    import rsim
    df = rsim.simulate(model="res3", init="uniform", width=40, depth=1000,
                       betas=[0.25, 0.5, 1.0], samples=4096, seed=0, gradients="jvp")
    df = rsim.load("results/corollary1")
"""

from rsim.config import CellSpec, ConfigError
from rsim.critical import critical_beta
from rsim.limits import convergence_order
from rsim.results import load
from rsim.simulate import simulate
from rsim.summary import summarize

__all__ = ["CellSpec", "ConfigError", "convergence_order", "critical_beta", "load", "simulate",
           "summarize"]
__version__ = "0.1.0"
