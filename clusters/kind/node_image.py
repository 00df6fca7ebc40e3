"""The kind node image, built offline: one command, cached by a key of its inputs.

``kind build node-image`` cannot run without a registry (it fetches kindnetd,
pause, etcd and CoreDNS with ``ctr content fetch``), so this module assembles
the same image from what this machine can get:

1. a Debian bookworm ``debootstrap --variant=minbase`` rootfs with systemd,
   iptables, containernetworking-plugins and crun (cached per package list);
2. kind v0.33.0's own base files (its module source, ``images/base/files``)
   and the same systemd clean-up and enabled units as its base Dockerfile;
3. the local cluster's Go-built binaries (containerd, runc, crictl, kubelet,
   kubectl, the control plane, etcd; ``clusters.toolbox.binaries``) plus kubeadm,
   kube-proxy and CoreDNS, each under its own cache key so the local cluster's
   ``kubernetes-<version>`` entry is never rebuilt;
4. the images kubeadm lists, pre-loaded (``clusters.kind.node_images``);
5. the node files in ``clusters.kind.node_files`` (containerd with runc and
   crun, host quirks, the pod network).

The result is ``docker import``-ed as ``rcc.local/kind-node:<k8s version>``,
and also tagged with the input key; a matching key tag means nothing is
rebuilt. Where a registry is reachable, upstream ``kindest/node`` images stay
usable: name one in the topology and none of this runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from clusters.kind import node_files, node_images
from clusters.toolbox.binaries import (GoComponent, default_cache_dir, ensure_binaries, ensure_component,
                                       kubernetes_node_component)
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.kubernetes_source import go_module_dir, pause_source
from clusters.toolbox.runtimes.runc import RUNC_COMPONENT

KIND_VERSION = "v0.33.0"
KUBERNETES_VERSION = "v1.37.2"
COREDNS_VERSION = "v1.14.6"
IMAGE_REPOSITORY = "rcc.local/kind-node"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
                   "util-linux", "mount", "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "jq", "procps",
                   "containernetworking-plugins", "crun")
CNI_PLUGINS = ("ptp", "host-local", "loopback", "portmap", "bridge")

Progress = Callable[[str], None]


def node_components(version: str = KUBERNETES_VERSION) -> tuple[GoComponent, ...]:
    """kubeadm and kube-proxy (own key beside ``kubernetes-<version>``) and CoreDNS."""
    extras = kubernetes_node_component(version)
    coredns = GoComponent(name="coredns", module="github.com/coredns/coredns", version=COREDNS_VERSION,
                          commands={"coredns": "github.com/coredns/coredns"}, ldflags="-s -w")
    return extras, coredns


def is_built_image(image: str) -> bool:
    """Whether a topology's image is the one this module builds (anything else is pulled or present)."""
    return image.split(":", 1)[0] == IMAGE_REPOSITORY


def image_tag(version: str = KUBERNETES_VERSION) -> str:
    return f"{IMAGE_REPOSITORY}:{version}"


def input_key(parts: Mapping[str, str]) -> str:
    """A short digest of everything the image is made from; a change to any part changes it."""
    return hashlib.sha256(json.dumps(dict(sorted(parts.items()))).encode()).hexdigest()[:12]


def ensure_node_image(env: Mapping[str, str] | None = None, progress: Progress = print,
                      rebuild: bool = False, version: str = KUBERNETES_VERSION) -> str:
    """Build the node image unless an image with the same input key exists; return its tag."""
    from clusters.kind import engine
    env = engine.docker_env(env)
    cache = default_cache_dir()
    kind_dir = kind_module_dir()
    binaries = _binaries(version, cache, progress)
    pause = pause_source(version)
    key = input_key({
        "debian": f"{DEBIAN_SUITE} {' '.join(DEBIAN_PACKAGES)}",
        "kind": f"{KIND_VERSION} {_tree_digest(kind_dir / 'images/base/files')}",
        "binaries": " ".join(sorted(f"{n}={_file_digest(p)}" for n, p in binaries.items())),
        "pause": _file_digest(pause),
        "recipe": " ".join(_file_digest(Path(m.__file__)) for m in (node_files, node_images))
                  + _file_digest(Path(__file__)),
    })
    tag, keyed = image_tag(version), f"{IMAGE_REPOSITORY}:{version}-{key}"
    if not rebuild and _docker(env, "image", "inspect", keyed, check=False).returncode == 0:
        _docker(env, "tag", keyed, tag)
        progress(f"node image: {keyed} is up to date")
        return tag
    replaced = _docker(env, "image", "inspect", "--format", "{{.Id}}", tag, check=False).stdout.strip()
    progress(f"node image: building {keyed} (cold build: debootstrap, images, import)")
    rootfs = cache / "kind-node" / "build"
    shutil.rmtree(rootfs, ignore_errors=True)
    subprocess.run(["cp", "-a", str(_debian_rootfs(cache, progress)), str(rootfs)], check=True)
    try:
        _apply_kind_base(rootfs, kind_dir)
        _install_binaries(rootfs, binaries, version)
        images = _kubeadm_images(binaries["kubeadm"], version)
        archives_dir = cache / "kind-node" / "archives"
        shutil.rmtree(archives_dir, ignore_errors=True)
        archives_dir.mkdir(parents=True)
        archives = node_images.build_archives(images, binaries, pause, rootfs, archives_dir)
        node_images.preload(rootfs, archives, binaries["containerd"], binaries["ctr"], progress)
        _write_node_files(rootfs, next(i for i in images if "/pause:" in i))
        _import(env, rootfs, keyed)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
        shutil.rmtree(cache / "kind-node" / "archives", ignore_errors=True)
    _docker(env, "tag", keyed, tag)
    _remove_older_builds(env, version, keyed)
    if replaced:
        _docker(env, "rmi", replaced, check=False)  # refused (kept) while another tag still names it
    progress(f"node image: built {keyed}, tagged {tag}")
    return tag


