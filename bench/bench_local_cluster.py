"""Benchmark of the local cluster: cold build, warm `up` to all nodes Ready, `down`, peak memory.

    python3 bench/bench_local_cluster.py [--rounds 3] [--cold] [--topology FILE]

`--cold` builds every binary into a fresh cache with an empty Go build cache
(what a fresh machine pays once; module downloads still come from the Go
module cache if present). Timing goals are checked here, never in a test:
warm `up` should take at most 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from clusters.local.cluster import LocalCluster
from clusters.local.topology import DEFAULT_TOPOLOGY, Topology, load_topology

GOAL_WARM_UP_SECONDS = 30.0


def cluster_rss_bytes(root: Path) -> int:
    """Resident memory of every process whose command line mentions the cluster's state folder,
    plus their descendants (shims, pause and test containers)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    ours: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        pid = int(entry.name)
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024 if "VmRSS" in fields else 0
        if f"{root}/" in cmdline:  # the trailing slash keeps rcc from matching rcc-upstream
            ours.add(pid)
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                changed = True
    return sum(rss.get(pid, 0) for pid in ours)


class PeakSampler:
    def __init__(self, root: Path, interval: float = 0.2) -> None:
        self.root, self.interval, self.peak = root, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, cluster_rss_bytes(self.root))
            time.sleep(self.interval)

    def __enter__(self) -> "PeakSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def cold_build_seconds(topology: Topology) -> float:
    """Every binary the topology needs, runtimes (runc, gVisor) and CRIs included, into empty caches."""
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as gocache:
        os.environ["GOCACHE"] = gocache
        began = time.monotonic()
        LocalCluster(topology, progress=lambda m: print(f"  {m}")).ensure_binaries(Path(cache))
        elapsed = time.monotonic() - began
        del os.environ["GOCACHE"]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time a build from empty caches")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY,
                        help="cluster to measure (default: the embedded one)")
    args = parser.parse_args()
    topology = load_topology(args.topology)
    cluster = LocalCluster(topology, progress=lambda _m: None)
    if args.cold:
        print("cold build (empty binary cache, empty Go build cache):")
        print(f"cold build: {cold_build_seconds(topology):.0f} s")
    cluster.down()
    cluster.up()  # warm the binary and image caches
    cluster.down()
    ups, downs, peaks = [], [], []
    for _ in range(args.rounds):
        with PeakSampler(cluster.layout.root) as sampler:
            began = time.monotonic()
            cluster.up()
            ups.append(time.monotonic() - began)
            time.sleep(5)  # settle: controllers and kubelets past their start-up burst
        peaks.append(sampler.peak)
        began = time.monotonic()
        cluster.down()
        downs.append(time.monotonic() - began)
    cris = ", ".join(sorted({n.cri for n in topology.nodes}))
    print(f"nodes: {len(topology.nodes)} ({cris}), Kubernetes {topology.kubernetes_version}, {os.cpu_count()} cores")
    print(f"warm up to all nodes Ready: median {statistics.median(ups):.1f} s (runs: "
          f"{', '.join(f'{u:.1f}' for u in ups)}); goal <= {GOAL_WARM_UP_SECONDS:.0f} s: "
          f"{'met' if statistics.median(ups) <= GOAL_WARM_UP_SECONDS else 'NOT met'}")
    print(f"down: median {statistics.median(downs):.1f} s")
    print(f"peak memory of the cluster's processes: {max(peaks) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
