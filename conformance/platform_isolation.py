"""RC-USE-8 for the platform's own RuntimeClasses: each class's Pod gets the isolation the class promises.

A class promises what the user declares for it (`--isolation FILE` / `--expect-isolation`, keyed by
the class's name or its handler), else what its handler's name says (gVisor/runsc: a user-space
kernel; Kata: a VM; conformance/isolation.py `well_known`). One Pod of the class per node pool it
admits is observed by the same machinery as the suite's own handlers (conformance/isolation_checks.py),
and its row goes into the report's isolation table with the class named. Whether the class admits
the right nodes at all is RC-SCH-7's question (conformance/platform_classes.py), not this one's.
"""

from __future__ import annotations

import json

import pytest

from clusters.provider import RuntimeEvidence
from conformance.case import Case, pin
from conformance.class_admission import Audit, ClassSpec, pools
from conformance.isolation import POD_COMMAND, PROPERTY, Observation, expected_of_class
from conformance.isolation_checks import observe_pod


def observe_class(case: Case, spec: ClassSpec, result: Audit) -> list[Observation]:
    """One row per pool the class admits: what its Pod saw and, with node evidence, what runs it."""
    facts = case.settings.facts
    admitted = [n.view() for n in facts.nodes if n.name in result.admitting]
    handlers_of = {n.name: facts.handlers_of(n.name) for n in facts.nodes}
    cri_of = {n.name: n.cri for n in facts.nodes}
    from_node = facts.has("node-evidence") and isinstance(case.settings.evidence, RuntimeEvidence)
    rows: list[Observation] = []
    try:
        for pool in pools(admitted, handlers_of, cri_of):
            node = pool[0]
            pod = case.create_pod(POD_COMMAND, runtime_class=spec.name, node_selector=pin(node))
            declared = expected_of_class(case.settings.isolation, spec.name, spec.handler, node)
            row = observe_pod(case, spec.handler, node, pod, from_node, declared)
            row.platform_class = spec.name
            rows.append(row)
            case.delete_pod(pod)
    finally:
        case.record_property(PROPERTY, json.dumps([row.to_json() for row in rows]))
    return rows


def judge_class(rows: list[Observation], spec: ClassSpec) -> None:
    """Fail naming the class on any mismatch; a class that promises nothing is recorded and skipped."""
    problems = [problem for row in rows for problem in row.problems()]
    assert not problems, "; ".join(problems)
    if any(row.expected is None for row in rows):
        seen = ", ".join(f"{r.node}: {r.observed}" + (f" ({r.runtime})" if r.runtime else "") for r in rows)
        pytest.skip(f"missing declaration isolation:{spec.name}: class {spec.name!r} (handler {spec.handler!r}) "
                    f"observed {seen}; declare what it must give with --expect-isolation "
                    f"{spec.name}=CLASS[:RUNTIME] or --isolation FILE")
