"""The embedded local cluster, brought up for real: nodes, handlers, Pods, and a clean `down`.

Needs root, Go (or cached binaries) and the Debian packages of scripts/setup.
The module starts from a stopped cluster so that it can compare the host
before `up` with the host after `down`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from clusters.toolbox import host
from clusters.local.cluster import KUBELET_DEVICE_PLUGIN_SOCKET, LocalCluster
from clusters.toolbox.images import TEST_IMAGE
from clusters.local.provider import LocalEvidence
from clusters.local.topology import load_topology
from conformance.kube import connect

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")


def host_snapshot(cluster: LocalCluster) -> dict:
    """What a cluster can leave behind on the host."""
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    root = f"{cluster.layout.root}/"  # the slash keeps another cluster (rcc-upstream) out
    bridges = {node.bridge for node in cluster.nodes}
    return {
        "processes": sorted(p for p in processes if root in p),
        "mounts": host.mounts_under(cluster.layout.root),
        "links": sorted(n.name for n in Path("/sys/class/net").iterdir() if n.name in bridges),
        "cgroups": sorted(str(c / node.cgroup_root.lstrip("/")) for c in [*host.v1_controllers(), host.CGROUP_V2_HYBRID]
                          for node in cluster.nodes if (c / node.cgroup_root.lstrip("/")).exists()),
        "iptables": sorted(host.iptables_chains()),
        "state": cluster.layout.root.exists(),
        "run_containerd": Path("/run/containerd").exists(),
        "var_lib_containers": Path("/var/lib/containers").exists(),  # skopeo's cache (CRI-O image import)
        "var_lib_kubelet": KUBELET_DEVICE_PLUGIN_SOCKET.parents[1].exists(),
        "hugetlb_mounted": any(" /sys/fs/cgroup/hugetlb " in line for line in open("/proc/self/mounts")),
    }


@pytest.fixture(scope="module")
def cluster():
    local = LocalCluster(load_topology(), progress=lambda message: print(f"[rcc-local] {message}"))
    local.down()
    before = host_snapshot(local)
    local.up()
    yield local
    local.down()
    after = host_snapshot(local)
    assert after == before, "down left the host changed"


@pytest.fixture(scope="module")
def kube(cluster):
    return connect(cluster.kubeconfig, None)


def run_pod(kube, name: str, node: str, runtime_class: str | None, command: list[str]) -> dict:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "restartPolicy": "Never", "automountServiceAccountToken": False,
                     "runtimeClassName": runtime_class, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "main", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                                     "command": command}]}}
    kube.core.create_namespaced_pod("default", body)
    return body


def wait_phase_or_event(kube, name: str, timeout: float = 60,
                        phases: tuple[str, ...] = ("Succeeded", "Failed")) -> tuple[str, list[str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = kube.core.read_namespaced_pod(name, "default").status.phase
        events = [f"{e.reason}: {e.message}" for e in kube.core.list_namespaced_event(
            "default", field_selector=f"involvedObject.name={name}").items]
        if phase in (*phases, "Failed") or any(e.startswith("FailedCreatePodSandBox") for e in events):
            return phase, events
        time.sleep(0.5)
    raise AssertionError(f"Pod {name} neither finished nor failed within {timeout}s")


def test_up_is_idempotent_and_reuses_the_healthy_cluster(cluster):
    pids = {name: record["pid"] for name, record in cluster.status()["processes"].items()}
    cluster.up()
    assert {name: record["pid"] for name, record in cluster.status()["processes"].items()} == pids


def test_every_node_of_the_topology_is_ready(cluster, kube):
    nodes = {n.metadata.name: n for n in kube.core.list_node().items}
    assert set(nodes) == {n.name for n in cluster.topology.nodes}
    for node in nodes.values():
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions), node.metadata.name


def test_each_node_reports_exactly_its_topology_handlers(cluster, kube):
    evidence = LocalEvidence(cluster)
    for spec in cluster.topology.nodes:
        node = kube.core.read_node(spec.name)
        reported = sorted(h.name for h in node.status.runtime_handlers if h.name)
        assert reported == sorted(spec.handler_names), spec.name
        assert evidence.cri_runtime_tables(spec.name) == sorted(spec.handler_names), spec.name


def test_node_labels_and_addresses_come_from_the_topology(cluster, kube):
    for spec in cluster.topology.nodes:
        node = kube.core.read_node(spec.name)
        assert spec.labels.items() <= node.metadata.labels.items()
        assert {"type": "InternalIP", "address": spec.address} in [a.to_dict() for a in node.status.addresses]


def test_key_files_are_private_and_components_listen_on_loopback_only(cluster):
    keys = list(cluster.layout.pki.rglob("*.key"))
    assert keys and all(oct(k.stat().st_mode & 0o777) == "0o600" for k in keys)
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout.splitlines()
    ours = [line for line in listening if any(c in line for c in ("kube-", "etcd", "kubelet", "containerd", "crio"))]
    assert ours
    for line in ours:
        local = line.split()[3]
        assert local.startswith("127.") or local.startswith("[::1]"), line


# Every handler of the default topology (runc, crun, gvisor, test-handler, crio-runc), on every node that has it.
@pytest.mark.parametrize("handler", sorted({h for node in load_topology().nodes for h in node.handler_names}))
def test_a_pod_per_handler_succeeds_where_the_handler_exists_and_the_cri_reports_it(cluster, kube, handler):
    kube.node.create_runtime_class({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                    "metadata": {"name": f"it-{handler}"}, "handler": handler})
    evidence = LocalEvidence(cluster)
    pods = {spec.name: f"it-{handler}-{spec.name}" for spec in cluster.topology.nodes if handler in spec.handler_names}
    for node, name in pods.items():
        # Up long enough to be looked at: a finished Pod's sandbox is stopped, and then no process names it.
        run_pod(kube, name, node, f"it-{handler}", ["sh", "-c", "id && uname -r && sleep 15"])
    for node, name in pods.items():
        phase, events = wait_phase_or_event(kube, name, phases=("Running", "Succeeded"))
        assert phase == "Running", events
        pod = kube.core.read_namespaced_pod(name, "default")
        sandbox = evidence.sandbox(node, "default", name, pod.metadata.uid)
        assert sandbox is not None and sandbox.runtime_handler == handler
        # The runtime that really runs the sandbox names itself (its process or its own state files).
        spec = cluster.topology.node(node)
        declared = cluster.topology.runtimes[next(h.runtime for h in spec.handlers if h.name == handler)]
        sighting = evidence.runtime_of(node, sandbox.sandbox_id)
        assert sighting is not None and sighting.runtime == declared.type, sighting
    for name in pods.values():
        phase, events = wait_phase_or_event(kube, name)
        assert phase == "Succeeded", events


def assert_test_handler_missing_on(kube, node: str, name: str, message: str) -> None:
    """A Pod of a RuntimeClass `name` with handler test-handler, on a node lacking it, stays Pending
    with an event that carries the CRI's own `message`."""
    kube.node.create_runtime_class({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                    "metadata": {"name": name}, "handler": "test-handler"})
    run_pod(kube, name, node, name, ["true"])
    phase, events = wait_phase_or_event(kube, name)
    assert phase == "Pending"
    assert any(message in e for e in events), events


