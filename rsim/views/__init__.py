"""Figures with matplotlib: tables in, PNG out. Never imports jax or the engine."""
