"""Clusters shaped like the ones platform teams run, checked as EXISTING clusters (issue 19).

The local cluster of tests/topologies/rcc-plat.yaml (its own name, ports and addresses, so it runs
beside `rcc`): a general pool; a GKE Sandbox-like gVisor node, labelled AND tainted
`sandbox.gke.io/runtime=gvisor:NoSchedule`; a kata-deploy-like labelled CRI-O node whose handler
`kata-tdx` is runc standing in for the VM runtime. The platform's own classes are applied as a
platform team would (`gvisor` with GKE's scheduling; `kata-cc` -> handler `kata-tdx`, class name not
equal to handler, with kata-deploy's overhead), then the suite runs with `--kubeconfig`:

- gVisor Pods are checked on the tainted node, reached through the platform class's scheduling:
  no gVisor skip, and the class is listed as usable in the report's platform classes table;
- k3s-like dangling classes (a handler no node has; a selector no node matches) fail RC-SCH-7,
  and only RC-SCH-7, naming each class: the mutant that shows the suite fails on that clause;
- an image no node can pull stops the run with exit 3 and one line, no clause verdict;
- the node probe reads the CRI-O node as it reads containerd nodes (RC-USE-2, RC-CRI-1/2, RC-USE-8).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.local.provider import LocalProvider
from clusters.toolbox.images import TEST_IMAGE
from conformance.kube import connect

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")

ROOT = Path(__file__).resolve().parents[1]
TOPOLOGY = ROOT / "tests" / "topologies" / "rcc-plat.yaml"
SANDBOX_KEY = "sandbox.gke.io/runtime"
GKE_GVISOR = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"},
              "handler": "gvisor",
              "scheduling": {"nodeSelector": {SANDBOX_KEY: "gvisor"},
                             "tolerations": [{"key": SANDBOX_KEY, "operator": "Equal", "value": "gvisor",
                                              "effect": "NoSchedule"}]}}
KATA_CC = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "kata-cc"},
           "handler": "kata-tdx", "overhead": {"podFixed": {"memory": "160Mi", "cpu": "250m"}},
           "scheduling": {"nodeSelector": {"katacontainers.io/kata-runtime": "true"}}}
K3S_NVIDIA = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nvidia"},
              "handler": "nvidia"}
K3S_SPIN = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "spin"},
            "handler": "spin", "scheduling": {"nodeSelector": {"spin.example.com/enabled": "true"}}}


@pytest.fixture(scope="module")
def platform():
    provider = LocalProvider(topology=TOPOLOGY, keep=True, progress=lambda _m: None)
    kubeconfig = provider.create()
    kube = connect(kubeconfig, None)
    for name in ("nvidia", "spin"):  # left by an interrupted run of the dangling-class test
        _delete(kube, name)
    for body in (GKE_GVISOR, KATA_CC):
        _apply(kube, body)
    yield kubeconfig, kube
    provider.cluster.down()


def _apply(kube, body: dict) -> None:
    name = body["metadata"]["name"]
    if name not in {rc.metadata.name for rc in kube.node.list_runtime_class().items}:
        kube.node.create_runtime_class(body)


def _delete(kube, name: str) -> None:
    if name in {rc.metadata.name for rc in kube.node.list_runtime_class().items}:
        kube.node.delete_runtime_class(name)


def run(tmp_path: Path, kubeconfig: Path, *args: str) -> tuple[int, dict | None, str]:
    report = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "conformance.run", "--report-dir", str(report), "-n", "2",
                           f"--kubeconfig={kubeconfig}", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=2400)
    summary = report / "summary.json"
    return done.returncode, json.loads(summary.read_text()) if summary.exists() else None, done.stdout + done.stderr


def test_gvisor_on_a_tainted_gke_sandbox_pool_is_checked_through_the_platform_class(platform, tmp_path):
    kubeconfig, _ = platform
    code, summary, output = run(tmp_path, kubeconfig, f"--test-image={TEST_IMAGE}", "--handler=gvisor",
                                "--handler=runc", "-k", "platform or runs_to_succeeded or every_node_whose_cri")
    assert code == 0, output[-3000:]
    clauses = {c["id"]: c for c in summary["clauses"]}
    for cid in ("RC-USE-1", "RC-CRI-1", "RC-SCH-7"):
        assert clauses[cid]["verdict"] == "passed", (cid, clauses[cid])
    skips = [reason for c in summary["clauses"] for reason in c.get("skip_reasons", [])]
    assert not [reason for reason in skips if "gvisor" in reason], skips
    rows = {row["name"]: row for row in summary["platform_classes"]}
    assert rows["gvisor"]["verdict"] == "usable" and rows["gvisor"]["admitting"] == ["rcc-plat-2"], rows
    assert rows["kata-cc"]["verdict"] == "usable" and rows["kata-cc"]["handler"] == "kata-tdx", rows
    assert rows["kata-cc"]["overhead"] == "cpu=250m, memory=160Mi" and rows["kata-cc"]["pods"], rows


def test_k3s_like_dangling_classes_fail_rc_sch_7_and_only_it_naming_each(platform, tmp_path):
    """The RC-SCH-7 mutant: a full run on the cluster with two dangling classes fails that clause alone."""
    kubeconfig, kube = platform
    for body in (K3S_NVIDIA, K3S_SPIN):
        _apply(kube, body)
    try:
        code, summary, output = run(tmp_path, kubeconfig, f"--test-image={TEST_IMAGE}")
    finally:
        for name in ("nvidia", "spin"):
            _delete(kube, name)
    assert code == 1, output[-3000:]
    assert summary["failed_clauses"] == ["RC-SCH-7"], output[-3000:]
    messages = " ".join(t.get("message", "") for c in summary["clauses"] if c["id"] == "RC-SCH-7" for t in c["tests"])
    assert "class 'nvidia' admits rcc-plat-1, rcc-plat-3, which lack handler 'nvidia'" in messages, messages
    assert "no schedulable node admits class 'spin'" in messages, messages
    rows = {row["name"]: row["verdict"] for row in summary["platform_classes"]}
    assert rows == {"gvisor": "usable", "kata-cc": "usable", "nvidia": "unusable", "spin": "unusable"}, rows


def test_an_image_no_node_can_pull_stops_the_run_with_exit_3_and_one_line(platform, tmp_path):
    kubeconfig, _ = platform
    code, summary, output = run(tmp_path, kubeconfig, "--image-mirror=registry.invalid", "-k", "platform")
    assert code == 3, output[-3000:]
    assert summary is None or not summary.get("failed_clauses"), summary
    line = next(line for line in output.splitlines() if "cannot be pulled" in line)
    assert "registry.invalid/e2e-test-images/busybox:1.37.0-1" in line and "on node rcc-plat-" in line, line
    assert "--image-mirror REGISTRY" in line and "Traceback" not in output, output[-3000:]


def test_the_node_probe_reads_a_cri_o_node_as_it_reads_containerd_nodes(platform, tmp_path):
    kubeconfig, _ = platform
    code, summary, output = run(tmp_path, kubeconfig, f"--test-image={TEST_IMAGE}", "--node-probe",
                                "--expect-isolation=runc=shared-kernel:runc",
                                "--expect-isolation=kata-tdx=shared-kernel:runc",
                                "--handler=runc", "--handler=kata-tdx",
                                "-k", "cri_sandbox or runtime_table_keys or isolation")
    assert code == 0, output[-3000:]
    clauses = {c["id"]: c for c in summary["clauses"]}
    for cid in ("RC-USE-2", "RC-CRI-2", "RC-USE-8"):
        assert clauses[cid]["verdict"] == "passed", (cid, clauses[cid])
    seen = {(row["handler"], row["node"]): row for row in summary["isolation"]}
    assert seen[("kata-tdx", "rcc-plat-3")]["runtime"], seen  # named from the CRI-O node's processes
