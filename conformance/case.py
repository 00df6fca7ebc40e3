"""What one test does on the cluster, in the words of the spec.

`Case` is the per-test object behind the `rcc` fixture: it owns the test's
namespace, creates RuntimeClasses and Pods with cleanup registered on the line
after each create, waits with success and failure conditions, and records the
evidence a reviewer reads in the report. The plumbing stays here so tests read
as the behaviour they check. What a Pod shows (conformance/pod_states.py), how
its fate is awaited (conformance/pod_waits.py) and the changes a test makes to nodes
(conformance/node_changes.py) are parts a Case holds (`pod_states`, `pod_waits`,
`node_changes`) and passes on, so none of those modules needs to know `Case`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import allure
from kubernetes.client import CoreV1Event as V1Event, V1Pod

from clusters.provider import SandboxInfo
from conformance import manifests, quantities, scheduler_view
from conformance.concurrently import Cancelled, each_at_once
from conformance.expectations import expect_rejected
from conformance.kube import DRY_RUN, Kube, Rejection, ignore_not_found, rejection, to_dict
from conformance.manifests import pin  # noqa: F401 - the suites' `from conformance.case import pin`
from conformance.namespaces import NamespacePool, await_default_service_account
from conformance.node_changes import NodeChanges
from conformance.pod_states import PodStates
from conformance.pod_waits import PodWaits
from conformance.preflight import Facts
from conformance.settings import RunSettings
from conformance.waiting import wait_for
from conformance.watching import Changes


@dataclass
class Case:
    kube: Kube
    settings: RunSettings
    test_name: str
    record_property: Callable[[str, Any], None]
    pool: NamespacePool | None = None
    _namespace: str = ""
    _cleanups: list[Callable[[], None]] = field(default_factory=list)
    _counter: Any = field(default_factory=itertools.count)
    _changes: Changes | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    # Nodes this test's Pods are pinned or bound to, or that it labels or taints: a wait stops once one is lost.
    nodes_in_use: set[str] = field(default_factory=set)
    pod_states: PodStates = field(init=False, repr=False)
    pod_waits: PodWaits = field(init=False, repr=False)
    node_changes: NodeChanges = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pod_states = PodStates(self.kube, lambda: self.namespace, self.nodes_in_use)
        self.pod_waits = PodWaits(self.pod_states, self.settings.timeouts, sleep=self._sleep, attach=self.attach,
                                  check_infrastructure=self._check_infrastructure)
        self.node_changes = NodeChanges(self.kube, self.settings, self.defer, self.nodes_in_use)

    # --- what tests read of Pods and change on nodes (conformance/pod_states.py, node_changes.py) --

    def read_pod(self, name: str) -> V1Pod:
        return self.pod_states.read_pod(name)

    def pod_log(self, name: str, tail_lines: int | None = None) -> str:
        return self.pod_states.pod_log(name, tail_lines)

    def node_key(self, suffix: str) -> str:
        return self.node_changes.node_key(suffix)

    def label_node(self, node: str, suffix: str, value: str = "true") -> tuple[str, str]:
        return self.node_changes.label_node(node, suffix, value)

    def taint_node(self, node: str, value: str = "true", effect: str = "NoSchedule") -> dict[str, str]:
        taint = self.node_changes.taint_node(node, value, effect)
        if effect in ("NoSchedule", "NoExecute"):
            scheduler_view.wait_until_it_sees_the_taint(self, node)
        return taint

    def exclusive(self, resource: str, shared: bool = False) -> None:
        self.node_changes.exclusive(resource, shared)

    # --- what the cluster is, and what an API answer must be ------------------------------------

    @property
    def cluster(self) -> Facts:
        """The cluster's nodes, their handlers and capabilities, as probed once at the start of the run."""
        return self.settings.facts

    def cri_runtime_tables(self, node: str) -> list[str] | None:
        """The runtime table keys of the node's CRI configuration (None if unreadable; needs node-evidence)."""
        return self.settings.evidence.cri_runtime_tables(node) if self.settings.evidence else None

    def cri_lists_handlers(self, node: str) -> bool | None:
        """Whether the node's CRI lists runtime handlers in its own CRI Status (None: cannot be asked here).

        The kubelet publishes Node.status.runtimeHandlers from that list; containerd 1.7 sends none.
        """
        ask = getattr(self.settings.evidence, "cri_reports_handlers", None)
        return ask(node) if callable(ask) else None

    def plain(self, obj: Any) -> Any:
        """A client model as the plain JSON the API server sent, for comparing and attaching."""
        return to_dict(self.kube, obj)

    def expect_rejected(self, refused: Rejection | None, status: int, *phrases: str,
                        any_of: Sequence[str] = ()) -> Rejection:
        """The API server refused with `status`, saying every phrase (conformance/expectations.py)."""
        return expect_rejected(refused, status, *phrases, any_of=any_of)

    # --- names and lifecycle ----------------------------------------------------------

    def unique(self, prefix: str) -> str:
        """Cluster-unique DNS-1123 name from run id, xdist worker, test and a counter."""
        slug = "".join(ch if ch.isalnum() else "-" for ch in self.test_name.lower()).strip("-")
        # The slug is cut to fit 63 characters; the hash keeps parametrized twins apart.
        digest = hashlib.sha1(self.test_name.encode()).hexdigest()[:5]
        base = f"{prefix}-{self.settings.run_id}-{self.settings.worker}-{digest}{next(self._counter)}"
        return f"{base}-{slug}"[:63].rstrip("-")

    def defer(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        """Run cleanups newest first; every one runs even if another fails."""
        errors = []
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as exc:  # noqa: BLE001 - teardown must go on; reported below
                errors.append(exc)
        if errors:
            raise errors[0]

    @property
    def namespace(self) -> str:
        """The test's own namespace, opened on first use: tests of cluster-scoped objects make none."""
        if not self._namespace:
            self._namespace = self._open_namespace()
        return self._namespace

    def _open_namespace(self) -> str:
        """Taken ready from the pool (conformance.namespaces), or created and awaited here."""
        if self.pool is not None:
            name = self.pool.take()
            with allure.step(f"namespace {name} (made ahead: PodSecurity restricted, default ServiceAccount present)"):
                self._delete_namespace_after(name)
            return name
        name = self.unique("rcc")[:63]
        with allure.step(f"create namespace {name} (PodSecurity restricted)"):
            self.kube.core.create_namespace(manifests.namespace(name, self.settings.run_id))
            self._delete_namespace_after(name)
            await_default_service_account(self.kube, name, self.settings.timeouts["namespace"])
        return name

    def _delete_namespace_after(self, name: str) -> None:
        """The namespace goes with the test's cleanup, or (RunSettings.namespaces_swept_at_end) with the
        run's final sweep, which deletes every namespace labelled with the run."""
        if not self.settings.namespaces_swept_at_end:
            self.defer(lambda: ignore_not_found(lambda: self.kube.core.delete_namespace(name)))

    def each(self, items: Sequence[Any], check: Callable[[Any], None], label: Callable[[Any], str] = str) -> None:
        """`check(item)` for every item at once (conformance.concurrently): one verdict naming each failure.

        The namespace and its watches are opened first, so the checks' threads share them.
        """
        self._watch()
        each_at_once(items, check, label, self._cancelled)

    def _sleep(self, seconds: float) -> None:
        """Between looks at the namespace's Pods and events: until the next change, at most `seconds`."""
        if self._cancelled.is_set():
            raise Cancelled("the test was interrupted")
        self._check_infrastructure()  # a lost node or API server ends the wait at once
        self._watch().sleep(seconds)

    def pause(self, seconds: float) -> None:
        """A pause that changes in the namespace do not cut short; Ctrl-C and a lost node still end it."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._sleep(left)

    def until_change(self, seconds: float) -> None:
        """The sleep of a wait written outside Case (`wait_for(..., sleep=case.until_change)`): it wakes on a
        change in the namespace and stops the wait at once when a node the test uses, or the API server, is lost."""
        self._sleep(seconds)

    def _note_pinned(self, node_selector: dict[str, str] | None) -> None:
        """A selector that pins to one node (a class's or a Pod's) puts that node in use."""
        pinned = (node_selector or {}).get(manifests.HOSTNAME_LABEL)
        if pinned:
            self.nodes_in_use.add(pinned)

    def _check_infrastructure(self) -> None:
        """Raise InfrastructureFault if a node this test uses (or the API server) is lost (conformance.infrastructure)."""
        if self.settings.faults is not None:
            self.settings.faults.check(self.nodes_in_use)

    def _watch(self) -> Changes:
        """The watches start with the first wait of the test (or with `each`) and stop with its cleanup."""
        if self._changes is None:
            self._changes = Changes([(self.kube.core.list_namespaced_pod, (self.namespace,)),
                                     (self.kube.core.list_namespaced_event, (self.namespace,))]).start()
            self.defer(self._changes.stop)
        return self._changes

    # --- RuntimeClasses -----------------------------------------------------------------

    def runtime_class(self, handler: str, overhead: dict[str, str] | None = None,
                      node_selector: dict[str, str] | None = None,
                      tolerations: list[dict[str, Any]] | None = None, name: str | None = None,
                      reach_platform_pool: bool = True) -> str:
        """A RuntimeClass of this run. For a handler only a platform class's scheduling reaches (a tainted
        pool), it copies that scheduling unless told not to (`reach_platform_pool=False`: a test that
        places the Pod where the handler is NOT)."""
        name = name or self.unique("rc")
        copied = self.settings.facts.scheduling_for(handler) \
            if reach_platform_pool and node_selector is None and tolerations is None else None
        if copied is not None:
            # The handler lives only on nodes a plain Pod cannot reach: the class reaches them the
            # way the platform's own class for that handler does (its nodeSelector and tolerations).
            node_selector, tolerations = copied
        self._note_pinned(node_selector)
        body = manifests.runtime_class(name, handler, self.settings.run_id, overhead, node_selector, tolerations)
        with allure.step(f"create RuntimeClass {name} (handler {handler!r})"):
            self.kube.node.create_runtime_class(body)
            self.defer(lambda: ignore_not_found(lambda: self.kube.node.delete_runtime_class(name)))
        self.attach(f"RuntimeClass {name}", body)
        return name

    def delete_runtime_class(self, name: str) -> None:
        with allure.step(f"delete RuntimeClass {name}"):
            self.kube.node.delete_runtime_class(name)

    def schedulable_nodes_with(self, handler: str) -> list[str]:
        return self.settings.facts.nodes_with_handler(handler)

    def nodes_without(self, handler: str) -> list[str]:
        return self.settings.facts.nodes_without_handler(handler)

    def one_node_per_cri(self, handler: str | None = None) -> list[str]:
        """One schedulable node (with `handler`, if given) of each CRI implementation in the cluster."""
        return self.settings.facts.one_node_per_cri(handler)

    def runtime_class_on_nodes_with(self, handler: str, **kwargs: Any) -> tuple[str, dict[str, str]]:
        """A RuntimeClass for `handler` and the Pod nodeSelector of one node whose CRI has it.

        The Pod pins itself (not the RuntimeClass's scheduling), so clauses other than SCH do
        not depend on the admission plugin's nodeSelector merge.
        """
        node = self.settings.facts.nodes_with_handler(handler)[0]
        return self.runtime_class(handler, **kwargs), pin(node)

    # --- Pods -------------------------------------------------------------------------

    def pod_manifest(self, command: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        return manifests.pod(kwargs.pop("name", None) or self.unique("pod"), self.settings.run_id,
                             self.settings.image, command or ["true"], **kwargs)

    def create_pod(self, command: list[str] | None = None, tolerate_own_taint: bool = True,
                   **kwargs: Any) -> V1Pod:
        """Create a Pod that tolerates the taints this run's workers set (`taint_node`).

        A test that checks taints itself passes `tolerate_own_taint=False`: its Pod then meets
        its own worker's taint as any Pod would, while other workers' taint tests (running at
        the same time, with their own keys) stay invisible to it.
        """
        kwargs["tolerations"] = [*(kwargs.get("tolerations") or []),
                                 *self.node_changes.run_taint_tolerations(own=tolerate_own_taint)]
        body = self.pod_manifest(command, **kwargs)
        name = body["metadata"]["name"]
        self._note_pinned(body["spec"].get("nodeSelector"))
        with allure.step(f"create Pod {name}"):
            pod = self.kube.core.create_namespaced_pod(self.namespace, body)
            self.defer(lambda: ignore_not_found(lambda: self.kube.core.delete_namespaced_pod(
                name, self.namespace, grace_period_seconds=0)))
        return pod

    def delete_pod(self, pod: V1Pod) -> None:
        with allure.step(f"delete Pod {pod.metadata.name}"):
            ignore_not_found(lambda: self.kube.core.delete_namespaced_pod(pod.metadata.name, self.namespace,
                                                                          grace_period_seconds=0))

    def resource_quota(self, hard: dict[str, str], name: str = "rcc-quota") -> None:
        with allure.step(f"create ResourceQuota {name} {hard}"):
            self.kube.core.create_namespaced_resource_quota(
                self.namespace, manifests.resource_quota(name, self.settings.run_id, hard))

    def admitted_pod(self, command: list[str] | None = None, **kwargs: Any) -> V1Pod:
        """The Pod as admission mutates it, through a server-side dry-run create: no side effects."""
        body = self.pod_manifest(command, **kwargs)
        with allure.step(f"dry-run create Pod {body['metadata']['name']}"):
            pod = self.kube.core.create_namespaced_pod(self.namespace, body, dry_run=DRY_RUN)
        self.attach("admitted Pod (dry run)", to_dict(self.kube, pod))
        return pod

    def pod_rejection(self, command: list[str] | None = None, **kwargs: Any) -> Rejection | None:
        """Dry-run create; the Rejection if admission or validation refused it."""
        body = self.pod_manifest(command, **kwargs)
        with allure.step(f"dry-run create Pod {body['metadata']['name']} expecting a rejection"):
            refused = rejection(lambda: self.kube.core.create_namespaced_pod(self.namespace, body, dry_run=DRY_RUN))
        self.attach("API answer", refused.__dict__ if refused else {"accepted": True})
        return refused

    def eventual_pod_rejection(self, command: list[str] | None = None, **kwargs: Any) -> Rejection:
        """Dry-run creates until one is refused, for admission that reads from a cache (bounded wait)."""
        body = self.pod_manifest(command, **kwargs)
        with allure.step(f"dry-run create Pod {body['metadata']['name']} until it is rejected"):
            refused = wait_for("the Pod is rejected", lambda: rejection(
                lambda: self.kube.core.create_namespaced_pod(self.namespace, body, dry_run=DRY_RUN)),
                timeout=self.settings.timeouts["schedule"], interval=0.1)
        self.attach("API answer", refused.__dict__)
        return refused

    # --- a Pod's fate, awaited and judged (conformance/pod_waits.py) ----------------------------

    def wait_succeeded(self, pod: V1Pod) -> V1Pod:
        return self.pod_waits.phase(pod, "Succeeded")

    def wait_running(self, pod: V1Pod) -> V1Pod:
        return self.pod_waits.phase(pod, "Running")

    def wait_event(self, pod: V1Pod, reason: str, budget: str) -> V1Event:
        return self.pod_waits.event(pod, reason, budget)

    def never_runs(self, pod: V1Pod, handler: str | None = None) -> str:
        """The Pod fails visibly and then never starts; returns the form the cluster showed."""
        return self.pod_waits.never_run([pod], handler)[0]

    def never_run(self, pods: list[V1Pod], handler: str | list[str | None] | None = None) -> list[str]:
        return self.pod_waits.never_run(pods, handler)

    def keeps_running(self, pod: V1Pod) -> None:
        self.pod_waits.keeps_running(pod)

    def wait_scheduled(self, pod: V1Pod) -> str:
        return self.pod_waits.scheduled(pod)

    def stays_unscheduled(self, pod: V1Pod, expected_message: str | None = None) -> str:
        return self.pod_waits.stays_unscheduled(pod, expected_message)

    def pod_update_rejection(self, pod: V1Pod, patch: dict[str, Any]) -> Rejection | None:
        name = pod.metadata.name
        with allure.step(f"patch Pod {name} with {patch}"):
            refused = rejection(lambda: self.kube.core.patch_namespaced_pod(name, self.namespace, patch,
                                                                            dry_run=DRY_RUN))
        self.attach("API answer", refused.__dict__ if refused else {"accepted": True})
        return refused

    def default_handler_of(self, node: str) -> str:
        """The handler a node's CRI uses without a RuntimeClass, when node evidence can tell."""
        tables = self.settings.evidence.cri_runtime_tables(node) if self.settings.evidence else None
        return "runc" if tables and "runc" in tables else ""

    def free_allocatable(self, node: str) -> dict[str, int]:
        """Allocatable minus the requests (and overhead) of every non-terminated Pod bound to the node.

        CPU in millicores, memory in bytes: computed from the live cluster so that overhead
        checks work on any cluster, not only on nodes of a known size.
        """
        allocatable = self.kube.core.read_node(node).status.allocatable
        free = {"cpu": quantities.millicpu(allocatable["cpu"]), "memory": quantities.as_int(allocatable["memory"])}
        pods = self.kube.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        for pod in pods:
            if pod.status.phase in ("Succeeded", "Failed"):
                continue
            for container in pod.spec.containers:
                requests = (container.resources.requests if container.resources else None) or {}
                free["cpu"] -= quantities.millicpu(requests.get("cpu", "0"))
                free["memory"] -= quantities.as_int(requests.get("memory", "0"))
            for resource, amount in (pod.spec.overhead or {}).items():
                if resource in free:
                    free[resource] -= quantities.millicpu(amount) if resource == "cpu" else quantities.as_int(amount)
        self.attach(f"free allocatable on {node}", free)
        return free

    # --- node evidence ------------------------------------------------------------------

    def sandbox_of(self, pod: V1Pod) -> SandboxInfo:
        evidence = self.settings.evidence
        assert evidence is not None, "node evidence is unavailable (the capability check should have skipped)"
        current = self.read_pod(pod.metadata.name)
        info = wait_for(f"CRI sandbox of Pod {pod.metadata.name}",
                        lambda: evidence.sandbox(current.spec.node_name, self.namespace, current.metadata.name,
                                                 current.metadata.uid), timeout=30, sleep=self._sleep)
        self.attach(f"CRI sandbox on {current.spec.node_name}",
                    {"runtimeHandler": info.runtime_handler, "readFrom": info.handler_source,
                     "sandboxId": info.sandbox_id, "status": info.raw.get("status", {})})
        return info

    # --- evidence for the report ----------------------------------------------------------

    def attach(self, title: str, data: Any) -> None:
        allure.attach(json.dumps(data, indent=2, default=str), name=title,
                      attachment_type=allure.attachment_type.JSON)

    def observed(self, clause_id: str, form: str) -> None:
        """Which form a divergent clause took on this cluster (rejected / Pending+event / Failed)."""
        self.record_property(f"observed:{clause_id}", form)
        allure.dynamic.parameter("observed form", form)

    def diagnostics(self) -> dict[str, Any]:
        """Pods, their events and RuntimeClasses of this test: attached when it fails."""
        if not self._namespace:
            return {}
        pods = self.kube.core.list_namespaced_pod(self.namespace).items
        events = self.kube.core.list_namespaced_event(self.namespace).items
        classes = self.kube.node.list_runtime_class(label_selector=f"{manifests.LABEL_RUN}={self.settings.run_id}")
        return {
            "pods": [to_dict(self.kube, p) for p in pods],
            "events": [{"object": e.involved_object.name, "reason": e.reason, "type": e.type, "message": e.message,
                        "count": e.count} for e in events],
            "runtimeClasses": [to_dict(self.kube, rc) for rc in classes.items],
            "logs": {p.metadata.name: self.pod_states.log_tail(p.metadata.name) for p in pods},
        }
