"""How a test's Pods are awaited and judged: reaching a phase, an event, never running, staying unscheduled.

A part of `Case` (conformance/case.py), which holds one and passes on what tests call. It reads
the Pods through a PodStates (conformance/pod_states.py) and decides *when* to look with
conformance.waiting: each wait has success and failure conditions and a budget from the run's
timeouts, and sleeps between looks until the namespace's watches report a change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import allure
from kubernetes.client import CoreV1Event as V1Event, V1Pod

from conformance.pod_states import PodStates
from conformance.waiting import holds_for, wait_for


class PodWaits:
    """The waits of one test; `sleep` waits for the next change in its namespace, `attach` records evidence."""

    def __init__(self, pods: PodStates, timeouts: dict[str, float], sleep: Callable[[float], None],
                 attach: Callable[[str, Any], None], check_infrastructure: Callable[[], None] = lambda: None) -> None:
        self.pods, self.timeouts, self._sleep, self.attach = pods, timeouts, sleep, attach
        self._check_infrastructure = check_infrastructure

    def _lost_or(self, condition: Callable[[], str | None]) -> Callable[[], str | None]:
        """A wait's failure condition that first asks whether a lost node is behind it (raising
        InfrastructureFault then): a Pod the scheduler refuses because its node got the unreachable
        taint, or that never starts on a dead node, is no verdict on RuntimeClass."""
        def check() -> str | None:
            reason = condition()
            if reason:
                self._check_infrastructure()
            return reason
        return check

    def phase(self, pod: V1Pod, phase: str) -> V1Pod:
        """The Pod reaches `phase`; fails as soon as it cannot (Failed, no sandbox, a dead-end container)."""
        name = pod.metadata.name
        with allure.step(f"Pod {name} reaches {phase}"):
            return wait_for(f"Pod {name} reaches {phase}", lambda: self.pods.phase_is(name, phase),
                            timeout=self.timeouts["pod-start"], failure=self._lost_or(lambda: self.pods.why_not_running(name)),
                            describe=lambda: self.pods.describe(name), sleep=self._sleep)

    def event(self, pod: V1Pod, reason: str, budget: str) -> V1Event:
        name = pod.metadata.name
        with allure.step(f"event {reason} for Pod {name}"):
            event = wait_for(f"event {reason} for Pod {name}", lambda: self.pods.event_with_reason(name, reason),
                             timeout=self.timeouts[budget], describe=lambda: self.pods.describe(name),
                             sleep=self._sleep)
        self.attach(f"event {reason}", {"reason": event.reason, "message": event.message, "type": event.type})
        return event

    def never_run(self, pods: list[V1Pod], handler: str | list[str | None] | None = None) -> list[str]:
        """Each Pod fails visibly and then never starts; returns the form each showed, in order.

        `handler` (one for all Pods, or one per Pod): the handler a FailedCreatePodSandBox
        message must name.

        Decisive event: the kubelet's FailedCreatePodSandBox (reference behaviour) or the Pod
        going Failed (the seed's wording). The Pods are watched together: once every one has
        shown its decisive event, one bounded window (starting after the last of them, so after
        each Pod's own) confirms that none starts. A Pod that starts at any point fails the check.
        """
        names = [pod.metadata.name for pod in pods]
        label = ", ".join(names)

        def all_failed() -> dict[str, tuple[str, str]] | None:
            seen = {name: self.pods.visible_failure(name) for name in names}
            return seen if all(seen.values()) else None

        def any_started() -> str | None:
            return next((f"{name}: {why}" for name in names if (why := self.pods.started(name))), None)

        with allure.step(f"Pods {label} fail visibly (FailedCreatePodSandBox or Failed)"):
            decisive = wait_for(f"Pods {label} show their failure", all_failed,
                                timeout=self.timeouts["sandbox-failure"], failure=self._lost_or(any_started),
                                describe=lambda: "; ".join(f"{n}: {self.pods.describe(n)}" for n in names),
                                sleep=self._sleep)
        expected = handler if isinstance(handler, list) else [handler] * len(names)
        for name, named in zip(names, expected, strict=True):
            form, message = decisive[name]
            self.attach(f"decisive failure of {name}", {"form": form, "message": message})
            if named is not None and form != "Failed":
                assert named in message, \
                    f"{name}: the FailedCreatePodSandBox message does not name handler {named!r}: {message}"
        forms = [decisive[name][0] for name in names]
        with allure.step(f"Pods {label} never run ({'; '.join(sorted(set(forms)))})"):
            holds_for(f"Pods {label} must never run", self._lost_or(any_started),
                      window=self.timeouts["never-runs"], sleep=self._sleep)
        return forms

    def keeps_running(self, pod: V1Pod) -> None:
        name = pod.metadata.name
        with allure.step(f"Pod {name} keeps running"):
            holds_for(f"Pod {name} must keep running", self._lost_or(lambda: self.pods.not_running(name)),
                      window=self.timeouts["never-runs"], sleep=self._sleep)

    def scheduled(self, pod: V1Pod) -> str:
        """The node the Pod was bound to; fails once the scheduler has said for a while that it cannot place it
        (pod_states.UNSCHEDULABLE_GRACE: a node change just made may reach the scheduler after the Pod)."""
        name = pod.metadata.name
        first_seen: dict[str, float] = {}
        with allure.step(f"Pod {name} is scheduled"):
            node = wait_for(f"Pod {name} is bound to a node", lambda: self.pods.read_pod(name).spec.node_name,
                            timeout=self.timeouts["schedule"],
                            failure=self._lost_or(lambda: self.pods.still_unschedulable(name, first_seen)),
                            describe=lambda: self.pods.describe(name), sleep=self._sleep)
        self.attach("scheduled", {"pod": name, "node": node})
        return node

    def stays_unscheduled(self, pod: V1Pod, expected_message: str | None = None) -> str:
        """FailedScheduling is reported, then the Pod stays unbound for the observation window."""
        event = self.event(pod, "FailedScheduling", "schedule")
        if expected_message:
            assert expected_message in (event.message or ""), f"FailedScheduling says: {event.message}"
        name = pod.metadata.name
        with allure.step(f"Pod {name} stays unscheduled"):
            holds_for(f"Pod {name} must stay unscheduled",
                      self._lost_or(lambda: (lambda node: f"it was bound to {node}" if node else None)(
                          self.pods.read_pod(name).spec.node_name)),
                      window=self.timeouts["never-runs"], sleep=self._sleep)
        return event.message or ""
