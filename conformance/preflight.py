"""What the cluster is and what the suite may do there, probed once per run.

The result (`Facts`) is plain data, serialised to xdist workers so that every
worker skips exactly the same tests for exactly the same missing capability.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from conformance import manifests
from conformance.class_admission import ClassSpec, NodeView, refusal, taint_text, untolerated
from conformance.kube import Kube, listed_or_empty

# (verb, group, resource) every test needs for its own namespace: the `workspace` capability.
WORKSPACE_ACCESS = (
    ("create", "", "namespaces"),
    ("delete", "", "namespaces"),
    ("create", "", "pods"),
    ("list", "", "events"),
)

# (verb, group, resource) the `admin` capability needs, checked by SelfSubjectAccessReview.
ADMIN_ACCESS = (
    ("create", "node.k8s.io", "runtimeclasses"),
    ("delete", "node.k8s.io", "runtimeclasses"),
    ("patch", "", "nodes"),
    ("create", "", "namespaces"),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
    ("create", "authorization.k8s.io", "subjectaccessreviews"),
    ("impersonate", "", "users"),
)


@dataclass(frozen=True)
class NodeFacts:
    """One node. `schedulable`: Ready and not cordoned. Whether a Pod may land there also depends on
    its taints and the Pod's tolerations: "schedulable" and "admits this class" are different facts."""

    name: str
    schedulable: bool
    handlers: tuple[str, ...]
    allocatable: dict[str, str]
    labels: dict[str, str]
    # Node.status.nodeInfo.containerRuntimeVersion, e.g. "containerd://2.4.2", "cri-o://1.34.0".
    runtime_version: str = ""
    taints: tuple[dict, ...] = ()

    @property
    def open(self) -> bool:
        """Schedulable, and no NoSchedule/NoExecute taint: a Pod without tolerations may land here."""
        return self.schedulable and not untolerated(self.taints, ())

    def view(self) -> NodeView:
        return NodeView(self.name, self.schedulable, self.labels, self.taints)

    @property
    def cri(self) -> str:
        """The CRI implementation's name, as the kubelet reports it ("containerd", "cri-o")."""
        return self.runtime_version.split("://", 1)[0] if "://" in self.runtime_version else self.runtime_version


