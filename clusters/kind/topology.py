"""The kind cluster's shape, read from a YAML file into frozen records.

Parsing and validation only (no I/O beyond reading the file), so a bad topology
fails with one sentence before any container starts. Node names are computed
here, the way kind names its node containers, because the provider has to
reach each node's container by that name to configure and inspect it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


from clusters.toolbox.platform_classes import PlatformClass, parse_classes
from clusters.toolbox.topology_file import dns_label, load_checked
from clusters.toolbox.topology_records import Taint

DEFAULT_TOPOLOGY = Path(__file__).with_name("topology.yaml")

ROLES = ("control-plane", "worker")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")



@dataclass(frozen=True)
class KindNode:
    """One kind node container; `handlers` are the CRI runtime tables it must have."""

    name: str
    role: str
    handlers: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True)
class KindTopology:
    name: str
    image: str
    nodes: tuple[KindNode, ...]
    source: Path
    # RuntimeClasses the cluster serves of its own, as a platform would (clusters/toolbox/platform_classes.py).
    runtime_classes: tuple[PlatformClass, ...] = ()

    @property
    def workers(self) -> tuple[KindNode, ...]:
        return tuple(n for n in self.nodes if n.role == "worker")

    def node(self, name: str) -> KindNode:
        return next(n for n in self.nodes if n.name == name)


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> KindTopology:
    """Read and validate a kind topology file; every problem is one ClusterError line."""
    return load_checked(path, "kind topology file", parse_topology)


def parse_topology(raw: dict, source: Path) -> KindTopology:
    name = dns_label(raw["name"], "cluster name")
    name_node = node_namer(name)
    nodes = tuple(_parse_node(n, name_node) for n in raw["nodes"])
    roles = [n.role for n in nodes]
    if roles.count("control-plane") != 1 or "worker" not in roles:
        raise ValueError(f"needs exactly one control-plane node and at least one worker, got roles {roles}")
    return KindTopology(name=name, image=str(raw["image"]), nodes=nodes, source=source,
                        runtime_classes=parse_classes(raw.get("runtimeClasses")))


def node_namer(cluster: str) -> Callable[[str], str]:
    """kind's node naming: CLUSTER-ROLE for the first node of a role, then CLUSTER-ROLE2, CLUSTER-ROLE3..."""
    counts: dict[str, int] = {}

    def name(role: str) -> str:
        counts[role] = counts.get(role, 0) + 1
        return f"{cluster}-{role}{counts[role] if counts[role] > 1 else ''}"

    return name


def _parse_node(raw: dict, name_node: Callable[[str], str]) -> KindNode:
    role = str(raw["role"])
    if role not in ROLES:
        raise ValueError(f"node role {role!r} must be one of {', '.join(ROLES)}")
    name = name_node(role)
    handlers = tuple(dns_label(h, f"node {name}: handler") for h in raw.get("handlers") or ())
    if len(set(handlers)) != len(handlers):
        raise ValueError(f"node {name}: handlers {list(handlers)} are listed twice")
    taints = tuple(_taint(t, name) for t in raw.get("taints") or ())
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    return KindNode(name=name, role=role, handlers=handlers, labels=labels, taints=taints)


def _taint(raw: dict, node: str) -> Taint:
    effect = str(raw["effect"])
    if effect not in TAINT_EFFECTS:
        raise ValueError(f"node {node}: taint effect {effect!r} must be one of {', '.join(TAINT_EFFECTS)}")
    return Taint(key=str(raw["key"]), value=str(raw.get("value", "")), effect=effect)
