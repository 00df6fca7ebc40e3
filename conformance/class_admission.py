"""Which nodes a RuntimeClass admits, and whether they run its handler (RC-SCH-7). Pure logic, no I/O.

A class admits a node when a Pod of that class (and nothing else that steers it)
could be scheduled there: the node is schedulable, carries every label of the
class's `scheduling.nodeSelector`, and every NoSchedule/NoExecute taint on it is
tolerated by the class's `scheduling.tolerations`. Toleration matching follows
Kubernetes (k8s.io/api core/v1 `Toleration.ToleratesTaint`): an empty effect
matches every effect, an empty key with `Exists` every key; `Equal` (or no
operator) compares values, `Exists` ignores them; `Lt`/`Gt` (the comparison
operators, TaintTolerationComparisonOperators) compare decimal integers, the
taint's value against the toleration's. PreferNoSchedule taints never keep a Pod
off a node, so they never keep a class from admitting one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")
_DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)$")
# Labels cloud providers and installers give a node pool; nodes that agree on these (and on CRI,
# taints and reported handlers) are one pool, and one Pod per pool is enough to show a class works.
POOL_LABELS = ("cloud.google.com/gke-nodepool", "eks.amazonaws.com/nodegroup", "kubernetes.azure.com/agentpool",
               "node.kubernetes.io/instance-type", "node-role.kubernetes.io/worker")


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Whether one toleration tolerates one taint, as the scheduler decides it."""
    effect, key = toleration.get("effect") or "", toleration.get("key") or ""
    if effect and effect != taint.get("effect"):
        return False
    if key and key != taint.get("key"):
        return False
    operator, value, taint_value = toleration.get("operator") or "", toleration.get("value") or "", \
        taint.get("value") or ""
    if operator in ("", "Equal"):
        return value == taint_value
    if operator == "Exists":
        return True
    if operator in ("Lt", "Gt"):
        if not (_DECIMAL.match(value) and _DECIMAL.match(taint_value)):
            return False
        return int(taint_value) < int(value) if operator == "Lt" else int(taint_value) > int(value)
    return False


