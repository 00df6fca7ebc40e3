"""Changes a test makes to shared nodes (labels, taints) and the locks around shared node resources.

A part of `Case` (conformance/case.py), which holds one and passes on what tests call: every change is undone by the test's cleanup, and a
label or taint key names the run and the xdist worker, so a sweep recognises leftovers and
concurrent tests never remove each other's.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import allure
from kubernetes.client.exceptions import ApiException

from conformance import manifests
from conformance.kube import Kube, to_dict
from conformance.settings import RunSettings


class NodeChanges:
    """Node labels, taints and run-wide locks: a part of a Case, given its API, settings and cleanup list."""

    def __init__(self, kube: Kube, settings: RunSettings, defer: Callable[[Callable[[], None]], None],
                 nodes_in_use: set[str] | None = None) -> None:
        self.kube, self.settings, self.defer = kube, settings, defer
        # A test that labels or taints a node depends on it (conformance.case stops its waits if it is lost).
        self.nodes_in_use = nodes_in_use if nodes_in_use is not None else set()

    def node_key(self, suffix: str) -> str:
        """A label or taint key that a sweep recognises as this run's: rcc.conformance.io/run-<id>-<worker>-<suffix>."""
        return self._run_key(self.settings.worker, suffix)

    def _run_key(self, worker: str, suffix: str) -> str:
        return f"{manifests.LABEL_PREFIX}run-{self.settings.run_id}-{worker}-{suffix}"[:63]

    def label_node(self, node: str, suffix: str, value: str = "true") -> tuple[str, str]:
        key = self.node_key(suffix)
        self.nodes_in_use.add(node)
        with allure.step(f"label node {node} {key}={value}"):
            self.kube.core.patch_node(node, {"metadata": {"labels": {key: value}}})
            self.defer(lambda: self.kube.core.patch_node(node, {"metadata": {"labels": {key: None}}}))
        return key, value

    def run_taint_tolerations(self, own: bool = True) -> list[dict[str, str]]:
        """Tolerations for every worker's taint key (without `own`: but this worker's), so one
        worker's taint test never starves another's Pods."""
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
        workers = [f"gw{i}" for i in range(count)] or [self.settings.worker]
        return [{"key": self._taint_key(worker), "operator": "Exists"} for worker in workers
                if own or worker != self.settings.worker]

    def _taint_key(self, worker: str) -> str:
        """A worker's taint key; other workers' Pods tolerate it (run_taint_tolerations)."""
        return self._run_key(worker, "taint")

    def taint_node(self, node: str, value: str = "true", effect: str = "NoSchedule") -> dict[str, str]:
        """Add this worker's taint; the cleanup removes exactly it and keeps every other.

        Workers taint nodes at the same time, each with its own key (other workers' Pods
        tolerate it), so the node's taint list is changed with optimistic concurrency.
        """
        key = self._taint_key(self.settings.worker)
        taint = {"key": key, "value": value, "effect": effect}
        self.nodes_in_use.add(node)
        with allure.step(f"taint node {node} {key}={value}:{effect}"):
            self._change_taints(node, lambda taints: [*taints, taint])
            self.defer(lambda: self._change_taints(node, lambda taints: [t for t in taints if t["key"] != key]))
        return taint

    def _change_taints(self, node: str, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        """Read, change and write the node's taints; the write names the resourceVersion it read,
        so a concurrent change makes it fail with 409 and it is redone on the new list."""
        for _ in range(20):
            current = self.kube.core.read_node(node)
            taints = [to_dict(self.kube, t) for t in current.spec.taints or []]
            body = {"metadata": {"resourceVersion": current.metadata.resource_version},
                    "spec": {"taints": change(taints)}}
            try:
                self.kube.core.patch_node(node, body)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
        raise AssertionError(f"the taints of node {node} kept changing under this test (20 conflicts)")

    def exclusive(self, resource: str, shared: bool = False) -> None:
        """Hold a per-run lock until this test's cleanup: tests that share `resource` do not overlap.

        Across xdist workers, for what tests cannot share safely: node CPU and memory (free
        allocatable computed then consumed). With `shared`, the lock is taken shared: tests
        that only add small, known requests run side by side and wait only for the exclusive
        holder. The lock is released by the cleanup registered here, after every later cleanup.
        """
        path = Path(tempfile.gettempdir()) / f"rcc-{self.settings.run_id}-{resource}.lock"
        handle = path.open("w")
        with allure.step(f"wait for the run's {resource} lock ({'shared' if shared else 'exclusive'})"):
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        self.defer(handle.close)
