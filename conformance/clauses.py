"""The clauses of SPEC.md as data: ID, family, the sentence a reviewer reads.

No I/O here. The pytest marker `clause("RC-…")` must name an ID from this
table (unknown IDs are a collection error), and the report groups by it.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEC_URL = "docs/SPEC.md"  # the contract, versioned with the suite


@dataclass(frozen=True)
class Clause:
    id: str
    title: str
    capabilities: tuple[str, ...] = ()
    seed_says: str = ""
    reference_says: str = ""

    @property
    def family(self) -> str:
        """RC-SCH-3 -> SCH."""
        return self.id.split("-")[1]

    @property
    def anchor(self) -> str:
        return f"{SPEC_URL}#{self.id.lower()}"


FAMILIES = {
    "API": "API: the RuntimeClass resource",
    "USE": "USE: selecting a runtime from a Pod",
    "CRI": "CRI: handler configuration on nodes",
    "SCH": "SCH: scheduling",
    "OVH": "OVH: pod overhead",
}

_CLAUSES = (
    Clause("RC-API-1", "node.k8s.io/v1 runtimeclasses is served with create, get, list, watch, patch, update, "
                       "delete and deletecollection; a second create of the same name is 409", ("admin",)),
    Clause("RC-API-2", "handler must be a DNS-1123 label; empty, upper-case, dotted or over-long handlers are 422",
           ("admin",)),
    Clause("RC-API-3", "handler is immutable (422 field is immutable); overhead and scheduling may change", ("admin",)),
    Clause("RC-API-4", "overhead.podFixed is validated like container resources: negative or unknown names are 422",
           ("admin",)),
    Clause("RC-API-5", "namespaced admin/edit/view cannot create, update, patch or delete RuntimeClasses",
           ("admin",)),
    Clause("RC-USE-1", "a Pod naming an existing RuntimeClass with a configured handler runs to Succeeded, "
                       "for every handler", ("admin",)),
    Clause("RC-USE-2", "the Pod's CRI sandbox reports the RuntimeClass's handler", ("admin", "node-evidence")),
    Clause("RC-USE-3", "a Pod without runtimeClassName runs with the default runtime", ("node-evidence",)),
    Clause("RC-USE-4", "a Pod naming a RuntimeClass that does not exist never runs", (),
           seed_says="the Pod enters the Failed state",
           reference_says='create is rejected, 403 RuntimeClass "<name>" not found'),
    Clause("RC-USE-5", "a Pod naming a RuntimeClass whose handler no node has never runs", ("admin",),
           seed_says="the Pod enters the Failed state",
           reference_says="the Pod stays Pending with FailedCreatePodSandBox events naming the handler"),
    Clause("RC-USE-6", "after a RuntimeClass is deleted new Pods naming it are rejected; running Pods keep running",
           ("admin",)),
    Clause("RC-USE-7", "runtimeClassName and overhead of an existing Pod are immutable (422)", ("admin",)),
    Clause("RC-USE-8", "the Pod gets the isolation its handler is meant to give (shared kernel, user-space kernel, "
                       "VM), seen from inside the Pod and, with node evidence, from the runtime that runs it",
           ("admin",)),
    Clause("RC-CRI-1", "handler names match CRI runtime table keys; several handlers per node and different "
                       "handler sets on different nodes work", ("admin",)),
    Clause("RC-CRI-2", "Node.status.runtimeHandlers lists the configured handlers (informational)", ()),
    Clause("RC-SCH-1", "scheduling.nodeSelector is merged into the Pod's nodeSelector at admission", ("admin",)),
    Clause("RC-SCH-2", "the Pod is scheduled only onto nodes matching the merged selector; with none it stays "
                       "Pending (FailedScheduling)", ("admin", "nodes>=2")),
    Clause("RC-SCH-3", "a nodeSelector conflict between Pod and RuntimeClass is rejected, 403 conflict: …",
           ("admin",)),
    Clause("RC-SCH-4", "scheduling.tolerations are merged at admission and let the Pod land on tainted nodes",
           ("admin", "disruptive")),
    Clause("RC-SCH-5", "a Pod without that RuntimeClass or toleration is not scheduled onto the tainted node",
           ("admin", "disruptive")),
    Clause("RC-SCH-6", "a RuntimeClass without scheduling adds no nodeSelector or tolerations", ("admin",)),
    Clause("RC-SCH-7", "every RuntimeClass the cluster serves can be used as declared: some schedulable node "
                       "admits it, and every node it admits runs its handler", ()),
    Clause("RC-OVH-1", "overhead.podFixed is copied into the Pod's spec.overhead at admission", ("admin",)),
    Clause("RC-OVH-2", "a RuntimeClass without overhead leaves spec.overhead empty", ("admin",)),
    Clause("RC-OVH-3", "a Pod whose spec.overhead differs from its RuntimeClass's is rejected, 403; an identical "
                       "value is accepted", ("admin",)),
    Clause("RC-OVH-4", "spec.overhead with no RuntimeClass, or one without overhead, is rejected, 403", ("admin",)),
    Clause("RC-OVH-5", "the scheduler counts overhead: requests fit but requests plus overhead do not stays Pending",
           ("admin",)),
    Clause("RC-OVH-6", "ResourceQuota counts overhead; a Pod over quota only by its overhead is rejected, 403",
           ("admin",)),
    Clause("RC-OVH-7", "the kubelet sizes the Pod cgroup with overhead (memory limit and CPU quota)",
           ("admin", "node-evidence")),
    Clause("RC-OVH-8", "what runs the Pod (sandbox and every container) stays inside the Pod cgroup RC-OVH-7 sized, "
                       "under every handler, and its memory limit is enforced", ("admin",)),
)

CLAUSES: dict[str, Clause] = {c.id: c for c in _CLAUSES}


def clause(clause_id: str) -> Clause:
    """The clause with that ID; a KeyError names the unknown ID."""
    try:
        return CLAUSES[clause_id]
    except KeyError:
        raise KeyError(f"unknown clause {clause_id!r}; known: {', '.join(CLAUSES)}") from None
