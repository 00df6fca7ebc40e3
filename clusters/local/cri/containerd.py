"""containerd as a local node's CRI: its own socket, root, state, config v3 and CNI folder.

Every path lives under the node's folder, so several containerds run side by side on one host
without touching /etc/containerd or /var/lib/containerd.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import tomli_w

from clusters.local import config, processes
from clusters.toolbox import host, images
from clusters.toolbox.binaries import Binaries, GoComponent
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import NodeLayout
from clusters.toolbox.runtimes import runtime_for
from clusters.local.topology import NodeSpec, Topology

CRI_RUNTIME_PLUGIN = "io.containerd.cri.v1.runtime"
CRI_IMAGES_PLUGIN = "io.containerd.cri.v1.images"
CRI_SERVER_PLUGIN = "io.containerd.grpc.v1.cri"

# Snapshotters and plugins that need kernel features or global paths this host
# does not offer; disabling them keeps several containerds from colliding.
DISABLED_CONTAINERD_PLUGINS = [
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.blockfile",
    "io.containerd.snapshotter.v1.erofs",
    "io.containerd.nri.v1.nri",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
]


class ContainerdCRI:
    kind = "containerd"

    def __init__(self, spec: NodeSpec, layout: NodeLayout, topology: Topology) -> None:
        self.spec = spec
        self.layout = layout
        self.topology = topology

    @property
    def socket(self) -> Path:
        return self.layout.containerd_socket

    @property
    def endpoint(self) -> str:
        return self.layout.containerd_endpoint

    @property
    def config_file(self) -> Path:
        return self.layout.containerd_config

    def components(self) -> tuple[GoComponent, ...]:
        return ()  # containerd itself is one of the cluster's support components

    def write_config(self, binaries: Binaries, runtime_paths: dict[str, Path]) -> None:
        for folder in (self.layout.cni_conf_dir, self.layout.cni_ipam_dir, self.layout.containerd_root,
                       self.layout.containerd_state):
            folder.mkdir(parents=True, exist_ok=True)
        tables = {h.name: runtime_for(self.topology.runtimes[h.runtime]).containerd_table(runtime_paths[h.runtime])
                  for h in self.spec.handlers}
        self.config_file.write_text(tomli_w.dumps(containerd_config(
            self.spec, self.layout, tables, binaries.cni_dir, images.PAUSE_IMAGE,
            restrict_oom_score_adj=not host.has_capability(host.CAP_SYS_RESOURCE))))
        (self.layout.cni_conf_dir / "10-rcc.conflist").write_text(
            json.dumps(config.cni_config(self.spec, self.layout), indent=2))

    def command(self, binaries: Binaries) -> tuple[list[str], dict[str, str]]:
        # containerd finds its shims (containerd-shim-runc-v1, -runsc-v1, …) by name on PATH.
        return [str(binaries["containerd"]), "--config", str(self.config_file)], {"PATH": binaries.search_path}

    def ready(self, binaries: Binaries) -> bool:
        if not self.socket.exists():
            return False
        self._ctr(binaries, "version")
        return True

    def import_images(self, binaries: Binaries, archives: list[Path]) -> None:
        for archive in archives:
            self._ctr(binaries, "images", "import", "--local", str(archive))

    def runtime_tables(self) -> list[str]:
        parsed = tomllib.loads(self.config_file.read_text())
        return sorted(parsed["plugins"][CRI_RUNTIME_PLUGIN]["containerd"]["runtimes"])

    def sandbox_handler(self, inspectp: dict) -> tuple[str, str]:
        return inspectp.get("status", {}).get("runtimeHandler", ""), "status.runtimeHandler"

    def cleanup(self) -> None:
        processes.kill_matching(str(self.socket))  # shims outlive a stopped containerd

    def _ctr(self, binaries: Binaries, *args: str) -> str:
        result = subprocess.run([str(binaries["ctr"]), "--address", str(self.socket), "-n", "k8s.io", *args],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ClusterError(f"ctr {' '.join(args[:2])} on {self.spec.name} failed: {result.stderr.strip()[:300]}")
        return result.stdout


def containerd_config(node: NodeSpec, layout: NodeLayout, runtime_tables: dict[str, dict],
                      cni_bin_dir: Path, pause_image: str, restrict_oom_score_adj: bool = False) -> dict:
    """containerd config v3 whose runtime table holds exactly this node's handlers (RC-CRI-1).

    `restrict_oom_score_adj` is for hosts without CAP_SYS_RESOURCE, where the negative scores
    the kubelet asks for (pause: -998) cannot be written and every sandbox would fail.
    """
    return {
        "version": 3,
        "root": str(layout.containerd_root),
        "state": str(layout.containerd_state),
        "disabled_plugins": DISABLED_CONTAINERD_PLUGINS,
        "grpc": {"address": str(layout.containerd_socket)},
        "plugins": {
            CRI_RUNTIME_PLUGIN: {
                "enable_selinux": False,
                "restrict_oom_score_adj": restrict_oom_score_adj,
                "netns_mounts_under_state_dir": True,
                "containerd": {"default_runtime_name": node.default_handler.name, "runtimes": runtime_tables},
                "cni": {"bin_dirs": [str(cni_bin_dir)], "conf_dir": str(layout.cni_conf_dir), "max_conf_num": 1},
            },
            CRI_IMAGES_PLUGIN: {"pinned_images": {"sandbox": pause_image}},
            CRI_SERVER_PLUGIN: {"stream_server_address": node.address, "stream_server_port": "0"},
        },
    }
