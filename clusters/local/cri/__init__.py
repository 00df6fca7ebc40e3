"""The CRI implementation a local node runs (containerd, CRI-O): one module each, one small interface.

A NodeCRI knows its own config file, command line, socket, readiness, how images get in
without a registry, which runtime tables its config really holds (RC-CRI-1) and where it
reports the handler a sandbox ran with (RC-USE-2). `LocalCluster` only starts and stops the
processes it describes; the suite's node evidence reads through it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from clusters.toolbox.binaries import Binaries, GoComponent
from clusters.toolbox.errors import ClusterError
from clusters.local.layout import NodeLayout
from clusters.local.topology import NodeSpec, Topology


class NodeCRI(Protocol):
    """One node's CRI: configured from the topology, started by LocalCluster."""

    kind: str  # "containerd" or "crio": also the prefix of its process record's name

    @property
    def endpoint(self) -> str:
        """The CRI socket as a unix:// URL, for the kubelet and crictl."""

    def components(self) -> tuple[GoComponent, ...]:
        """Go components to build for this CRI beyond the cluster's own (e.g. CRI-O)."""

    def write_config(self, binaries: Binaries, runtime_paths: dict[str, Path]) -> None:
        """Write every file the CRI reads; `runtime_paths` maps runtime name -> executable."""

    def command(self, binaries: Binaries) -> tuple[list[str], dict[str, str]]:
        """argv and environment of the CRI's daemon."""

    def ready(self, binaries: Binaries) -> bool:
        """True once the daemon answers on its socket."""

    def import_images(self, binaries: Binaries, archives: list[Path]) -> None:
        """Make the OCI archives (pause, test image) available without a registry."""

    def runtime_tables(self) -> list[str]:
        """The handler names the CRI's own configuration holds, read back from it (RC-CRI-1)."""

    def sandbox_handler(self, inspectp: dict) -> tuple[str, str]:
        """The handler a sandbox ran with, from `crictl inspectp -o json`, and where it was read."""

    def cleanup(self) -> None:
        """Stop what the daemon left behind (shims, monitors) once it is stopped."""


Factory = Callable[[NodeSpec, NodeLayout, Topology], NodeCRI]


def cri_for(spec: NodeSpec, layout: NodeLayout, topology: Topology) -> NodeCRI:
    """The NodeCRI of a topology node, by its `cri:` field."""
    from clusters.local.cri import containerd, crio

    factories: dict[str, Factory] = {"containerd": containerd.ContainerdCRI, "crio": crio.CrioCRI}
    try:
        return factories[spec.cri](spec, layout, topology)
    except KeyError:
        raise ClusterError(f"node {spec.name}: CRI {spec.cri!r} is not supported by the local cluster yet "
                           f"(supported: {', '.join(sorted(factories))})") from None

