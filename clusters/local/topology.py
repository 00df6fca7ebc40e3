"""The local cluster's shape, read from a YAML file into frozen records.

Only parsing and validation live here (no I/O beyond reading the file), so a
user's own topology fails with one sentence before any process starts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path


from clusters.topology_file import dns_label, load_checked

DEFAULT_TOPOLOGY = Path(__file__).with_name("topology.yaml")



@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class Runtime:
    """A real OCI runtime binary a handler runs with.

    `binary` is either an absolute host path or the name of a binary the project builds
    (e.g. `runc`). `oci_version` pins the bundle's ociVersion for a runtime older than
    the runtime-spec containerd writes (Debian bookworm's crun 1.8 accepts 1.0.x only).
    """

    name: str
    binary: str
    oci_version: str | None = None

    @property
    def from_host(self) -> bool:
        return self.binary.startswith("/")


@dataclass(frozen=True)
class Handler:
    """One runtime table entry of a node's containerd: the RuntimeClass `handler`."""

    name: str
    runtime: str
    default: bool = False


@dataclass(frozen=True)
class NodeSpec:
    name: str
    address: str
    pod_cidr: str
    handlers: tuple[Handler, ...]
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @property
    def handler_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.handlers)

    @property
    def default_handler(self) -> Handler:
        return next((h for h in self.handlers if h.default), self.handlers[0])


@dataclass(frozen=True)
class Ports:
    apiserver: int
    etcd_client: int
    etcd_peer: int
    controller_manager: int
    scheduler: int


@dataclass(frozen=True)
class Topology:
    name: str
    kubernetes_version: str
    service_cidr: str
    ports: Ports
    runtimes: dict[str, Runtime]
    nodes: tuple[NodeSpec, ...]
    source: Path

    @property
    def service_ip(self) -> str:
        """The first address of the service range: the `kubernetes` Service's ClusterIP."""
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    def node(self, name: str) -> NodeSpec:
        return next(n for n in self.nodes if n.name == name)


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> Topology:
    """Read and validate a topology file; every problem is one ClusterError line."""
    return load_checked(path, "topology file", _parse)


def _parse(raw: dict, path: Path) -> Topology:
    runtimes = {
        name: Runtime(name=name, binary=str(spec["binary"]),
                      oci_version=str(spec["ociVersion"]) if spec.get("ociVersion") else None)
        for name, spec in raw["runtimes"].items()
    }
    ports = raw["ports"]
    nodes = tuple(_parse_node(n, runtimes) for n in raw["nodes"])
    topology = Topology(
        name=dns_label(raw["name"], "cluster name"),
        kubernetes_version=str(raw["kubernetesVersion"]),
        service_cidr=str(ipaddress.ip_network(raw["serviceCIDR"])),
        ports=Ports(
            apiserver=int(ports["apiserver"]),
            etcd_client=int(ports["etcdClient"]),
            etcd_peer=int(ports["etcdPeer"]),
            controller_manager=int(ports["controllerManager"]),
            scheduler=int(ports["scheduler"]),
        ),
        runtimes=runtimes,
        nodes=nodes,
        source=path,
    )
    _check_unique(topology)
    return topology


def _parse_node(raw: dict, runtimes: dict[str, Runtime]) -> NodeSpec:
    name = dns_label(raw["name"], "node name")
    address = ipaddress.ip_address(raw["address"])
    if not address.is_loopback or str(address) == "127.0.0.1":
        raise ValueError(f"node {name}: address {address} must be a loopback address other than 127.0.0.1")
    handlers = []
    for h in raw["handlers"]:
        if h["runtime"] not in runtimes:
            raise ValueError(f"node {name}: handler {h['name']!r} uses unknown runtime {h['runtime']!r}")
        handlers.append(Handler(dns_label(h["name"], "handler"), h["runtime"], bool(h.get("default", False))))
    if not handlers:
        raise ValueError(f"node {name}: needs at least one handler")
    if sum(h.default for h in handlers) > 1:
        raise ValueError(f"node {name}: at most one handler may be the default")
    taints = tuple(Taint(t["key"], str(t.get("value", "")), t["effect"]) for t in raw.get("taints", []))
    return NodeSpec(
        name=name,
        address=str(address),
        pod_cidr=str(ipaddress.ip_network(raw["podCIDR"])),
        handlers=tuple(handlers),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        taints=taints,
    )



def _check_unique(topology: Topology) -> None:
    for attr in ("name", "address", "pod_cidr"):
        values = [getattr(n, attr) for n in topology.nodes]
        if len(values) != len(set(values)):
            raise ValueError(f"node {attr.replace('_', ' ')}s must be unique, got {values}")
    cidrs = [ipaddress.ip_network(n.pod_cidr) for n in topology.nodes]
    for i, a in enumerate(cidrs):
        for b in cidrs[i + 1:]:
            if a.overlaps(b):
                raise ValueError(f"pod CIDRs {a} and {b} overlap")
