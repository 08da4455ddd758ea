"""Benchmarks; run ``uv run python -m bench.registry``."""