@dataclass(frozen=True)
class Facts:
    server: str
    server_version: str
    node_k8s_io_v1: bool
    nodes: tuple[NodeFacts, ...]
    handlers: tuple[str, ...]
    handlers_reported: bool
    missing: dict[str, str] = field(default_factory=dict)  # capability -> why it is missing
    # RuntimeClasses no run of the suite created (RC-SCH-7), as ClassSpec dicts.
    platform_classes: tuple[dict, ...] = ()
    # node -> {"handlers": [...], "source": "..."} where the kubelet reports no runtimeHandlers but
    # something else tells: the node probe's reading of the CRI configuration, or --handler-nodes.
    known_handlers: dict[str, dict] = field(default_factory=dict)

    def has(self, capability: str) -> bool:
        return capability not in self.missing and self.why_missing(capability) is None

    def why_missing(self, capability: str) -> str | None:
        if capability in self.missing:
            return self.missing[capability]
        if capability.startswith("handler:"):
            handler = capability.split(":", 1)[1]
            if not self.nodes_with_handler(handler):
                if not any(self.handlers_of(n.name) is not None for n in self.schedulable_nodes()):
                    return (f"nothing tells which nodes run handler {handler!r} (no node reports "
                            f"Node.status.runtimeHandlers): {HOW_TO_TELL.format(handler=handler)}")
                return self._unreachable(handler)
        return None

    def _unreachable(self, handler: str) -> str:
        """Why no Pod of the suite's can reach `handler` although some node's handlers are known, naming
        what the nodes do run (a handler reported only later, a node not Ready, a pool no class tolerates)."""
        running = [n for n in self.schedulable_nodes() if handler in (self.handlers_of(n.name) or set())]
        if running:
            taints = sorted({taint_text(t) for n in running for t in untolerated(n.taints, ())})
            return (f"the nodes that run handler {handler!r} ({', '.join(n.name for n in running)}) carry "
                    f"{', '.join(taints)}, and no RuntimeClass of the cluster for it selects and tolerates them")
        seen = "; ".join(f"{n.name}: {', '.join(sorted(self.handlers_of(n.name) or ())) or 'none known'}"
                         for n in self.schedulable_nodes()[:6])
        unready = [n.name for n in self.nodes if not n.schedulable]
        return (f"no schedulable node reports handler {handler!r} in Node.status.runtimeHandlers ({seen})"
                + (f"; not schedulable: {', '.join(unready[:6])}" if unready else ""))

    def schedulable_nodes(self) -> list[NodeFacts]:
        """Ready and not cordoned, tainted or not."""
        return [n for n in self.nodes if n.schedulable]

    def open_nodes(self) -> list[NodeFacts]:
        """Schedulable nodes a Pod without tolerations may land on."""
        return [n for n in self.nodes if n.open]

    def handlers_of(self, node: str) -> set[str] | None:
        """The handlers a node runs: its runtimeHandlers, else what the node probe or the user told; None if unknown."""
        found = next((n for n in self.nodes if n.name == node), None)
        if found is not None and found.handlers:
            return set(found.handlers)
        if node in self.known_handlers:
            return set(self.known_handlers[node]["handlers"])
        return None

    def classes(self) -> list[ClassSpec]:
        return [ClassSpec(**{**c, "tolerations": tuple(c["tolerations"])}) for c in self.platform_classes]

    def serving_class(self, handler: str) -> ClassSpec | None:
        """The platform class that reaches `handler` where a plain Pod cannot: a class with scheduling
        for that handler that admits some node known (or, when nothing tells, declared) to run it."""
        for spec in self.classes():
            if spec.handler == handler and spec.has_scheduling and self._admitted_with(spec, handler):
                return spec
        return None

    def _admitted_with(self, spec: ClassSpec, handler: str) -> list[str]:
        """Nodes the class admits that run the handler (or, where nothing tells, all it admits)."""
        admitted = [n for n in self.schedulable_nodes() if refusal(spec, n.view()) is None]
        known = [n.name for n in admitted if (self.handlers_of(n.name) or set()) & {handler}]
        unknown = [n.name for n in admitted if self.handlers_of(n.name) is None]
        return known or unknown

    def nodes_with_handler(self, handler: str) -> list[str]:
        """Nodes where the suite's Pods for `handler` go, never blind.

        Open nodes that run it (runtimeHandlers, the node probe or --handler-nodes); else the nodes the
        platform class serving it admits (the suite's class for it copies that class's scheduling,
        `scheduling_for`); else none, and tests needing the handler skip saying how to tell.
        """
        found = self._open_nodes_running(handler)
        if found:
            return found
        spec = self.serving_class(handler)
        return self._admitted_with(spec, handler) if spec else []

    def _open_nodes_running(self, handler: str) -> list[str]:
        """Open nodes known to run `handler` (runtimeHandlers, the node probe or --handler-nodes)."""
        return [n.name for n in self.open_nodes() if handler in (self.handlers_of(n.name) or set())]

    def scheduling_for(self, handler: str) -> tuple[dict[str, str], list[dict]] | None:
        """(nodeSelector, tolerations) the suite's classes for `handler` copy, when only a platform class reaches it."""
        if self._open_nodes_running(handler):
            return None
        spec = self.serving_class(handler)
        return (dict(spec.node_selector), [dict(t) for t in spec.tolerations]) if spec else None

    def one_node_per_cri(self, handler: str | None = None) -> list[str]:
        """A node (with `handler`, if given) for each CRI implementation the cluster runs.

        Node evidence differs by CRI (containerd, CRI-O), so a clause that reads it is checked on
        every kind of node, not only on whichever node comes first.
        """
        candidates = set(self.nodes_with_handler(handler)) if handler else {n.name for n in self.open_nodes()}
        chosen: dict[str, str] = {}
        for node in self.schedulable_nodes():
            if node.name in candidates:
                chosen.setdefault(node.cri, node.name)
        return list(chosen.values())

    def nodes_without_handler(self, handler: str) -> list[str]:
        """Open nodes known not to run `handler`."""
        return [n.name for n in self.open_nodes() if handler not in (self.handlers_of(n.name) or {handler})]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> "Facts":
        nodes = tuple(NodeFacts(**{**n, "handlers": tuple(n["handlers"]), "taints": tuple(n.get("taints", ()))})
                      for n in raw["nodes"])
        return cls(**{**raw, "nodes": nodes, "handlers": tuple(raw["handlers"]),
                      "platform_classes": tuple(raw.get("platform_classes", ()))})


HOW_TO_TELL = ("run with --node-probe (reads each node's CRI configuration), name its nodes with "
               "--handler-nodes {handler}=NODE[,NODE], or serve it through a RuntimeClass whose scheduling "
               "selects its nodes")


