"""Every PRNG key tag of rsim, in one place (rsim/THEORY.md section 10).

A key is split only by ``jax.random.fold_in`` with the fixed integer tags below, so that any
draw can be reproduced from (seed, depth, sample, tag, layer) alone, whatever the block size,
the number of devices or the other options of a run. The values are part of the bits of every
result: changing one changes every recording (tests/data).

* Monte Carlo cells (:mod:`rsim.core.engine`): ``root = fold_in(PRNGKey(seed), depth)``
  (:func:`cell_root`), sample i uses ``fold_in(root, i)`` (:func:`sample`), and inside a
  sample the tags :data:`INPUT` .. :data:`LAYERS`; i.i.d. layer k draws from
  ``fold_in(fold_in(sample, LAYERS), k)`` (:func:`layer`).
* ODE / SDE limits (:mod:`rsim.core.limits`): sample i uses ``fold_in(PRNGKey(seed), i)``
  (no depth: every depth of a sample shares one realisation) and the tags
  :data:`LIMIT_INPUT`, :data:`LIMIT_READIN`, :data:`LIMIT_WEIGHTS`.
* Training (:mod:`rsim.core.training`): run i's weights from ``fold_in(PRNGKey(seed_i),
  TRAINING_INIT)``, epoch e's permutation from ``fold_in(PRNGKey(seed_i), TRAINING_EPOCH + e)``.
"""

from __future__ import annotations

import jax

# Tags inside one Monte Carlo sample.
INPUT, READIN, TANGENT, READOUT, LAYERS = range(5)
# Inside a projected layer's key: the fresh noise of its backward pass.
PULLBACK = 1

# Tags inside one realisation of an ODE/SDE limit.
LIMIT_INPUT, LIMIT_READIN, LIMIT_WEIGHTS = range(3)

# Training: the initial weights, then one tag per epoch from TRAINING_EPOCH on.
TRAINING_INIT = 0
TRAINING_EPOCH = 1


def tagged(key: jax.Array, tag: int) -> jax.Array:
    """The sub-key of ``key`` for ``tag`` (one of this module's tags, or a layer/sample index)."""
    return jax.random.fold_in(key, tag)


def cell_root(seed: int, stream_depth: int | None) -> jax.Array:
    """A cell's root key: ``fold_in(PRNGKey(seed), stream_depth)``; ``None`` (the smooth law,
    one realisation shared by every depth): ``PRNGKey(seed)``."""
    key = jax.random.PRNGKey(seed)
    return key if stream_depth is None else tagged(key, stream_depth)


def sample(root: jax.Array, index: int | jax.Array) -> jax.Array:
    """Sample ``index``'s key under ``root`` (a cell's root, or ``PRNGKey(seed)`` of a limit)."""
    return tagged(root, index)


def layer(layers_key: jax.Array, k: int | jax.Array) -> jax.Array:
    """Layer ``k``'s key under a sample's :data:`LAYERS` key."""
    return tagged(layers_key, k)
