"""The one host-side setting upstream's RuntimeClass e2e tests probe: /etc/containerd/config.toml.

`NodeSupportsPreconfiguredRuntimeClassHandler` (test/e2e/framework/node/runtimeclass) greps
`runtimes.test-handler` in the node's /etc/containerd/config.toml (or /etc/crio/crio.conf) and
skips its test when the file is absent. Local-cluster nodes keep their containerd config in
their state folder, so for the duration of an upstream run this links that path to a node's
real config (which does configure test-handler), and only when nothing is there already.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from clusters.local.cluster import LocalCluster

PROBED_CONFIG = Path("/etc/containerd/config.toml")


@contextlib.contextmanager
def handler_probe_config(cluster: LocalCluster, enabled: bool = True,
                         path: Path = PROBED_CONFIG) -> Iterator[str]:
    """Yield what was done (for the report); undo exactly that on exit."""
    if not enabled:
        yield "off: upstream's handler probe finds no containerd config and its two tests skip"
        return
    if path.exists() or path.is_symlink():
        yield f"left alone: {path} already exists (not ours)"
        return
    created_dir = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    target = cluster.nodes[0].containerd_config
    path.symlink_to(target)
    try:
        yield f"{path} -> {target} during upstream runs"
    finally:
        if path.is_symlink() and path.resolve() == target.resolve():
            path.unlink()
        if created_dir:
            with contextlib.suppress(OSError):
                path.parent.rmdir()
