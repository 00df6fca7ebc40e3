"""The container images a kind node needs before it can run kubeadm, built here and pre-loaded.

No registry is reachable, and kubeadm's static Pods, its kube-proxy DaemonSet,
CoreDNS and every sandbox name images under ``registry.k8s.io``. Each one is
built as a single-layer OCI archive with the project's own writer
(``clusters.toolbox.images.write_oci_archive``), tagged with exactly the name
kubeadm asks for (``kubeadm config images list``), and imported into the node
rootfs's containerd store by a short-lived containerd run against that store,
the way ``kind build node-image`` pre-loads its images (``--no-unpack``).

The control-plane, etcd and CoreDNS images are ``FROM scratch`` style: one
static Go binary. kube-proxy also needs ``iptables``: its image carries the
rootfs's ``xtables`` binaries, their extension modules and the shared
libraries they load, with ``iptables`` pointing at the legacy backend, the one
kind's entrypoint selects in a fresh node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clusters.toolbox.errors import ClusterError
from clusters.toolbox.images import LayerEntry, compile_pause, write_oci_archive

Progress = Callable[[str], None]

# kubeadm image name (without registry and tag) -> the binary that is its entrypoint.
BINARY_IMAGES = {
    "kube-apiserver": "kube-apiserver",
    "kube-controller-manager": "kube-controller-manager",
    "kube-scheduler": "kube-scheduler",
    "kube-proxy": "kube-proxy",
    "etcd": "etcd",
    "coredns": "coredns",
}
XTABLES_TOOLS = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")
XTABLES_BACKEND = "xtables-legacy-multi"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def build_archives(images: list[str], binaries: dict[str, Path], pause_source: Path, rootfs: Path,
                   dest: Path) -> list[Path]:
    """One OCI archive per image kubeadm lists; the binary image names are matched by basename."""
    archives = []
    for reference in images:
        base = reference.rsplit("/", 1)[-1].split(":", 1)[0]
        path = dest / f"{base}.oci.tar"
        if base == "pause":
            with tempfile.TemporaryDirectory() as tmp:
                binary = compile_pause(pause_source, Path(tmp) / "pause")
                entries = [LayerEntry.file("/pause", binary.read_bytes(), mode=0o755)]
            write_oci_archive(path, reference, entries, {"Entrypoint": ["/pause"]})
        elif base in BINARY_IMAGES:
            name = BINARY_IMAGES[base]
            entries = [LayerEntry.file(f"/usr/local/bin/{name}", binaries[name].read_bytes(), mode=0o755),
                       LayerEntry.directory("/tmp", mode=0o1777)]
            config: dict = {"Env": [PATH_ENV]}
            if base == "kube-proxy":
                entries += xtables_entries(rootfs)
            if base == "coredns":
                config["Entrypoint"] = ["/usr/local/bin/coredns"]
            write_oci_archive(path, reference, entries, config)
        else:
            raise ClusterError(f"kubeadm lists image {reference}, which this node image builder cannot make")
        archives.append(path)
    return archives


def xtables_entries(rootfs: Path) -> list[LayerEntry]:
    """``iptables`` for kube-proxy: the rootfs's xtables binary, extensions and their libraries."""
    multiarch = next((rootfs / "usr/lib").glob("*-linux-gnu"), None)
    if multiarch is None:
        raise ClusterError(f"no multiarch library folder in {rootfs}/usr/lib")
    extensions = sorted((multiarch / "xtables").glob("*.so"))
    programs = [rootfs / "usr/sbin" / XTABLES_BACKEND, *extensions]
    libraries: set[str] = set()
    for program in programs:
        inside = "/" + str(program.relative_to(rootfs))
        out = subprocess.run(["chroot", str(rootfs), "ldd", inside], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts else ""
            if path.startswith("/"):
                libraries.add(path)
    entries = [LayerEntry.file("/" + str(p.relative_to(rootfs)), p.read_bytes(), mode=0o755) for p in programs]
    for library in sorted(libraries):
        real = rootfs / os.path.realpath(rootfs / library.lstrip("/")).removeprefix(str(rootfs)).lstrip("/")
        entries.append(LayerEntry.file(library, real.read_bytes(), mode=0o755))
    entries.append(LayerEntry.file("/etc/ld.so.cache", (rootfs / "etc/ld.so.cache").read_bytes()))
    entries += [LayerEntry.symlink(f"/usr/sbin/{tool}", XTABLES_BACKEND) for tool in XTABLES_TOOLS]
    entries.append(LayerEntry.directory("/run"))
    return entries


def preload(rootfs: Path, archives: list[Path], containerd: Path, ctr: Path, progress: Progress) -> None:
    """Import ``archives`` into ``rootfs``'s ``/var/lib/containerd`` (namespace k8s.io), not unpacked."""
    with tempfile.TemporaryDirectory(prefix="rcc-kind-preload-") as tmp:
        work = Path(tmp)
        sock = work / "containerd.sock"
        (work / "config.toml").write_text(
            f'version = 3\nroot = "{rootfs}/var/lib/containerd"\nstate = "{work}/state"\n'
            f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", '
            '"io.containerd.cri.v1.images", "io.containerd.internal.v1.opt"]\n')
        log = (work / "containerd.log").open("wb")
        proc = subprocess.Popen([str(containerd), "--config", str(work / "config.toml")], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while subprocess.run([str(ctr), "-a", str(sock), "version"], capture_output=True).returncode != 0:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ClusterError(f"the pre-load containerd did not start: "
                                       f"{(work / 'containerd.log').read_text()[-300:]}")
                time.sleep(0.5)
            for archive in archives:
                result = subprocess.run([str(ctr), "-a", str(sock), "-n", "k8s.io", "images", "import",
                                         "--no-unpack", "--digests", "--all-platforms", str(archive)],
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    raise ClusterError(f"importing {archive.name} into the node image failed: "
                                       f"{result.stderr.strip()[-300:]}")
            progress(f"node image: pre-loaded {len(archives)} images into the node's containerd")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    shutil.rmtree(rootfs / "var/lib/containerd/tmpmounts", ignore_errors=True)
