"""Upstream's e2e images without a registry: busybox-based stand-ins imported under upstream's references.

registry.k8s.io is unreachable here, so every image the RuntimeClass e2e tests
(and the framework code they call) use is built locally and imported into each
node's containerd under the reference upstream's `test/utils/image/manifest.go`
gives it (v1.37.2). The pods then find them "already present" (IfNotPresent).

| upstream reference | who uses it | what we import |
|---|---|---|
| e2e-test-images/busybox:1.37.0-2 | `NewRuntimeClassPod` (`command: [true]`) | the project's busybox test image |
| e2e-test-images/agnhost:2.66.1 | `NodeSupportsPreconfiguredRuntimeClassHandler`: a privileged hostexec pod runs agnhost `pause`, then `kubectl exec nsenter --mount=/rootfs/proc/1/ns/mnt -- sh -c 'grep ...'` | busybox + `/agnhost`, a shell stand-in that implements `pause` only, + an `nsenter` that falls back to `chroot /rootfs` where the host denies PID 1's namespace |
| pause:3.10.2 | the scheduler tests' `createPausePod` (restricted: uid 1000, no caps) | the project's pause image, compiled from upstream's own `pause.c` |

What busybox lacks: agnhost's other subcommands (netexec, serve-hostname,
mounttest, ...). None of the focused tests calls them; a test that did would
fail with the stand-in's exit code 64 and a message naming the subcommand.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from clusters.toolbox import images as local_images
from clusters.local.cluster import LocalCluster

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.37.0-2"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
PAUSE = "registry.k8s.io/pause:3.10.2"
UPSTREAM_IMAGES = (BUSYBOX, AGNHOST, PAUSE)

# agnhost's image has ENTRYPOINT ["/agnhost"]; the framework passes the subcommand as args.
AGNHOST_STANDIN = """#!/bin/sh
# Stand-in for registry.k8s.io/e2e-test-images/agnhost, built by runtimeclass-conformance:
# busybox plus this script. Only `pause` is implemented (the hostexec pod of upstream's
# RuntimeClass tests needs nothing else; its work is done by `kubectl exec nsenter ...`).
case "$1" in
  pause)
    trap 'exit 0' TERM INT
    while :; do sleep 3600 & wait $!; done ;;
  *)
    echo "agnhost stand-in (busybox): subcommand '$1' is not implemented" >&2
    exit 64 ;;
esac
"""

# Upstream's hostexec runs `nsenter --mount=/rootfs/proc/1/ns/mnt -- sh -c CMD` in that pod to run
# CMD on the node's filesystem. This host (a sandboxed VM) denies opening PID 1's namespaces even
# to root (EACCES), so there the stand-in runs CMD chrooted into /rootfs, the node's `/` that
# hostexec mounts: the same files, read through the mount instead of the namespace.
NSENTER_STANDIN = """#!/bin/sh
# nsenter of the agnhost stand-in (runtimeclass-conformance): busybox nsenter, with a chroot
# fallback when the host forbids entering PID 1's mount namespace.
if [ "$1" = "--mount=/rootfs/proc/1/ns/mnt" ] && ! readlink /rootfs/proc/1/ns/mnt >/dev/null 2>&1; then
  shift
  [ "$1" = "--" ] && shift
  exec chroot /rootfs "$@"
fi
exec /bin/busybox nsenter "$@"
"""


@dataclass(frozen=True)
class ImportedImage:
    reference: str
    archive: Path
    nodes: tuple[str, ...]


def build_archives(dest: Path, pause_source: Path) -> dict[str, Path]:
    """OCI archives of the three upstream references (deterministic, cheap: rebuilt every time)."""
    dest.mkdir(parents=True, exist_ok=True)
    agnhost = dest / local_images.archive_name(AGNHOST)
    files = [entry for entry in local_images.busybox_rootfs(local_images.BUSYBOX) if entry.name != "bin/nsenter"]
    files += [local_images.LayerEntry.file("/agnhost", AGNHOST_STANDIN.encode(), mode=0o755),
              local_images.LayerEntry.file("/bin/nsenter", NSENTER_STANDIN.encode(), mode=0o755)]
    local_images.write_oci_archive(agnhost, AGNHOST, files,
                                   {"Env": ["PATH=/bin"], "Entrypoint": ["/agnhost"], "Cmd": ["pause"]})
    return {
        BUSYBOX: local_images.build_test_image(dest, reference=BUSYBOX),
        AGNHOST: agnhost,
        PAUSE: local_images.build_pause_image(dest, pause_source, reference=PAUSE),
    }


def import_into_nodes(cluster: LocalCluster, archives: dict[str, Path]) -> list[ImportedImage]:
    """`ctr -n k8s.io images import` of every archive into every node's containerd."""
    ctr = sorted((cluster.cache_dir / "bin").glob("containerd-*/ctr"))
    if not ctr:
        raise RuntimeError(f"ctr is not in {cluster.cache_dir / 'bin'}; bring the cluster up first")
    imported = []
    for reference, archive in archives.items():
        for node in cluster.nodes:
            subprocess.run([str(ctr[-1]), "--address", str(node.containerd_socket), "-n", "k8s.io",
                            "images", "import", "--local", str(archive)],
                           check=True, capture_output=True, text=True, timeout=120)
        imported.append(ImportedImage(reference, archive, tuple(n.name for n in cluster.nodes)))
    return imported


def images_on_node(cluster: LocalCluster, node_name: str) -> set[str]:
    """References the node's containerd holds (as the kubelet's image service sees them)."""
    ctr = sorted((cluster.cache_dir / "bin").glob("containerd-*/ctr"))[-1]
    node = cluster.node_layout(node_name)
    out = subprocess.run([str(ctr), "--address", str(node.containerd_socket), "-n", "k8s.io", "images", "ls", "-q"],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return set(out.split())
