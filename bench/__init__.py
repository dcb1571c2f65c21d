"""Benchmarks that print figures. Run them as modules from the repository root: `python -m bench.NAME`."""
