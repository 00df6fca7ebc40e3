"""The kind cluster as a ClusterProvider, driven through pytest-kind's ``KindCluster``.

``KindCluster`` runs ``kind create cluster`` (reusing a cluster of the same
name) and ``kind delete cluster``; this module adds what it lacks: the
generated config with per-node labels and taints, per-node handler sets
(``clusters.kind.config`` explains why those are applied after creation), the
test image, and ownership: a cluster that already existed is attached to and
never deleted. Only a ``kind`` already on PATH is used, because
``KindCluster`` would otherwise try to download one from GitHub.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from pytest_kind import KindCluster

from clusters.kind.config import cluster_config_yaml
from clusters.kind.containerd import handler_additions
from clusters.kind.evidence import CONTAINERD_CONFIG, KindEvidence
from clusters.kind.nodes import NodeShell, engine_for, require_engine
from clusters.kind.topology import DEFAULT_TOPOLOGY, KindNode, load_topology
from clusters.local.errors import ClusterError
from clusters.local.images import build_test_image

Progress = Callable[[str], None]


class KindProvider:
    """A kind cluster from a topology file; ``keep`` leaves a cluster it created running."""

    name = "kind"

    def __init__(self, topology: Path = DEFAULT_TOPOLOGY, keep: bool = False, progress: Progress = print) -> None:
        self.topology = load_topology(topology)
        self.keep = keep
        self.progress = progress
        self.shell = NodeShell(engine_for(os.environ))
        self._cluster: KindCluster | None = None
        self._created = False
        self._ready = False

    @property
    def declared_handlers(self) -> list[str]:
        """Handlers the topology configures somewhere: known before the cluster is up."""
        return sorted({h for n in self.topology.nodes for h in n.handlers})

    def create(self) -> Path:
        if self._cluster is not None and self._ready:
            return self._cluster.kubeconfig_path
        require_engine(self.shell.engine)
        kind = _kind_binary()
        name = self.topology.name
        existed = name in _run(kind, "get", "clusters").split()
        cluster = KindCluster(name, kind_path=kind)
        if existed:
            self.progress(f"kind cluster {name} exists: attaching to it, it will not be deleted")
            _run(kind, "export", "kubeconfig", "--name", name, "--kubeconfig", str(cluster.kubeconfig_path))
        with tempfile.TemporaryDirectory(prefix="rcc-kind-") as tmp:
            config = Path(tmp) / "kind-config.yaml"
            config.write_text(cluster_config_yaml(self.topology))
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
        kind = shutil.which("kind")
        if kind is None:
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


def _kind_binary() -> Path:
    kind = shutil.which("kind")
    if kind is None:
        raise ClusterError("kind is not on PATH: install it (go install sigs.k8s.io/kind@v0.33.0) and retry")
    return Path(kind)


def _run(kind: Path, *args: str) -> str:
    result = subprocess.run([str(kind), *args], capture_output=True, text=True)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
        raise ClusterError(f"kind {' '.join(args[:2])} failed: {reason}")
    return result.stdout
