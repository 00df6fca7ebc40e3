"""RuntimeClasses a topology says its cluster serves of its own, as a platform would (GKE's `gvisor`).

The clusters the project builds are meant to look like the ones platform teams run, and those come
with RuntimeClasses the platform owns, not the suite (RC-SCH-7 audits exactly those). A topology's
`runtimeClasses:` list holds them in RuntimeClass's own field names:

    runtimeClasses:
      - name: gvisor
        handler: gvisor
        scheduling: {nodeSelector: {rcc.conformance.io/pool: general}}
        overhead: {podFixed: {memory: 64Mi}}

Each provider calls `sync` once its API server answers (a reused cluster included): the classes are
created or replaced, and classes an earlier topology of the same cluster made but this one no longer
lists are deleted. They carry `OWNER_LABEL`, never the suite's own managed-by label, so the suite
treats them as the platform's and its cleanup leaves them alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from clusters.toolbox.errors import ClusterError
from clusters.toolbox.topology_file import dns_label

OWNER_LABEL = "rcc.conformance.io/topology-class"
_FIELDS = {"name", "handler", "scheduling", "overhead"}


@dataclass(frozen=True)
class PlatformClass:
    """One RuntimeClass of the topology; `scheduling` and `overhead` as the API spells them."""

    name: str
    handler: str
    scheduling: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, Any] = field(default_factory=dict)

    def body(self, cluster: str) -> dict[str, Any]:
        body: dict[str, Any] = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                "metadata": {"name": self.name, "labels": {OWNER_LABEL: cluster}},
                                "handler": self.handler}
        if self.scheduling:
            body["scheduling"] = dict(self.scheduling)
        if self.overhead:
            body["overhead"] = dict(self.overhead)
        return body


def parse_classes(raw: object) -> tuple[PlatformClass, ...]:
    """The `runtimeClasses:` list of a topology file; a bad entry raises ValueError naming it."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError("runtimeClasses must be a list of RuntimeClasses (name, handler, scheduling, overhead)")
    classes = []
    for entry in raw:
        if not isinstance(entry, dict) or "name" not in entry or "handler" not in entry:
            raise ValueError(f"runtimeClasses entry {entry!r} needs at least `name` and `handler`")
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"runtimeClasses entry {entry['name']!r}: unknown field(s) {sorted(unknown)}; "
                             f"use {sorted(_FIELDS)}")
        for part in ("scheduling", "overhead"):
            if not isinstance(entry.get(part, {}), dict):
                raise ValueError(f"runtimeClasses entry {entry['name']!r}: `{part}` must be a mapping")
        classes.append(PlatformClass(name=dns_label(entry["name"], "runtimeClasses name"),
                                     handler=dns_label(entry["handler"], "runtimeClasses handler"),
                                     scheduling=dict(entry.get("scheduling") or {}),
                                     overhead=dict(entry.get("overhead") or {})))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ValueError(f"runtimeClasses names repeat: {names}")
    return tuple(classes)


def sync(kubeconfig: Path, cluster: str, classes: tuple[PlatformClass, ...],
         progress: Callable[[str], None]) -> None:
    """Make the cluster serve exactly the topology's classes among those a topology made; an API
    error is one ClusterError line (e.g. a class the API server's validation refuses)."""
    try:
        _sync(kubeconfig, cluster, classes, progress)
    except urllib3.exceptions.HTTPError as exc:
        raise ClusterError(f"cluster {cluster}: could not make the topology's RuntimeClasses: the API server of "
                           f"{kubeconfig} did not answer ({type(exc).__name__})") from None
    except ApiException as exc:
        said = (exc.body or "").replace("\n", " ")[:300]
        raise ClusterError(f"cluster {cluster}: could not make the topology's RuntimeClasses: HTTP {exc.status} "
                           f"{exc.reason}: {said}; fix `runtimeClasses` in the topology file") from None


def _sync(kubeconfig: Path, cluster: str, classes: tuple[PlatformClass, ...],
          progress: Callable[[str], None]) -> None:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    api = client.NodeV1Api(api_client)
    wanted = {c.name: c.body(cluster) for c in classes}
    try:
        present = {rc.metadata.name: api_client.sanitize_for_serialization(rc) for rc in api.list_runtime_class().items}
    except ApiException as exc:
        if exc.status != 404:
            raise
        # An API server told not to serve node.k8s.io/v1 (tests/test_no_runtimeclass_api.py): nothing to serve.
        if classes:
            progress(f"cluster {cluster}: node.k8s.io/v1 is not served, so its RuntimeClasses are not made")
        return
    for name, current in sorted(present.items()):
        owned = OWNER_LABEL in (current["metadata"].get("labels") or {})
        if owned and name not in wanted:
            api.delete_runtime_class(name)
    for name, body in wanted.items():
        current = present.get(name)
        if current is not None and all(current.get(k) == body.get(k) for k in ("handler", "scheduling", "overhead")) \
                and (current["metadata"].get("labels") or {}).get(OWNER_LABEL) == cluster:
            continue  # as it should be: a reused cluster, maybe with a run using the class right now
        if current is not None and current.get("handler") != body["handler"]:
            api.delete_runtime_class(name)  # a RuntimeClass's handler cannot change in place
            current = None
        if current is None:
            api.create_runtime_class(body)
        else:
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            api.replace_runtime_class(name, body)
    if wanted:
        progress(f"cluster {cluster}: serves the platform RuntimeClass(es) {', '.join(sorted(wanted))}")
