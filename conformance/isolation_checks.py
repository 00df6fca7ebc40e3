"""RC-USE-8 on the cluster: run an unprivileged Pod per node for a handler and see what isolation it got.

The Pod prints its kernel release, version string and the first lines of `dmesg`
(conformance/isolation.py), then stays up so that node evidence can name the
runtime that runs its sandbox. Each observation becomes a row of the report's
isolation table (recorded before any assertion, so a failing row still shows).
"""

from __future__ import annotations

import json

import pytest
from kubernetes.client import V1Pod

from clusters.provider import RuntimeEvidence
from conformance.case import Case, pin
from conformance.isolation import POD_COMMAND, PROPERTY, Expectation, Observation, PodView, classify, expected
from conformance.waiting import wait_for


def observe_isolation(case: Case, handler: str, from_node: bool) -> list[Observation]:
    """One row per schedulable node with the handler: what its Pod saw and, `from_node`, what runs it."""
    nodes = case.schedulable_nodes_with(handler)
    assert nodes, f"no schedulable node has handler {handler!r}"
    runtime_class = case.runtime_class(handler)
    pods = [(node, case.create_pod(POD_COMMAND, runtime_class=runtime_class, node_selector=pin(node)))
            for node in nodes]
    rows = []
    try:
        for node, pod in pods:
            rows.append(_observe(case, handler, node, pod, from_node))
            case.delete_pod(pod)
    finally:
        case.record_property(PROPERTY, json.dumps([row.to_json() for row in rows]))
    return rows


def _observe(case: Case, handler: str, node: str, pod: V1Pod, from_node: bool,
             declared: Expectation | None = None) -> Observation:
    """What the Pod saw (and, `from_node`, what runs it) against `declared`, else the handler's declaration."""
    case.wait_running(pod)
    name = pod.metadata.name
    log = lambda: case.pod_log(name)  # noqa: E731
    view = wait_for(f"Pod {name} prints what it sees of its kernel", lambda: PodView.parse(log()),
                    timeout=case.settings.timeouts["pod-start"], sleep=case.until_change,
                    describe=lambda: f"phase {case.read_pod(name).status.phase}, log {log()[-300:]!r}")
    kernel = case.kube.core.read_node(node).status.node_info.kernel_version
    observed, why = classify(view, kernel)
    row = Observation(handler=handler, node=node, observed=observed, pod_evidence=why)
    declared = declared or expected(case.settings.isolation, handler, node)
    if declared:
        row.expected, row.expected_runtime, row.declared_by = declared.isolation, declared.runtime, declared.source
    if from_node:
        evidence = case.settings.evidence
        assert isinstance(evidence, RuntimeEvidence), "this provider's node evidence cannot name a sandbox's runtime"
        sandbox = case.sandbox_of(pod)
        sighting = evidence.runtime_of(node, sandbox.sandbox_id)
        if sighting is None:
            row.runtime, row.runtime_class = "unknown", "unknown"
            row.node_evidence = f"nothing on {node} names sandbox {sandbox.sandbox_id}"
        else:
            row.runtime, row.runtime_class, row.node_evidence = sighting.runtime, sighting.isolation, sighting.evidence
    case.attach(f"isolation of handler {handler} on {node}",
                {"pod saw": view.__dict__, "node kernelVersion": kernel, **row.to_json()})
    return row


def judge_or_skip(rows: list[Observation], handler: str) -> None:
    """Fail with every mismatch; without a declaration the rows are recorded and the test is skipped."""
    problems = [problem for row in rows for problem in row.problems()]
    assert not problems, "; ".join(problems)
    undeclared = [row for row in rows if row.expected is None]
    if undeclared:
        seen = ", ".join(f"{r.node}: {r.observed}" + (f" ({r.runtime})" if r.runtime else "") for r in undeclared)
        pytest.skip(f"missing declaration isolation:{handler}: observed {seen}; declare what it must give with "
                    f"--expect-isolation {handler}=CLASS[:RUNTIME] or --isolation FILE")


def observe_pod(case: Case, handler: str, node: str, pod: V1Pod, from_node: bool,
                declared: Expectation | None) -> Observation:
    """One Pod already created (e.g. of a platform's own class), observed as observe_isolation observes its own."""
    return _observe(case, handler, node, pod, from_node, declared)
