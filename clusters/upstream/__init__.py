"""Upstream Kubernetes' own RuntimeClass e2e tests next to this suite: topology, images, clause map, results.

Used by `bench/compare_upstream.py`; see its docstring.
"""
