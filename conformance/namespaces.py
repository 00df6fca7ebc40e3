"""Namespaces made ahead: every test still gets a fresh namespace of its own, without waiting for it.

A new namespace takes Pods only once the controller-manager has made its
`default` ServiceAccount (the ServiceAccount admission plugin refuses Pods
before), a few hundred milliseconds after the create. A `NamespacePool` per
pytest process keeps `depth` such namespaces ready in a background thread:
`take` hands one out and the thread makes the next while the test runs.

Isolation is unchanged: one namespace per test, never handed out twice,
PodSecurity `restricted`, labelled with the run (a sweep finds any left), and
deleted by the test's own cleanup (on a cluster the suite made: by the run's
final sweep, see RunSettings.namespaces_swept_at_end). The pool's unused
namespaces are deleted when it closes.
"""

from __future__ import annotations

import itertools
import queue
import threading

from conformance import manifests
from conformance import pull_secret
from conformance.kube import Kube, ignore_not_found, rejection
from conformance.waiting import WaitTimeout, wait_for

DEFAULT_DEPTH = 2


class NamespacePool:
    """Ready namespaces (default ServiceAccount present) for one process's tests."""

    def __init__(self, kube: Kube, run_id: str, worker: str, timeout: float, depth: int = DEFAULT_DEPTH) -> None:
        self.kube = kube.own_connection()
        self.run_id, self.worker, self.timeout = run_id, worker, timeout
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._room = threading.Semaphore(max(depth, 1))
        self._stopped = threading.Event()
        self._counter = itertools.count()
        self._made: list[str] = []
        self._taken: set[str] = set()
        self._thread = threading.Thread(target=self._fill, name="rcc-namespaces", daemon=True)

    def start(self) -> "NamespacePool":
        self._thread.start()
        return self

    def take(self) -> str:
        """A ready namespace, now this caller's to delete; raises what stopped the pool from making one."""
        try:
            item = self._ready.get(timeout=self.timeout)
        except queue.Empty:
            raise WaitTimeout(f"a ready namespace (default ServiceAccount present): not within "
                              f"{self.timeout:g}s") from None
        if isinstance(item, BaseException):
            self._ready.put(item)  # every later take fails the same way
            raise item
        self._taken.add(item)
        self._room.release()
        return item

    def close(self) -> None:
        """Stop making namespaces and delete those nobody took."""
        self._stopped.set()
        self._room.release()
        self._thread.join(timeout=self.timeout)
        for name in self._made:
            if name not in self._taken:
                ignore_not_found(lambda: self.kube.core.delete_namespace(name))

    def _fill(self) -> None:
        while True:
            self._room.acquire()
            if self._stopped.is_set():
                return
            try:
                name = self._make()
            except BaseException as exc:  # noqa: BLE001 - handed to the next take, which raises it
                self._ready.put(exc)
                return
            self._ready.put(name)

    def _make(self) -> str:
        name = f"rcc-{self.run_id}-{self.worker}-ns{next(self._counter)}"
        self.kube.core.create_namespace(manifests.namespace(name, self.run_id))
        self._made.append(name)
        await_default_service_account(self.kube, name, self.timeout)
        return name


def await_default_service_account(kube: Kube, namespace: str, timeout: float) -> None:
    """Until the controller-manager has made the namespace's `default` ServiceAccount (Pods need it)."""
    wait_for(f"default ServiceAccount in {namespace}",
             lambda: True if rejection(lambda: kube.core.read_namespaced_service_account(
                 "default", namespace)) is None else None,
             timeout=timeout, interval=0.1)
    pull_secret.give(kube, namespace)  # --image-pull-secret: the registry Secret, for every Pod here
