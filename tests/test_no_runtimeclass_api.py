"""A cluster that does not serve node.k8s.io/v1 gets a verdict: NOT CONFORMANT, with a report.

The real case runs the main job on a local cluster whose API server has the
RuntimeClass API turned off (`--runtime-config=node.k8s.io/v1=false`, and the
RuntimeClass admission plugin off, without which that API server never becomes
ready). It must write the report, fail RC-API-1 with a sentence naming the
missing group and version, leave every other clause untested for that reason,
and exit 1. The cluster uses the default topology (run it under
`flock /tmp/rcc/default-cluster.lock`) or the one named by $RCC_TEST_TOPOLOGY.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusters.local.apiserver_flags import never_ready_reason
from conformance import report
from conformance.clauses import CLAUSES
from conformance.matrix import ClauseTracker
from conformance.preflight import Facts, NodeFacts

ROOT = Path(__file__).resolve().parents[1]
API_OFF = ("--runtime-config=node.k8s.io/v1=false", "--disable-admission-plugins=RuntimeClass")
SENTENCE = "does not serve API group node.k8s.io, version v1"


# --- flags that would leave the API server never ready -------------------------------------------

@pytest.mark.parametrize("args", [
    ("--runtime-config=node.k8s.io/v1=false",),
    ("--runtime-config=api/all=true,node.k8s.io/v1=false", "--disable-admission-plugins=ResourceQuota"),
    ("--runtime-config", "node.k8s.io=false"),
    ("--disable-admission-plugins=RuntimeClass", "--disable-admission-plugins=ResourceQuota",
     "--runtime-config=node.k8s.io/v1=false"),  # the API server keeps the last value of a flag
])
def test_turning_the_runtimeclass_api_off_alone_is_refused_with_what_to_add(args):
    reason = never_ready_reason(args)
    assert reason is not None and "--disable-admission-plugins=RuntimeClass" in reason


@pytest.mark.parametrize("args", [(), API_OFF, ("--runtime-config=node.k8s.io/v1=true",),
                                  ("--disable-admission-plugins=RuntimeClass",)])
def test_flags_that_leave_the_api_server_able_to_start_pass(args):
    assert never_ready_reason(args) is None


def test_asking_for_the_api_off_without_the_admission_plugin_off_is_one_line_before_any_cluster_starts():
    result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", "-q",
                             "--rcc-apiserver-arg=--runtime-config=node.k8s.io/v1=false"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if "never become ready" in line and
            "--disable-admission-plugins=RuntimeClass" in line], output


# --- the summary of such a run (pure) ------------------------------------------------------------

def test_untested_clauses_say_they_could_not_run_because_the_api_is_not_served():
    facts = Facts(server="https://127.0.0.1:6443", server_version="v1.37.2", node_k8s_io_v1=False,
                  nodes=(NodeFacts("n1", True, ("runc",), {}, {}),), handlers=("runc",), handlers_reported=True)
    tracker = ClauseTracker()
    tracker.add("suites/test_api.py::test_x", "setup", "failed", ["RC-API-1"], f"RC-API-1: the API server {SENTENCE}")
    summary = report.build_summary(run_id="rtest", tracker=tracker, facts=facts, exit_status=1, strict=False,
                                   tests={"total": 1, "passed": 0, "failed": 1, "skipped": 0,
                                          "unattributed_failures": [], "collection_errors": []})
    by_id = {c["id"]: c for c in summary["clauses"]}
    assert by_id["RC-API-1"]["verdict"] == "failed"
    others = [c for cid, c in by_id.items() if cid != "RC-API-1"]
    assert {c["verdict"] for c in others} == {"untested"}
    assert all(SENTENCE in c["untested_reason"] for c in others)
    assert report.decide_exit(1, summary) == (1, "NOT CONFORMANT: 1 clause(s) failed: RC-API-1")
    assert any(line.startswith("untested: not run because") for line in report.matrix_lines(summary))
    assert SENTENCE in report.matrix_html(summary)


# --- the real thing -----------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")
def test_a_cluster_without_node_k8s_io_v1_is_not_conformant_with_a_report(tmp_path):
    topology = os.environ.get("RCC_TEST_TOPOLOGY")
    report_dir = tmp_path / "report"
    command = [sys.executable, "-m", "conformance.run", "--report-dir", str(report_dir), "-n", "2",
               *(f"--rcc-apiserver-arg={arg}" for arg in API_OFF), *([f"--topology={topology}"] if topology else [])]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    (tmp_path / "output.txt").write_text(output)
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert "verdict:  NOT CONFORMANT: 1 clause(s) failed: RC-API-1 -> exit 1" in output, output[-3000:]
    summary = json.loads((report_dir / "summary.json").read_text())
    assert summary["cluster"]["node_k8s_io_v1"] is False
    by_id = {c["id"]: c for c in summary["clauses"]}
    assert set(by_id) == set(CLAUSES)
    api = by_id["RC-API-1"]
    assert api["verdict"] == "failed" and api["tests"], api
    assert all(t["outcome"] == "failed" and SENTENCE in t["message"] for t in api["tests"]), api
    for cid, clause in by_id.items():
        if cid != "RC-API-1":
            assert clause["verdict"] == "untested", (cid, clause["verdict"])
            assert SENTENCE in clause["untested_reason"], clause
    assert (report_dir / "junit.xml").exists()
    assert (report_dir / "html" / "index.html").exists(), output[-3000:]
