"""The local provider: upstream Kubernetes components as processes on this host.

Public surface: `LocalCluster` (up/down/status), `load_topology`, `ClusterError`.
Everything here needs root and touches the host (cgroups, mounts, bridges); the
pure parts (topology parsing, config generation) sit in their own modules so
they can be unit-tested without it.
"""

from clusters.toolbox.errors import ClusterError
from clusters.local.topology import DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = ["ClusterError", "DEFAULT_TOPOLOGY", "Topology", "load_topology"]
