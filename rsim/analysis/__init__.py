"""Analysis of results tables in numpy and pandas: theory, statistics, summaries, estimators
and the report's verdicts. Never imports jax."""
