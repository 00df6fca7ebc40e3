"""Build the suite's container images as OCI archives with nothing but the stdlib.

The local cluster has no registry and no Docker, so images cannot be pulled or
built the usual way. Instead we assemble OCI image-layout tarballs by hand and
import them with ``ctr -n k8s.io images import ARCHIVE``; containerd then serves
them to the kubelet as if they had been pulled.

Two images are needed:

* the test image: a static busybox with one symlink per applet, so test pods
  have a shell and the usual tools (``sh``, ``cat``, ``uname``, ``dmesg``...);
* the pause image: the sandbox "infra" container, compiled from upstream
  Kubernetes' own ``pause.c`` so it behaves exactly like ``registry.k8s.io/pause``.

Archives are deterministic (sorted entries, fixed mtimes, uid/gid 0, canonical
JSON): identical inputs give byte-identical files, so a caller can compare
digests and skip re-importing an unchanged image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

TEST_IMAGE = "registry.local/rcc/test:1.0"
PAUSE_IMAGE = "registry.local/rcc/pause:3.10"

BUSYBOX = Path("/usr/bin/busybox")
# Reported by `/pause -v`; tells our build apart from the upstream image.
PAUSE_VERSION = "v3.10-rcc"

# Tools such as `id` and `ls -l` resolve names through these files; without
# them a pod running as nobody prints bare numbers and some applets complain.
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnobody:x:65534:\n"

# Every tar entry gets this mtime so rebuilding never changes a byte.
FIXED_MTIME = 0

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER = "application/vnd.oci.image.layer.v1.tar"

# containerd names an imported image after this annotation; the OCI one is the
# portable spelling of the tag that other tools (skopeo, podman) read.
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_OCI_REF_NAME = "org.opencontainers.image.ref.name"

EntryKind = Literal["file", "dir", "symlink"]


@dataclass(frozen=True)
class LayerEntry:
    """One filesystem object in an image layer.

    Entries are plain data rather than paths on the host so that a layer's
    bytes depend only on what we put in it, never on host mtimes or owners.
    """

    path: str
    kind: EntryKind
    mode: int
    data: bytes = b""
    target: str = ""

    @classmethod
    def file(cls, path: str, data: bytes, mode: int = 0o644) -> LayerEntry:
        return cls(path=path, kind="file", mode=mode, data=data)

    @classmethod
    def directory(cls, path: str, mode: int = 0o755) -> LayerEntry:
        return cls(path=path, kind="dir", mode=mode)

    @classmethod
    def symlink(cls, path: str, target: str) -> LayerEntry:
        return cls(path=path, kind="symlink", mode=0o777, target=target)

    @property
    def name(self) -> str:
        """Path as stored in the tar: relative, like every OCI layer entry."""
        return str(PurePosixPath("/", self.path).relative_to("/"))


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes, as stored under ``blobs/sha256/``."""

    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self, media_type: str, **extra: Any) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": self.digest, "size": len(self.data), **extra}


# --- public API -------------------------------------------------------------


def build_test_image(dest_dir: Path, reference: str = TEST_IMAGE, busybox: Path = BUSYBOX) -> Path:
    """Write the busybox test image archive into ``dest_dir`` and return its path.

    busybox-static is a single self-contained binary, which is what makes an
    image possible without a package manager or base image: one file plus
    applet symlinks gives pods a usable userland. ``User`` is left empty because
    the conformance pods choose their own ``runAsUser``.
    """
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} not found: install busybox-static")
    config = {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "User": ""}
    archive = dest_dir / archive_name(reference)
    write_oci_archive(archive, reference, busybox_rootfs(busybox), config)
    return archive


def build_pause_image(dest_dir: Path, pause_source: Path, reference: str = PAUSE_IMAGE) -> Path:
    """Compile ``pause_source`` and write the pause image archive into ``dest_dir``.

    The kubelet needs a sandbox image for every pod; building it from upstream's
    ``pause.c`` keeps signal handling and zombie reaping identical to the real
    ``registry.k8s.io/pause`` without any network access.
    """
    with tempfile.TemporaryDirectory() as tmp:
        binary = compile_pause(pause_source, Path(tmp) / "pause")
        entries = [LayerEntry.file("/pause", binary.read_bytes(), mode=0o755)]
    archive = dest_dir / archive_name(reference)
    write_oci_archive(archive, reference, entries, {"Entrypoint": ["/pause"]})
    return archive


def ensure_node_archives(folder: Path, pause_source: Callable[[], Path]) -> list[Path]:
    """The pause and test image archives in ``folder``, built where missing; ``pause_source`` finds pause.c."""
    test = folder / archive_name(TEST_IMAGE)
    pause = folder / archive_name(PAUSE_IMAGE)
    if not test.exists():
        build_test_image(folder)
    if not pause.exists():
        build_pause_image(folder, pause_source())
    return [pause, test]


