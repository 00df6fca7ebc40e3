"""Where each file of a local cluster lives on disk: paths only, no I/O.

Everything a cluster writes sits under one state folder per cluster name, so
`down` can remove it whole; the few things that must live elsewhere (cgroup
roots, network bridges, shim sockets under /run/containerd) are named here
too, so creation and removal read from the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_ROOT = Path("/var/lib/rcc-local")


@dataclass(frozen=True)
class NodeLayout:
    name: str
    root: Path
    index: int
    cluster: str

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def containerd_endpoint(self) -> str:
        return f"unix://{self.containerd_socket}"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet.conf"

    @property
    def pod_logs(self) -> Path:
        """The kubelet's podLogsDir. Not the shared /var/log/pods: every kubelet's garbage collector
        deletes the log folders of Pods it does not know, i.e. those of every other node."""
        return self.root / "pod-logs"

    @property
    def resolv_conf(self) -> Path:
        """An empty resolver file: Pods get no nameserver, so they send no DNS traffic off the host."""
        return self.root / "resolv.conf"

    @property
    def crictl_config(self) -> Path:
        return self.root / "crictl.yaml"

    @property
    def bridge(self) -> str:
        """Linux interface names are at most 15 bytes: cluster name (cut) and node index keep them unique."""
        return f"{self.cluster[:9]}-br{self.index}"

    @property
    def cgroup_root(self) -> str:
        """The kubelet's --cgroup-root: every Pod of this node lives below it."""
        return f"/rcc-{self.name}"


@dataclass(frozen=True)
class ClusterLayout:
    name: str
    root: Path

    @classmethod
    def for_cluster(cls, name: str, state_root: Path = DEFAULT_STATE_ROOT) -> "ClusterLayout":
        return cls(name=name, root=state_root / name)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def state_file(self) -> Path:
        """Pids and host changes of the running cluster: what `down` undoes."""
        return self.root / "cluster.json"

    @property
    def kubeconfig(self) -> Path:
        """The cluster's admin kubeconfig, written by `kubeadm init phase kubeconfig super-admin`, which names it."""
        return self.root / "super-admin.conf"

    @property
    def kubeadm_config(self) -> Path:
        """The InitConfiguration and ClusterConfiguration kubeadm makes the PKI from."""
        return self.root / "kubeadm.yaml"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.conf"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def node(self, name: str, index: int) -> NodeLayout:
        return NodeLayout(name=name, root=self.root / "nodes" / name, index=index, cluster=self.name)

    def other_clusters(self) -> list[Path]:
        """State files of other local clusters running beside this one on the same host."""
        return [p / "cluster.json" for p in self.root.parent.glob("*")
                if p != self.root and (p / "cluster.json").exists()]
