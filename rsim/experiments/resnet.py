"""The options every experiment on the discrete ResNet shares (``cells`` and ``training``):

    h_0 = A x,   h_{k+1} = h_k + alpha V_{k+1} g(h_k, W_{k+1}),   alpha = depth ** -beta,

the branch, the weight law and the shape, each default written here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsim import checks
from rsim.core import branches, laws
from rsim.experiments.base import Spec, option


@dataclass(frozen=True)
class ResNetSpec(Spec):
    """The branch, the weight law, the shape and the betas of a ResNet experiment."""

    # The law parameters (lengthscale, hurst) are kept only for the law that uses them (other
    # jobs' identities do not depend on them); the branch's shape (branch_depth, image_size,
    # kernel_size: rsim.core.branches.Shape) is None where the model has none.
    model: str = option(
        "res3", "the residual branch (rsim.core.branches.BRANCHES): res1 | res2 | res3 | mlp | conv"
    )
    init: str = option(
        "uniform",
        "the weights' law (rsim.core.laws.LAWS): gaussian | uniform | rademacher | smooth | "
        "fbm | fbm_official",
    )
    activation: str = option("relu", "relu | identity | tanh | leaky_relu (res3 is relu)")
    negative_slope: float = option(0.01, "the slope of leaky_relu below 0 (leaky_relu only)")
    gain: float = option(1.0, "weights have variance gain^2 / fan_in")
    width: int = option(40, "d, the hidden size; for conv the channels C (d = C image_size^2)")
    depth: int = option(1000, "L, the number of residual layers")
    betas: tuple[float, ...] = option(
        (0.25, 0.5, 1.0), "the scalings alpha = L^-beta, all on the same weights"
    )
    seed: int = option(0, "the random seed")
    lengthscale: float | None = option(
        0.1, "the smooth law's RBF lengthscale in t = k / L (init=smooth only)"
    )
    hurst: float | None = option(0.5, "the Hurst index of fbm and fbm_official")
    branch_depth: int | None = option(
        None, "hidden layers m of an mlp or conv branch (null: 2 for mlp, 1 for conv)", later=True
    )
    image_size: int | None = option(None, "conv's image side N (null: 8)", later=True)
    kernel_size: int | None = option(None, "conv's odd kernel side k (null: 3)", later=True)

    def normalise(self) -> None:
        if not isinstance(self.betas, tuple):
            self._set("betas", (self.betas,))
        # (an unknown or unhashable model or law must reach validate's one-line message)
        branch = branches.BRANCHES.get(self.model) if isinstance(self.model, str) else None
        if branch is not None and not branch.fixed and self.branch_depth is None:
            self._set("branch_depth", branch.default_branch_depth)
        for key, default in branch.image_options.items() if branch else ():
            if getattr(self, key) is None:
                self._set(key, default)
        law = laws.LAWS.get(self.init) if isinstance(self.init, str) else None
        for name in ("lengthscale", "hurst"):  # kept only for the law that reads it
            if law is None or name not in law.parameter_names:
                self._set(name, None)

    def validate(self) -> None:
        checks.architecture(self.model, self.activation, tuple(branches.BRANCHES))
        checks.branch_shape(self.model, self.branch_depth, self.image_size, self.kernel_size)
        checks.choice("init", self.init, tuple(laws.LAWS))
        checks.integer("width", self.width, minimum=1)
        checks.integer("depth", self.depth, minimum=1, maximum=checks.MAX_DEPTH)
        checks.integer("seed", self.seed, minimum=0, maximum=checks.MAX_SEED)
        checks.positive("gain", self.gain)
        checks.real("negative_slope", self.negative_slope)
        checks.law_parameters(self.init, self.lengthscale, self.hurst)
        checks.betas(self.betas)

    def shape(self) -> branches.Shape:
        """The branch's static shape (:class:`rsim.core.branches.Shape`): weights, fan-in,
        hidden size ``dim`` (d, or C N^2 for conv) and read-in."""
        return branches.Shape(
            self.model, self.width, self.branch_depth, self.image_size, self.kernel_size
        )

    def branch(self) -> branches.Branch:
        """The model's record (:data:`rsim.core.branches.BRANCHES`)."""
        return branches.branch_record(self.model)

    def law(self) -> laws.Law:
        """The weight law's record (:data:`rsim.core.laws.LAWS`)."""
        return laws.law(self.init)
