"""Nothing leaks: Ctrl-C in the middle of a run, and leftovers of a killed run swept by the cleanup command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusters.local.provider import LocalProvider
from conformance import manifests
from conformance.kube import connect
from conformance.liveness import RunLease

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")

ROOT = Path(__file__).resolve().parents[1]
MANAGED = f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY}"


@pytest.fixture(scope="module")
def cluster():
    provider = LocalProvider(keep=True, progress=lambda _m: None)
    kubeconfig = provider.create()
    yield kubeconfig, connect(kubeconfig, None)
    provider.cluster.down()


def suite_objects(kube) -> dict[str, list[str]]:
    taints = [t.key for n in kube.core.list_node().items for t in (n.spec.taints or [])
              if t.key.startswith(manifests.LABEL_PREFIX)]
    labels = [k for n in kube.core.list_node().items for k in (n.metadata.labels or {})
              if k.startswith(f"{manifests.LABEL_PREFIX}run-")]
    return {
        "namespaces": [n.metadata.name for n in kube.core.list_namespace(label_selector=MANAGED).items
                       if n.status.phase != "Terminating"],
        "runtimeclasses": [r.metadata.name for r in kube.node.list_runtime_class(label_selector=MANAGED).items],
        "node taints": taints,
        "node labels": labels,
    }


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupting_a_run_midway_leaves_nothing_in_the_cluster(cluster, sig):
    _, kube = cluster
    # SIGINT as from a terminal: a job a shell started in the background without job control
    # (CI under `cmd &`) inherits SIGINT ignored, and the run would never see the Ctrl-C.
    run = subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                            "--keep-cluster", "-k", "scheduling or overhead"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_until(lambda: suite_objects(kube)["namespaces"], timeout=120), "the run created nothing"
        time.sleep(3)  # well inside a test: Pods, RuntimeClasses, maybe a taint exist now
        run.send_signal(sig)
        output, _ = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode != 0, output[-2000:]
    assert suite_objects(kube) == {"namespaces": [], "runtimeclasses": [], "node taints": [],
                                   "node labels": []}, output[-2000:]


def test_cleanup_command_sweeps_what_a_killed_run_left(cluster):
    kubeconfig, kube = cluster
    run_id = "rkilled"
    kube.core.create_namespace(manifests.namespace(f"rcc-{run_id}-left", run_id))
    kube.node.create_runtime_class(manifests.runtime_class(f"rc-{run_id}-left", "runc", run_id))
    node = kube.core.list_node().items[0].metadata.name
    kube.core.patch_node(node, {"metadata": {"labels": {f"{manifests.LABEL_PREFIX}run-{run_id}-x": "y"}}})
    result = subprocess.run([sys.executable, "-m", "conformance.cleanup", "--kubeconfig", str(kubeconfig)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "removed 1 namespaces, 1 RuntimeClasses, restored 1 nodes" in result.stdout
    assert suite_objects(kube) == {"namespaces": [], "runtimeclasses": [], "node taints": [], "node labels": []}


def test_cleanup_command_says_in_one_line_when_no_cluster_is_reachable(tmp_path):
    result = subprocess.run([sys.executable, "-m", "conformance.cleanup", "--kubeconfig", str(tmp_path / "nope")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr


def test_next_run_sweeps_a_dead_runs_leftovers_and_spares_a_live_run(cluster):
    _, kube = cluster
    node = kube.core.list_node().items[0].metadata.name
    for run_id in ("rdead", "rlive"):
        kube.core.create_namespace(manifests.namespace(f"rcc-{run_id}-left", run_id))
        kube.node.create_runtime_class(manifests.runtime_class(f"rc-{run_id}-left", "runc", run_id))
    taints = kube.core.read_node(node).spec.taints or []
    dead_taint = {"key": f"{manifests.LABEL_PREFIX}run-rdead-gw0-taint", "value": "x", "effect": "NoSchedule"}
    kube.core.patch_node(node, {"spec": {"taints": [*[kube.api.sanitize_for_serialization(t) for t in taints],
                                                    dead_taint]}})
    live = RunLease(kube, "rlive").acquire()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                                 "--keep-cluster", "-k", "409"], cwd=ROOT, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-2000:]
        assert "swept leftovers of runs that are no longer alive" in result.stdout
        left = suite_objects(kube)
        assert left["namespaces"] == ["rcc-rlive-left"] and left["runtimeclasses"] == ["rc-rlive-left"], left
        assert left["node taints"] == [], left
    finally:
        live.release()
        subprocess.run([sys.executable, "-m", "conformance.cleanup", "--kubeconfig", str(cluster[0])], cwd=ROOT,
                       capture_output=True, timeout=120)


def test_a_run_leaves_the_cluster_up_while_another_live_run_uses_it(cluster):
    """`up` reuses a healthy cluster, so two runs can share one: the first out must not tear it down."""
    _, kube = cluster
    other = RunLease(kube, "rother").acquire()
    try:
        # No --keep-cluster: without the other run's Lease this run would take the cluster down.
        result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                                 "-k", "409"], cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-2000:]
        assert "leaving the local cluster up: run(s) rother still use it" in result.stdout
        assert LocalProvider(keep=True, progress=lambda _m: None).cluster.is_healthy()
    finally:
        other.release()
