"""RC-SCH-7 plumbing: the platform's own RuntimeClasses, audited node by node and tried pool by pool.

The decisions (which nodes a class admits, pools) are in conformance/class_admission.py; this
module feeds them the run's facts, creates one Pod of the class per node pool it admits, and
records a row for the report's "platform classes" table (`PROPERTY`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance import quantities
from conformance.case import Case, pin
from conformance.class_admission import Audit, ClassSpec, audit, pools
from conformance.preflight import HOW_TO_TELL, Facts
from conformance.stash_keys import STATE

PROPERTY = "platform-class"  # the user_property a test records its row under
NONE = "(none)"  # the parameter when the cluster serves no class of its own


def classes_to_audit(config: pytest.Config) -> list[str]:
    """Parameters of the RC-SCH-7 test: the classes --class names, else every platform class."""
    named = list(config.option.platform_class or [])
    if named:
        return named
    if STATE not in config.stash:
        return [NONE]
    return [c["name"] for c in config.stash[STATE].facts.platform_classes] or [NONE]


def spec_named(facts: Facts, name: str) -> ClassSpec | None:
    return next((c for c in facts.classes() if c.name == name), None)


def audited(case: Case, name: str, clause: str) -> tuple[ClassSpec, Audit]:
    """The class a test checks and its audit. Where the cluster serves no class of its own the test
    skips (nothing was checked, so nothing may count as passed for `clause`); a `--class` the cluster
    does not serve fails the test."""
    if name == NONE:
        pytest.skip(f"missing capability platform-classes: the cluster serves no RuntimeClass besides the "
                    f"suite's own, so {clause} has no class of the platform's to check")
    spec = spec_named(case.cluster, name)
    assert spec is not None, f"--class {name}: the cluster serves no RuntimeClass of that name"
    return spec, audit_class(case.cluster, spec)


def audit_class(facts: Facts, spec: ClassSpec) -> Audit:
    """The class against the run's node facts (runtimeHandlers, else the node probe or --handler-nodes)."""
    nodes = [n.view() for n in facts.nodes]
    handlers_of = {n.name: facts.handlers_of(n.name) for n in facts.nodes}
    return audit(spec, nodes, handlers_of, HOW_TO_TELL.format(handler=spec.handler))


@dataclass
class Row:
    """One row of the report's platform classes table."""

    name: str
    handler: str
    scheduling: str
    overhead: str
    admitting: list[str]
    with_handler: list[str]
    verdict: str
    why: str
    pods: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, result: Audit) -> "Row":
        spec = result.spec
        return cls(spec.name, spec.handler, spec.scheduling_text(),
                   ", ".join(f"{k}={v}" for k, v in sorted(spec.overhead.items())) or "(none)",
                   list(result.admitting), list(result.with_handler), result.verdict, result.why)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def record(case: Case, row: Row) -> None:
    case.record_property(PROPERTY, json.dumps(row.to_json()))


def try_each_pool(case: Case, spec: ClassSpec, result: Audit, row: Row) -> None:
    """One Pod of the class on one node of each pool it admits: it runs, under its handler (RC-USE-2,
    with node evidence), with the class's overhead in spec.overhead (RC-OVH-1)."""
    facts = case.settings.facts
    admitted = [n.view() for n in facts.nodes if n.name in result.admitting]
    handlers_of = {n.name: facts.handlers_of(n.name) for n in facts.nodes}
    cri_of = {n.name: n.cri for n in facts.nodes}
    for pool in pools(admitted, handlers_of, cri_of):
        node = pool[0]
        pod = case.create_pod(["sh", "-c", "echo ran"], runtime_class=spec.name, node_selector=pin(node))
        case.wait_succeeded(pod)
        seen = f"{node}: ran" + (", overhead in spec.overhead" if spec.overhead else "")
        overhead = _as_numbers(case.read_pod(pod.metadata.name).spec.overhead or {})
        assert overhead == _as_numbers(spec.overhead), (
            f"RC-OVH-1: Pod of class {spec.name!r} on {node} has overhead {overhead}, the class {spec.overhead}")
        if case.settings.evidence is not None and facts.has("node-evidence"):
            sandbox = case.sandbox_of(pod)
            assert sandbox.runtime_handler == spec.handler, (
                f"RC-USE-2: Pod of class {spec.name!r} on {node} ran under handler {sandbox.runtime_handler!r}, "
                f"not {spec.handler!r}")
            seen += f" under handler {spec.handler!r} ({sandbox.handler_source})"
        row.pods.append(seen + (f" (pool of {len(pool)})" if len(pool) > 1 else ""))
        case.delete_pod(pod)


def _as_numbers(resources: dict[str, str]) -> dict[str, Any]:
    return {k: quantities.parse(v) for k, v in resources.items()}
