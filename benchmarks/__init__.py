"""Throughput and memory benchmarks of gae_jax against PyTorch eager references.

``python -m benchmarks.chains`` and ``python -m benchmarks.train``; see the README section
"Performance". PyTorch is the optional extra ``pip install -e ".[bench]"``.
"""
