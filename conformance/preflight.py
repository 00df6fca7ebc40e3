"""What the cluster is and what the suite may do there, probed once per run.

The result (`Facts`) is plain data, serialised to xdist workers so that every
worker skips exactly the same tests for exactly the same missing capability.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    name: str
    schedulable: bool
    handlers: tuple[str, ...]
    allocatable: dict[str, str]
    labels: dict[str, str]
    # Node.status.nodeInfo.containerRuntimeVersion, e.g. "containerd://2.4.2", "cri-o://1.34.0".
    runtime_version: str = ""
    # The handlers the cluster's maker (the suite's own topology) configured on this node, or None
    # when nobody declared them (an existing cluster). Used only where the node reports none.
    declared: tuple[str, ...] | None = None

    @property
    def reports_handlers(self) -> bool:
        """The kubelet publishes Node.status.runtimeHandlers (the CRI fills them: containerd 2.x, CRI-O)."""
        return bool(self.handlers)

    @property
    def known_handlers(self) -> tuple[str, ...] | None:
        """What the node's CRI configures: reported if the node reports, else declared, else unknown (None).

        containerd 1.7 reports no handlers; a node of it that the suite made is known from its
        topology, and one of an existing cluster is not known at all: nothing is placed there blind.
        """
        if self.handlers:
            return self.handlers
        return self.declared

    @property
    def handlers_source(self) -> str:
        if self.handlers:
            return "Node.status.runtimeHandlers"
        return "declared by the topology; the node reports none" if self.declared is not None else "unknown"

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

    def has(self, capability: str) -> bool:
        return capability not in self.missing and self.why_missing(capability) is None

    def why_missing(self, capability: str) -> str | None:
        if capability in self.missing:
            return self.missing[capability]
        if capability.startswith("handler:"):
            handler = capability.split(":", 1)[1]
            if not self.nodes_with_handler(handler):
                declared = any(n.declared is not None for n in self.schedulable_nodes())
                return (f"no schedulable node reports handler {handler!r} in Node.status.runtimeHandlers"
                        + (" or is declared with it by the topology" if declared else ""))
        return None

    def schedulable_nodes(self) -> list[NodeFacts]:
        return [n for n in self.nodes if n.schedulable]

    def nodes_with_handler(self, handler: str) -> list[str]:
        """Schedulable nodes whose CRI has the handler, by what each node reports or was declared with.

        A node whose handlers are unknown (it reports none and nobody declared them) is used only
        when no node's handlers are known at all: then the user's --handler is the only word there
        is, and it speaks for every node, as before.
        """
        nodes = self.schedulable_nodes()
        if not any(n.known_handlers is not None for n in nodes):
            return [n.name for n in nodes] if handler in self.handlers else []
        return [n.name for n in nodes if n.known_handlers is not None and handler in n.known_handlers]

    def one_node_per_cri(self, handler: str | None = None) -> list[str]:
        """A schedulable node (with `handler`, if given) for each CRI implementation the cluster runs.

        Node evidence differs by CRI (containerd, CRI-O), so a clause that reads it is checked on
        every kind of node, not only on whichever node comes first.
        """
        candidates = set(self.nodes_with_handler(handler)) if handler else {n.name for n in self.schedulable_nodes()}
        chosen: dict[str, str] = {}
        for node in self.schedulable_nodes():
            if node.name in candidates:
                chosen.setdefault(node.cri, node.name)
        return list(chosen.values())

    def nodes_without_handler(self, handler: str) -> list[str]:
        """Nodes known to lack the handler; a node whose handlers are unknown is never one of them."""
        return [n.name for n in self.schedulable_nodes()
                if n.known_handlers is not None and handler not in n.known_handlers]

    def silent_nodes(self) -> list[NodeFacts]:
        """Schedulable nodes that do not fill Node.status.runtimeHandlers."""
        return [n for n in self.schedulable_nodes() if not n.reports_handlers]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> "Facts":
        nodes = tuple(NodeFacts(**{**n, "handlers": tuple(n["handlers"]),
                                   "declared": None if n.get("declared") is None else tuple(n["declared"])})
                      for n in raw["nodes"])
        return cls(**{**raw, "nodes": nodes, "handlers": tuple(raw["handlers"])})


def probe(kube: Kube, requested_handlers: list[str], has_node_evidence: bool, evidence_why: str,
          disruptive_allowed: bool, declared: dict[str, tuple[str, ...]] | None = None) -> Facts:
    """`declared`: node -> handlers its CRI configures, from the topology of a cluster the suite made."""
    version = kube.version.get_code()
    groups = {g.name: [v.version for v in g.versions] for g in kube.apis.get_api_versions().groups}
    declared = declared or {}
    nodes = tuple(_node_facts(n, declared.get(n.metadata.name)) for n in listed_or_empty(kube.core.list_node))
    reported = sorted({h for n in nodes for h in n.handlers})
    known = sorted({h for n in nodes for h in (n.known_handlers or ())})
    handlers = tuple(requested_handlers or known)
    missing: dict[str, str] = {}
    for capability, needed in (("workspace", WORKSPACE_ACCESS), ("admin", ADMIN_ACCESS)):
        denied = [f"{verb} {resource}" for verb, group, resource in needed if not _allowed(kube, verb, group, resource)]
        if denied:
            missing[capability] = f"the suite's identity may not {', '.join(denied)}"
    if not _allowed(kube, "list", "", "nodes"):
        missing["nodes>=2"] = "the suite's identity may not list nodes"
    elif len([n for n in nodes if n.schedulable]) < 2:
        missing["nodes>=2"] = "fewer than two schedulable nodes"
    if not has_node_evidence:
        missing["node-evidence"] = evidence_why
    if not disruptive_allowed:
        missing["disruptive"] = "tests that taint nodes are opt-in on existing clusters (--allow-disruptive)"
    return Facts(server=kube.server, server_version=version.git_version,
                 node_k8s_io_v1="v1" in groups.get("node.k8s.io", []), nodes=nodes, handlers=handlers,
                 handlers_reported=bool(reported), missing=missing)


def _node_facts(node, declared: tuple[str, ...] | None = None) -> NodeFacts:
    handlers = tuple(sorted(h.name for h in (node.status.runtime_handlers or []) if h.name))
    taints = node.spec.taints or []
    schedulable = not node.spec.unschedulable and not any(t.effect in ("NoSchedule", "NoExecute") for t in taints)
    ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
    info = node.status.node_info
    return NodeFacts(name=node.metadata.name, schedulable=schedulable and ready, handlers=handlers,
                     allocatable=dict(node.status.allocatable or {}), labels=dict(node.metadata.labels or {}),
                     runtime_version=(info.container_runtime_version or "") if info else "",
                     declared=tuple(sorted(declared)) if declared is not None else None)


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
        known = node.known_handlers
        handlers = ", ".join(node.handlers) if node.handlers else \
            (f"{', '.join(known)} ({node.handlers_source})" if known is not None else "(not reported)")
        lines.append(f"  node {node.name}: {'schedulable' if node.schedulable else 'not schedulable'}; "
                     f"CRI {node.runtime_version or '(not reported)'}; handlers: {handlers}")
    lines.append("capabilities:")
    for capability in capabilities:
        why = facts.why_missing(capability)
        lines.append(f"  {capability:<24} {'yes' if why is None else 'MISSING: ' + why}")
    return lines
