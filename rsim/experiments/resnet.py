"""The options every experiment on the discrete ResNet shares (``cells`` and ``training``):

    h_0 = A x,   h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}),   alpha = depth ** -beta,

the branch, the weight law and the shape, each default written here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rsim import checks, schema
from rsim.experiments.base import LATER_OPTION, Spec


@dataclass(frozen=True)
class ResNetSpec(Spec):
    """The branch, the weight law, the shape and the betas of a ResNet experiment."""

    model: str = "res3"  # res1 | res2 | res3 | mlp | conv
    init: str = "uniform"  # gaussian | uniform | rademacher | smooth | fbm | fbm_official
    activation: str = "relu"  # relu | identity | tanh | leaky_relu (res3 is relu)
    negative_slope: float = 0.01  # leaky_relu only
    gain: float = 1.0  # weights have variance gain^2 / fan_in
    width: int = 40  # d; for conv the number of channels C (d = C image_size^2)
    depth: int = 1000  # L
    betas: tuple[float, ...] = (0.25, 0.5, 1.0)  # alpha = L^-beta, all on the same weights
    seed: int = 0
    # Law parameters, kept only for the law that uses them (other jobs' identities do not
    # depend on them): the smooth law's RBF lengthscale in t = k / L, the Hurst index of
    # fbm and fbm_official.
    lengthscale: float | None = 0.1
    hurst: float | None = 0.5
    # The branch's shape (rsim.core.branches.Shape), None where the model has none: m hidden
    # layers for mlp and conv (None: 2 for mlp, 1 for conv); conv's image side N (default 8)
    # and odd kernel side k (default 3).
    branch_depth: int | None = field(default=None, metadata=LATER_OPTION)
    image_size: int | None = field(default=None, metadata=LATER_OPTION)
    kernel_size: int | None = field(default=None, metadata=LATER_OPTION)

    def normalise(self) -> None:
        if not isinstance(self.betas, tuple):
            self._set("betas", (self.betas,))
        # (tuples, not dicts: an unhashable model must reach validate's one-line message)
        if self.model in tuple(schema.BRANCH_DEPTHS) and self.branch_depth is None:
            self._set("branch_depth", schema.BRANCH_DEPTHS[self.model])
        if self.model == "conv":
            for key, default in schema.IMAGE_OPTIONS.items():
                if getattr(self, key) is None:
                    self._set(key, default)
        if self.init != "smooth":
            self._set("lengthscale", None)
        if self.init not in schema.HURST_LAWS:
            self._set("hurst", None)

    def validate(self) -> None:
        checks.architecture(self.model, self.activation, schema.MODELS)
        checks.branch_shape(self.model, self.branch_depth, self.image_size, self.kernel_size)
        checks.choice("init", self.init, schema.LAWS)
        checks.integer("width", self.width, minimum=1)
        checks.integer("depth", self.depth, minimum=1, maximum=checks.MAX_DEPTH)
        checks.integer("seed", self.seed, minimum=0, maximum=checks.MAX_SEED)
        checks.positive("gain", self.gain)
        checks.real("negative_slope", self.negative_slope)
        checks.law_parameters(self.init, self.lengthscale, self.hurst)
        checks.betas(self.betas)

    def shape(self):
        """The branch's static shape (:class:`rsim.core.branches.Shape`): weights, fan-in,
        hidden size ``dim`` (d, or C N^2 for conv) and read-in."""
        from rsim.core.branches import Shape

        return Shape(self.model, self.width, self.branch_depth, self.image_size, self.kernel_size)
