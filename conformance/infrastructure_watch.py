"""Infrastructure watched during the run: nodes, their kubelets' heartbeats, the API server.

One `InfrastructureWatch` per run, in the process that brought the cluster up (the xdist
controller, or the only process): a daemon thread that every POLL_SECONDS lists the Nodes and
the kubelets' Leases (two requests) and classifies what it sees with conformance.infrastructure.
Faults are written to a small JSON file beside the run's lock files; every test process reads
it through a `FaultBoard` (a stat per look, a read only when it changed), so a test waiting on
a Pod bound to a lost node stops at its next look instead of timing out.

Only nodes that were Ready when the run started are watched for loss: a node NotReady from the
start is already unschedulable in the run's Facts and no test uses it.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from kubernetes.client import ApiClient, CoordinationV1Api, CoreV1Api

from conformance.infrastructure import (API_DOWN, API_GRACE, NODE_GONE, Fault, InfrastructureFault, fault,
                                        heartbeat_fault, node_ready_fault)
from conformance.kube import Kube

POLL_SECONDS = 2.0
# A look's requests may take this long (a loaded API server is slow, not away).
REQUEST_TIMEOUT = 10
NODE_LEASE_NAMESPACE = "kube-node-lease"


def board_path(run_id: str) -> Path:
    """The run's fault file (removed with the run's lock files at session end)."""
    return Path(tempfile.gettempdir()) / f"rcc-{run_id}-infrastructure.json"


class FaultBoard:
    """The run's standing faults as every test process sees them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime: float | None = None
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def faults(self) -> list[Fault]:
        with self._lock:
            try:
                mtime = self.path.stat().st_mtime_ns
            except OSError:
                return list(self._faults)
            if mtime != self._mtime:
                try:
                    raw = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    return list(self._faults)  # being replaced: the next look reads it
                self._faults = [Fault.from_json(f) for f in raw.get("faults", [])]
                self._mtime = mtime
            return list(self._faults)

    def fault_on(self, nodes: Iterable[str]) -> Fault | None:
        """The first standing fault on one of these nodes, or of the whole cluster (the API server)."""
        wanted = set(nodes)
        return next((f for f in self.faults() if not f.node or f.node in wanted), None)

    def check(self, nodes: Iterable[str]) -> None:
        """Raise InfrastructureFault when a node the test uses (or the API server) is lost."""
        found = self.fault_on(nodes)
        if found is not None:
            raise InfrastructureFault(found)


class InfrastructureWatch:
    """The controller's watch over nodes, heartbeats and the API server; writes the FaultBoard's file."""

    def __init__(self, kube: Kube, path: Path, poll: float = POLL_SECONDS) -> None:
        # Its own connection, without the run's retries (conformance.kube): an outage must show as one.
        configuration = copy.copy(kube.api.configuration)
        configuration.retries = 0
        api = ApiClient(configuration)
        self.server = kube.server
        self.core, self.leases = CoreV1Api(api), CoordinationV1Api(api)
        self.path = path
        self.poll = poll
        self._faults: dict[tuple[str, str], Fault] = {}
        self._watched: set[str] = set()
        self._renewals: dict[str, tuple[object, float]] = {}  # node -> (renewTime seen, when it last moved)
        self._unreachable_since: float | None = None
        self._answered_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rcc-infrastructure", daemon=True)

    def start(self, ready_nodes: Iterable[str]) -> "InfrastructureWatch":
        self._watched = set(ready_nodes)
        self._write()
        self._thread.start()
        return self

    def stop(self) -> list[Fault]:
        """Stop watching; the faults seen (they stand for the rest of the run)."""
        self._stop.set()
        self._thread.join(timeout=self.poll + 5)
        return self.faults()

    def faults(self) -> list[Fault]:
        return list(self._faults.values())

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.look()

    def look(self) -> None:
        """One look at the cluster (also called directly by tests of this module)."""
        try:
            nodes = self.core.list_node(_request_timeout=REQUEST_TIMEOUT).items
            leases = self.leases.list_namespaced_lease(NODE_LEASE_NAMESPACE, _request_timeout=REQUEST_TIMEOUT).items
        except Exception:  # noqa: BLE001 - unreachable: counted against API_GRACE below
            self._api_unreachable()
            return
        now = time.monotonic()
        self._unreachable_since = None
        if self._answered_at is not None and now - self._answered_at > 2 * self.poll:
            # Time without an answer (an outage, a look that failed or hung) does not count against a
            # heartbeat: the kubelets may not have been able to renew either, and nothing was seen.
            unseen = now - self._answered_at - self.poll
            self._renewals = {name: (seen, since + unseen) for name, (seen, since) in self._renewals.items()}
        self._answered_at = now
        by_name = {n.metadata.name: n for n in nodes}
        for name in sorted(self._watched):
            node = by_name.get(name)
            if node is None:
                self._add(fault(NODE_GONE, name, "the Node object was deleted"))
                continue
            found = node_ready_fault(name, node.status.conditions if node.status else None)
            if found is not None:
                self._add(found)
        for lease in leases:
            name = lease.metadata.name
            if name not in self._watched:
                continue
            renewed = lease.spec.renew_time
            seen, since = self._renewals.get(name, (renewed, now))
            if renewed != seen:
                since = now
            self._renewals[name] = (renewed, since)
            found = heartbeat_fault(name, now - since, lease.spec.lease_duration_seconds)
            if found is not None:
                self._add(found)

    def _api_unreachable(self) -> None:
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since > API_GRACE:
            self._add(fault(API_DOWN, "", f"the API server {self.server} has not answered for "
                                          f"{now - self._unreachable_since:.0f} s"))

    def _add(self, found: Fault) -> None:
        key = (found.node, found.kind)
        if key in self._faults:
            return  # the first sighting stands (its time is when the fault was seen)
        self._faults[key] = found
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"faults": [f.to_json() for f in self._faults.values()]}))
        tmp.replace(self.path)
