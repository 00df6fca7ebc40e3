"""Removing what the suite created: this run's objects at the end, any run's leftovers at the start.

Everything the suite creates carries `app.kubernetes.io/managed-by=runtimeclass-conformance`
and the run id, and node changes use keys under `rcc.conformance.io/`, so a sweep
never touches anything else.
"""

from __future__ import annotations

import time

from conformance import manifests
from conformance.kube import Kube, ignore_not_found

MANAGED = f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY}"


def sweep(kube: Kube, run_id: str | None = None, wait: float = 60.0) -> dict[str, int]:
    """Delete the suite's namespaces, RuntimeClasses and node labels/taints (one run's, or all)."""
    selector = f"{MANAGED},{manifests.LABEL_RUN}={run_id}" if run_id else MANAGED
    namespaces = [ns.metadata.name for ns in kube.core.list_namespace(label_selector=selector).items]
    for name in namespaces:
        ignore_not_found(lambda: kube.core.delete_namespace(name, grace_period_seconds=0))
    classes = [rc.metadata.name for rc in kube.node.list_runtime_class(label_selector=selector).items]
    for name in classes:
        ignore_not_found(lambda: kube.node.delete_runtime_class(name))
    nodes = _restore_nodes(kube, run_id)
    deadline = time.monotonic() + wait
    while namespaces and time.monotonic() < deadline:
        remaining = {ns.metadata.name for ns in kube.core.list_namespace(label_selector=selector).items}
        if not remaining:
            break
        time.sleep(0.5)
    return {"namespaces": len(namespaces), "runtimeclasses": len(classes), "nodes": nodes}


def _restore_nodes(kube: Kube, run_id: str | None) -> int:
    """Drop the suite's node labels and taints (keys under rcc.conformance.io/ that carry a run id)."""
    changed = 0
    marker = f"{manifests.LABEL_PREFIX}run-{run_id}" if run_id else f"{manifests.LABEL_PREFIX}run-"
    for node in kube.core.list_node().items:
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
