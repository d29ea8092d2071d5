"""The modelcard benchmark suite; run it with ``python benchmarks/run.py``."""
