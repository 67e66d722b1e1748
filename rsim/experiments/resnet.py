"""The options every experiment on the discrete ResNet shares (``cells`` and ``training``):

    h_0 = A x,   h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}),   alpha = depth ** -beta,

the branch, the weight law and the shape, each default written here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsim import checks, schema
from rsim.experiments.base import Spec


@dataclass(frozen=True)
class ResNetSpec(Spec):
    """The branch, the weight law, the shape and the betas of a ResNet experiment."""

    model: str = "res3"  # res1 | res2 | res3
    init: str = "uniform"  # gaussian | uniform | rademacher | smooth | fbm
    activation: str = "relu"  # relu | identity | tanh | leaky_relu (res3 is relu)
    negative_slope: float = 0.01  # leaky_relu only
    gain: float = 1.0  # weights have variance gain^2 / fan_in
    width: int = 40  # d
    depth: int = 1000  # L
    betas: tuple[float, ...] = (0.25, 0.5, 1.0)  # alpha = L^-beta, all on the same weights
    seed: int = 0
    # Law parameters, kept only for the law that uses them (other jobs' identities do not
    # depend on them): the smooth law's RBF lengthscale in t = k / L, the fbm Hurst index.
    lengthscale: float | None = 0.1
    hurst: float | None = 0.5

    def normalise(self) -> None:
        if not isinstance(self.betas, tuple):
            self._set("betas", (self.betas,))
        if self.init != "smooth":
            self._set("lengthscale", None)
        if self.init != "fbm":
            self._set("hurst", None)

    def validate(self) -> None:
        checks.architecture(self.model, self.activation)
        checks.choice("init", self.init, schema.LAWS)
        for key in ("width", "depth"):
            checks.integer(key, getattr(self, key), minimum=1)
        checks.integer("seed", self.seed, minimum=0)
        checks.positive("gain", self.gain)
        checks.real("negative_slope", self.negative_slope)
        checks.law_parameters(self.init, self.lengthscale, self.hurst)
        checks.betas(self.betas)

    def law_label(self) -> str:
        """The weight law in a few words: ``fbm H=0.7``, ``smooth l=0.1``, ``uniform``."""
        if self.hurst is not None:
            return f"{self.init} H={self.hurst:g}"
        if self.lengthscale is not None:
            return f"{self.init} l={self.lengthscale:g}"
        return self.init
