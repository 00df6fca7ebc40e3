"""Benchmark of the kind cluster: node-image build, cluster creation, warm suite run, peak memory.

    python3 bench/bench_kind.py [--rebuild-image] [--cold-rootfs] [--skip-suite]

Steps, each timed: the offline node image (``--rebuild-image`` assembles it
again even when its input key matches; the debootstrap rootfs and the Go
binaries stay cached; ``--cold-rootfs`` also deletes the debootstrap rootfs
first, so it is fetched and unpacked again), ``KindProvider.create`` for the topology (``kind create
cluster`` through pytest-kind-ng, handlers, test image, nodes and CoreDNS
Ready), the suite on the kept cluster (``pytest suites --cluster kind -n 2
--keep-cluster``), and the cluster's deletion. Peak memory is the sum over
the node containers of their cgroup's ``memory.max_usage_in_bytes`` (cgroup
v1) or ``memory.peak`` (v2), read before deletion. Needs an engine (``python
-m clusters.kind engine up``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from clusters.kind import engine, node_image
from clusters.kind.provider import KindProvider
from clusters.toolbox.binaries import default_cache_dir

ROOT = Path(__file__).resolve().parents[1]


def node_peak_bytes(env: dict[str, str], cluster: str) -> int:
    """Peak memory of every node container of ``cluster``, from its own memory cgroup."""
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=io.x-k8s.kind.cluster={cluster}"],
                         env=env, capture_output=True, text=True).stdout.split()
    total = 0
    for container in ids:
        for path in (Path("/sys/fs/cgroup/memory/docker") / container / "memory.max_usage_in_bytes",
                     *Path("/sys/fs/cgroup").glob(f"**/docker-{container}.scope/memory.peak"),
                     Path("/sys/fs/cgroup/docker") / container / "memory.peak"):
            if path.exists():
                total += int(path.read_text().split()[0])
                break
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild-image", action="store_true", help="assemble the node image again")
    parser.add_argument("--cold-rootfs", action="store_true", help="debootstrap the node rootfs again")
    parser.add_argument("--skip-suite", action="store_true", help="only image, create and delete")
    args = parser.parse_args()
    env = engine.docker_env()
    if not engine.answers(env):
        print("bench_kind: no engine answers `docker info`; run `python -m clusters.kind engine up` first")
        return 2
    figures: dict[str, str] = {}

    if args.cold_rootfs:
        for rootfs in (default_cache_dir() / "kind-node").glob("debian-*"):
            shutil.rmtree(rootfs)
    started = time.monotonic()
    node_image.ensure_node_image(env, progress=print, rebuild=args.rebuild_image or args.cold_rootfs)
    how = "debootstrap + assembly" if args.cold_rootfs else "assembly" if args.rebuild_image else "cached or built"
    figures[f"node image ({how})"] = f"{time.monotonic() - started:.0f} s"

    provider = KindProvider(keep=True, progress=print)
    started = time.monotonic()
    provider.create()
    figures["create: kind create cluster + handlers + test image + Ready"] = f"{time.monotonic() - started:.0f} s"
    try:
        if not args.skip_suite:
            started = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                                     "--cluster", "kind", "-n", "2", "--keep-cluster"], cwd=ROOT, env=env)
            figures["warm suite on kind (-n 2, kept cluster)"] = (f"{time.monotonic() - started:.0f} s "
                                                                 f"(exit {result.returncode})")
        figures["peak memory of the node containers"] = f"{node_peak_bytes(env, provider.topology.name) / 2**20:.0f} MiB"
    finally:
        provider.keep = False
        started = time.monotonic()
        provider.destroy()
        figures["kind delete cluster"] = f"{time.monotonic() - started:.0f} s"
    print("\nbench_kind:")
    for name, value in figures.items():
        print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
