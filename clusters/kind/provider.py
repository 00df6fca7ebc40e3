"""The kind cluster as a ClusterProvider, driven through pytest-kind's ``KindCluster``.

``KindCluster`` runs ``kind create cluster`` (reusing a cluster of the same
name) and ``kind delete cluster``; this module adds what it lacks: the
generated config with per-node labels and taints, per-node handler sets
(``clusters.kind.config`` explains why those are applied after creation), the
test image, and ownership: a cluster that already existed is attached to and
never deleted. ``kind`` is the one on PATH or one built from the Go module
proxy (``KindCluster`` would otherwise try to download one from GitHub).

Where the topology names the offline node image, it is built first (cached,
``clusters.kind.node_image``); the engine is the caller's own, or the
project's dockerd (``clusters.kind.engine``), whose ``DOCKER_HOST`` is then
set for this process so kind, pytest-kind and ``docker exec`` all reach it.
After creation the provider waits for every node and CoreDNS to be Ready, and
takes CoreDNS's ``forward`` out of its Corefile: a lookup that the cluster
cannot answer fails inside the cluster instead of leaving the machine.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pytest_kind import KindCluster

from clusters.kind import cluster_ready, engine, node_image
from clusters.kind.config import cluster_config_yaml
from clusters.kind.containerd import handler_additions
from clusters.kind.evidence import CONTAINERD_CONFIG, KindEvidence
from clusters.kind.nodes import NodeShell, engine_for, require_engine
from clusters.kind.topology import DEFAULT_TOPOLOGY, KindNode, load_topology
from clusters.toolbox import platform_classes
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.images import build_test_image

Progress = Callable[[str], None]


class KindProvider:
    """A kind cluster from a topology file; ``keep`` leaves a cluster it created running."""

    name = "kind"

    def __init__(self, topology: Path = DEFAULT_TOPOLOGY, keep: bool = False, progress: Progress = print,
                 apiserver_extra_args: tuple[str, ...] = ()) -> None:
        self.topology = load_topology(topology)
        self.keep = keep
        self.apiserver_extra_args = tuple(apiserver_extra_args)
        self.progress = progress
        self.shell = NodeShell(engine_for(os.environ))
        self._cluster: KindCluster | None = None
        self._created = False
        self._ready = False

    @property
    def declared_handlers(self) -> list[str]:
        """Handlers the topology configures somewhere: known before the cluster is up."""
        return sorted({h for n in self.topology.nodes for h in n.handlers})

    def declared_isolation(self) -> dict[str, dict[str, tuple[str, str]]]:
        """handler -> node -> (isolation class, runtime) the built node image promises (RC-USE-8).

        The project's image runs runc and crun for real, and every other listed handler as a copy
        of runc; an upstream image's handlers are not known here, so nothing is declared for it
        and the report only records what each handler gave.
        """
        if not node_image.is_built_image(self.topology.image):
            return {}
        declared: dict[str, dict[str, tuple[str, str]]] = {}
        for node in self.topology.nodes:
            for handler in {"runc", "crun", *node.handlers}:
                runtime = handler if handler in ("runc", "crun") else "runc"
                declared.setdefault(handler, {})[node.name] = ("shared-kernel", runtime)
        return declared

    def create(self) -> Path:
        if self._cluster is not None and self._ready:
            return self._cluster.kubeconfig_path
        if self.shell.engine == "docker":
            _use_engine_environment()
        require_engine(self.shell.engine)
        kind = node_image.ensure_kind(self.progress)
        built_image = node_image.is_built_image(self.topology.image)
        if built_image:
            node_image.ensure_node_image(progress=self.progress)
        name = self.topology.name
        existed = name in _run(kind, "get", "clusters").split()
        cluster = KindCluster(name, kind_path=kind)
        if existed:
            self.progress(f"kind cluster {name} exists: attaching to it, it will not be deleted")
            _run(kind, "export", "kubeconfig", "--name", name, "--kubeconfig", str(cluster.kubeconfig_path))
        with tempfile.TemporaryDirectory(prefix="rcc-kind-") as tmp:
            config = Path(tmp) / "kind-config.yaml"
            try:
                config.write_text(cluster_config_yaml(self.topology, cgroup_v1=_host_cgroup_v1(),
                                                      own_pod_network=built_image,
                                                      apiserver_args=self.apiserver_extra_args))
            except ValueError as exc:
                raise ClusterError(str(exc)) from None
            try:
                cluster.create(config_file=config)
            except subprocess.CalledProcessError as exc:
                raise ClusterError(f"kind create cluster --name {name} failed (exit {exc.returncode}); "
                                   "its output above says why") from None
            # Ownership is settled before the remaining steps, so a failure in them
            # still lets destroy() remove a cluster this provider made.
            self._cluster, self._created = cluster, self._created or not existed
            for node in self.topology.nodes:
                self._add_missing_handlers(node)
            self._load_test_image(kind, Path(tmp))
            cluster_ready.wait_until_ready(
                self.shell, next(n.name for n in self.topology.nodes if n.role == "control-plane"), self.progress,
                handlers={n.name: n.handlers for n in self.topology.nodes})
            if not existed:  # a cluster the user already had is never touched
                platform_classes.sync(cluster.kubeconfig_path, name, self.topology.runtime_classes, self.progress)
        self._ready = True
        return cluster.kubeconfig_path

    def destroy(self) -> None:
        if self._cluster is None or not self._created or self.keep:
            return
        try:
            self._cluster.delete()
        except subprocess.CalledProcessError as exc:
            raise ClusterError(f"kind delete cluster --name {self.topology.name} failed "
                               f"(exit {exc.returncode})") from None
        self._cluster, self._created, self._ready = None, False, False

    def evidence(self) -> KindEvidence:
        return KindEvidence(self.shell)

    def export_logs(self, destination: Path) -> None:
        """``kind export logs``: every node's journal, containerd and kubelet logs, pod logs."""
        try:
            kind = str(node_image.ensure_kind(self.progress))
        except ClusterError:
            return
        destination.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([kind, "export", "logs", str(destination), "--name", self.topology.name],
                           capture_output=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def _add_missing_handlers(self, node: KindNode) -> None:
        """Give ``node`` the handlers its image lacks, then restart its containerd once."""
        current = self.shell.read(node.name, CONTAINERD_CONFIG)
        if current is None:
            raise ClusterError(f"cannot read {CONTAINERD_CONFIG} on kind node {node.name}")
        try:
            addition = handler_additions(current, node.handlers)
        except ValueError as exc:
            raise ClusterError(f"cannot add handlers to {CONTAINERD_CONFIG} on {node.name}: {exc}") from None
        if addition:
            self.progress(f"adding handlers to {node.name}; restarting its containerd")
            self.shell.write(node.name, CONTAINERD_CONFIG, current + "\n" + addition)
            self.shell.restart_containerd(node.name)

    def _load_test_image(self, kind: Path, workdir: Path) -> None:
        try:
            archive = build_test_image(workdir)
        except FileNotFoundError as exc:
            raise ClusterError(f"cannot build the test image: {exc}") from None
        _run(kind, "load", "image-archive", str(archive), "--name", self.topology.name)


def _use_engine_environment() -> None:
    """Point this process (and so kind, pytest-kind and ``docker exec``) at the engine that answers."""
    env = engine.docker_env()
    if env.get("DOCKER_HOST") and env["DOCKER_HOST"] != os.environ.get("DOCKER_HOST"):
        os.environ["DOCKER_HOST"] = env["DOCKER_HOST"]


def _host_cgroup_v1() -> bool:
    """Node containers share the host's cgroup version; v1 (hybrid too) has no cgroup.controllers at the root."""
    return not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def _run(kind: Path, *args: str) -> str:
    result = subprocess.run([str(kind), *args], capture_output=True, text=True)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise ClusterError(f"kind {' '.join(args[:2])} failed: {reason}")
    return result.stdout
