"""What a Pod start costs per handler: Pod created -> Running, and -> Succeeded for a Pod that exits at once.

    python3 bench/bench_handler_start.py [--rounds 5] [--topology FILE] [--keep-cluster]

Brings up the local cluster of the topology (or reuses a healthy one), then, handler after
handler and round after round, creates one Pod pinned to the first node that has the handler
and times it from the create call to the phase, polling every 0.1 s. A sandboxing runtime
(gVisor) pays for its user-space kernel here; runc is the baseline. Nothing is asserted: the
figures are printed (median, min, max) for docs/local-cluster.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from clusters.local.cluster import LocalCluster
from clusters.toolbox.images import TEST_IMAGE
from clusters.local.topology import DEFAULT_TOPOLOGY, load_topology
from conformance.kube import Kube, connect

NAMESPACE = "default"


def pod(name: str, node: str, runtime_class: str, command: list[str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "restartPolicy": "Never", "automountServiceAccountToken": False,
                     "runtimeClassName": runtime_class, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                                     "command": command}]}}


def seconds_to_phase(kube: Kube, body: dict, phase: str, timeout: float = 120) -> float:
    """Create the Pod, wait for `phase`, delete it; the seconds from create to that phase."""
    name = body["metadata"]["name"]
    began = time.monotonic()
    kube.core.create_namespaced_pod(NAMESPACE, body)
    try:
        while time.monotonic() - began < timeout:
            seen = kube.core.read_namespaced_pod(name, NAMESPACE).status.phase
            if seen == phase:
                return time.monotonic() - began
            if seen == "Failed":
                raise SystemExit(f"Pod {name} failed instead of reaching {phase}")
            time.sleep(0.1)
        raise SystemExit(f"Pod {name} did not reach {phase} within {timeout:.0f} s")
    finally:
        kube.core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()
    topology = load_topology(args.topology)
    cluster = LocalCluster(topology, progress=lambda _m: None)
    kube = connect(cluster.up(), None)
    handlers = {h: next(n.name for n in topology.nodes if h in n.handler_names)
                for h in sorted({h for n in topology.nodes for h in n.handler_names})}
    try:
        for handler in handlers:
            kube.node.create_runtime_class({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                            "metadata": {"name": f"bench-{handler}"}, "handler": handler})
        print(f"Pod start per handler, {args.rounds} rounds, {topology.name} ({args.topology})")
        for handler, node in handlers.items():
            running, succeeded = [], []
            for i in range(args.rounds):
                running.append(seconds_to_phase(kube, pod(f"bench-{handler}-r{i}", node, f"bench-{handler}",
                                                          ["sleep", "3600"]), "Running"))
                succeeded.append(seconds_to_phase(kube, pod(f"bench-{handler}-s{i}", node, f"bench-{handler}",
                                                            ["true"]), "Succeeded"))
            print(f"{handler:>14} on {node}: to Running median {statistics.median(running):.2f} s "
                  f"(min {min(running):.2f}, max {max(running):.2f}); to Succeeded median "
                  f"{statistics.median(succeeded):.2f} s (min {min(succeeded):.2f}, max {max(succeeded):.2f})")
    finally:
        for handler in handlers:
            kube.node.delete_runtime_class(f"bench-{handler}")
        if not args.keep_cluster:
            cluster.down()


if __name__ == "__main__":
    main()
