"""What counts as an infrastructure fault, and what is a RuntimeClass outcome. Pure logic, no I/O.

A conformance verdict must be about RuntimeClass only: "NOT CONFORMANT" has to mean that the
cluster's RuntimeClass behaviour is wrong, never that a node died or an image could not be
pulled. This module is the one place that draws the line; the watcher
(conformance/infrastructure_watch.py), the waiters (conformance/case.py, pod_states.py) and the
plugin only ask it.

Infrastructure (the test that meets it is an infrastructure error; its clauses are UNTESTED):

- a node that was Ready at the start goes NotReady or Unknown, or is deleted;
- a node's kubelet stops renewing its Lease in `kube-node-lease` (its heartbeat): the kubelet
  renews every leaseDurationSeconds/4 (10 s by default); once the renewTime the watcher saw has
  not moved for `heartbeat_stale_after(lease)` (60 % of the lease, 24 s by default) the node
  counts as lost. That is seen 15-25 s before the node-lifecycle controller would mark the node
  NotReady (node-monitor-grace-period, 50 s), and needs no change to the cluster;
- a Pod whose container cannot get its image (ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
  InvalidImageName), a Pod evicted or lost with its node (status.reason Evicted, NodeLost,
  Terminated, UnexpectedAdmissionError, a DisruptionTarget condition);
- FailedCreatePodSandBox caused by the CRI being unreachable (gRPC Unavailable, a refused or
  missing socket, a closed transport), not by a handler;
- the API server unreachable for longer than API_GRACE (a restart of a few seconds is ridden out).

Never infrastructure (clause evidence, checked first so no pattern above can swallow it):

- FailedCreatePodSandBox naming a handler the CRI does not have: containerd's
  `no runtime for "x" is configured`, CRI-O's `failed to find runtime handler x from runtime list`
  (RC-USE-5's evidence), and any other message about a runtime handler;
- a handler whose binary cannot start containers (an OCI runtime error: RC-USE-1 and friends);
- FailedScheduling, admission rejections, a Pod that runs when it must not: the clauses' matter.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import urllib3

# How long the API server may be unreachable before the run says so (a restart takes a few seconds).
API_GRACE = 30.0
# The kubelet's default Lease (KubeletConfiguration nodeLeaseDurationSeconds).
DEFAULT_LEASE_SECONDS = 40
# A heartbeat is stale once it has not moved for this share of its lease (the kubelet renews at 1/4).
STALE_SHARE = 0.6

IMAGE_FAULTS = frozenset({"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"})
# Pod.status.reason values the kubelet or the node controllers set when the node, not the Pod, is the matter.
POD_REASON_FAULTS = {"Evicted": "evicted", "NodeLost": "lost with its node", "Terminated": "terminated with its node",
                     "UnexpectedAdmissionError": "refused by its kubelet (UnexpectedAdmissionError)",
                     "NodeShutdown": "stopped by its node's shutdown"}

# Messages that are RuntimeClass outcomes whatever else they say (see the module docstring).
RUNTIMECLASS_MESSAGES = (
    re.compile(r"no runtime for \S+ is configured"),           # containerd: unknown handler
    re.compile(r"failed to find runtime handler"),              # CRI-O: unknown handler
    re.compile(r"runtime handler", re.IGNORECASE),              # any other word about a handler
    re.compile(r"OCI runtime (create|start|exec) failed"),      # a handler's binary failed
)
# A CRI that does not answer: what the kubelet's gRPC client reports.
CRI_UNREACHABLE = (
    re.compile(r"code = Unavailable"),
    re.compile(r"dial unix [^:]+: connect: (connection refused|no such file or directory)"),
    re.compile(r"transport is closing|error reading from server: EOF"),
)

# The user property a test's report carries when it met an infrastructure fault (the Fault as JSON): how an
# xdist worker hands the fault to the controller, beside the test's clauses.
INFRASTRUCTURE_PROPERTY = "rcc-infrastructure-fault"

# Fault kinds (the words the report and the exit line use).
NODE_NOT_READY, NODE_GONE, HEARTBEAT_STALE = "node-not-ready", "node-gone", "heartbeat-stale"
IMAGE_PULL, POD_DISRUPTED, CRI_DOWN, API_DOWN = "image-pull", "pod-disrupted", "cri-unreachable", "api-unreachable"


@dataclass(frozen=True)
class Fault:
    """One infrastructure fault: what broke, where, when it was seen, and the evidence."""

    kind: str
    node: str  # "" when no node is concerned (the API server)
    detail: str
    seen_at: str  # ISO 8601, UTC

    def sentence(self) -> str:
        where = f"node {self.node}" if self.node else "the cluster"
        return f"{where}: {self.kind}: {self.detail} (seen {self.seen_at})"

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, str]) -> "Fault":
        return cls(**raw)


class InfrastructureFault(Exception):
    """A wait met an infrastructure fault: not an assertion, the test's clauses stay untested."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.sentence())
        self.fault = fault


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fault(kind: str, node: str, detail: str, seen_at: str | None = None) -> Fault:
    return Fault(kind, node, detail, seen_at or now_iso())


