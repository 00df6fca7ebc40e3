"""Manifests the suite creates, as plain dicts: no I/O here.

Every object carries the run's labels so a sweep can find it; every Pod passes
PodSecurity `restricted` (non-root, no privilege escalation, all capabilities
dropped, RuntimeDefault seccomp) so the suite runs in locked-down namespaces.
"""

from __future__ import annotations

from typing import Any

HOSTNAME_LABEL = "kubernetes.io/hostname"


def pin(node: str) -> dict[str, str]:
    """The nodeSelector that places a Pod on exactly this node."""
    return {HOSTNAME_LABEL: node}

MANAGED_BY = "runtimeclass-conformance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN = "rcc.conformance.io/run"
LABEL_PREFIX = "rcc.conformance.io/"
NOBODY = 65534


def run_labels(run_id: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_RUN: run_id}


def namespace(name: str, run_id: str) -> dict[str, Any]:
    labels = {**run_labels(run_id), "pod-security.kubernetes.io/enforce": "restricted"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def runtime_class(name: str, handler: str, run_id: str, overhead: dict[str, str] | None = None,
                  node_selector: dict[str, str] | None = None,
                  tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": name, "labels": run_labels(run_id)},
        "handler": handler,
    }
    if overhead is not None:
        body["overhead"] = {"podFixed": overhead}
    if node_selector is not None or tolerations is not None:
        body["scheduling"] = {}
        if node_selector is not None:
            body["scheduling"]["nodeSelector"] = node_selector
        if tolerations is not None:
            body["scheduling"]["tolerations"] = tolerations
    return body


def pod(name: str, run_id: str, image: str, command: list[str], runtime_class: str | None = None,
        node_selector: dict[str, str] | None = None, tolerations: list[dict[str, Any]] | None = None,
        requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
        overhead: dict[str, str] | None = None, restart_policy: str = "Never",
        termination_grace: int = 0) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "runAsUser": NOBODY},
    }
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    if resources:
        container["resources"] = resources
    spec: dict[str, Any] = {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": termination_grace,
        "securityContext": {"runAsNonRoot": True, "runAsUser": NOBODY, "runAsGroup": NOBODY,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    for key, value in (("runtimeClassName", runtime_class), ("nodeSelector", node_selector),
                       ("tolerations", tolerations), ("overhead", overhead)):
        if value is not None:
            spec[key] = value
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": run_labels(run_id)},
            "spec": spec}


def resource_quota(name: str, run_id: str, hard: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "labels": run_labels(run_id)},
            "spec": {"hard": hard}}
