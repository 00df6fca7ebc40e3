"""Removing what the suite created: this run's objects at the end, any run's leftovers at the start.

Everything the suite creates carries `app.kubernetes.io/managed-by=runtimeclass-conformance`
and the run id, and node changes use keys under `rcc.conformance.io/`, so a sweep
never touches anything else.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from conformance import manifests
from conformance.kube import Kube, ignore_not_found, listed_or_empty

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
    for ns in namespaces:
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
    return {"namespaces": len(namespaces), "runtimeclasses": len(classes), "nodes": nodes}


def _restore_nodes(kube: Kube, run_id: str | None) -> int:
    """Drop the suite's node labels and taints (keys under rcc.conformance.io/ that carry a run id)."""
    changed = 0
    marker = f"{manifests.LABEL_PREFIX}run-{run_id}" if run_id else f"{manifests.LABEL_PREFIX}run-"
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
