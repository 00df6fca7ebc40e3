"""The local cluster's shape, read from a YAML file into frozen records.

Only parsing and validation live here (no I/O beyond reading the file), so a
user's own topology fails with one sentence before any process starts.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path


from clusters.toolbox.platform_classes import PlatformClass, parse_classes
from clusters.toolbox.topology_file import dns_label, load_checked
from clusters.toolbox.topology_records import ISOLATION_CLASSES, RUNTIME_TYPES, Runtime, Taint

DEFAULT_TOPOLOGY = Path(__file__).with_name("topology.yaml")


# The CRI implementations a node can run (`cri:`).
CRI_KINDS = ("containerd", "crio")
# `criVersion:` of a node: an exact release tag, built from the Go module proxy like every component.
_RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# The oldest release of each CRI whose configuration the local cluster writes: containerd 1.7
# (config version 2) and 2.x (version 3); CRI-O's minor tracks Kubernetes'.
OLDEST_CRI = {"containerd": (1, 7), "crio": (1, 34)}


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
    cri: str = "containerd"
    # The CRI's release (`criVersion: v1.7.35`); "" means the project's default for that CRI.
    cri_version: str = ""
    # Handlers the file promises for this node but marks `configured: false`: left out of the
    # node's CRI configuration, as on a node whose CRI lacks a handler it should have (a broken variant).
    unconfigured: tuple[str, ...] = ()

    @property
    def handler_names(self) -> tuple[str, ...]:
        """The handlers the node's CRI is configured with."""
        return tuple(h.name for h in self.handlers)

    @property
    def promised_handlers(self) -> tuple[str, ...]:
        """The handlers the topology says this node has, configured or not."""
        return (*self.handler_names, *self.unconfigured)

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
    # RuntimeClasses the cluster serves of its own, as a platform would (clusters/toolbox/platform_classes.py).
    runtime_classes: tuple[PlatformClass, ...] = ()

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
    runtimes = {name: _parse_runtime(name, spec) for name, spec in raw["runtimes"].items()}
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
        runtime_classes=parse_classes(raw.get("runtimeClasses")),
    )
    _check_unique(topology)
    return topology


def _parse_runtime(name: str, spec: dict) -> Runtime:
    binary = str(spec["binary"])
    # Without `type`, the binary's own name says which runtime it is (runc, /usr/bin/crun, …).
    kind = str(spec.get("type") or Path(binary).name)
    if kind not in RUNTIME_TYPES:
        raise ValueError(f"runtime {name}: type {kind!r} is not one of {', '.join(RUNTIME_TYPES)}; "
                         f"add `type:` to say which runtime {binary} is")
    isolation = str(spec.get("isolation") or RUNTIME_TYPES[kind])
    if isolation not in ISOLATION_CLASSES:
        raise ValueError(f"runtime {name}: isolation {isolation!r} is not one of {', '.join(ISOLATION_CLASSES)}")
    flags = spec.get("flags") or {}
    if not isinstance(flags, dict) or (flags and kind != "runsc"):
        raise ValueError(f"runtime {name}: `flags` must be a mapping of runsc flags, for a runtime of type runsc")
    relocate = spec.get("relocateCgroups")
    if relocate is not None and kind == "runsc":
        raise ValueError(f"runtime {name}: `relocateCgroups` applies to runc-compatible runtimes only")
    return Runtime(name=name, binary=binary, oci_version=str(spec["ociVersion"]) if spec.get("ociVersion") else None,
                   type=kind, isolation=isolation,
                   flags=tuple(sorted((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                                      for k, v in flags.items())),
                   relocate_cgroups=dns_label(relocate, "relocateCgroups") if relocate is not None else None)


def _parse_node(raw: dict, runtimes: dict[str, Runtime]) -> NodeSpec:
    name = dns_label(raw["name"], "node name")
    address = ipaddress.ip_address(raw["address"])
    if not address.is_loopback or str(address) == "127.0.0.1":
        raise ValueError(f"node {name}: address {address} must be a loopback address other than 127.0.0.1")
    handlers, unconfigured = [], []
    for h in raw["handlers"]:
        if h["runtime"] not in runtimes:
            raise ValueError(f"node {name}: handler {h['name']!r} uses unknown runtime {h['runtime']!r}")
        handler = Handler(dns_label(h["name"], "handler"), h["runtime"], bool(h.get("default", False)))
        if h.get("configured", True) is False:
            if handler.default:
                raise ValueError(f"node {name}: the default handler {handler.name!r} cannot be `configured: false`")
            unconfigured.append(handler.name)
        else:
            handlers.append(handler)
    if not handlers:
        raise ValueError(f"node {name}: needs at least one handler")
    if sum(h.default for h in handlers) > 1:
        raise ValueError(f"node {name}: at most one handler may be the default")
    taints = tuple(Taint(t["key"], str(t.get("value", "")), t["effect"]) for t in raw.get("taints", []))
    cri = str(raw.get("cri", "containerd"))
    if cri not in CRI_KINDS:
        raise ValueError(f"node {name}: cri {cri!r} is not one of {', '.join(CRI_KINDS)}")
    cri_version = _cri_version(name, cri, raw.get("criVersion"))
    return NodeSpec(
        name=name,
        address=str(address),
        pod_cidr=str(ipaddress.ip_network(raw["podCIDR"])),
        handlers=tuple(handlers),
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        taints=taints,
        cri=cri,
        cri_version=cri_version,
        unconfigured=tuple(unconfigured),
    )


def _cri_version(node: str, cri: str, raw: object) -> str:
    """`criVersion:` checked against the releases whose configuration the local cluster can write."""
    if raw is None or raw == "":
        return ""
    version = str(raw) if str(raw).startswith("v") else f"v{raw}"
    match = _RELEASE.match(version)
    if not match:
        raise ValueError(f"node {node}: criVersion {raw!r} is not a release like v1.7.35")
    oldest = OLDEST_CRI[cri]
    if (int(match[1]), int(match[2])) < oldest:
        raise ValueError(f"node {node}: {cri} {version} is older than the oldest the local cluster configures "
                         f"(v{oldest[0]}.{oldest[1]})")
    return version


def cri_major_minor(version: str) -> tuple[int, int]:
    """(major, minor) of a release tag such as v1.7.35."""
    match = _RELEASE.match(version)
    if not match:
        raise ValueError(f"{version!r} is not a release like v1.7.35")
    return int(match[1]), int(match[2])


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
