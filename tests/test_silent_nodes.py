"""A heterogeneous cluster whose nodes report no runtimeHandlers, checked as an EXISTING cluster (issue 19).

The local cluster of tests/topologies/rcc-silent.yaml: every node on containerd v1.7.35, whose CRI
Status lists no handlers, so the kubelets publish no `Node.status.runtimeHandlers` (cloud node
images still ship 1.7); gVisor only on rcc-silent-1, crun on rcc-silent-1 and -2, runc on all
three. Run with `--kubeconfig`, the suite is told nothing by the cluster about who runs what:

- without the node probe and without --handler-nodes, every test that needs a handler skips with a
  reason that says how to give the fact (`--node-probe`, `--handler-nodes`, a RuntimeClass whose
  scheduling selects the nodes): no Pod is placed blind, no false failure, no blind pass;
- told by `--handler-nodes` or read by `--node-probe`, the handler clauses pass, and Pods of each
  handler go to exactly the nodes that run it.
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
TOPOLOGY = ROOT / "tests" / "topologies" / "rcc-silent.yaml"
RUNS = {"runc": ["rcc-silent-1", "rcc-silent-2", "rcc-silent-3"], "crun": ["rcc-silent-1", "rcc-silent-2"],
        "gvisor": ["rcc-silent-1"]}
HANDLERS = ("--handler=crun", "--handler=gvisor")
# Tests that put Pods on nodes chosen for a handler: each must skip when nothing tells, pass when told.
PLACING = ("test_pod_naming_a_runtime_class_with_a_configured_handler_runs_to_succeeded",
           "test_deleting_a_runtime_class_rejects_new_pods_and_keeps_running_ones",
           "test_handler_runs_on_every_node_whose_cri_configures_it",
           "test_pod_sees_the_kernel_its_handler_isolation_class_promises[crun]",
           "test_pod_sees_the_kernel_its_handler_isolation_class_promises[gvisor]",
           "test_pod_lands_only_on_the_node_matching_both_selectors",
           "test_scheduler_counts_overhead_when_fitting_a_pod_onto_a_node",
           "test_a_pod_cannot_hold_more_memory_than_its_limits_plus_overhead")


@pytest.fixture(scope="module")
def silent():
    provider = LocalProvider(topology=TOPOLOGY, keep=True, progress=lambda _m: None)
    kubeconfig = provider.create()
    nodes = connect(kubeconfig, None).core.list_node().items
    reported = {n.metadata.name: n.status.runtime_handlers for n in nodes if n.status.runtime_handlers}
    assert not reported, f"the case needs nodes that report no runtimeHandlers: {reported}"
    yield kubeconfig
    provider.cluster.down()


def run(tmp_path: Path, kubeconfig: Path, *args: str) -> tuple[int, dict | None, str]:
    report = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "conformance.run", "--report-dir", str(report), "-n", "2",
                           f"--kubeconfig={kubeconfig}", f"--test-image={TEST_IMAGE}", *HANDLERS, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=2400)
    summary = report / "summary.json"
    return done.returncode, json.loads(summary.read_text()) if summary.exists() else None, done.stdout + done.stderr


def outcomes(summary: dict) -> dict[str, tuple[str, str]]:
    """test name (with its parameters) -> (outcome, message)."""
    return {t["nodeid"].split("::")[-1]: (t["outcome"], t.get("message", ""))
            for c in summary["clauses"] for t in c["tests"]}


def test_told_nothing_tests_needing_a_handler_skip_saying_how_to_tell_never_placed_blind(silent, tmp_path):
    code, summary, output = run(tmp_path, silent)
    assert code == 0, output[-3000:]
    assert summary["failed_clauses"] == [], output[-3000:]
    seen = outcomes(summary)
    for name in PLACING:
        outcome, message = seen[name]
        assert outcome == "skipped", (name, outcome, message)
        assert message.startswith("missing capability handler:"), (name, message)
        for how in ("--node-probe", "--handler-nodes", "a RuntimeClass whose scheduling selects its nodes"):
            assert how in message, (name, message)
    for cid in ("RC-USE-1", "RC-USE-6", "RC-CRI-1", "RC-OVH-5"):
        verdict = next(c["verdict"] for c in summary["clauses"] if c["id"] == cid)
        assert verdict == "skipped", (cid, verdict)
    assert summary["isolation"] == [], summary["isolation"]  # no handler's Pod was put anywhere


@pytest.mark.parametrize("told_by", ["--handler-nodes", "--node-probe"])
def test_told_which_nodes_run_each_handler_the_handler_clauses_pass_on_exactly_those_nodes(silent, tmp_path, told_by):
    facts = ([f"--handler-nodes={handler}={','.join(nodes)}" for handler, nodes in RUNS.items()]
             if told_by == "--handler-nodes" else ["--node-probe"])
    code, summary, output = run(tmp_path, silent, *facts, "--expect-isolation=crun=shared-kernel:crun",
                                "--expect-isolation=gvisor=user-space-kernel:runsc")
    assert code == 0, output[-3000:]
    assert summary["failed_clauses"] == [], output[-3000:]
    seen = outcomes(summary)
    for name in (*PLACING, "test_handler_fails_on_a_node_whose_cri_lacks_it"):
        assert seen[name][0] == "passed", (name, seen[name])
    for cid in ("RC-USE-1", "RC-USE-6", "RC-SCH-1", "RC-SCH-2", "RC-OVH-5"):
        verdict = next(c["verdict"] for c in summary["clauses"] if c["id"] == cid)
        assert verdict == "passed", (cid, verdict)
    placed = {(row["handler"], row["node"]) for row in summary["isolation"]}
    assert placed == {(h, n) for h in ("crun", "gvisor") for n in RUNS[h]}, placed
    if told_by == "--node-probe":
        assert [c["verdict"] for c in summary["clauses"] if c["id"] in ("RC-USE-2", "RC-CRI-1")] == \
            ["passed"] * 2, output[-3000:]
        # RC-USE-8: every test of the handlers passed; the one of the platform's own classes skips, as
        # this cluster serves none (a pass on nothing would hide that), so the clause is partial.
        isolation = next(c for c in summary["clauses"] if c["id"] == "RC-USE-8")
        others = [t for t in isolation["tests"] if t["outcome"] != "passed"]
        assert isolation["passed"] >= 1 and all(t["outcome"] == "skipped" and "platform-classes" in t["message"]
                                                 for t in others), (isolation, output[-3000:])