def test_a_handler_missing_on_a_node_fails_with_failed_create_pod_sandbox(cluster, kube):
    lacking = next(n for n in cluster.topology.nodes if "test-handler" not in n.handler_names)
    assert_test_handler_missing_on(kube, lacking.name, "it-missing", 'no runtime for "test-handler" is configured')


def test_a_handler_missing_on_the_crio_node_fails_with_crios_own_message(cluster, kube):
    crio = next(n for n in cluster.topology.nodes if n.cri == "crio")
    assert_test_handler_missing_on(kube, crio.name, "it-missing-crio", "failed to find runtime handler test-handler")


def test_the_crio_node_reports_its_cri_version_and_its_running_handler_tables(cluster, kube):
    crio = next(n for n in cluster.topology.nodes if n.cri == "crio")
    assert kube.core.read_node(crio.name).status.node_info.container_runtime_version == "cri-o://1.34.0"
    assert cluster.cri(crio.name).runtime_tables() == sorted(crio.handler_names)


def test_status_and_logs_name_every_component(cluster):
    status = cluster.status()
    assert status["healthy"]
    names = set(status["processes"])
    assert {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} <= names
    assert all(Path(p).exists() for p in cluster.log_paths().values())


def test_cli_reports_status_as_json(cluster):
    result = subprocess.run([sys.executable, "-m", "clusters.local", "status"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["healthy"] is True


def test_kubeconfig_is_self_contained(cluster):
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    assert config["users"][0]["user"]["client-key-data"]
    assert oct(cluster.kubeconfig.stat().st_mode & 0o777) == "0o600"
