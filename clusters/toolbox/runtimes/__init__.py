"""The OCI runtimes a node's CRI can run (runc, crun, runsc…): one module each, one small interface.

A module says what must be built for its runtime, which executable a CRI calls, and how
containerd's and CRI-O's runtime tables name it. Nothing here starts a process: the CRI
modules write these tables into their configs and `LocalCluster` only orchestrates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from clusters.toolbox.binaries import Binaries, GoComponent
from clusters.toolbox.errors import ClusterError
from clusters.toolbox.runtimes import crun, runc, runsc
from clusters.toolbox.topology_records import Runtime


class OCIRuntime(Protocol):
    """How one kind of OCI runtime is built, called and named in a CRI's runtime table."""

    type: str

    def components(self) -> tuple[GoComponent, ...]:
        """Go components the project builds for this runtime (cached like the cluster's)."""

    def executable(self, runtime: Runtime, binaries: Binaries, folder: Path) -> Path:
        """The file the CRI calls for `runtime`; `folder` is where generated wrappers may go."""

    def containerd_table(self, path: Path) -> dict:
        """The value of `runtimes.<handler>` in containerd's config (v3) for this runtime at `path`."""

    def crio_table(self, path: Path, root: Path) -> dict:
        """The value of `[crio.runtime.runtimes.<handler>]` in CRI-O's config; `root` is its state folder."""


RUNTIMES: dict[str, OCIRuntime] = {r.type: r for r in (runc.RUNC, crun.CRUN, runsc.RUNSC)}


def runtime_for(runtime: Runtime) -> OCIRuntime:
    try:
        return RUNTIMES[runtime.type]
    except KeyError:
        raise ClusterError(f"runtime {runtime.name}: type {runtime.type!r} is not supported by the local cluster "
                           f"(supported: {', '.join(sorted(RUNTIMES))})") from None


def components_for(runtimes: list[Runtime]) -> tuple[GoComponent, ...]:
    """Every Go component the given runtimes need, each once."""
    seen: dict[str, GoComponent] = {}
    for runtime in runtimes:
        for component in runtime_for(runtime).components():
            seen.setdefault(component.key, component)
    return tuple(seen.values())
