"""The kind provider: a cluster of node containers on a Docker (or podman) engine.

`clusters.kind.provider.KindProvider` is the provider; importing this package
alone pulls in only the pure parts (topology parsing, kind config generation,
containerd config edits, cgroup paths), which are unit-tested without an
engine. Only `provider`, `nodes` and `evidence` run commands.
"""

from clusters.kind.topology import DEFAULT_TOPOLOGY, KindTopology, load_topology

__all__ = ["DEFAULT_TOPOLOGY", "KindTopology", "load_topology"]