def compile_pause(source: Path, dest: Path) -> Path:
    """Compile upstream ``pause.c`` into a static binary at ``dest``.

    Static linking matters: the pause image has no libc, so a dynamic binary
    would fail to start and every pod sandbox with it.
    """
    if not source.is_file():
        raise FileNotFoundError(f"pause source not found: {source}")
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc not found: install gcc and libc6-dev (apt-get install gcc libc6-dev)")
    command = [gcc, "-Os", "-static", f"-DVERSION={PAUSE_VERSION}", "-o", str(dest), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = _last_line(result.stderr) or f"exit code {result.returncode}"
        raise RuntimeError(f"compiling {source} failed ({reason}): install gcc and libc6-dev")
    return dest


def write_oci_archive(path: Path, reference: str, files: list[LayerEntry], config: dict[str, Any]) -> None:
    """Write a single-layer OCI image-layout tar for ``reference`` to ``path``.

    ``config`` is the image's runtime configuration (``Env``, ``Cmd``,
    ``Entrypoint``...); platform and ``rootfs.diff_ids`` are filled in here
    because they must match the layer we build, not anything a caller knows.
    Missing parent directories of ``files`` are added with mode 0755.

    The file is written to a temporary sibling and renamed, so a reader never
    sees a half-written archive.
    """
    layer = Blob(layer_tar(files))
    image_config = Blob(canonical_json(image_config_document(config, layer)))
    manifest = Blob(canonical_json(manifest_document(image_config, layer)))
    index = index_document(manifest, reference)
    members = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical_json(index),
        **{blob_path(blob): blob.data for blob in (layer, image_config, manifest)},
    }
    _write_atomically(path, tar_bytes([LayerEntry.file(name, data) for name, data in members.items()]))


# --- image contents ---------------------------------------------------------


def busybox_rootfs(busybox: Path) -> list[LayerEntry]:
    """Filesystem of the test image: busybox, its applets and a minimal /etc."""
    entries = [
        LayerEntry.file("/bin/busybox", busybox.read_bytes(), mode=0o755),
        LayerEntry.file("/etc/passwd", PASSWD.encode()),
        LayerEntry.file("/etc/group", GROUP.encode()),
        LayerEntry.directory("/tmp", mode=0o1777),
        LayerEntry.directory("/root", mode=0o700),
        *(LayerEntry.directory(mount_point) for mount_point in ("/proc", "/sys", "/dev")),
    ]
    applets = (name for name in busybox_applets(busybox) if name != "busybox")
    entries += [LayerEntry.symlink(f"/bin/{name}", "busybox") for name in applets]
    return entries


def busybox_applets(busybox: Path) -> list[str]:
    """Applet names compiled into ``busybox``, asked from the binary itself.

    Asking the binary rather than hard-coding a list keeps the symlinks in step
    with whatever busybox version the host ships.
    """
    result = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True)
    return sorted(set(result.stdout.split()))


def archive_name(reference: str) -> str:
    """File name for ``reference``'s archive, safe on any filesystem."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", reference) + ".oci.tar"


# --- OCI documents ----------------------------------------------------------


def image_config_document(config: dict[str, Any], layer: Blob) -> dict[str, Any]:
    """OCI image config; the diff_id is the digest of the *uncompressed* layer."""
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }


def manifest_document(config: Blob, layer: Blob) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": config.descriptor(MEDIA_TYPE_CONFIG),
        "layers": [layer.descriptor(MEDIA_TYPE_LAYER)],
    }


def index_document(manifest: Blob, reference: str) -> dict[str, Any]:
    """index.json; its annotations are what make ``ctr images import`` name the image."""
    annotations = {ANNOTATION_CONTAINERD_NAME: reference, ANNOTATION_OCI_REF_NAME: image_tag(reference)}
    descriptor = manifest.descriptor(
        MEDIA_TYPE_MANIFEST, annotations=annotations, platform={"architecture": "amd64", "os": "linux"}
    )
    return {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [descriptor]}


def image_tag(reference: str) -> str:
    """The tag of ``reference``; a colon before the last slash is a registry port."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image reference {reference!r} has no tag")
    return tag


def blob_path(blob: Blob) -> str:
    return "blobs/sha256/" + blob.digest.removeprefix("sha256:")


def canonical_json(document: dict[str, Any]) -> bytes:
    """Compact, key-sorted JSON, so a document always hashes to the same digest."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# --- deterministic tar ------------------------------------------------------


def layer_tar(files: list[LayerEntry]) -> bytes:
    """Layer tar of ``files`` plus any parent directories they imply."""
    return tar_bytes(with_parent_directories(files))


def with_parent_directories(files: list[LayerEntry]) -> list[LayerEntry]:
    """Add a 0755 directory for each missing ancestor, as unpackers expect."""
    present = {entry.name for entry in files}
    parents = {str(parent) for entry in files for parent in PurePosixPath(entry.name).parents}
    missing = sorted(parents - present - {"."})
    return [*files, *(LayerEntry.directory(name) for name in missing)]


def tar_bytes(entries: list[LayerEntry]) -> bytes:
    """Tar ``entries`` sorted by path components, owned by root, with fixed mtimes.

    Sorting by components (not by string) puts every directory before its
    children, and fixed metadata makes the output independent of build time.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda entry: PurePosixPath(entry.name).parts):
            tar.addfile(_tar_info(entry), io.BytesIO(entry.data) if entry.kind == "file" else None)
    return buffer.getvalue()


_TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}


def _tar_info(entry: LayerEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.type = _TAR_TYPES[entry.kind]
    info.mode = entry.mode
    info.size = len(entry.data) if entry.kind == "file" else 0
    info.linkname = entry.target
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def archive_reference(archive: Path) -> str:
    """The image name an archive made here carries (index.json), for importers that need it spelled out.

    skopeo (the CRI-O node's importer) copies `oci-archive:FILE` to a destination name it is
    given, unlike `ctr images import`, which reads the name from the annotation itself.
    """
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        if member is None:
            raise ValueError(f"{archive}: no index.json")
        index = json.load(member)
    return index["manifests"][0]["annotations"][ANNOTATION_CONTAINERD_NAME]
