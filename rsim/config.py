"""The validated description of one simulation cell, built once from user input.

``CellSpec`` is what a Hydra job, a ``rsim.simulate`` call and a Parquet file's metadata all
mean by "a cell": one architecture, one weight law, one (width, depth) and a vector of betas.
``validate`` rejects bad input with a one-line message naming the key and what is allowed,
before anything is computed or written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rsim import checks, engine, models, weights
from rsim.checks import ConfigError


@dataclass(frozen=True)
class CellSpec:
    model: str = "res3"
    init: str = "uniform"
    activation: str = "relu"
    negative_slope: float = 0.01
    gain: float = 1.0
    width: int = 40
    n_in: int = 64
    depth: int = 1000
    betas: tuple[float, ...] = (0.25, 0.5, 1.0)
    samples: int = 1000
    seed: int = 0
    gradients: str = "jvp"
    precision: str = "float32"
    # Law parameters, None unless the law uses them (init=smooth / init=fbm).
    lengthscale: float | None = None
    hurst: float | None = None
    # How a layer's Gaussian weights are sampled (engine.SAMPLERS): every entry, or their
    # action on the vectors they meet (exact in law for init=gaussian only).
    sampler: str = "explicit"
    # Samples per device call (rounded up to whole blocks); results never depend on it.
    chunk: int | None = field(default=None, compare=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CellSpec:
        """Build and validate a spec from plain values (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        if "betas" in kwargs:
            betas = kwargs["betas"]
            kwargs["betas"] = tuple(betas) if isinstance(betas, (list, tuple)) else (betas,)
        # A law parameter belongs to its law only: other laws ignore it (and their cells'
        # identities do not depend on it).
        if kwargs.get("init") != "smooth":
            kwargs["lengthscale"] = None
        if kwargs.get("init") != "fbm":
            kwargs["hurst"] = None
        spec = cls(**kwargs)
        spec.validate()
        return spec

    def kernel(self) -> engine.Kernel:
        block = engine.default_block(
            self.width, models.branch(self.model).n_matrices, self.depth, self.gradients,
            self.precision, correlated=self.init in weights.CORRELATED_LAWS,
            sampler=self.sampler)
        return engine.Kernel(
            model=self.model, activation=self.activation, negative_slope=self.negative_slope,
            init=self.init, gain=self.gain, width=self.width, n_in=self.n_in, depth=self.depth,
            gradients=self.gradients, precision=self.precision, block=block,
            lengthscale=self.lengthscale, sampler=self.sampler,
        )

    def identity(self) -> dict[str, Any]:
        """The values that determine the results (everything but ``chunk``)."""
        values = dataclasses.asdict(self)
        values.pop("chunk")
        if values["sampler"] == "explicit":  # cells from before the key existed keep their digest
            values.pop("sampler")
        values["betas"] = list(values["betas"])
        return values

    def digest(self) -> str:
        """A short stable hash of ``identity()``: the cell's file name."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def validate(self) -> None:
        checks.architecture(self.model, self.activation)
        checks.choice("init", self.init, weights.LAWS)
        checks.choice("gradients", self.gradients, engine.GRADIENTS)
        checks.choice("precision", self.precision, engine.PRECISIONS)
        checks.choice("sampler", self.sampler, engine.SAMPLERS)
        if self.sampler == "projection" and self.init not in engine.PROJECTION_LAWS:
            raise ConfigError(f"sampler='projection' is not allowed with init={self.init!r}; "
                              "it is exact in law for init=gaussian only (use sampler=explicit)")
        for key in ("width", "n_in", "depth", "samples"):
            checks.integer(key, getattr(self, key), minimum=1)
        checks.integer("seed", self.seed, minimum=0)
        if self.chunk is not None:
            checks.integer("chunk", self.chunk, minimum=1)
        checks.real("gain", self.gain)
        if self.gain <= 0:
            raise ConfigError(f"gain={self.gain!r} is not allowed; it must be a finite number > 0")
        checks.real("negative_slope", self.negative_slope)
        checks.law_parameters(self.init, self.lengthscale, self.hurst)
        if not self.betas:
            raise ConfigError("betas=[] is not allowed; give at least one finite number")
        for beta in self.betas:
            checks.real("betas", beta)
