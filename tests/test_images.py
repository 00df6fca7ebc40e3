"""Unit tests for the stdlib-only OCI image builder in clusters.toolbox.images."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from clusters.toolbox import images
from clusters.toolbox.images import LayerEntry

REFERENCE = "registry.local:5000/rcc/sample:2.1"
CONFIG = {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]}


def sample_files() -> list[LayerEntry]:
    return [
        LayerEntry.file("/bin/tool", b"\x7fELF fake", mode=0o755),
        LayerEntry.symlink("/bin/sh", "tool"),
        LayerEntry.directory("/tmp", mode=0o1777),
        LayerEntry.file("/etc/hostname", b"sample\n"),
    ]


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers() if member.isfile()}


def blob(members: dict[str, bytes], digest: str) -> bytes:
    return members["blobs/sha256/" + digest.removeprefix("sha256:")]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    """The parsed documents of an archive, following the index down to the layer."""

    def __init__(self, path: Path) -> None:
        self.members = read_archive(path)
        self.index: dict[str, Any] = json.loads(self.members["index.json"])
        self.descriptor = self.index["manifests"][0]
        self.manifest: dict[str, Any] = json.loads(blob(self.members, self.descriptor["digest"]))
        self.config: dict[str, Any] = json.loads(blob(self.members, self.manifest["config"]["digest"]))
        self.layer = blob(self.members, self.manifest["layers"][0]["digest"])

    def layer_members(self) -> dict[str, tarfile.TarInfo]:
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as tar:
            return {member.name: member for member in tar.getmembers()}

    def layer_file(self, name: str) -> bytes:
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as tar:
            return tar.extractfile(name).read()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.tar"
    images.write_oci_archive(path, REFERENCE, sample_files(), CONFIG)
    return path


# --- archive structure ------------------------------------------------------


def test_layout_has_oci_layout_and_index(sample: Path) -> None:
    members = read_archive(sample)
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads(members["index.json"])["schemaVersion"] == 2


def test_every_blob_is_named_by_its_digest(sample: Path) -> None:
    blobs = {name: data for name, data in read_archive(sample).items() if name.startswith("blobs/")}
    assert len(blobs) == 3
    for name, data in blobs.items():
        assert name == "blobs/sha256/" + hashlib.sha256(data).hexdigest()


def test_descriptors_match_blob_contents(sample: Path) -> None:
    image = Image(sample)
    manifest_bytes = blob(image.members, image.descriptor["digest"])
    assert image.descriptor["size"] == len(manifest_bytes)
    assert image.descriptor["mediaType"] == images.MEDIA_TYPE_MANIFEST
    for descriptor in (image.manifest["config"], *image.manifest["layers"]):
        data = blob(image.members, descriptor["digest"])
        assert descriptor["digest"] == sha256(data)
        assert descriptor["size"] == len(data)
    assert image.manifest["config"]["mediaType"] == images.MEDIA_TYPE_CONFIG
    assert image.manifest["layers"][0]["mediaType"] == images.MEDIA_TYPE_LAYER


def test_diff_id_is_sha256_of_uncompressed_layer(sample: Path) -> None:
    image = Image(sample)
    assert image.config["rootfs"] == {"type": "layers", "diff_ids": [sha256(image.layer)]}


def test_config_carries_runtime_config_and_platform(sample: Path) -> None:
    image = Image(sample)
    assert image.config["config"] == CONFIG
    assert (image.config["os"], image.config["architecture"]) == ("linux", "amd64")
    assert image.descriptor["platform"] == {"os": "linux", "architecture": "amd64"}


def test_index_annotations_name_the_image(sample: Path) -> None:
    annotations = Image(sample).descriptor["annotations"]
    assert annotations == {
        "io.containerd.image.name": REFERENCE,
        "org.opencontainers.image.ref.name": "2.1",
    }


# --- layer contents ---------------------------------------------------------


def test_layer_adds_parents_before_children_with_fixed_metadata(sample: Path) -> None:
    members = Image(sample).layer_members()
    assert list(members) == ["bin", "bin/sh", "bin/tool", "etc", "etc/hostname", "tmp"]
    assert members["bin"].isdir() and members["bin"].mode == 0o755
    for member in members.values():
        assert (member.uid, member.gid, member.mtime) == (0, 0, images.FIXED_MTIME)
        assert (member.uname, member.gname) == ("", "")


def test_layer_keeps_modes_and_symlinks(sample: Path) -> None:
    members = Image(sample).layer_members()
    assert members["tmp"].mode == 0o1777
    assert members["bin/tool"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "tool"


# --- determinism ------------------------------------------------------------


def test_same_inputs_give_identical_bytes(tmp_path: Path, sample: Path) -> None:
    again = tmp_path / "again.tar"
    images.write_oci_archive(again, REFERENCE, list(reversed(sample_files())), CONFIG)
    assert again.read_bytes() == sample.read_bytes()


def test_different_content_changes_the_archive(tmp_path: Path, sample: Path) -> None:
    other = tmp_path / "other.tar"
    files = [*sample_files(), LayerEntry.file("/etc/extra", b"x")]
    images.write_oci_archive(other, REFERENCE, files, CONFIG)
    assert other.read_bytes() != sample.read_bytes()


def test_no_partial_file_is_left_behind(tmp_path: Path, sample: Path) -> None:
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sample.tar"]


# --- references -------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "tag"),
    [(images.TEST_IMAGE, "1.0"), (images.PAUSE_IMAGE, "3.10"), ("localhost:5000/a/b:v2", "v2")],
)
def test_image_tag(reference: str, tag: str) -> None:
    assert images.image_tag(reference) == tag


@pytest.mark.parametrize("reference", ["registry.local/rcc/test", "localhost:5000/rcc/test"])
def test_reference_without_tag_is_rejected(reference: str) -> None:
    with pytest.raises(ValueError, match="has no tag"):
        images.image_tag(reference)


def test_archive_name_is_filesystem_safe() -> None:
    assert images.archive_name(images.TEST_IMAGE) == "registry.local_rcc_test_1.0.oci.tar"


# --- test image (host busybox) ----------------------------------------------

needs_busybox = pytest.mark.skipif(not images.BUSYBOX.is_file(), reason="busybox-static is not installed")


@pytest.fixture(scope="module")
def busybox_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return Image(images.build_test_image(tmp_path_factory.mktemp("test-image")))


@needs_busybox
def test_test_image_has_busybox_and_applet_links(busybox_image: Image) -> None:
    members = busybox_image.layer_members()
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "cat", "sleep", "uname", "dmesg", "id", "ls", "echo", "true", "grep", "head"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"


@needs_busybox
def test_test_image_has_users_and_system_dirs(busybox_image: Image) -> None:
    members = busybox_image.layer_members()
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    assert all(members[name].isdir() for name in ("proc", "sys", "dev"))
    for name in ("etc/passwd", "etc/group"):
        lines = busybox_image.layer_file(name).decode().splitlines()
        assert [line.split(":")[2] for line in lines] == ["0", "65534"]


@needs_busybox
def test_test_image_config(busybox_image: Image) -> None:
    assert busybox_image.config["config"] == {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "User": ""}
    assert busybox_image.descriptor["annotations"]["io.containerd.image.name"] == images.TEST_IMAGE


@needs_busybox
def test_test_image_is_reproducible(tmp_path: Path) -> None:
    first = images.build_test_image(tmp_path / "a")
    second = images.build_test_image(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


@needs_busybox
def test_test_image_busybox_runs_from_the_layer(busybox_image: Image, tmp_path: Path) -> None:
    binary = tmp_path / "busybox"
    binary.write_bytes(busybox_image.layer_file("bin/busybox"))
    binary.chmod(0o755)
    assert subprocess.run([binary, "echo", "ok"], capture_output=True, text=True).stdout == "ok\n"


def test_missing_busybox_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        images.build_test_image(tmp_path, busybox=tmp_path / "no-busybox")


# --- pause image --------------------------------------------------------------


def find_pause_source() -> Path | None:
    """Upstream pause.c in the Go module cache, if a kubernetes module is there."""
    module_cache = Path(os.environ.get("GOMODCACHE", Path.home() / "go" / "pkg" / "mod"))
    sources = sorted(module_cache.glob("k8s.io/kubernetes@*/build/pause/linux/pause.c"))
    return sources[-1] if sources else None


PAUSE_SOURCE = find_pause_source()
needs_pause_build = pytest.mark.skipif(
    PAUSE_SOURCE is None or shutil.which("gcc") is None,
    reason="needs gcc and k8s.io/kubernetes pause.c in the Go module cache",
)


@needs_pause_build
def test_compile_pause_builds_a_static_binary(tmp_path: Path) -> None:
    binary = images.compile_pause(PAUSE_SOURCE, tmp_path / "pause")
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, check=True)
    assert result.stdout == f"pause.c {images.PAUSE_VERSION}\n"
    assert not has_elf_interpreter(binary.read_bytes())


def has_elf_interpreter(elf: bytes) -> bool:
    """True if a 64-bit little-endian ELF has a PT_INTERP header, i.e. is dynamically linked."""
    def number(start: int, size: int) -> int:
        return int.from_bytes(elf[start : start + size], "little")

    table, entry_size, count = number(32, 8), number(54, 2), number(56, 2)
    pt_interp = 3
    return any(number(table + i * entry_size, 4) == pt_interp for i in range(count))


@needs_pause_build
def test_pause_image_has_only_pause(tmp_path: Path) -> None:
    image = Image(images.build_pause_image(tmp_path, PAUSE_SOURCE))
    members = image.layer_members()
    assert list(members) == ["pause"]
    assert members["pause"].mode == 0o755
    assert image.config["config"] == {"Entrypoint": ["/pause"]}
    assert image.descriptor["annotations"]["io.containerd.image.name"] == images.PAUSE_IMAGE


@needs_pause_build
def test_pause_image_is_reproducible(tmp_path: Path) -> None:
    first = images.build_pause_image(tmp_path / "a", PAUSE_SOURCE)
    second = images.build_pause_image(tmp_path / "b", PAUSE_SOURCE)
    assert first.read_bytes() == second.read_bytes()


def test_compile_pause_without_gcc_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "pause.c"
    source.write_text("int main(void) { return 0; }\n")
    monkeypatch.setattr(images.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="install gcc and libc6-dev") as error:
        images.compile_pause(source, tmp_path / "pause")
    assert "\n" not in str(error.value)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_compile_failure_is_one_line_naming_packages(tmp_path: Path) -> None:
    source = tmp_path / "pause.c"
    source.write_text("this is not C\n")
    with pytest.raises(RuntimeError, match="install gcc and libc6-dev") as error:
        images.compile_pause(source, tmp_path / "pause")
    assert "\n" not in str(error.value)


def test_compile_pause_missing_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pause source not found"):
        images.compile_pause(tmp_path / "missing.c", tmp_path / "pause")


# --- real import --------------------------------------------------------------

CONTAINERD_SOCKET = Path("/run/containerd/containerd.sock")


def containerd_skip_reason() -> str | None:
    if shutil.which("containerd") is None:
        return "no containerd binary available"
    if shutil.which("ctr") is None:
        return "containerd is present but ctr is not"
    if not CONTAINERD_SOCKET.is_socket():
        return f"containerd is not running ({CONTAINERD_SOCKET} missing)"
    return None


@needs_busybox
def test_ctr_imports_archive_under_its_reference(tmp_path: Path) -> None:
    """Import into a throwaway namespace so the cluster's k8s.io images are untouched."""
    reason = containerd_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    namespace = f"rcc-images-test-{uuid.uuid4().hex[:8]}"
    archive = images.build_test_image(tmp_path)
    ctr = ["ctr", "-n", namespace, "images"]
    try:
        subprocess.run([*ctr, "import", archive], check=True, capture_output=True)
        listed = subprocess.run([*ctr, "ls", "-q"], check=True, capture_output=True, text=True).stdout
        assert images.TEST_IMAGE in listed.split()
    finally:
        subprocess.run([*ctr, "rm", images.TEST_IMAGE], capture_output=True)
        subprocess.run(["ctr", "namespaces", "rm", namespace], capture_output=True)