# --- nodes ------------------------------------------------------------------------------------

def node_ready_fault(node_name: str, conditions: list[Any] | None) -> Fault | None:
    """NotReady / Unknown from the Node's Ready condition (objects with .type/.status/.reason/.message)."""
    ready = next((c for c in conditions or [] if c.type == "Ready"), None)
    if ready is None or ready.status == "True":
        return None
    why = ready.reason or "no reason given"
    if ready.message:
        why += f": {ready.message}"
    return fault(NODE_NOT_READY, node_name, f"Ready is {ready.status} ({why})")


def heartbeat_stale_after(lease_seconds: int | None) -> float:
    return STALE_SHARE * (lease_seconds or DEFAULT_LEASE_SECONDS)


def heartbeat_fault(node_name: str, unchanged_for: float, lease_seconds: int | None) -> Fault | None:
    """The kubelet's Lease has not been renewed for longer than its staleness bound.

    `unchanged_for` is measured on this machine's clock since the watcher last saw renewTime
    move, so a skew between the node's clock and ours cannot fake or hide a stale heartbeat.
    """
    bound = heartbeat_stale_after(lease_seconds)
    if unchanged_for <= bound:
        return None
    return fault(HEARTBEAT_STALE, node_name, f"its kubelet has not renewed its Lease for {unchanged_for:.0f} s "
                                             f"(renewed every {(lease_seconds or DEFAULT_LEASE_SECONDS) / 4:g} s; "
                                             f"lost after {bound:g} s)")


# --- Pods and their events ----------------------------------------------------------------------

def is_runtimeclass_message(message: str) -> bool:
    return any(p.search(message or "") for p in RUNTIMECLASS_MESSAGES)


def sandbox_fault(node_name: str, message: str) -> Fault | None:
    """FailedCreatePodSandBox: infrastructure only when the CRI did not answer, never about a handler."""
    if is_runtimeclass_message(message):
        return None
    if any(p.search(message or "") for p in CRI_UNREACHABLE):
        return fault(CRI_DOWN, node_name, f"the kubelet cannot reach its CRI: {message[:300]}")
    return None


def container_fault(node_name: str, reason: str | None, message: str | None) -> Fault | None:
    """A container waiting on an image it cannot get."""
    if reason in IMAGE_FAULTS:
        return fault(IMAGE_PULL, node_name, f"{reason}: {(message or '').strip()[:300]}".rstrip(": "))
    return None


def pod_fault(pod: Any) -> Fault | None:
    """Infrastructure seen on a Pod (a V1Pod): image pull errors, eviction, loss with its node."""
    status = pod.status
    node = (pod.spec.node_name if pod.spec else None) or ""
    name = pod.metadata.name
    if status is None:
        return None
    if status.reason in POD_REASON_FAULTS:
        return fault(POD_DISRUPTED, node, f"Pod {name} was {POD_REASON_FAULTS[status.reason]}: "
                                          f"{(status.message or '').strip()[:300]}".rstrip(": "))
    for condition in status.conditions or []:
        if condition.type == "DisruptionTarget" and condition.status == "True":
            return fault(POD_DISRUPTED, node, f"Pod {name} is a disruption target ({condition.reason}: "
                                              f"{(condition.message or '').strip()[:200]})")
    for container in [*(status.init_container_statuses or []), *(status.container_statuses or [])]:
        waiting = container.state.waiting if container.state else None
        if waiting is not None:
            found = container_fault(node, waiting.reason, waiting.message)
            if found is not None:
                return Fault(found.kind, node, f"Pod {name} container {container.name}: {found.detail}", found.seen_at)
    return None


# --- exceptions -----------------------------------------------------------------------------------

def exception_fault(exc: BaseException | None, unanswered_requests: bool = True) -> Fault | None:
    """The fault behind an exception a test ended with, or None when it is the test's own outcome.

    An InfrastructureFault anywhere in the chain (a check of `rcc.each` raised it in its thread) counts,
    and so does a request that never got an answer: the client retries a refused connection for
    several seconds (conformance.kube), so one that still fails means the API server is away
    (`unanswered_requests=False`: only explicit InfrastructureFaults count).
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InfrastructureFault):
            return exc.fault
        if unanswered_requests and isinstance(exc, (urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError,
                                                    urllib3.exceptions.NewConnectionError)):
            return fault(API_DOWN, "", f"a request of the test got no answer from the API server: "
                                       f"{type(exc).__name__}: {str(exc)[:200]}")
        exc = exc.__cause__ or exc.__context__
    return None


def summary_line(faults: list[Fault]) -> str:
    """The one line the run ends with while a fault stands."""
    first = faults[0]
    more = f" (and {len(faults) - 1} more)" if len(faults) > 1 else ""
    return f"INFRASTRUCTURE FAULT: {first.sentence()}{more}; no conformance verdict"
