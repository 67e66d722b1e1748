"""Experiments: each a frozen spec (its options and defaults) and a pure ``compute(spec)``
returning tables; :mod:`rsim.experiments.base` holds the one runner they share."""
