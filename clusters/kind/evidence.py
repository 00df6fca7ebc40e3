"""Node evidence on kind: the CRI's and the kernel's view of a Pod, read inside the node container.

Paths follow what kind configures: the kubelet runs with the systemd cgroup
driver (every Kubernetes >= 1.24 image) and ``cgroupRoot: /kubelet``, so a
Pod's cgroup is the systemd slice
``kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-<qos>.slice/kubelet-kubepods-<qos>-pod<uid>.slice``
(Guaranteed Pods sit directly under ``kubelet-kubepods.slice``), with the
UID's dashes turned into underscores because a dash separates slice levels.

Callers name cgroup files in cgroup v1 terms (``memory.limit_in_bytes``,
``cpu.cfs_quota_us``). A node container sees its host's cgroup version: on a
cgroup v1 (hybrid) host such as this project's machine, each controller is a
hierarchy of its own (``/sys/fs/cgroup/memory/kubelet.slice/...``, the node's
part of it through a private cgroup namespace, kind's entrypoint binding the
``kubelet`` roots), so the knob is read under its controller. On a cgroup v2
host the knobs are read from their v2 files and given back in the v1 form.
Which one applies is probed once per node (``/sys/fs/cgroup/cgroup.controllers``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from clusters.kind.containerd import runtime_tables
from clusters.kind.nodes import NodeShell
from clusters import pod_processes, procfs
from clusters.provider import RuntimeSighting, SandboxInfo

CGROUP_ROOT = PurePosixPath("/sys/fs/cgroup")
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
QOS_CLASSES = ("guaranteed", "burstable", "besteffort")

# What cgroup v1's memory.limit_in_bytes shows for "no limit" (LONG_MAX rounded down to a page).
V1_NO_MEMORY_LIMIT = str(0x7FFFFFFFFFFFF000)


def pod_cgroup_path(pod_uid: str, qos: str, knob: str, cgroup_v2: bool = True) -> PurePosixPath:
    """Where the kubelet (systemd driver, cgroup root /kubelet) puts a Pod's cgroup file ``knob``.

    On cgroup v1 the hierarchy sits under the knob's controller
    (``memory.limit_in_bytes`` -> ``/sys/fs/cgroup/memory/...``).
    """
    qos_class = qos.lower()
    if qos_class not in QOS_CLASSES:
        raise ValueError(f"QoS class {qos!r} must be one of {', '.join(QOS_CLASSES)}")
    levels = ["kubelet", "kubepods"] + ([] if qos_class == "guaranteed" else [qos_class])
    levels.append("pod" + pod_uid.replace("-", "_"))
    slices = ["-".join(levels[:depth]) + ".slice" for depth in range(1, len(levels) + 1)]
    root = CGROUP_ROOT if cgroup_v2 else CGROUP_ROOT / knob.split(".", 1)[0]
    return root.joinpath(*slices, knob)


def v2_translation(knob: str) -> tuple[str, Callable[[str], str]]:
    """The cgroup v2 file holding a v1 knob's value, and how to turn that file's text into the v1 form."""
    match knob:
        case "memory.limit_in_bytes":
            return "memory.max", lambda text: V1_NO_MEMORY_LIMIT if text == "max" else text
        case "cpu.cfs_quota_us":
            return "cpu.max", lambda text: "-1" if text.split()[0] == "max" else text.split()[0]
        case "cpu.cfs_period_us":
            return "cpu.max", lambda text: text.split()[1]
        case _:
            return knob, lambda text: text


def find_sandbox_id(listing: dict[str, Any], pod_uid: str) -> str | None:
    """The sandbox of the Pod with ``pod_uid`` in ``crictl pods -o json`` output."""
    return next((item["id"] for item in listing.get("items", [])
                 if item.get("metadata", {}).get("uid") == pod_uid), None)


class KindEvidence:
    """NodeEvidence for kind nodes; ``node`` is both the Node name and its container's name."""

    def __init__(self, shell: NodeShell) -> None:
        self.shell = shell
        self._cgroup_v2: dict[str, bool] = {}

    def sandbox(self, node: str, namespace: str, pod: str, pod_uid: str) -> SandboxInfo | None:
        listing = self.shell.run(node, "crictl", "pods", "--namespace", namespace, "--name", pod, "-o", "json")
        if listing.returncode != 0:
            return None
        sandbox_id = find_sandbox_id(json.loads(listing.stdout), pod_uid)
        if sandbox_id is None:
            return None
        inspected = self.shell.run(node, "crictl", "inspectp", "-o", "json", sandbox_id)
        if inspected.returncode != 0:
            return None
        raw = json.loads(inspected.stdout)
        return SandboxInfo(sandbox_id=sandbox_id, runtime_handler=raw.get("status", {}).get("runtimeHandler", ""),
                           raw=raw)

    def pod_cgroup_value(self, node: str, pod_uid: str, qos: str, knob: str) -> str | None:
        """The knob's value in cgroup v1 form, read from its v2 file on a cgroup v2 node."""
        cgroup_v2 = self._is_cgroup_v2(node)
        file, to_v1 = v2_translation(knob) if cgroup_v2 else (knob, lambda text: text)
        text = self.shell.read(node, str(pod_cgroup_path(pod_uid, qos, file, cgroup_v2=cgroup_v2)))
        return to_v1(text.strip()) if text is not None else None

    def cri_runtime_tables(self, node: str) -> list[str] | None:
        text = self.shell.read(node, CONTAINERD_CONFIG)
        if text is None:
            return None
        return sorted(runtime_tables(tomllib.loads(text)))

    def runtime_of(self, node: str, sandbox_id: str) -> RuntimeSighting | None:
        """The node container's /proc is the node's: the same script as on the local host (clusters/procfs.py)."""
        return procfs.sighting_on(lambda argv: self.shell.run(node, *argv), sandbox_id)

    def pod_processes(self, node: str, pod_uid: str, sandbox_id: str,
                      container_ids: list[str]) -> pod_processes.PodProcesses:
        """The node container's /proc and /sys/fs/cgroup (its own cgroup namespace: paths agree), crictl's pids."""
        run = lambda argv: self.shell.run(node, *argv)  # noqa: E731
        pids = pod_processes.cri_pids_from_crictl(lambda *args: self.shell.run(node, "crictl", *args), sandbox_id,
                                                  container_ids)
        return pod_processes.pod_processes(run, node, str(CGROUP_ROOT), pod_uid, [sandbox_id, *container_ids], pids)

    def _is_cgroup_v2(self, node: str) -> bool:
        if node not in self._cgroup_v2:
            probe = self.shell.run(node, "test", "-e", str(CGROUP_ROOT / "cgroup.controllers"))
            self._cgroup_v2[node] = probe.returncode == 0
        return self._cgroup_v2[node]
