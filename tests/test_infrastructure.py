"""Unit tests of what counts as infrastructure (conformance/infrastructure.py), the fault board, the
waiters' and `rcc.each`'s handling of a fault, the clause matrix and the one verdict (conformance/verdict.py).

Pure logic: Pods, Nodes and events are stand-ins (SimpleNamespace) with the fields the code reads.
The real faults are in tests/test_infrastructure_faults.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace as NS

import pytest
import urllib3

from conformance import infrastructure as infra
from conformance import report, verdict
from conformance.allure_extras import report_variables
from conformance.clauses import CLAUSES
from conformance.concurrently import verdict as each_verdict
from conformance.infrastructure_watch import FaultBoard
from conformance.matrix import INFRASTRUCTURE, ClauseTracker
from conformance.waiting import WaitFailed, holds_for, wait_for

CONTAINERD_MISSING = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox '
                      'runtime: no runtime for "nope" is configured')
CRIO_MISSING = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to find runtime handler '
                'nope from runtime list map[crun:0xc runc:0xc]')
CRI_DOWN = ('Failed to create pod sandbox: rpc error: code = Unavailable desc = connection error: desc = "transport: '
            'Error while dialing: dial unix /var/lib/rcc-local/x/containerd.sock: connect: connection refused"')
BROKEN_BINARY = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to start sandbox: OCI runtime '
                 'create failed: exec: "crun": permission denied')


def pod(name="p", node="n1", reason=None, waiting=None, conditions=()):
    state = NS(waiting=NS(reason=waiting, message="pull access denied") if waiting else None)
    return NS(metadata=NS(name=name), spec=NS(node_name=node),
              status=NS(reason=reason, message="The node was low on resource" if reason else None,
                        conditions=list(conditions), init_container_statuses=None,
                        container_statuses=[NS(name="c", state=state)]))


# --- what counts as infrastructure -------------------------------------------------------------

@pytest.mark.parametrize("message", [CONTAINERD_MISSING, CRIO_MISSING, BROKEN_BINARY])
def test_a_handlers_own_sandbox_failure_is_never_infrastructure(message):
    assert infra.sandbox_fault("n1", message) is None


def test_a_handler_message_is_clause_evidence_even_when_it_also_looks_like_an_unreachable_cri():
    assert infra.sandbox_fault("n1", CONTAINERD_MISSING + " code = Unavailable") is None


def test_a_cri_that_does_not_answer_is_infrastructure_on_its_node():
    found = infra.sandbox_fault("n1", CRI_DOWN)
    assert found.kind == infra.CRI_DOWN and found.node == "n1" and "connection refused" in found.detail


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"])
def test_a_container_without_its_image_is_infrastructure(reason):
    found = infra.pod_fault(pod(waiting=reason))
    assert found.kind == infra.IMAGE_PULL and found.node == "n1" and reason in found.detail


@pytest.mark.parametrize("reason", ["CreateContainerError", "RunContainerError", "ContainerCreating", None])
def test_other_waiting_reasons_are_the_tests_matter(reason):
    assert infra.pod_fault(pod(waiting=reason)) is None


@pytest.mark.parametrize("reason", ["Evicted", "NodeLost", "UnexpectedAdmissionError"])
def test_an_evicted_or_lost_pod_is_infrastructure(reason):
    assert infra.pod_fault(pod(reason=reason)).kind == infra.POD_DISRUPTED


def test_a_disruption_target_condition_is_infrastructure():
    condition = NS(type="DisruptionTarget", status="True", reason="DeletionByTaintManager", message="taint")
    assert "DeletionByTaintManager" in infra.pod_fault(pod(conditions=[condition])).detail


def test_node_readiness_fault_names_status_and_reason():
    conditions = [NS(type="Ready", status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting")]
    found = infra.node_ready_fault("n2", conditions)
    assert found.kind == infra.NODE_NOT_READY and "Unknown" in found.detail and "Kubelet stopped" in found.detail
    assert infra.node_ready_fault("n2", [NS(type="Ready", status="True", reason="KubeletReady", message="")]) is None


def test_heartbeat_is_stale_only_past_60_percent_of_its_lease():
    assert infra.heartbeat_fault("n1", 23.0, 40) is None
    assert infra.heartbeat_fault("n1", 25.0, 40).kind == infra.HEARTBEAT_STALE
    assert infra.heartbeat_fault("n1", 25.0, None).kind == infra.HEARTBEAT_STALE  # the kubelet's default lease


def test_an_unanswered_request_is_the_api_server_only_where_asked():
    error = urllib3.exceptions.MaxRetryError(None, "/api", reason=ConnectionRefusedError("refused"))
    assert infra.exception_fault(error).kind == infra.API_DOWN
    assert infra.exception_fault(error, unanswered_requests=False) is None
    assert infra.exception_fault(AssertionError("Pod ran")) is None


def test_a_fault_deep_in_an_exception_chain_is_found():
    fault = infra.fault(infra.NODE_GONE, "n3", "deleted")
    try:
        try:
            raise infra.InfrastructureFault(fault)
        except infra.InfrastructureFault as inner:
            raise RuntimeError("teardown") from inner
    except RuntimeError as outer:
        assert infra.exception_fault(outer) == fault


# --- waiters and rcc.each ----------------------------------------------------------------------------

def test_a_wait_stops_at_once_on_an_infrastructure_fault_instead_of_retrying_it():
    fault = infra.fault(infra.IMAGE_PULL, "n1", "ErrImagePull")
    calls = []

    def probe():
        calls.append(1)
        raise infra.InfrastructureFault(fault)

    with pytest.raises(infra.InfrastructureFault):
        wait_for("Pod runs", probe, timeout=30, interval=0.01)
    assert len(calls) == 1


def test_a_window_ends_with_the_fault_not_with_an_assertion():
    def sleep(_seconds):
        raise infra.InfrastructureFault(infra.fault(infra.NODE_NOT_READY, "n1", "Ready is Unknown"))

    with pytest.raises(infra.InfrastructureFault) as raised:
        holds_for("never runs", lambda: None, window=5, sleep=sleep)
    assert not isinstance(raised.value, (AssertionError, WaitFailed))


def test_one_handler_on_a_lost_node_makes_the_whole_check_an_infrastructure_error():
    lost = infra.InfrastructureFault(infra.fault(infra.HEARTBEAT_STALE, "n1", "no renewal"))
    with pytest.raises(infra.InfrastructureFault) as raised:
        each_verdict([("runc", lost), ("crun", AssertionError("ran")), ("gvisor", None)])
    assert raised.value.fault.node == "n1" and "crun: AssertionError: ran" in "".join(raised.value.__notes__)


# --- the fault board ---------------------------------------------------------------------------------------

def test_the_board_raises_for_a_lost_node_the_test_uses_and_not_for_another(tmp_path):
    path = tmp_path / "faults.json"
    board = FaultBoard(path)
    board.check(["n1"])  # no file yet: nothing stands
    path.write_text(json.dumps({"faults": [infra.fault(infra.NODE_NOT_READY, "n2", "Ready is False").to_json()]}))
    board.check(["n1"])
    with pytest.raises(infra.InfrastructureFault, match="node n2: node-not-ready"):
        board.check(["n1", "n2"])


def test_the_api_server_away_stops_every_test(tmp_path):
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"faults": [infra.fault(infra.API_DOWN, "", "no answer for 31 s").to_json()]}))
    with pytest.raises(infra.InfrastructureFault, match="the cluster: api-unreachable"):
        FaultBoard(path).check([])


# --- the matrix and the verdict ---------------------------------------------------------------------------

def lost_node_summary(strict=False, failed=None):
    tracker = ClauseTracker()
    fault = infra.fault(infra.HEARTBEAT_STALE, "rcc-faults-1", "its kubelet has not renewed its Lease for 25 s")
    for cid in CLAUSES:
        outcome = INFRASTRUCTURE if cid == "RC-USE-1" else "failed" if cid == failed else "passed"
        tracker.add(f"suites/t.py::test_{cid}", "call", outcome, [cid],
                    fault.sentence() if outcome == INFRASTRUCTURE else "")
    return report.build_summary(run_id="r1", tracker=tracker, exit_status=1, strict=strict,
                                tests={"total": 3, "passed": 1, "failed": 0, "skipped": 0, "infrastructure": 1},
                                infrastructure=[fault.to_json()])


def test_a_clause_whose_test_met_a_fault_is_untested_with_the_fault_as_reason_and_the_others_keep_theirs():
    summary = lost_node_summary()
    by_id = {c["id"]: c for c in summary["clauses"]}
    assert by_id["RC-USE-1"]["verdict"] == "untested"
    assert "rcc-faults-1" in by_id["RC-USE-1"]["untested_reason"]
    assert by_id["RC-USE-2"]["verdict"] == "passed"
    assert summary["infrastructure_untested"] == ["RC-USE-1"]
    assert summary["failed_clauses"] == []


@pytest.mark.parametrize("strict", [False, True])
def test_a_standing_fault_gives_exit_3_and_no_overall_verdict_even_with_strict(strict):
    summary = lost_node_summary(strict=strict)
    decided = verdict.decide(1, summary)
    assert decided.code == 3
    assert decided.sentence.startswith("INFRASTRUCTURE FAULT: node rcc-faults-1: heartbeat-stale")
    assert "CONFORMANT" not in decided.sentence
    assert summary["verdict"]["exit"] == 3


def test_a_genuine_failure_beside_a_fault_keeps_its_clause_failed_but_the_run_has_no_verdict():
    summary = lost_node_summary(failed="RC-SCH-1")
    assert {c["id"]: c["verdict"] for c in summary["clauses"]}["RC-SCH-1"] == "failed"
    assert verdict.decide(1, summary).code == 3


def test_every_output_says_the_same_verdict():
    summary = lost_node_summary()
    decided = verdict.decide(summary["pytest_exit_status"], summary)
    assert report.decide_exit(1, summary) == (decided.code, decided.sentence)
    assert report_variables(summary)["verdict"] == decided.short == "INFRASTRUCTURE FAULT: rcc-faults-1, heartbeat-stale"
    assert "rcc-faults-1" in report_variables(summary)["infrastructure"]
    page = report.matrix_html(summary)
    assert 'data-rcc="infrastructure"' in page and decided.sentence.split(" (seen")[0] in page
    assert any("infrastructure fault: rcc-faults-1" in line for line in report.matrix_lines(summary))


def test_usage_errors_still_pass_through_a_fault():
    assert verdict.decide(4, lost_node_summary()).code == 4


def test_fold_counts_a_test_that_met_a_fault_as_infrastructure_not_failed():
    prop = (infra.INFRASTRUCTURE_PROPERTY, json.dumps(infra.fault(infra.IMAGE_PULL, "n1", "x").to_json()))
    reports = [NS(nodeid="suites/t.py::a", when="setup", outcome="passed", user_properties=[]),
               NS(nodeid="suites/t.py::a", when="call", outcome="failed", user_properties=[("clauses", "RC-USE-1"), prop]),
               NS(nodeid="suites/t.py::a", when="teardown", outcome="failed", user_properties=[("clauses", "RC-USE-1")])]
    folded = report.fold_test_reports(reports)
    assert folded["infrastructure"] == 1 and folded["failed"] == 0 and folded["unattributed_failures"] == []


# --- the watch (its API calls are stand-ins; the clock is the test's) ---------------------------------

def test_the_watch_loses_a_node_whose_lease_stands_still_and_forgives_an_api_outage(tmp_path, monkeypatch):
    from kubernetes.client import Configuration

    from conformance import infrastructure_watch

    clock = [0.0]
    monkeypatch.setattr(infrastructure_watch.time, "monotonic", lambda: clock[0])
    ready = [NS(type="Ready", status="True", reason="KubeletReady", message="")]
    node = NS(metadata=NS(name="n1"), status=NS(conditions=ready))
    lease = NS(metadata=NS(name="n1"), spec=NS(renew_time="t0", lease_duration_seconds=40))
    down = [False]

    def answer(items):
        def call(*_args, **_kwargs):
            if down[0]:
                raise urllib3.exceptions.MaxRetryError(None, "/api", reason=ConnectionRefusedError())
            return NS(items=items)
        return call

    watch = infrastructure_watch.InfrastructureWatch(NS(api=NS(configuration=Configuration()), server="s"),
                                                      tmp_path / "faults.json")
    watch.core, watch.leases = NS(list_node=answer([node])), NS(list_namespaced_lease=answer([lease]))
    watch._watched = {"n1"}
    for second in range(0, 20, 2):  # answered every 2 s, renewTime never moves: 20 s is not yet lost
        clock[0] = second
        watch.look()
    down[0] = True
    for second in range(20, 40, 2):  # the API server away for 20 s: the kubelet could not renew either
        clock[0] = second
        watch.look()
    down[0] = False
    clock[0] = 40
    watch.look()
    assert watch.faults() == []
    for second in range(42, 68, 2):  # answered again, renewTime still unmoved: lost 24 s after the outage
        clock[0] = second
        watch.look()
    assert [f.kind for f in watch.faults()] == [infra.HEARTBEAT_STALE]
    assert FaultBoard(tmp_path / "faults.json").fault_on(["n1"]).kind == infra.HEARTBEAT_STALE
