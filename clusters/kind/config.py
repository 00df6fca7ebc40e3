"""The kind ``Cluster`` configuration for a KindTopology: pure data, no I/O.

How each part of the topology reaches the nodes, and why:

* labels: the node's ``labels:`` field; kind hands them to the kubelet
  (``--node-labels``), so they are on the Node before anything schedules.
* taints: kind has no taint field, so a node-level ``kubeadmConfigPatches``
  entry sets ``nodeRegistration.taints`` (``InitConfiguration`` for the control
  plane, ``JoinConfiguration`` for workers) and kubeadm registers the Node
  tainted.
* handlers: *not* in this file. ``containerdConfigPatches`` apply to every node
  alike, so they cannot make nodes differ, and a per-node drop-in would need
  an ``imports`` line that kind's node image does not have (kind v0.33.0's
  ``/etc/containerd/config.toml``), plus containerd 1.7 replaces a whole plugin
  section from an imported file instead of merging it. The provider therefore
  adds a node's missing handlers after ``kind create cluster``, from the node's
  own config file (see ``clusters.kind.containerd``), and restarts that node's
  containerd once.
"""

from __future__ import annotations

from typing import Any

import yaml

from clusters.kind.topology import KindNode, KindTopology

KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"


# Kubernetes >= 1.35 kubelets refuse cgroup v1 unless told otherwise; a v1 (hybrid) host needs it.
CGROUP_V1_KUBELET_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"


def apiserver_args_patch(args: tuple[str, ...]) -> str:
    """A kubeadm ``ClusterConfiguration`` patch giving kube-apiserver ``args`` (``--name=value`` each).

    kubeadm v1beta4 (what kind uses for Kubernetes >= 1.31) lists extraArgs as
    name/value pairs; kind merges the patch into its own ClusterConfiguration.
    """
    pairs = []
    for arg in args:
        name, sep, value = arg.removeprefix("--").partition("=")
        if not sep or not name:
            raise ValueError(f"apiserver argument {arg!r} must look like --name=value")
        pairs.append({"name": name, "value": value})
    return yaml.safe_dump({"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
                           "apiServer": {"extraArgs": pairs}}, sort_keys=False)


def cluster_config(topology: KindTopology, cgroup_v1: bool = False, own_pod_network: bool = False,
                   apiserver_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """The kind ``Cluster`` object for ``topology``.

    ``cgroup_v1``: the host is cgroup v1 (the node containers share its
    hierarchy), so every kubelet gets ``failCgroupV1: false``.
    ``own_pod_network``: the node image brings its own pod network (the
    offline image, ``clusters.kind.node_files``), so kind must not install
    kindnetd, whose image that node does not have.
    ``apiserver_args``: extra kube-apiserver flags (the suite's broken variants).
    """
    config: dict[str, Any] = {
        "apiVersion": KIND_API_VERSION,
        "kind": "Cluster",
        "name": topology.name,
    }
    if own_pod_network:
        config["networking"] = {"disableDefaultCNI": True}
    patches = ([CGROUP_V1_KUBELET_PATCH] if cgroup_v1 else []) + (
        [apiserver_args_patch(apiserver_args)] if apiserver_args else [])
    if patches:
        config["kubeadmConfigPatches"] = patches
    config["nodes"] = [node_config(node, topology.image) for node in topology.nodes]
    return config


def cluster_config_yaml(topology: KindTopology, cgroup_v1: bool = False, own_pod_network: bool = False,
                        apiserver_args: tuple[str, ...] = ()) -> str:
    """``cluster_config`` as the YAML text ``kind create cluster --config`` reads."""
    return yaml.dump(cluster_config(topology, cgroup_v1, own_pod_network, apiserver_args), Dumper=_BlockDumper,
                     sort_keys=False)


def node_config(node: KindNode, image: str) -> dict[str, Any]:
    config: dict[str, Any] = {"role": node.role, "image": image}
    if node.labels:
        config["labels"] = dict(node.labels)
    if node.taints:
        config["kubeadmConfigPatches"] = [taints_patch(node)]
    return config


def taints_patch(node: KindNode) -> str:
    """A kubeadm merge patch registering ``node`` with its taints.

    No ``apiVersion``: kind then applies it to whichever kubeadm API version
    the node image uses (v1beta3 or v1beta4, same field names).
    """
    kind = "InitConfiguration" if node.role == "control-plane" else "JoinConfiguration"
    taints = [{"key": t.key, **({"value": t.value} if t.value else {}), "effect": t.effect} for t in node.taints]
    return yaml.safe_dump({"kind": kind, "nodeRegistration": {"taints": taints}}, sort_keys=False)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the embedded kubeadm patches) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _represent_str)
