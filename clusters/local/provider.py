"""The local cluster as a ClusterProvider, with node evidence read straight from the host.

On this provider every node is a folder and a pair of processes on this host,
so evidence needs no helper Pod: crictl talks to the node's containerd, the
Pod cgroup is a directory under the node's cgroup root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from clusters.local.cluster import LocalCluster, Progress
from clusters.toolbox.host import CGROUP_V1
from clusters.local.layout import DEFAULT_STATE_ROOT
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
from clusters import pod_processes, procfs
from clusters.provider import RuntimeSighting, SandboxInfo

_CGROUP_CONTROLLER = {"memory": "memory", "cpu": "cpu", "pids": "pids", "cpuset": "cpuset", "hugetlb": "hugetlb"}


class LocalEvidence:
    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def sandbox(self, node: str, namespace: str, pod: str, pod_uid: str) -> SandboxInfo | None:
        listing = self.cluster.crictl(node, "pods", "--namespace", namespace, "--name", pod, "-o", "json")
        if listing.returncode != 0:
            return None
        matches = [s for s in json.loads(listing.stdout).get("items", [])
                   if s.get("metadata", {}).get("uid") == pod_uid]
        if not matches:
            return None
        inspected = self.cluster.crictl(node, "inspectp", "-o", "json", matches[0]["id"])
        if inspected.returncode != 0:
            return None
        raw = json.loads(inspected.stdout)
        handler, source = self.cluster.cri(node).sandbox_handler(raw)
        return SandboxInfo(sandbox_id=matches[0]["id"], runtime_handler=handler, raw=raw, handler_source=source)

    def pod_cgroup_value(self, node: str, pod_uid: str, qos: str, knob: str) -> str | None:
        """cgroup v1 with the cgroupfs driver: ROOT/kubepods[/burstable|/besteffort]/pod<UID>/<knob>."""
        controller = _CGROUP_CONTROLLER[knob.split(".", 1)[0]]
        qos_dir = "" if qos.lower() == "guaranteed" else qos.lower()
        root = self.cluster.node_layout(node).cgroup_root.lstrip("/")
        path = CGROUP_V1 / controller / root / "kubepods" / qos_dir / f"pod{pod_uid}" / knob
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def cri_runtime_tables(self, node: str) -> list[str] | None:
        return self.cluster.cri(node).runtime_tables()

    def cri_reports_handlers(self, node: str) -> bool | None:
        return self.cluster.cri_lists_handlers(node)

    def pod_processes(self, node: str, pod_uid: str, sandbox_id: str,
                      container_ids: list[str]) -> pod_processes.PodProcesses:
        """Every node is this host: its /proc and /sys/fs/cgroup, seeded with the pids the node's CRI reports."""
        run = lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=60)  # noqa: E731
        pids = pod_processes.cri_pids_from_crictl(lambda *args: self.cluster.crictl(node, *args), sandbox_id,
                                                  container_ids)
        return pod_processes.pod_processes(run, node, str(CGROUP_V1), pod_uid, [sandbox_id, *container_ids], pids)

    def runtime_of(self, node: str, sandbox_id: str) -> RuntimeSighting | None:
        """Every node is this host: its /proc shows the sandbox's shim and runtime (clusters/procfs.py).

        CRI-O runs no infra container by default (drop_infra_ctr), so no process names the sandbox
        itself: there the Pod's containers, each under its own conmon, name the runtime.
        """
        run = lambda argv: subprocess.run(argv, capture_output=True, text=True, timeout=60)  # noqa: E731
        sighting = procfs.sighting_on(run, sandbox_id)
        if sighting is not None and sighting.runtime != "unknown":
            return sighting
        listing = self.cluster.crictl(node, "ps", "-q", "--pod", sandbox_id)
        for container in listing.stdout.split() if listing.returncode == 0 else []:
            found = procfs.sighting_on(run, container)
            if found is not None and found.runtime != "unknown":
                return RuntimeSighting(found.runtime, found.isolation,
                                       f"container {container[:13]} of sandbox {sandbox_id[:13]}: {found.evidence}")
        return sighting


class LocalProvider:
    """Brings up the embedded cluster; `keep` leaves it running for the next session to reuse."""

    name = "local"

    def __init__(self, topology: Path = DEFAULT_TOPOLOGY, keep: bool = False,
                 apiserver_extra_args: tuple[str, ...] = (), state_root: Path = DEFAULT_STATE_ROOT,
                 progress: Progress = print) -> None:
        self.topology = load_topology(topology)
        self.keep = keep
        self.cluster = LocalCluster(self.topology, state_root=state_root,
                                    apiserver_extra_args=apiserver_extra_args, progress=progress)

    @property
    def declared_handlers(self) -> list[str]:
        """Handlers the topology configures somewhere: known before the cluster is up."""
        return sorted({h for n in self.topology.nodes for h in n.promised_handlers})

    def declared_node_handlers(self) -> dict[str, tuple[str, ...]]:
        """node -> the handlers the topology promises it, `configured: false` ones included.

        The promise, not the config: on a node that reports no handlers, a promised handler its CRI
        lacks then gets its Pods placed there and fails (RC-CRI-1), as on a node that reports.
        """
        return {n.name: n.promised_handlers for n in self.topology.nodes}

    def declared_isolation(self) -> dict[str, dict[str, tuple[str, str]]]:
        """handler -> node -> (isolation class, runtime type) the topology promises (RC-USE-8)."""
        declared: dict[str, dict[str, tuple[str, str]]] = {}
        for node in self.topology.nodes:
            for handler in node.handlers:
                runtime = self.topology.runtimes[handler.runtime]
                declared.setdefault(handler.name, {})[node.name] = (runtime.isolation, runtime.type)
        return declared

    def create(self) -> Path:
        return self.cluster.up()

    def destroy(self) -> None:
        if not self.keep:
            self.cluster.down()

    def evidence(self) -> LocalEvidence:
        return LocalEvidence(self.cluster)

    def export_logs(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        for name, path in self.cluster.log_paths().items():
            if path.exists():
                shutil.copyfile(path, destination / f"{name}.log")
