"""Cluster definitions and the providers that read them.

Tests never read this package's data files directly: they ask a provider for a
running cluster and get a kubeconfig plus node evidence back.
"""
