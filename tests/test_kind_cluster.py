"""A real three-node kind cluster on this machine: the suite passes on it, and fails on a broken one.

Nothing here is a stand-in: kind v0.33.0 (built from the Go module proxy),
pytest-kind-ng, the offline node image (``python -m clusters.kind node-image``,
built on first use) and a container engine. Where no engine answers ``docker
info``, ``python -m clusters.kind engine up`` starts the project's own (as
``.ci/run`` does); without any engine the module is skipped, naming that.

First a cluster made by the provider and kept (``--keep-cluster`` reuses
it); then one the suite creates and deletes itself, broken the way the
local cluster's ``no-runtimeclass-admission`` variant is (kube-apiserver
without the RuntimeClass admission plugin, through a kubeadm patch), which
must fail exactly the clauses the local variant fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from clusters.kind import engine, node_image
from clusters.kind.provider import KindProvider
from clusters.kind.topology import DEFAULT_TOPOLOGY, load_topology
from clusters.local.variants import BROKEN_VARIANTS
from conformance.clauses import CLAUSES
from tests import suite_runs

ALL_CLAUSES = set(CLAUSES)
# Clauses that read node evidence (CRI sandbox, cgroup files, the runtime's own state) through `docker exec`.
EVIDENCE_CLAUSES = {"RC-USE-2", "RC-USE-3", "RC-OVH-7", "RC-USE-8"}

ENV = engine.docker_env()
pytestmark = pytest.mark.skipif(
    not engine.answers(ENV),
    reason="missing capability container engine: nothing answers `docker info` "
           "(start one with `python -m clusters.kind engine up`)")


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], env=ENV, capture_output=True, text=True, check=True).stdout


def cluster_names() -> list[str]:
    kind = node_image.ensure_kind(progress=lambda _: None)
    return subprocess.run([str(kind), "get", "clusters"], env=ENV, capture_output=True, text=True).stdout.split()


def run_suite(tmp_path: Path, *args: str) -> tuple[int, dict[str, str], str]:
    """The suite on kind, through the engine's environment; kind's first image pulls make it slower."""
    return suite_runs.run_suite(tmp_path, "--cluster", "kind", *args, env=ENV, timeout=3000)


@pytest.fixture(scope="class")
def kept_cluster():
    """The topology's cluster, created once by the provider and kept, then deleted at the end."""
    topology = load_topology()
    assert topology.name not in cluster_names(), f"a kind cluster {topology.name} already exists; delete it first"
    provider = KindProvider(keep=True, progress=lambda message: print(f"[rcc-kind] {message}"))
    kubeconfig = provider.create()
    yield provider, kubeconfig
    provider.keep = False
    provider.destroy()
    assert topology.name not in cluster_names()
    left = docker("ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={topology.name}", "-q").split()
    assert left == [], "kind delete left node containers behind"


class TestKeptCluster:
    """One cluster for both tests, deleted before the broken one is created."""

    def test_three_nodes_each_with_its_topology_handlers_and_real_runtimes(self, kept_cluster):
        three_nodes_with_their_handlers(kept_cluster[0])

    def test_the_suite_passes_every_clause_on_the_kept_kind_cluster(self, kept_cluster, tmp_path):
        code, verdicts, output = run_suite(tmp_path, "-n", "2", "--keep-cluster")
        assert code == 0, output[-3000:]
        assert set(verdicts) == ALL_CLAUSES
        assert {cid for cid, v in verdicts.items() if v != "passed"} == set(), output[-3000:]
        assert {verdicts[c] for c in EVIDENCE_CLAUSES} == {"passed"}
        assert load_topology().name in cluster_names(), "--keep-cluster deleted the cluster"


def three_nodes_with_their_handlers(provider: KindProvider) -> None:
    evidence = provider.evidence()
    for node in provider.topology.nodes:
        tables = set(evidence.cri_runtime_tables(node.name))
        # runc and crun come with the image, a listed handler the image lacks is added to that node only.
        assert tables == {"runc", "crun"} | set(node.handlers), node.name
        crun = provider.shell.run(node.name, "crun", "--version")
        runc = provider.shell.run(node.name, "runc", "--version")
        assert crun.returncode == 0 and "crun version" in crun.stdout
        assert runc.returncode == 0 and "runc version 1.3.3" in runc.stdout
    ready = provider.shell.run(provider.topology.nodes[0].name, "kubectl", "--kubeconfig",
                               "/etc/kubernetes/admin.conf", "get", "nodes", "-o", "json")
    nodes = json.loads(ready.stdout)["items"]
    assert len(nodes) == 3
    for item in nodes:
        conditions = {c["type"]: c["status"] for c in item["status"]["conditions"]}
        assert conditions["Ready"] == "True", item["metadata"]["name"]


BROKEN = next(v for v in BROKEN_VARIANTS if v.name == "no-runtimeclass-admission")


def test_a_kind_cluster_without_runtimeclass_admission_fails_exactly_its_clauses(tmp_path):
    raw = yaml.safe_load(DEFAULT_TOPOLOGY.read_text())
    raw["name"] = "rcc-broken"
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(raw, sort_keys=False))

    code, verdicts, output = run_suite(tmp_path, "-n", "2", f"--topology={topology}",
                                       *(f"--rcc-apiserver-arg={a}" for a in BROKEN.apiserver_args))
    assert code != 0, "the suite passed on a broken kind cluster"
    assert {c for c, v in verdicts.items() if v == "failed"} == set(BROKEN.breaks), output[-3000:]
    assert "rcc-broken" not in cluster_names(), "the suite did not delete the cluster it created"
