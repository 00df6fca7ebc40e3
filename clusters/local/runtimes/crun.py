"""crun: a second, independent OCI runtime (C), taken from the host (Debian's `crun` package).

Debian bookworm's crun 1.8.1 accepts runtime-spec 1.0.x only; the topology pins `ociVersion`
and a generated front rewrites each bundle before exec'ing it (containerd's base_runtime_spec
does not apply to sandboxes, so the pin cannot be done in containerd's config).
"""

from __future__ import annotations

from pathlib import Path

from clusters.local.binaries import Binaries, GoComponent
from clusters.local.runtimes.common import oci_crio_table, resolved_binary, runc_shim_table, with_oci_version_pin
from clusters.local.topology import Runtime


class Crun:
    type = "crun"

    def components(self) -> tuple[GoComponent, ...]:
        return ()

    def executable(self, runtime: Runtime, binaries: Binaries, folder: Path) -> Path:
        return with_oci_version_pin(runtime, resolved_binary(runtime, binaries), folder)

    def containerd_table(self, path: Path) -> dict:
        return runc_shim_table(path)

    def crio_table(self, path: Path, root: Path) -> dict:
        return oci_crio_table(path, root)


CRUN = Crun()
