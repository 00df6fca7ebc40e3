"""The records both providers' topology files hold: a node's taint and a runtime.

A runtime (an OCI runtime binary and how a CRI calls it) is read by the runtime builders in
clusters/toolbox/runtimes/, a taint by the local and kind topologies alike; neither belongs
to one provider.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


# The OCI runtimes a topology can name (`type:`), and the isolation each is meant to give
# (SPEC RC-USE-8): the class a handler of that runtime must show, unless the file says otherwise.
RUNTIME_TYPES = {"runc": "shared-kernel", "crun": "shared-kernel", "runsc": "user-space-kernel"}
ISOLATION_CLASSES = ("shared-kernel", "user-space-kernel", "vm")


@dataclass(frozen=True)
class Runtime:
    """A real OCI runtime binary a handler runs with.

    `binary` is either an absolute host path or the name of a binary the project builds
    (e.g. `runc`). `oci_version` pins the bundle's ociVersion for a runtime older than
    the runtime-spec containerd writes (Debian bookworm's crun 1.8 accepts 1.0.x only).
    `type` says which runtime it is (runc, crun, runsc: how a CRI must be told to call it),
    `isolation` the class its Pods must show (RC-USE-8): the declaration the suite checks.
    """

    name: str
    binary: str
    oci_version: str | None = None
    type: str = "runc"
    isolation: str = "shared-kernel"
    # runsc only: extra runsc flags for the shim's runsc.toml (`runsc_config`), e.g. `debug: "true"`.
    flags: tuple[tuple[str, str], ...] = ()
    # Broken on purpose (clusters/local/variants.py): a front moves every container's cgroup out of the Pod
    # cgroup, to `<node cgroup root>/<this>/<id>`, as a shim or runtime that mishandles cgroupsPath would.
    relocate_cgroups: str | None = None

    @property
    def from_host(self) -> bool:
        return self.binary.startswith("/")
