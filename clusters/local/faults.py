"""Infrastructure faults injected into a running local cluster, for the tests and the bench that check
the suite names them (tests/test_infrastructure_faults.py, bench/infra_faults.py; issue 21).

A fault is a real component stopped (a node's kubelet, a node's CRI) or restarted (the API server),
found by its name in the cluster's recorded state (`kubelet-<node>`, `containerd-<node>`,
`crio-<node>`, `kube-apiserver`). A restarted component runs under a new pid that the cluster's
state does not know: the caller stops it (`stop`) before `down`.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from clusters.local import processes
from clusters.local.cluster import LocalCluster
from clusters.local.processes import ProcessRecord


def record_of(cluster: LocalCluster, name: str) -> ProcessRecord:
    for record in cluster._load_state().processes:
        if record.name == name:
            return record
    raise KeyError(f"cluster {cluster.topology.name} has no process {name!r}")


def kill(cluster: LocalCluster, name: str) -> float:
    """SIGKILL the component (no graceful exit, as a crash or a lost machine); the wall time it was killed."""
    record = record_of(cluster, name)
    os.kill(record.pid, signal.SIGKILL)
    killed_at = time.time()
    processes.stop_all([record], grace=5)  # reaps it if it is our child; returns once it is gone
    return killed_at


def restart(cluster: LocalCluster, name: str, down_for: float = 2.0) -> ProcessRecord:
    """Stop the component (SIGTERM) and start it again with the same command line and environment."""
    record = record_of(cluster, name)
    proc = Path(f"/proc/{record.pid}")
    argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
    env = dict(line.decode(errors="replace").split("=", 1) for line in (proc / "environ").read_bytes().split(b"\0")
               if b"=" in line)
    cwd = Path(os.readlink(proc / "cwd"))
    processes.stop_all([record], grace=10)
    time.sleep(down_for)
    return processes.start(name, argv, Path(record.log), env=env, cwd=cwd)


def stop(record: ProcessRecord) -> None:
    """Stop a component `restart` started (the cluster's own `down` does not know its pid)."""
    processes.stop_all([record], grace=10)
