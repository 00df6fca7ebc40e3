"""Real infrastructure faults during a run (issue 21): the run names them, exits 3, fails no clause.

Each test runs the whole suite (`python -m conformance.run -n 2 --keep-cluster`) on the cluster of
clusters/faults/topology.yaml (`rcc-faults`: its own ports, addresses and names, so it never touches
the default `rcc` cluster) and injects one fault while the run's Pods are on rcc-faults-1: its
kubelet killed, its containerd killed, the API server restarted (which must be ridden out: exit 0),
or an image that cannot be pulled. Each asserts the exit code, the one line naming the fault, that
no clause FAILED because of it, that the clauses it left untested are named and every other clause
kept its verdict, a generous bound on the time from the fault to the run's end (the goal itself is
measured by bench/infra_faults.py), and that nothing of the run is left on the cluster once the
API server answers. A test leaves the cluster broken; the next one's `up` rebuilds it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from clusters.local import faults, load_topology
from clusters.local.cluster import LocalCluster
from conformance import manifests

ROOT = Path(__file__).resolve().parent.parent
FAULTS_TOPOLOGY = ROOT / "clusters" / "faults" / "topology.yaml"
LOST_NODE = "rcc-faults-1"
# Generous on a loaded 2-core machine; bench/infra_faults.py measures the real figure (goal: about a minute).
FAULT_TO_EXIT_BOUND = 240.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")


@pytest.fixture(scope="module")
def cluster():
    local = LocalCluster(load_topology(FAULTS_TOPOLOGY), progress=lambda _m: None)
    started: list = []
    yield local, started
    for record in started:
        faults.stop(record)
    local.down()


@pytest.fixture
def healthy(cluster):
    """The fault cluster, up and healthy (rebuilt if the previous test broke it)."""
    local, started = cluster
    for record in started:
        faults.stop(record)
    started.clear()
    local.up()
    settled(local)
    return cluster


def settled(local: LocalCluster, timeout: float = 120) -> None:
    """Every node Ready without a node.kubernetes.io taint: a freshly built cluster's not-ready taints are
    lifted by the node controller a moment after the nodes report Ready."""
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(local.kubeconfig)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = api.list_node().items
        if all(not any(t.key.startswith("node.kubernetes.io/") for t in n.spec.taints or []) for n in nodes):
            return
        time.sleep(0.5)
    raise AssertionError(f"the nodes of {local.topology.name} kept node.kubernetes.io taints for {timeout:g} s")


class Run:
    def __init__(self, local: LocalCluster, tmp_path: Path, *args: str) -> None:
        self.local = local
        self.run_id = "f" + secrets.token_hex(4)
        self.report = tmp_path / "report"
        self.command = [sys.executable, "-m", "conformance.run", "--run-id", self.run_id, "--topology",
                        str(FAULTS_TOPOLOGY), "--keep-cluster", "--report-dir", str(self.report), "-n", "2", *args]
        self.api = client.CoreV1Api(config.new_client_from_config(config_file=str(local.kubeconfig)))
        self.fault_at: float | None = None

    def inject_when_busy(self, inject) -> None:
        """Inject the fault once a Pod of this run is bound to the node that will be lost."""
        def watch() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                try:
                    pods = self.api.list_pod_for_all_namespaces(
                        label_selector=f"{manifests.LABEL_RUN}={self.run_id}",
                        field_selector=f"spec.nodeName={LOST_NODE}").items
                except Exception:  # noqa: BLE001 - the run is still bringing things up
                    pods = []
                if pods:
                    self.fault_at = inject()
                    return
                time.sleep(0.2)

        threading.Thread(target=watch, daemon=True).start()

    def finish(self) -> tuple[int, str, dict, float]:
        done = subprocess.run(self.command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
        ended = time.time()
        summary = json.loads((self.report / "summary.json").read_text())
        return done.returncode, done.stdout + done.stderr, summary, ended

    def leftovers(self, wait: float = 90) -> list[str]:
        """The run's namespaces, RuntimeClasses, node labels and taints still on the cluster."""
        selector = f"{manifests.LABEL_RUN}={self.run_id}"
        deadline = time.monotonic() + wait
        while True:
            found = [f"namespace {n.metadata.name}" for n in self.api.list_namespace(label_selector=selector).items]
            found += [f"RuntimeClass {rc.metadata.name}" for rc in client.NodeV1Api(self.api.api_client)
                      .list_runtime_class(label_selector=selector).items]
            for node in self.api.list_node().items:
                found += [f"label {k} on {node.metadata.name}" for k in (node.metadata.labels or {})
                          if f"run-{self.run_id}" in k]
                found += [f"taint {t.key} on {node.metadata.name}" for t in (node.spec.taints or [])
                          if f"run-{self.run_id}" in t.key]
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(1)