def _remove_older_builds(env: Mapping[str, str], version: str, keep: str) -> None:
    """Images of earlier input keys are never used again; each is about 1 GiB of the engine's data-root."""
    listed = _docker(env, "images", IMAGE_REPOSITORY, "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout
    stale = [ref for ref in listed.split() if ref.startswith(f"{IMAGE_REPOSITORY}:{version}-") and ref != keep]
    if stale:
        _docker(env, "rmi", *stale, check=False)


def ensure_kind(progress: Progress = print) -> Path:
    """kind itself: the one on PATH, else ``go install sigs.k8s.io/kind@KIND_VERSION`` into the cache."""
    found = shutil.which("kind")
    if found:
        return Path(found)
    out = default_cache_dir() / "bin" / f"kind-{KIND_VERSION}"
    if not (out / "kind").exists():
        if not shutil.which("go"):
            raise ClusterError(f"kind is not on PATH and Go is missing; install kind {KIND_VERSION}")
        progress(f"kind: go install sigs.k8s.io/kind@{KIND_VERSION}")
        _go(["go", "install", f"sigs.k8s.io/kind@{KIND_VERSION}"], {"GOBIN": str(out)})
    return out / "kind"


def kind_module_dir() -> Path:
    return go_module_dir("sigs.k8s.io/kind", KIND_VERSION)


def _go(argv: list[str], extra_env: Mapping[str, str] | None = None) -> str:
    env = {**os.environ, "GOFLAGS": "-mod=mod", **(extra_env or {})}
    result = subprocess.run(argv, cwd="/", env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"`{' '.join(argv)}` failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def _binaries(version: str, cache: Path, progress: Progress) -> dict[str, Path]:
    # runc v1.3.3 as the local cluster builds it (Debian's 1.1.5 fails on runtime-spec 1.3 bundles).
    paths = dict(ensure_binaries(version, set(), cache_dir=cache, progress=progress, extra=(RUNC_COMPONENT,)).paths)
    for component in node_components(version):
        paths.update(ensure_component(component, cache, None, progress))
    return paths


def _debian_rootfs(cache: Path, progress: Progress) -> Path:
    key = input_key({"suite": DEBIAN_SUITE, "packages": " ".join(DEBIAN_PACKAGES), "mirror": DEBIAN_MIRROR})
    rootfs = cache / "kind-node" / f"debian-{DEBIAN_SUITE}-{key}"
    if (rootfs / ".complete").exists():
        return rootfs
    if shutil.which("debootstrap") is None:
        _apt_install("debootstrap")
    progress(f"node image: debootstrap {DEBIAN_SUITE} minbase (about a minute)")
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    result = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
                             DEBIAN_SUITE, str(partial), DEBIAN_MIRROR], capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"debootstrap failed: {(result.stdout + result.stderr).strip()[-300:]}")
    subprocess.run(["chroot", str(partial), "apt-get", "clean"], capture_output=True)
    (partial / ".complete").write_text(key + "\n")
    partial.rename(rootfs)
    return rootfs


