"""CRI-O's configuration for one node: paths, crio.conf and its runtime wrappers, as pure data.

Every path CRI-O would otherwise take from the host (/var/lib/containers, /run/crio,
/etc/containers, /var/run for namespaces, /etc/cdi, hooks.d, NRI's socket) is set to a
folder of the node, so several CRI-O nodes (and containerd nodes) share one host. No I/O
here: the node's CRI (crio.py) writes what these functions return.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clusters.toolbox.binaries import GoComponent
from clusters.toolbox.runtimes.common import bundle_rewriting_front

# The only CRI-O release the Go module proxy serves (v1.34.1+ and v1.35+ are refused).
CRIO_VERSION = "v1.34.0"

CONMON = Path("/usr/bin/conmon")
# CRI-O 1.34 leaves PodSandboxStatus.runtimeHandler empty; the handler it used is this
# annotation of the sandbox's (infra) OCI spec, shown by `crictl inspectp` under info.runtimeSpec.
HANDLER_ANNOTATION = "io.kubernetes.cri-o.RuntimeHandler"
STATUS_SOURCE = "status.runtimeHandler"
ANNOTATION_SOURCE = f"info.runtimeSpec.annotations[{HANDLER_ANNOTATION}]"
# containers/image reads /etc/containers/registries.conf unless told otherwise.
REGISTRIES_ENV = "CONTAINERS_REGISTRIES_CONF"
# Accept any image: nothing is pulled, images are imported from local OCI archives.
POLICY = {"default": [{"type": "insecureAcceptAnything"}]}


def crio_component(version: str = CRIO_VERSION) -> GoComponent:
    """CRI-O and its namespace pinner, built as upstream's `make bin/crio bin/pinns` would.

    The tags are what upstream's hack/*_tag.sh pick on Debian bookworm with libseccomp-dev
    and without btrfs, gpgme, SELinux or AppArmor headers: only libseccomp is linked (cgo).
    pinns is C (upstream: `cc -std=c99 -Os -static pinns/src/*.c`). A node asking for another
    release (`criVersion:`) gets it under aliased names (`crio@v1.35.0`), beside the default.
    """
    crio = "github.com/cri-o/cri-o"
    return GoComponent(
        name="cri-o", module=crio, version=version,
        commands={"crio": f"{crio}/cmd/crio"},
        ldflags=f"-s -w -X {crio}/internal/version.buildDate=1970-01-01T00:00:00Z",
        cgo=True,
        tags="containers_image_ostree_stub,containers_image_openpgp,exclude_graphdriver_btrfs,seccomp",
        c_programs=(("pinns", "pinns/src"),),
        own_sums=True,
        alias="" if version == CRIO_VERSION else f"@{version}",
    )


@dataclass(frozen=True)
class CrioPaths:
    """Where one node's CRI-O keeps everything, under the node's own folder."""

    node_root: Path

    @property
    def root(self) -> Path:
        return self.node_root / "crio"

    @property
    def config(self) -> Path:
        return self.root / "crio.conf"

    @property
    def config_dir(self) -> Path:
        """An empty drop-in folder: without it CRI-O reads the host's /etc/crio/crio.conf.d."""
        return self.root / "crio.conf.d"

    @property
    def socket(self) -> Path:
        # Not ending in run/crio/crio.sock: the kubelet would then take stats from cAdvisor's
        # CRI-O plugin, which looks for CRI-O at /var/run/crio/crio.sock; CRI stats work here.
        return self.root / "crio.sock"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def runroot(self) -> Path:
        return self.root / "run" / "storage"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def policy(self) -> Path:
        return self.root / "policy.json"

    @property
    def registries(self) -> Path:
        return self.root / "registries.conf"

    @property
    def wrappers(self) -> Path:
        return self.root / "runtimes"

    def runtime_root(self, handler: str) -> Path:
        return self.run / "runtimes" / handler

    @property
    def storage_spec(self) -> str:
        """containers-storage transport's `[driver@graphroot+runroot]` prefix (skopeo)."""
        return f"[overlay@{self.storage}+{self.runroot}]"


def crio_config(paths: CrioPaths, handlers: dict[str, dict], default_handler: str, *, stream_address: str,
                pinns: Path, pause_image: str, cni_conf_dir: Path, cni_bin_dir: Path) -> dict:
    """crio.conf whose runtime table holds exactly `handlers` (RC-CRI-1).

    `handlers` maps each handler name to its `[crio.runtime.runtimes.NAME]` table (from the
    runtime module's crio_table); CRI-O runs each through Debian's conmon, in the Pod's cgroup.
    """
    runtimes = {name: {**table, "monitor_path": str(CONMON), "monitor_cgroup": "pod"}
                for name, table in handlers.items()}
    return {
        "crio": {
            "root": str(paths.storage),
            "runroot": str(paths.runroot),
            "storage_driver": "overlay",
            "log_dir": str(paths.root / "pod-logs"),
            "version_file": str(paths.run / "version"),
            "version_file_persist": str(paths.root / "version"),
            "clean_shutdown_file": str(paths.root / "clean.shutdown"),
            "api": {"listen": str(paths.socket), "stream_address": stream_address, "stream_port": "0"},
            "runtime": {
                "default_runtime": default_handler,
                "cgroup_manager": "cgroupfs",  # as the kubelets of this project (no systemd here)
                "conmon_cgroup": "pod",
                "selinux": False,
                "apparmor_profile": "",
                "seccomp_profile": "",
                "hooks_dir": [],
                "cdi_spec_dirs": [],
                "irqbalance_config_file": "",
                "irqbalance_config_restore_file": "disable",
                "decryption_keys_path": str(paths.root / "keys"),
                "container_exits_dir": str(paths.run / "exits"),
                "container_attach_socket_dir": str(paths.run),
                "namespaces_dir": str(paths.run / "ns"),
                "pinns_path": str(pinns),
                "enable_criu_support": False,
                "runtimes": runtimes,
            },
            "image": {
                "pause_image": pause_image,
                "pinned_images": [pause_image],
                "signature_policy": str(paths.policy),
                "signature_policy_dir": str(paths.root / "policies"),
            },
            "network": {"network_dir": str(cni_conf_dir), "plugin_dirs": [str(cni_bin_dir)]},
            "metrics": {"enable_metrics": False},
            "tracing": {"enable_tracing": False},
            "nri": {"enable_nri": False},
        }
    }


def oom_score_wrapper(real_runtime: Path) -> str:
    """An OCI runtime front that raises a negative process.oomScoreAdj to 0.

    Only for hosts without CAP_SYS_RESOURCE in the bounding set: there the kubelet's
    negative scores (pause -998, Guaranteed Pods -997) cannot be written and every such
    container fails (`failed to update /proc/self/oom_score_adj: Permission denied`).
    containerd has `restrict_oom_score_adj` for this; CRI-O 1.34 has no such setting.
    """
    return bundle_rewriting_front(real_runtime, "this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE).",
                                  ['s/"oomScoreAdj": *-[0-9]*/"oomScoreAdj": 0/'])
