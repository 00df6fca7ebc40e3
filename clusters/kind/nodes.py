"""Commands inside kind node containers, through the container engine's CLI.

A kind node is a container named after the Kubernetes Node, so ``docker exec
NODE ...`` is a shell on that node: it reaches the node's containerd, crictl
and cgroup files with no helper Pod. Podman and nerdctl take the same
arguments; kind picks one through ``KIND_EXPERIMENTAL_PROVIDER`` and so do we,
so evidence is read from the engine that holds the nodes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass

from clusters.toolbox.errors import ClusterError

_EXPERIMENTAL_ENGINES = ("podman", "nerdctl")


def engine_for(environ: Mapping[str, str]) -> str:
    """The engine CLI kind will use: ``KIND_EXPERIMENTAL_PROVIDER`` when it names one, else docker."""
    chosen = environ.get("KIND_EXPERIMENTAL_PROVIDER", "")
    return chosen if chosen in _EXPERIMENTAL_ENGINES else "docker"


def require_engine(engine: str) -> None:
    """Fail with one line unless the engine's daemon answers: kind can do nothing without it."""
    try:
        reachable = subprocess.run([engine, "info"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        reachable = False
    if not reachable:
        raise ClusterError(
            f"kind needs a running Docker (or podman) engine and none is reachable ({engine} info failed); "
            "on this machine use --cluster local, or --cluster existing with --kubeconfig")


@dataclass(frozen=True)
class NodeShell:
    """Runs commands in node containers; every call returns the finished process, never raises on exit codes."""

    engine: str

    def run(self, node: str, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        interactive = ["-i"] if stdin is not None else []
        return subprocess.run([self.engine, "exec", *interactive, node, *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout)

    def read(self, node: str, path: str) -> str | None:
        """A file's text on the node, or None when it cannot be read."""
        result = self.run(node, "cat", path)
        return result.stdout if result.returncode == 0 else None

    def write(self, node: str, path: str, text: str) -> None:
        """Replace a file on the node (as kind does: ``cp /dev/stdin PATH`` keeps its owner and mode)."""
        result = self.run(node, "cp", "/dev/stdin", path, stdin=text)
        if result.returncode != 0:
            raise ClusterError(f"writing {path} on {node} failed: {result.stderr.strip()[:300]}")

    def restart_containerd(self, node: str, timeout: float = 60) -> None:
        """Restart the node's containerd and wait until its CRI answers again."""
        result = self.run(node, "systemctl", "restart", "containerd")
        if result.returncode != 0:
            raise ClusterError(f"restarting containerd on {node} failed: {result.stderr.strip()[:300]}")
        deadline = time.monotonic() + timeout
        while self.run(node, "crictl", "info").returncode != 0:
            if time.monotonic() >= deadline:
                raise ClusterError(f"containerd on {node} did not answer crictl within {timeout:.0f}s of a restart")
            time.sleep(1)