def _apt_install(package: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        if subprocess.run(argv, env=env, capture_output=True).returncode != 0:
            raise ClusterError(f"`{' '.join(argv)}` failed; install {package} by hand and retry")


def _apply_kind_base(rootfs: Path, kind_dir: Path) -> None:
    """kind's base Dockerfile, the parts that do not download anything."""
    files = kind_dir / "images/base/files"
    (rootfs / ".complete").unlink(missing_ok=True)
    for source in files.rglob("*"):
        if source.is_file():
            target = rootfs / source.relative_to(files)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            executable = source.parent.name == "bin" or "usr/local/bin" in str(source)
            target.chmod(0o755 if executable else 0o644)
    (rootfs / "kind").chmod(0o755)
    sh = ('find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete;'
          'rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* '
          '/lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* '
          '/lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*;'
          'echo ReadKMsg=no >> /etc/systemd/journald.conf; ln -sf /usr/lib/systemd/systemd /sbin/init;'
          'mkdir -p /etc/kubernetes/manifests /opt/cni/bin')
    _chroot(rootfs, "sh", "-c", sh)


def _install_binaries(rootfs: Path, binaries: dict[str, Path], version: str) -> None:
    places = {"containerd": "usr/local/bin", "ctr": "usr/local/bin", "containerd-shim-runc-v2": "usr/local/bin",
              "crictl": "usr/local/bin", "runc": "usr/local/sbin", "kubeadm": "usr/bin", "kubelet": "usr/bin",
              "kubectl": "usr/bin"}
    for name, folder in places.items():
        target = rootfs / folder / name
        shutil.copyfile(binaries[name], target)
        target.chmod(0o755)
    for plugin in node_images_cni(rootfs):
        (rootfs / "opt/cni/bin" / plugin.name).symlink_to(f"/usr/lib/cni/{plugin.name}")
    spec = json.loads(subprocess.run([str(binaries["ctr"]), "oci", "spec"], capture_output=True, text=True,
                                     check=True).stdout)
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append({"path": "/kind/bin/mount-product-files.sh"})
    spec["process"].pop("rlimits", None)
    (rootfs / "etc/containerd/cri-base.json").write_text(json.dumps(spec, indent=2) + "\n")
    (rootfs / "kind/version").write_text(version + "\n")


def node_images_cni(rootfs: Path) -> list[Path]:
    plugins = [rootfs / "usr/lib/cni" / p for p in CNI_PLUGINS]
    missing = [p.name for p in plugins if not p.exists()]
    if missing:
        raise ClusterError(f"the node rootfs lacks CNI plugins {missing} (containernetworking-plugins)")
    return plugins


def _write_node_files(rootfs: Path, sandbox_image: str) -> None:
    writes = {
        "etc/containerd/config.toml": (node_files.containerd_config(sandbox_image), 0o644),
        node_files.CRUN_WRAPPER.lstrip("/"): (node_files.CRUN_OCI_WRAPPER, 0o755),
        "kind/bin/rcc-host-quirks.sh": (node_files.HOST_QUIRKS_SCRIPT, 0o755),
        "kind/bin/rcc-podnet.sh": (node_files.PODNET_SCRIPT, 0o755),
        node_files.CNI_TEMPLATE.lstrip("/"): (node_files.cni_template() + "\n", 0o644),
        "etc/systemd/system/rcc-host-quirks.service": (node_files.HOST_QUIRKS_UNIT, 0o644),
        "etc/systemd/system/rcc-podnet.service": (node_files.PODNET_UNIT, 0o644),
    }
    for path, (text, mode) in writes.items():
        target = rootfs / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
    _chroot(rootfs, "sh", "-c", "systemctl enable kubelet.service containerd.service undo-mount-hacks.service "
                                "rcc-host-quirks.service rcc-podnet.service && systemctl mask systemd-binfmt.service")


def _kubeadm_images(kubeadm: Path, version: str) -> list[str]:
    result = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"kubeadm config images list failed: {result.stderr.strip()[-300:]}")
    return result.stdout.split()


def _import(env: Mapping[str, str], rootfs: Path, tag: str) -> None:
    """``tar | docker import`` with the image settings of kind's base image."""
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", "-", "."],
                           stdout=subprocess.PIPE)
    result = subprocess.run(["docker", "import", "--change", "ENV container=docker",
                             "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', "-", tag],
                            stdin=tar.stdout, env=dict(env), capture_output=True, text=True)
    tar.wait()
    if result.returncode != 0 or tar.returncode != 0:
        raise ClusterError(f"docker import of the node image failed: {result.stderr.strip()[-300:]}")


def _chroot(rootfs: Path, *argv: str) -> None:
    result = subprocess.run(["chroot", str(rootfs), *argv], capture_output=True, text=True,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    if result.returncode != 0:
        raise ClusterError(f"in the node rootfs, `{' '.join(argv)[:80]}` failed: {result.stderr.strip()[-300:]}")


def _docker(env: Mapping[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], env=dict(env), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ClusterError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()[-300:]}")
    return result


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + _file_digest(path).encode())
    return digest.hexdigest()[:16]
