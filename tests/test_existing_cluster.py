"""The local cluster used as an "existing" cluster, as a platform team would point the suite at theirs.

Three identities: the admin kubeconfig; a least-privileged user bound to the
shipped clusters/existing/rbac.yaml; a user that may only `view`. The first
two pass every clause the provider-less run can check (the cluster's own
class `gvisor` included, RC-SCH-7); node-evidence and taint clauses are
skipped with the capability named. The view-only run skips
everything with the missing permission named, and fails with --strict. With
the opt-in node probe (a privileged Pod per node), the least-privileged user
runs the node-evidence clauses too, and RC-USE-8 checks what the user declared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusters.toolbox.images import TEST_IMAGE
from clusters.local.provider import LocalProvider
from clusters.local.topology import DEFAULT_TOPOLOGY
from conformance.kube import connect

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")

ROOT = Path(__file__).resolve().parents[1]
NEEDS_NODE_ACCESS = {"RC-USE-2", "RC-USE-3", "RC-OVH-7", "RC-USE-8"}
# What the default topology's handlers give, as a platform team would declare it for its own cluster.
DECLARED = ("--expect-isolation=runc=shared-kernel:runc", "--expect-isolation=crun=shared-kernel:crun",
            "--expect-isolation=test-handler=shared-kernel:runc", "--expect-isolation=gvisor=user-space-kernel:runsc")


@pytest.fixture(scope="module")
def cluster():
    provider = LocalProvider(keep=True, progress=lambda _m: None)
    kubeconfig = provider.create()
    kube = connect(kubeconfig, None)
    yield provider, kubeconfig, kube
    provider.cluster.down()


@pytest.fixture(scope="module")
def containerd_cluster(tmp_path_factory):
    """The default cluster without its CRI-O node, beside it (own name, ports, addresses). The probe on
    CRI-O nodes is checked in tests/test_platform_clusters.py."""
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["name"] = "rcc-probe"
    raw["ports"] = {"apiserver": 17443, "etcdClient": 17379, "etcdPeer": 17380, "controllerManager": 17257,
                    "scheduler": 17259}
    raw["nodes"] = [n for n in raw["nodes"] if n.get("cri", "containerd") == "containerd"]
    for i, node in enumerate(raw["nodes"], start=1):
        node.update(name=f"probe-worker-{i}", address=f"127.0.17.{i + 1}", podCIDR=f"10.217.{i}.0/24")
    path = tmp_path_factory.mktemp("topology") / "topology.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    provider = LocalProvider(topology=path, keep=True, progress=lambda _m: None)
    kubeconfig = provider.create()
    yield provider, kubeconfig, connect(kubeconfig, None)
    provider.cluster.down()


def identity(provider: LocalProvider, kube, tmp_path: Path, user: str, cluster_role: str) -> Path:
    """A client certificate for `user`, bound cluster-wide to `cluster_role`, as a kubeconfig."""
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": user},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    kube.rbac.create_cluster_role_binding(binding)
    path = tmp_path / f"{user}.kubeconfig"
    path.write_text(provider.cluster.user_kubeconfig(user))
    return path


def run_suite(tmp_path: Path, kubeconfig: Path, *args: str) -> tuple[int, dict, str]:
    report = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q", "-n", "2",
                             f"--kubeconfig={kubeconfig}", f"--rcc-report-dir={report}",
                             f"--test-image={TEST_IMAGE}", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    summary = json.loads((report / "summary.json").read_text())
    return result.returncode, {c["id"]: c for c in summary["clauses"]}, output


def test_admin_kubeconfig_passes_what_an_existing_cluster_can_show(cluster, tmp_path):
    _, kubeconfig, _ = cluster
    code, clauses, output = run_suite(tmp_path, kubeconfig, "--allow-disruptive")
    assert code == 0, output[-3000:]
    assert not [cid for cid, c in clauses.items() if c["verdict"] == "failed"], output[-3000:]
    for cid in NEEDS_NODE_ACCESS:
        # Never passed without the node's word; RC-USE-8 is partly checked from inside the Pod of the
        # cluster's own class `gvisor` (a user-space kernel by its handler's name), so it may be partial.
        assert clauses[cid]["verdict"] in ({"skipped", "partial"} if cid == "RC-USE-8" else {"skipped"}), cid
        assert any("node-evidence" in reason and "--node-probe" in reason
                   for reason in clauses[cid]["skip_reasons"]), clauses[cid]
    assert clauses["RC-SCH-7"]["verdict"] == "passed", clauses["RC-SCH-7"]  # the topology's class `gvisor`


def test_least_privileged_identity_from_the_shipped_manifest_runs_the_suite(cluster, tmp_path):
    provider, _, kube = cluster
    manifest = yaml.safe_load((ROOT / "clusters/existing/rbac.yaml").read_text())
    kube.rbac.create_cluster_role(manifest)
    kubeconfig = identity(provider, kube, tmp_path, "rcc-least-privilege", manifest["metadata"]["name"])
    code, clauses, output = run_suite(tmp_path, kubeconfig)
    assert code == 0, output[-3000:]
    assert not [cid for cid, c in clauses.items() if c["verdict"] == "failed"], output[-3000:]
    passed = {cid for cid, c in clauses.items() if c["verdict"] == "passed"}
    assert {"RC-API-5", "RC-SCH-3", "RC-OVH-6", "RC-USE-1"} <= passed, output[-3000:]
    for cid in ("RC-SCH-4", "RC-SCH-5"):
        assert any("disruptive" in r for r in clauses[cid]["skip_reasons"]), clauses[cid]


def test_view_only_identity_skips_naming_the_missing_permission_and_strict_fails(cluster, tmp_path):
    provider, _, kube = cluster
    kubeconfig = identity(provider, kube, tmp_path, "rcc-viewer", "view")
    code, clauses, output = run_suite(tmp_path, kubeconfig)
    assert code == 0, output[-3000:]
    assert {c["verdict"] for c in clauses.values()} == {"skipped"}, output[-3000:]
    reasons = {r for c in clauses.values() for r in c["skip_reasons"]}
    assert any("may not create namespaces" in r for r in reasons), reasons
    strict_code, _, strict_output = run_suite(tmp_path / "strict", kubeconfig, "--strict")
    assert strict_code != 0, strict_output[-3000:]


def test_node_probe_runs_the_node_evidence_clauses_for_a_least_privileged_identity(containerd_cluster, tmp_path):
    provider, _, kube = containerd_cluster
    manifest = yaml.safe_load((ROOT / "clusters/existing/rbac.yaml").read_text())
    manifest["metadata"]["name"] = "rcc-conformance-probe"
    kube.rbac.create_cluster_role(manifest)
    kubeconfig = identity(provider, kube, tmp_path, "rcc-node-probe", manifest["metadata"]["name"])
    code, clauses, output = run_suite(tmp_path, kubeconfig, "--node-probe", *DECLARED)
    assert code == 0, output[-3000:]
    for cid in NEEDS_NODE_ACCESS:
        assert clauses[cid]["verdict"] == "passed", (cid, clauses[cid], output[-3000:])
    assert not kube.core.list_namespace(label_selector="rcc.conformance.io/node-probe=true").items, \
        "the probe namespace outlived the run"


def test_node_probe_tells_a_handler_that_is_not_what_the_user_declared(containerd_cluster, tmp_path):
    _, kubeconfig, _ = containerd_cluster
    code, clauses, output = run_suite(tmp_path, kubeconfig, "--node-probe", "-k", "isolation and crun",
                                      "--expect-isolation=crun=user-space-kernel:runsc")
    assert code != 0, output[-3000:]
    assert clauses["RC-USE-8"]["verdict"] == "failed", output[-3000:]
    messages = " ".join(t["message"] for t in clauses["RC-USE-8"]["tests"])
    assert "expected user-space-kernel" in messages and "the Pod saw shared-kernel" in messages, messages
    assert "expected runtime runsc" in messages and "the node runs crun" in messages, messages
