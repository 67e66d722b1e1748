"""Samplers: how a sample's weights are drawn and the network simulated on them, by name.

Each sampler is one module and one object (:class:`rsim.core.samplers.base.Sampler`),
registered once in :data:`SAMPLERS` below:

* ``explicit`` (:mod:`.explicit`): every weight entry drawn; any law, any branch.
* ``projection`` (:mod:`.projection`): each Gaussian matrix's action on the vectors it
  meets, sampled from its exact law in O(d) numbers; i.i.d. Gaussian weights, dense branches.
* ``reduced`` (:mod:`.reduced`): the few coordinates the metrics depend on, O(1) numbers per
  layer whatever d; i.i.d. Gaussian weights, dense homogeneous branches, gradients none or
  jvp; each beta its own weights.

A new sampler is one new module and one entry in the ``_registry(...)`` call below. The
module defines a :class:`~rsim.core.samplers.base.Sampler`: ``name``, ``exact_for(init,
model)`` (and ``refusal(kernel)`` where more than the law and the branch decide),
``sample(kernel, key, betas, law_state)`` -> the metrics of one sample, and ``block_rule``
where its blocks differ from explicit's; or, if it carries every beta's ``(n_betas, d)``
states layer by layer, a :class:`~rsim.core.samplers.scan.LayerSampler`: ``forward``,
``stored`` and ``backward`` layer steps (and ``unroll``). Its name also goes into
``rsim.schema.SAMPLERS``, the options' vocabulary (tests/test_samplers.py checks they agree).

>>> from rsim.core.samplers import sampler
>>> sampler("projection").exact_for("gaussian", "conv")
False
>>> sorted(SAMPLERS)
['explicit', 'projection', 'reduced']
"""

from __future__ import annotations

from rsim.core.samplers.base import BlockRule, Sampler
from rsim.core.samplers.explicit import EXPLICIT
from rsim.core.samplers.projection import PROJECTION
from rsim.core.samplers.reduced import REDUCED


def _registry(*members: Sampler) -> dict[str, Sampler]:
    """Name -> sampler, refusing two samplers of one name."""
    registry: dict[str, Sampler] = {}
    for member in members:
        if member.name in registry:
            raise ValueError(f"two samplers are named {member.name!r}")
        registry[member.name] = member
    return registry


SAMPLERS: dict[str, Sampler] = _registry(EXPLICIT, PROJECTION, REDUCED)


def sampler(name: str) -> Sampler:
    """The registered sampler of this name.

    Args:
        name: a key of :data:`SAMPLERS` (the ``sampler`` option).

    Returns:
        The sampler object.

    Raises:
        ValueError: one line naming the choices, for an unknown name.

    >>> sampler("explicit").name
    'explicit'
    """
    try:
        return SAMPLERS[name]
    except KeyError:
        choices = ", ".join(SAMPLERS)
        raise ValueError(f"unknown sampler {name!r}; choose one of {choices}") from None


__all__ = ["SAMPLERS", "BlockRule", "Sampler", "sampler"]
