"""What a test's Pods show: reads of a Pod, its log and events, and the judgements waits are made of.

A part of `Case` (conformance/case.py), which holds one and passes on what tests read. Each function reads fresh state from the API server;
the waiters in case.py decide *when* to look (conformance.waiting, conformance.watching).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kubernetes.client import CoreV1Event as V1Event, V1Pod

from conformance.infrastructure import InfrastructureFault, pod_fault, sandbox_fault
from conformance.kube import Kube

# How long a FailedScheduling must stand, the Pod still unbound, before a Pod that should be placed
# counts as unplaceable. A node label or taint a test has just written can reach the scheduler's
# cache after the Pod does: the scheduler then reports FailedScheduling once and binds the Pod as
# soon as the node update arrives (seen once in 20 runs of `-n 2`: "0/3 nodes are available: 3
# node(s) didn't match Pod's node affinity/selector" for a Pod that was bound right after).
UNSCHEDULABLE_GRACE = 3.0

# Waiting reasons from which a Pod with restartPolicy Never will not recover on its own. An image that
# cannot be pulled is not among them: that is infrastructure (conformance.infrastructure), raised by read_pod.
CONTAINER_DEAD_ENDS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


class PodStates:
    """Reads and judgements of the test namespace's Pods: a part of a Case, given its API and namespace.

    The namespace comes as a function because a Case opens its namespace on first use. `nodes_in_use`
    (the Case's) gains the node of every Pod read: a wait stops once one of them is lost.
    """

    def __init__(self, kube: Kube, namespace: Callable[[], str], nodes_in_use: set[str] | None = None) -> None:
        self.kube = kube
        self._namespace = namespace
        self.nodes_in_use = nodes_in_use if nodes_in_use is not None else set()

    @property
    def namespace(self) -> str:
        return self._namespace()

    def read_pod(self, name: str) -> V1Pod:
        """The Pod now; every look notes its node (the waiters stop when that node is lost) and raises
        InfrastructureFault for what conformance.infrastructure calls infrastructure (an image pull error,
        an eviction): every wait reads its Pods through here."""
        pod = self.kube.core.read_namespaced_pod(name, self.namespace)
        if pod.spec and pod.spec.node_name:
            self.nodes_in_use.add(pod.spec.node_name)
        found = pod_fault(pod)
        if found is not None:
            raise InfrastructureFault(found)
        return pod

    def pod_log(self, name: str, tail_lines: int | None = None) -> str:
        """The Pod's log as text (read raw: the client's deserializer would turn the bytes into their repr)."""
        extra = {"tail_lines": tail_lines} if tail_lines else {}
        response = self.kube.core.read_namespaced_pod_log(name, self.namespace, _preload_content=False, **extra)
        return response.data.decode("utf-8", errors="replace")

    def pod_events(self, name: str) -> list[V1Event]:
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}").items
        return sorted(events, key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)

    def event_with_reason(self, name: str, reason: str) -> V1Event | None:
        """The Pod's first event of this reason. A FailedCreatePodSandBox whose CRI did not answer is
        infrastructure and raises; one about a handler is the clause's evidence and is returned."""
        event = next((e for e in self.pod_events(name) if e.reason == reason), None)
        if event is not None and reason == "FailedCreatePodSandBox":
            found = sandbox_fault((event.source.host if event.source else None) or "", event.message or "")
            if found is not None:
                raise InfrastructureFault(found)
        return event

    def phase_is(self, name: str, phase: str) -> V1Pod | None:
        pod = self.read_pod(name)
        return pod if pod.status.phase == phase else None

    def why_not_running(self, name: str) -> str | None:
        pod = self.read_pod(name)
        if pod.status.phase == "Failed":
            return f"it went Failed ({self.container_state(pod)})"
        failure = self.event_with_reason(name, "FailedCreatePodSandBox")
        if failure is not None:
            return f"the kubelet could not create its sandbox: {failure.message}"
        for status in pod.status.container_statuses or []:
            waiting = status.state.waiting if status.state else None
            if waiting and waiting.reason in CONTAINER_DEAD_ENDS:
                return f"container {status.name} is {waiting.reason}: {waiting.message or ''}".strip()
        return None

    def visible_failure(self, name: str) -> tuple[str, str] | None:
        pod = self.read_pod(name)
        if pod.status.phase == "Failed":
            return "Failed", pod.status.message or pod.status.reason or ""
        event = self.event_with_reason(name, "FailedCreatePodSandBox")
        if event is not None:
            return "Pending with FailedCreatePodSandBox", event.message or ""
        return None

    def unschedulable(self, name: str) -> str | None:
        event = self.event_with_reason(name, "FailedScheduling")
        return f"the scheduler could not place it: {event.message}" if event else None

    def still_unschedulable(self, name: str, first_seen: dict[str, float]) -> str | None:
        """Why the Pod cannot be placed, once that has stood for UNSCHEDULABLE_GRACE with the Pod unbound."""
        if self.read_pod(name).spec.node_name:
            return None
        reason = self.unschedulable(name)
        if reason is None:
            return None
        since = first_seen.setdefault(name, time.monotonic())
        return reason if time.monotonic() - since >= UNSCHEDULABLE_GRACE else None

    def not_running(self, name: str) -> str | None:
        phase = self.read_pod(name).status.phase
        return None if phase == "Running" else f"it is {phase}"

    def started(self, name: str) -> str | None:
        pod = self.read_pod(name)
        if pod.status.phase in ("Running", "Succeeded"):
            return f"it reached {pod.status.phase}"
        for status in pod.status.container_statuses or []:
            if status.state and (status.state.running or status.state.terminated):
                return f"container {status.name} started"
        return None

    def container_state(self, pod: V1Pod) -> str:
        states = []
        for status in pod.status.container_statuses or []:
            terminated = status.state.terminated if status.state else None
            if terminated:
                states.append(f"{status.name}: exit {terminated.exit_code} {terminated.reason or ''}".strip())
        return "; ".join(states) or pod.status.reason or "no container status"

    def describe(self, name: str) -> str:
        pod = self.read_pod(name)
        events = [f"{e.reason}: {(e.message or '')[:160]}" for e in self.pod_events(name)][-3:]
        return f"phase {pod.status.phase}, node {pod.spec.node_name or '-'}, events [{'; '.join(events)}]"

    def log_tail(self, name: str) -> str:
        try:
            return self.pod_log(name, tail_lines=20)
        except Exception as exc:  # noqa: BLE001 - diagnostics are best effort
            return f"(no log: {type(exc).__name__})"
