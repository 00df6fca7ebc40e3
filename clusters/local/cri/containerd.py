"""containerd as a local node's CRI: its own socket, root, state, config and CNI folder.

Every path lives under the node's folder, so several containerds run side by side on one host
without touching /etc/containerd or /var/lib/containerd. The config is written in the schema of
the release the node runs (`criVersion:`): version 2 for containerd 1.7, whose CRI plugin is one
table `io.containerd.grpc.v1.cri`; version 3 for 2.x, which split it into runtime and images
plugins. A 2.x table in a 1.7 config would be silently ignored (and the reverse), so the
schema follows the version, never a default.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import tomli_w

from clusters.local import config, processes
from clusters.toolbox import host, images
from clusters.toolbox.binaries import CONTAINERD_VERSION, Binaries, GoComponent, containerd_component
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import NodeLayout
from clusters.toolbox.runtimes import runtime_for
from clusters.local.topology import NodeSpec, Topology, cri_major_minor

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
# Plugins 1.7 does not have: left out of its list, which names only what that release could load.
NEWER_THAN_1_7 = ("io.containerd.snapshotter.v1.erofs",)


def config_version(containerd_version: str) -> int:
    """The config schema a containerd release reads: 2 up to 1.7, 3 from 2.0 on."""
    return 2 if cri_major_minor(containerd_version)[0] < 2 else 3


def runtimes_table_path(version: int) -> tuple[str, ...]:
    """Where the handlers' runtime tables live in a config of that schema (SPEC RC-CRI-1)."""
    plugin = CRI_SERVER_PLUGIN if version == 2 else CRI_RUNTIME_PLUGIN
    return ("plugins", plugin, "containerd", "runtimes")


class ContainerdCRI:
    kind = "containerd"

    def __init__(self, spec: NodeSpec, layout: NodeLayout, topology: Topology) -> None:
        self.spec = spec
        self.layout = layout
        self.topology = topology
        self.version = spec.cri_version or CONTAINERD_VERSION
        # The default release's binaries keep their plain names; another release's are aliased.
        self._alias = "" if self.version == CONTAINERD_VERSION else f"@{self.version}"

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
        # The default release is one of the cluster's support components; another is built here.
        return (containerd_component(self.version),) if self._alias else ()

    def binary(self, binaries: Binaries, name: str) -> Path:
        """This node's `containerd`, `ctr` or shim: of the release the node runs."""
        return binaries[f"{name}{self._alias}"]

    def write_config(self, binaries: Binaries, runtime_paths: dict[str, Path]) -> None:
        for folder in (self.layout.cni_conf_dir, self.layout.cni_ipam_dir, self.layout.containerd_root,
                       self.layout.containerd_state):
            folder.mkdir(parents=True, exist_ok=True)
        tables = {h.name: runtime_for(self.topology.runtimes[h.runtime]).containerd_table(runtime_paths[h.runtime])
                  for h in self.spec.handlers}
        self.config_file.write_text(tomli_w.dumps(containerd_config(
            self.spec, self.layout, tables, binaries.cni_dir, images.PAUSE_IMAGE,
            restrict_oom_score_adj=not host.has_capability(host.CAP_SYS_RESOURCE),
            version=config_version(self.version))))
        (self.layout.cni_conf_dir / "10-rcc.conflist").write_text(
            json.dumps(config.cni_config(self.spec, self.layout), indent=2))

    def command(self, binaries: Binaries) -> tuple[list[str], dict[str, str]]:
        # containerd finds its shims (containerd-shim-runc-v2, -runsc-v1, …) by name on PATH: its own
        # release's folder first, so a 1.7 containerd runs the 1.7 runc shim beside it.
        containerd = self.binary(binaries, "containerd")
        return [str(containerd), "--config", str(self.config_file)], \
            {"PATH": f"{containerd.parent}:{binaries.search_path}"}

    def ready(self, binaries: Binaries) -> bool:
        if not self.socket.exists():
            return False
        self._ctr(binaries, "version")
        return True

    def import_images(self, binaries: Binaries, archives: list[Path]) -> None:
        for archive in archives:
            self._ctr(binaries, "images", "import", "--local", str(archive))

    def runtime_tables(self) -> list[str]:
        return config_runtime_tables(tomllib.loads(self.config_file.read_text()))

    def sandbox_handler(self, inspectp: dict) -> tuple[str, str]:
        return inspectp.get("status", {}).get("runtimeHandler", ""), "status.runtimeHandler"

    def cleanup(self) -> None:
        processes.kill_matching(str(self.socket))  # shims outlive a stopped containerd

    def _ctr(self, binaries: Binaries, *args: str) -> str:
        result = subprocess.run([str(self.binary(binaries, "ctr")), "--address", str(self.socket), "-n", "k8s.io", *args],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise ClusterError(f"ctr {' '.join(args[:2])} on {self.spec.name} failed: {result.stderr.strip()[:300]}")
        return result.stdout


def config_runtime_tables(parsed: dict) -> list[str]:
    """The handler names a parsed containerd config holds, read where its own `version` puts them.

    A config whose tables sit where its schema does not look holds no handler for containerd:
    this reads only the place containerd reads, so such a config shows none.
    """
    table: object = parsed
    for key in runtimes_table_path(int(parsed.get("version", 1))):
        table = table.get(key, {}) if isinstance(table, dict) else {}
    return sorted(table) if isinstance(table, dict) else []


def containerd_config(node: NodeSpec, layout: NodeLayout, runtime_tables: dict[str, dict],
                      cni_bin_dir: Path, pause_image: str, restrict_oom_score_adj: bool = False,
                      version: int = 3) -> dict:
    """containerd config (schema `version` 2 or 3) whose runtime table holds exactly this node's handlers (RC-CRI-1).

    `restrict_oom_score_adj` is for hosts without CAP_SYS_RESOURCE, where the negative scores
    the kubelet asks for (pause: -998) cannot be written and every sandbox would fail.
    """
    if version == 2:
        return _config_v2(node, layout, runtime_tables, cni_bin_dir, pause_image, restrict_oom_score_adj)
    if version != 3:
        raise ValueError(f"containerd config version {version} is not one the local cluster writes (2 or 3)")
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


def _config_v2(node: NodeSpec, layout: NodeLayout, runtime_tables: dict[str, dict], cni_bin_dir: Path,
               pause_image: str, restrict_oom_score_adj: bool) -> dict:
    """containerd 1.7's config version 2: one CRI plugin table holds runtimes, images, CNI and streaming.

    The same settings as version 3 under 1.7's names (pkg/cri/config/config.go of v1.7):
    `sandbox_image` instead of pinned_images, CNI `bin_dir` (one folder) instead of `bin_dirs`.
    """
    return {
        "version": 2,
        "root": str(layout.containerd_root),
        "state": str(layout.containerd_state),
        "disabled_plugins": [p for p in DISABLED_CONTAINERD_PLUGINS if p not in NEWER_THAN_1_7],
        "grpc": {"address": str(layout.containerd_socket)},
        "plugins": {
            CRI_SERVER_PLUGIN: {
                "enable_selinux": False,
                "restrict_oom_score_adj": restrict_oom_score_adj,
                "netns_mounts_under_state_dir": True,
                "sandbox_image": pause_image,
                "stream_server_address": node.address,
                "stream_server_port": "0",
                "containerd": {"default_runtime_name": node.default_handler.name, "runtimes": runtime_tables},
                "cni": {"bin_dir": str(cni_bin_dir), "conf_dir": str(layout.cni_conf_dir), "max_conf_num": 1},
            },
        },
    }
