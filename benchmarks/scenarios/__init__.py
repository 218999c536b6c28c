"""Benchmark scenarios: each module has `run(bench) -> dict`."""
