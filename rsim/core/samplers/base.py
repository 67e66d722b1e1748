"""What a sampler is: how one Monte Carlo sample of a kernel is drawn and simulated.

A sampler is an object registered once by name (:data:`rsim.core.samplers.SAMPLERS`). The
engine (:mod:`rsim.core.engine`) asks it for two things: the metrics of one sample
(:meth:`Sampler.sample`, traced inside the engine's ``vmap`` over a block of samples) and the
rule that sizes those blocks (:meth:`Sampler.block_rule`); validation asks it where it is
exact in law (:meth:`Sampler.exact_for`). Samplers that carry the d-dimensional hidden state,
tangent and cotangent of every beta layer by layer (explicit, projection) share that scan
(:class:`rsim.core.samplers.scan.LayerSampler`) and supply only their layer steps.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import jax

from rsim.core import branches
from rsim.core.kernel import Kernel


class BlockRule(NamedTuple):
    """A sampler's part of :func:`rsim.core.engine.default_block` on one platform."""

    fit: float  # samples per block that reach the platform's work target per layer step
    most: int  # the largest block (a power of two)
    stored: int  # floats stored per beta and layer for exact backprop


class Sampler(abc.ABC):
    """One way of drawing a sample's weights and simulating the network on them.

    Subclasses set ``name`` and implement :meth:`exact_for` and :meth:`sample`; the block
    rule below (every weight entry drawn per layer step) is the default.
    """

    name: str  # the registry key: the ``sampler`` option's value
    # Whether the sampler traces and runs with x64 enabled whatever the kernel's precision
    # (it computes in float64 and returns the kernel's dtype).
    x64: bool = False

    @abc.abstractmethod
    def exact_for(self, init: str, model: str) -> bool:
        """Whether this sampler has the law of the network with ``init`` weights and branch
        ``model`` exactly.

        Args:
            init: a weight law's name (``rsim.schema.LAWS``).
            model: a branch's name (``rsim.schema.MODELS``).

        Returns:
            True where the sampler may be used.
        """

    def refusal(self, kernel: Kernel) -> str | None:
        """Why this sampler cannot simulate ``kernel`` exactly in law (one line), or None.

        The default reads :meth:`exact_for`; a sampler with more conditions (an activation,
        the gradients) overrides this.

        Args:
            kernel: the simulation.

        Returns:
            The reason, or None where the sampler may be used.
        """
        if self.exact_for(kernel.init, kernel.model):
            return None
        return (
            f"the {self.name} sampler is not exact in law for init={kernel.init!r}, "
            f"model={kernel.model!r}"
        )

    @abc.abstractmethod
    def sample(
        self, kernel: Kernel, key: jax.Array, betas: jax.Array, law_state: jax.Array
    ) -> dict[str, jax.Array]:
        """All metrics of one sample for every beta (traced; see :mod:`rsim.core.engine`).

        Args:
            kernel: the static description of the simulation.
            key: the sample's key, ``fold_in(root, i)``.
            betas: ``(n_betas,)`` depth exponents, alpha = L^-beta.
            law_state: a traced scalar of the law (fbm: the circulant scale of H).

        Returns:
            Metric name (``kernel.outputs``) -> ``(n_betas,)`` array (``weight_path``:
            ``(depth,)``).
        """

    def block_rule(self, shape: branches.Shape, gradients: str, platform: str) -> BlockRule:
        """Samples per block before the memory caps: about 2^20 weight entries per layer step
        on CPU (measured fastest here: 256 at d = 40, 64 at d = 100 for res-3), 2^24 on
        accelerators, at most 256 samples on CPU (the padding of a small run); a layer's
        entries counted at least as ``shape.activation_entries`` (conv's shifted copies);
        exact backprop stores one state (``shape.dim`` floats) per beta and layer.

        Args:
            shape: the branch's shape.
            gradients: ``none``, ``jvp``, ``vjp`` or ``both``.
            platform: ``cpu``, ``gpu`` or ``tpu``.

        Returns:
            The rule's fit, largest block and stored floats.
        """
        target, most = (2**20, 256) if platform == "cpu" else (2**24, 2**16)
        fit = target / max(shape.weight_entries, shape.activation_entries)
        return BlockRule(fit, most, shape.dim)