def untolerated(taints: Iterable[Mapping[str, Any]], tolerations: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The NoSchedule/NoExecute taints no toleration tolerates (those keep a Pod off the node)."""
    tolerations = list(tolerations)
    return [dict(t) for t in taints
            if t.get("effect") in BLOCKING_EFFECTS and not any(tolerates(tol, t) for tol in tolerations)]


def taint_text(taint: Mapping[str, Any]) -> str:
    value = taint.get("value")
    return f"{taint.get('key')}{'=' + value if value else ''}:{taint.get('effect')}"


@dataclass(frozen=True)
class ClassSpec:
    """What RC-SCH-7 reads of a RuntimeClass (as plain data, so it travels to xdist workers)."""

    name: str
    handler: str
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict, ...] = ()
    overhead: dict[str, str] = field(default_factory=dict)
    has_scheduling: bool = False

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> "ClassSpec":
        """From the RuntimeClass as a dict in API field names (camelCase)."""
        scheduling = raw.get("scheduling") or {}
        return cls(name=raw["metadata"]["name"], handler=raw.get("handler", ""),
                   node_selector=dict(scheduling.get("nodeSelector") or {}),
                   tolerations=tuple({k: v for k, v in t.items() if v is not None}
                                     for t in scheduling.get("tolerations") or []),
                   overhead=dict((raw.get("overhead") or {}).get("podFixed") or {}),
                   has_scheduling=bool(raw.get("scheduling")))

    def scheduling_text(self) -> str:
        if not self.has_scheduling:
            return "(none)"
        parts = [f"{k}={v}" for k, v in sorted(self.node_selector.items())]
        parts += ["tolerates " + _toleration_text(t) for t in self.tolerations]
        return "; ".join(parts) or "(empty)"


def _toleration_text(toleration: Mapping[str, Any]) -> str:
    key, operator = toleration.get("key") or "*", toleration.get("operator") or "Equal"
    value = "" if operator == "Exists" else f"{'=' if operator == 'Equal' else ' ' + operator + ' '}" \
                                           f"{toleration.get('value') or ''}"
    return f"{key}{value}:{toleration.get('effect') or '*'}"


@dataclass(frozen=True)
class NodeView:
    """A node as admission sees it: schedulable (Ready, not cordoned), labels, taints."""

    name: str
    schedulable: bool
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...] = ()


def refusal(spec: ClassSpec, node: NodeView) -> str | None:
    """Why the class does not admit the node; None when it does."""
    if not node.schedulable:
        return "not schedulable (not Ready, or cordoned)"
    missing = [f"{k}={v}" for k, v in sorted(spec.node_selector.items()) if node.labels.get(k) != v]
    if missing:
        return f"labels do not match {', '.join(missing)}"
    blocking = untolerated(node.taints, spec.tolerations)
    if blocking:
        return f"taint {', '.join(taint_text(t) for t in blocking)} not tolerated"
    return None


@dataclass(frozen=True)
class Audit:
    """RC-SCH-7 for one class: the facts and the verdict ("usable", "unusable", "unknown") with why."""

    spec: ClassSpec
    admitting: tuple[str, ...]
    with_handler: tuple[str, ...]
    without_handler: tuple[str, ...]
    unknown: tuple[str, ...]
    verdict: str
    why: str


def audit(spec: ClassSpec, nodes: Iterable[NodeView], handlers_of: Mapping[str, Iterable[str] | None],
          how_to_tell: str = "") -> Audit:
    """Audit one class. `handlers_of`: node -> the handlers it runs, or None where nothing tells."""
    nodes = list(nodes)
    refused = {n.name: refusal(spec, n) for n in nodes}
    admitting = tuple(sorted(n.name for n in nodes if refused[n.name] is None))
    known = {n: set(handlers_of[n]) for n in admitting if handlers_of.get(n) is not None}
    with_handler = tuple(n for n in admitting if n in known and spec.handler in known[n])
    without = tuple(n for n in admitting if n in known and spec.handler not in known[n])
    unknown = tuple(n for n in admitting if n not in known)
    if not admitting:
        reasons = sorted({f"{name}: {why}" for name, why in refused.items()})
        verdict, why = "unusable", f"no schedulable node admits class {spec.name!r} ({'; '.join(reasons) or 'no nodes'})"
    elif without:
        verdict, why = "unusable", (f"class {spec.name!r} admits {', '.join(without)}, which "
                                    f"{'lacks' if len(without) == 1 else 'lack'} handler {spec.handler!r}")
    elif unknown:
        verdict, why = "unknown", (f"nothing tells whether {', '.join(unknown)} run handler {spec.handler!r}"
                                   f"{': ' + how_to_tell if how_to_tell else ''}")
    else:
        verdict, why = "usable", f"every node it admits ({', '.join(admitting)}) runs handler {spec.handler!r}"
    return Audit(spec, admitting, with_handler, without, unknown, verdict, why)


def pools(nodes: Iterable[NodeView], handlers_of: Mapping[str, Iterable[str] | None],
          cri_of: Mapping[str, str] | None = None) -> list[list[str]]:
    """Group nodes into pools: same CRI, taints, reported handlers and pool labels. Sorted, stable."""
    grouped: dict[tuple, list[str]] = {}
    for node in nodes:
        handlers = handlers_of.get(node.name)
        key = ((cri_of or {}).get(node.name, ""),
               tuple(sorted(taint_text(t) for t in node.taints)),
               tuple(sorted(handlers)) if handlers is not None else None,
               tuple(node.labels.get(label, "") for label in POOL_LABELS))
        grouped.setdefault(key, []).append(node.name)
    return sorted(sorted(names) for names in grouped.values())