def probe(kube: Kube, requested_handlers: list[str], has_node_evidence: bool, evidence_why: str,
          disruptive_allowed: bool, known_handlers: dict[str, dict] | None = None) -> Facts:
    version = kube.version.get_code()
    groups = {g.name: [v.version for v in g.versions] for g in kube.apis.get_api_versions().groups}
    nodes = tuple(_node_facts(n) for n in listed_or_empty(kube.core.list_node))
    reported = sorted({h for n in nodes for h in n.handlers})
    handlers = tuple(requested_handlers or reported)
    missing: dict[str, str] = {}
    for capability, needed in (("workspace", WORKSPACE_ACCESS), ("admin", ADMIN_ACCESS)):
        denied = [f"{verb} {resource}" for verb, group, resource in needed if not _allowed(kube, verb, group, resource)]
        if denied:
            missing[capability] = f"the suite's identity may not {', '.join(denied)}"
    if not _allowed(kube, "list", "", "nodes"):
        missing["nodes>=2"] = "the suite's identity may not list nodes"
    elif len([n for n in nodes if n.open]) < 2:
        missing["nodes>=2"] = "fewer than two schedulable nodes without NoSchedule/NoExecute taints"
    if not _allowed(kube, "list", "node.k8s.io", "runtimeclasses"):
        missing["platform-classes"] = "the suite's identity may not list RuntimeClasses (RC-SCH-7 reads the cluster's own)"
    if not has_node_evidence:
        missing["node-evidence"] = evidence_why
    if not disruptive_allowed:
        missing["disruptive"] = "tests that taint nodes are opt-in on existing clusters (--allow-disruptive)"
    return Facts(server=kube.server, server_version=version.git_version,
                 node_k8s_io_v1="v1" in groups.get("node.k8s.io", []), nodes=nodes, handlers=handlers,
                 handlers_reported=bool(reported), missing=missing, platform_classes=platform_classes(kube),
                 known_handlers={n: h for n, h in (known_handlers or {}).items()
                                 if not next(x for x in nodes if x.name == n).handlers} if known_handlers else {})


def platform_classes(kube: Kube) -> tuple[dict, ...]:
    """RuntimeClasses no run of the suite made (the platform's own), as ClassSpec dicts."""
    found = []
    for rc in listed_or_empty(kube.node.list_runtime_class):
        if (rc.metadata.labels or {}).get(manifests.LABEL_MANAGED_BY) == manifests.MANAGED_BY:
            continue
        found.append(asdict(ClassSpec.from_api(kube.api.sanitize_for_serialization(rc))))
    return tuple(sorted(found, key=lambda c: c["name"]))


def _node_facts(node) -> NodeFacts:
    handlers = tuple(sorted(h.name for h in (node.status.runtime_handlers or []) if h.name))
    taints = tuple({"key": t.key, "value": t.value or "", "effect": t.effect} for t in node.spec.taints or [])
    schedulable = not node.spec.unschedulable
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    info = node.status.node_info
    return NodeFacts(name=node.metadata.name, schedulable=schedulable and ready, handlers=handlers,
                     allocatable=dict(node.status.allocatable or {}), labels=dict(node.metadata.labels or {}),
                     runtime_version=(info.container_runtime_version or "") if info else "", taints=taints)


def _allowed(kube: Kube, verb: str, group: str, resource: str) -> bool:
    # Namespaced verbs are asked for the default namespace; cluster-scoped ones at cluster scope.
    attributes = {"verb": verb, "group": group, "resource": resource}
    if resource in ("pods", "events"):
        attributes["namespace"] = "default"
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": attributes}}
    return bool(kube.authz.create_self_subject_access_review(review).status.allowed)


# --- a cluster without the RuntimeClass API (issue 9) -----------------------------------------------
RUNTIMECLASS_API = "node.k8s.io/v1"
API_CLAUSE = "RC-API-1"  # the clause that says the API is served; the others cannot run without it


def runtimeclass_api_missing(facts: Facts) -> str | None:
    """The sentence RC-API-1 fails with when the cluster does not serve RuntimeClass at all, else None."""
    if facts.node_k8s_io_v1:
        return None
    return (f"the API server does not serve API group node.k8s.io, version v1 (discovery at /apis lists no "
            f"{RUNTIMECLASS_API}), so this cluster has no RuntimeClass API")


def capability_table(facts: Facts, capabilities: list[str]) -> list[str]:
    """Lines for the terminal header: each capability, yes or the reason it is missing."""
    lines = [f"cluster: {facts.server} (Kubernetes {facts.server_version}); node.k8s.io/v1 served: "
             f"{'yes' if facts.node_k8s_io_v1 else 'NO'}"]
    for node in facts.nodes:
        known = facts.known_handlers.get(node.name)
        handlers = ", ".join(node.handlers) or (f"{', '.join(known['handlers'])} (from {known['source']})"
                                                if known else "(not reported)")
        taints = f"; taints {', '.join(taint_text(t) for t in node.taints)}" if node.taints else ""
        lines.append(f"  node {node.name}: {'schedulable' if node.schedulable else 'not schedulable'}{taints}; "
                     f"CRI {node.runtime_version or '(not reported)'}; handlers: {handlers}")
    lines.append("capabilities:")
    for capability in capabilities:
        why = facts.why_missing(capability)
        lines.append(f"  {capability:<24} {'yes' if why is None else 'MISSING: ' + why}")
    return lines
