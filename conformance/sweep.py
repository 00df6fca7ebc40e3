"""Removing what the suite created: this run's objects at the end, any run's leftovers at the start.

Everything the suite creates carries `app.kubernetes.io/managed-by=runtimeclass-conformance`
and the run id, and node changes use keys under `rcc.conformance.io/`, so a sweep
never touches anything else.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from conformance import manifests
from kubernetes.client import CoordinationV1Api

from conformance.kube import Kube, ignore_not_found, listed_or_empty
from conformance.liveness import LEASE_NAMESPACE, lease_name, live_runs

MANAGED = f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY}"


STALE_AFTER = timedelta(minutes=15)


def sweep(kube: Kube, run_id: str | None = None, older_than: timedelta | None = None,
          wait: float = 60.0) -> dict[str, int]:
    """Delete the suite's namespaces, RuntimeClasses and node labels/taints.

    One run's (`run_id`), every run's, or (`older_than`) only those of runs old enough to be
    dead: a run sweeping at start must not take the objects of another run still going.
    """
    selector = f"{MANAGED},{manifests.LABEL_RUN}={run_id}" if run_id else MANAGED
    cutoff = datetime.now(timezone.utc) - older_than if older_than else None

    def chosen(items: list) -> list:
        return [i for i in items if cutoff is None or i.metadata.creation_timestamp < cutoff]

    # An identity that may not list a kind cannot have created it: nothing of it to sweep.
    namespaces = chosen(listed_or_empty(lambda: kube.core.list_namespace(label_selector=selector)))
    classes = chosen(listed_or_empty(lambda: kube.node.list_runtime_class(label_selector=selector)))
    runs = {i.metadata.labels.get(manifests.LABEL_RUN) for i in namespaces + classes}
    # One already terminating needs no second delete, and is not counted as this sweep's work.
    deleting = [ns for ns in namespaces if ns.metadata.deletion_timestamp is None]
    for ns in deleting:
        ignore_not_found(lambda: kube.core.delete_namespace(ns.metadata.name, grace_period_seconds=0))
    for rc in classes:
        ignore_not_found(lambda: kube.node.delete_runtime_class(rc.metadata.name))
    if cutoff is None:
        nodes = _restore_nodes(kube, run_id)
    else:
        nodes = sum(_restore_nodes(kube, run) for run in runs if run)
    names = {ns.metadata.name for ns in namespaces}
    deadline = time.monotonic() + wait
    while names and time.monotonic() < deadline:
        remaining = {ns.metadata.name for ns in listed_or_empty(
            lambda: kube.core.list_namespace(label_selector=selector))} & names
        if not remaining:
            break
        time.sleep(0.5)
    return {"namespaces": len(deleting), "runtimeclasses": len(classes), "nodes": nodes}


def sweep_dead_runs(kube: Kube) -> dict[str, int]:
    """At the start of a run: remove what runs that are no longer alive left, whatever its age.

    A run is alive while its Lease is renewed (see liveness); where Leases cannot be read,
    objects older than STALE_AFTER count as leftovers instead.
    """
    live = live_runs(kube)
    if live is None:
        return sweep(kube, older_than=STALE_AFTER)
    totals = {"runs": 0, "namespaces": 0, "runtimeclasses": 0, "nodes": 0}
    for run in sorted(_present_runs(kube) - live):
        removed = sweep(kube, run_id=run, wait=0)
        ignore_not_found(lambda: CoordinationV1Api(kube.api).delete_namespaced_lease(lease_name(run), LEASE_NAMESPACE))
        totals["runs"] += 1
        for key, count in removed.items():
            totals[key] += count
    return totals if totals["runs"] else {}


def _present_runs(kube: Kube) -> set[str]:
    """Run ids that own something on the cluster: objects, leases, node labels or taints."""
    # A namespace already terminating is being removed: nothing of it left to sweep.
    namespaces = [ns for ns in listed_or_empty(lambda: kube.core.list_namespace(label_selector=MANAGED))
                  if ns.metadata.deletion_timestamp is None]
    runs = {i.metadata.labels.get(manifests.LABEL_RUN)
            for i in [*namespaces, *listed_or_empty(lambda: kube.node.list_runtime_class(label_selector=MANAGED))]}
    prefix = f"{manifests.LABEL_PREFIX}run-"
    for node in listed_or_empty(kube.core.list_node):
        keys = [*(node.metadata.labels or {}), *(t.key for t in node.spec.taints or [])]
        runs.update(k[len(prefix):].split("-", 1)[0] for k in keys if k.startswith(prefix))
    return {run for run in runs if run}


def _restore_nodes(kube: Kube, run_id: str | None) -> int:
    """Drop the suite's node labels and taints (keys under rcc.conformance.io/ that carry a run id)."""
    changed = 0
    marker = f"{manifests.LABEL_PREFIX}run-{run_id}-" if run_id else f"{manifests.LABEL_PREFIX}run-"
    for node in listed_or_empty(kube.core.list_node):
        labels = {k: None for k in (node.metadata.labels or {}) if k.startswith(marker)}
        taints = node.spec.taints or []
        kept = [t for t in taints if not t.key.startswith(marker)]
        if labels or len(kept) != len(taints):
            body = {"metadata": {"labels": labels}} if labels else {}
            if len(kept) != len(taints):
                body["spec"] = {"taints": [kube.api.sanitize_for_serialization(t) for t in kept]}
            kube.core.patch_node(node.metadata.name, body)
            changed += 1
    return changed