def assert_named_fault(code: int, output: str, summary: dict, kinds: set[str], node: str | None) -> None:
    assert code == 3, output[-3000:]
    line = next(line for line in output.splitlines() if line.startswith("verdict:  "))
    assert line.startswith("verdict:  INFRASTRUCTURE FAULT: ") and line.endswith("-> exit 3"), line
    assert "CONFORMANT" not in line
    faults_seen = summary["infrastructure"]
    assert faults_seen and faults_seen[0]["kind"] in kinds, faults_seen
    if node:
        assert faults_seen[0]["node"] == node and f"node {node}" in line
    verdicts = {c["id"]: c["verdict"] for c in summary["clauses"]}
    assert summary["failed_clauses"] == [], summary["failed_clauses"]
    untested = set(summary["infrastructure_untested"])
    assert untested and all(verdicts[c] == "untested" for c in untested)
    kept = {c: v for c, v in verdicts.items() if c not in untested}
    assert kept and set(kept.values()) == {"passed"}, kept
    assert summary["tests"]["infrastructure"] >= 1


# The node's component the fault stops, and the fault kinds that may name it: a killed kubelet stops the
# heartbeats; a killed containerd makes the kubelet report NotReady or the CRI unreachable.
LOST_COMPONENTS = {"kubelet": {"heartbeat-stale", "node-not-ready"},
                   "containerd": {"node-not-ready", "cri-unreachable", "heartbeat-stale"}}


@pytest.mark.parametrize("component", LOST_COMPONENTS, ids=["kubelet", "cri"])
def test_a_nodes_component_stopped_mid_run_is_named_and_fails_no_clause(healthy, tmp_path, component):
    local, _ = healthy
    run = Run(local, tmp_path)
    run.inject_when_busy(lambda: faults.kill(local, f"{component}-{LOST_NODE}"))
    code, output, summary, ended = run.finish()
    assert run.fault_at is not None, "no Pod of the run reached the node before the run ended"
    print(f"{component} of {LOST_NODE} killed; the run exited {ended - run.fault_at:.1f} s later")
    assert_named_fault(code, output, summary, LOST_COMPONENTS[component], LOST_NODE)
    assert ended - run.fault_at < FAULT_TO_EXIT_BOUND
    assert run.leftovers() == []


def test_an_image_that_cannot_be_pulled_is_named_and_leaves_the_api_clauses_their_verdicts(healthy, tmp_path):
    local, _ = healthy
    run = Run(local, tmp_path, "--test-image", "registry.invalid/rcc/no-such-image:1")
    code, output, summary, _ = run.finish()
    assert_named_fault(code, output, summary, {"image-pull"}, None)
    verdicts = {c["id"]: c["verdict"] for c in summary["clauses"]}
    # No Pod of these ever pulls an image: admission, the API, and a missing handler's sandbox failure.
    assert {verdicts[c] for c in ("RC-API-1", "RC-API-2", "RC-OVH-1", "RC-OVH-3", "RC-USE-5")} == {"passed"}
    assert "RC-USE-1" in summary["infrastructure_untested"]
    assert run.leftovers() == []


def test_an_api_server_restart_mid_run_is_ridden_out(healthy, tmp_path):
    local, started = healthy
    run = Run(local, tmp_path)
    run.inject_when_busy(lambda: (started.append(faults.restart(local, "kube-apiserver")), time.time())[1])
    code, output, summary, _ = run.finish()
    assert run.fault_at is not None, "no Pod of the run reached the node before the run ended"
    assert code == 0, output[-3000:]
    assert summary["infrastructure"] == [] and summary["failed_clauses"] == []
    assert run.leftovers() == []
