"""The one small interface every cluster provider offers the suite.

A provider creates (idempotently) or attaches to a cluster, hands out its
kubeconfig, optionally looks inside nodes (`NodeEvidence`), and destroys only
what it created. Optional abilities are separate protocols, not flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from clusters.pod_processes import PodProcesses


@dataclass(frozen=True)
class SandboxInfo:
    """What the CRI says about a Pod's sandbox on its node."""

    sandbox_id: str
    runtime_handler: str
    raw: dict
    # Where the handler was read: CRIs differ (containerd: status.runtimeHandler; CRI-O 1.34
    # leaves that empty and keeps it in an annotation).
    handler_source: str = "status.runtimeHandler"


@runtime_checkable
class NodeEvidence(Protocol):
    """Looking inside a node: the CRI's view of a sandbox, and the Pod's cgroup files."""

    def sandbox(self, node: str, namespace: str, pod: str, pod_uid: str) -> SandboxInfo | None:
        """The Pod's sandbox as the node's CRI reports it; None if the CRI has no such sandbox."""

    def pod_cgroup_value(self, node: str, pod_uid: str, qos: str, knob: str) -> str | None:
        """A file of the Pod-level cgroup (e.g. `memory.limit_in_bytes`), read on the node."""

    def cri_runtime_tables(self, node: str) -> list[str] | None:
        """The runtime table keys of the node's CRI configuration, when readable."""

    # Optional (read with getattr): cri_reports_handlers(node) -> bool | None, whether the node's CRI
    # lists handlers in its CRI Status, the list the kubelet publishes as Node.status.runtimeHandlers.


@dataclass(frozen=True)
class RuntimeSighting:
    """What actually runs a sandbox, seen on its node (RC-USE-8), not what the configuration says.

    `runtime`: runc, crun, runsc, kata or unknown; `isolation`: the class that runtime gives
    (shared-kernel, user-space-kernel, vm, unknown); `evidence`: what was seen, for a reviewer.
    """

    runtime: str
    isolation: str
    evidence: str


@runtime_checkable
class RuntimeEvidence(Protocol):
    """Optional: naming the OCI runtime or VM that runs a sandbox, from the node's processes and state."""

    def runtime_of(self, node: str, sandbox_id: str) -> RuntimeSighting | None:
        """The runtime running sandbox `sandbox_id` on `node`; None when nothing on the node names it."""


@runtime_checkable
class ContainmentEvidence(Protocol):
    """Optional: every host process that runs a Pod, with its cgroups, and the Pod cgroup (RC-OVH-8)."""

    def pod_processes(self, node: str, pod_uid: str, sandbox_id: str,
                      container_ids: list[str]) -> "PodProcesses":
        """The Pod's process tree on `node` (clusters/pod_processes.py), found from the CRI's ids and pids."""


@runtime_checkable
class ClusterProvider(Protocol):
    name: str

    def create(self) -> Path:
        """Bring the cluster up or attach to it (idempotent); return the kubeconfig path."""

    def destroy(self) -> None:
        """Remove what `create` made, and nothing else."""

    def evidence(self) -> NodeEvidence | None:
        """Node evidence, or None when this provider cannot look inside nodes."""

    def export_logs(self, destination: Path) -> None:
        """Copy component logs next to the report (best effort)."""
