"""Which runs are still going: a Lease per run, renewed by the controller while it lives.

A run killed with SIGKILL cannot clean up; its Lease stops being renewed and
expires, so the next run knows those objects (and, worse, node taints) are
leftovers and sweeps them at once, while the objects of a live run beside it
are left alone.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from kubernetes.client import CoordinationV1Api
from kubernetes.client.exceptions import ApiException

from conformance import manifests
from conformance.kube import Kube, ignore_not_found

LEASE_NAMESPACE = "default"
LEASE_SECONDS = 60
RENEW_EVERY = 15.0


def lease_name(run_id: str) -> str:
    return f"rcc-run-{run_id}"


class RunLease:
    """Held for the length of a run; `release` deletes it."""

    def __init__(self, kube: Kube, run_id: str) -> None:
        self.api = CoordinationV1Api(kube.api)
        self.run_id = run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name="rcc-lease", daemon=True)

    def acquire(self) -> "RunLease | None":
        """Create and start renewing the Lease; None if this identity may not (it then creates nothing
        a later run could mistake for leftovers: the suite's objects need more than Lease rights)."""
        now = _now()
        try:
            self._create(now)
        except ApiException as exc:
            if exc.status == 403:
                return None
            raise
        self._thread.start()
        return self

    def _create(self, now: str) -> None:
        self.api.create_namespaced_lease(LEASE_NAMESPACE, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease_name(self.run_id), "labels": manifests.run_labels(self.run_id)},
            "spec": {"holderIdentity": self.run_id, "leaseDurationSeconds": LEASE_SECONDS,
                     "acquireTime": now, "renewTime": now},
        })

    def _renew_loop(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            try:
                self.api.patch_namespaced_lease(lease_name(self.run_id), LEASE_NAMESPACE,
                                                {"spec": {"renewTime": _now()}})
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
                pass

    def release(self) -> None:
        self._stop.set()
        ignore_not_found(lambda: self.api.delete_namespaced_lease(lease_name(self.run_id), LEASE_NAMESPACE))


def live_runs(kube: Kube) -> set[str] | None:
    """Run ids whose Lease is unexpired; None if this identity may not read Leases."""
    try:
        leases = CoordinationV1Api(kube.api).list_namespaced_lease(
            LEASE_NAMESPACE, label_selector=f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY}").items
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise
    now = datetime.now(timezone.utc)
    return {lease.spec.holder_identity for lease in leases
            if lease.spec.renew_time and lease.spec.renew_time + timedelta(seconds=lease.spec.lease_duration_seconds
                                                                           or LEASE_SECONDS) > now}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
