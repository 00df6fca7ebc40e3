"""RC-SCH-7's pure logic: toleration matching as Kubernetes does it, admission, audit verdicts, pools;
and the run's facts keeping "schedulable" apart from "admits this class" (tainted pools, no blind placement)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from conformance.class_admission import ClassSpec, NodeView, audit, pools, refusal, tolerates, untolerated
from conformance.preflight import Facts, NodeFacts

GVISOR_TAINT = {"key": "sandbox.gke.io/runtime", "value": "gvisor", "effect": "NoSchedule"}


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),  # no operator: Equal; no effect: all
    ({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "anything", "effect": "NoSchedule"}, True),
    ({"operator": "Exists"}, {"key": "any", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "operator": "Exists", "effect": "NoExecute"}, {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Lt", "value": "10"}, {"key": "k", "value": "5", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Lt", "value": "10"}, {"key": "k", "value": "10", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Gt", "value": "10"}, {"key": "k", "value": "11", "effect": "NoSchedule"}, True),
    ({"key": "k", "operator": "Gt", "value": "10"}, {"key": "k", "value": "x", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Gt", "value": "010"}, {"key": "k", "value": "11", "effect": "NoSchedule"}, False),
    ({"key": "k", "operator": "Unknown", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, False),
])
def test_tolerations_match_taints_as_kubernetes_matches_them(toleration, taint, expected):
    assert tolerates(toleration, taint) is expected


def test_prefer_no_schedule_taints_never_keep_a_pod_off():
    assert untolerated([{"key": "k", "effect": "PreferNoSchedule"}], []) == []
    assert untolerated([GVISOR_TAINT], []) == [GVISOR_TAINT]


GKE = ClassSpec("gvisor", "gvisor", {"sandbox.gke.io/runtime": "gvisor"},
                ({"key": "sandbox.gke.io/runtime", "operator": "Equal", "value": "gvisor", "effect": "NoSchedule"},),
                has_scheduling=True)
PLAIN = NodeView("plain", True, {})
SANDBOX = NodeView("sandbox", True, {"sandbox.gke.io/runtime": "gvisor"}, (GVISOR_TAINT,))


def test_a_class_admits_a_tainted_node_it_selects_and_tolerates_and_says_why_not_elsewhere():
    assert refusal(GKE, SANDBOX) is None
    assert refusal(GKE, PLAIN) == "labels do not match sandbox.gke.io/runtime=gvisor"
    assert "not tolerated" in refusal(ClassSpec("runc", "runc"), SANDBOX)
    assert "not schedulable" in refusal(GKE, NodeView("cordoned", False, SANDBOX.labels, SANDBOX.taints))


def test_audit_names_a_class_that_admits_a_node_lacking_its_handler():
    result = audit(ClassSpec("kata", "kata-qemu"), [PLAIN], {"plain": ["runc"]})
    assert result.verdict == "unusable" and result.without_handler == ("plain",)
    assert "'kata' admits plain, which lacks handler 'kata-qemu'" in result.why


def test_audit_fails_a_class_no_node_admits_naming_why():
    nowhere = ClassSpec("k3s-wasm", "spin", {"spin": "yes"}, has_scheduling=True)
    result = audit(nowhere, [PLAIN, SANDBOX], {"plain": ["runc"], "sandbox": ["gvisor"]})
    assert result.verdict == "unusable" and result.admitting == ()
    assert "no schedulable node admits class 'k3s-wasm'" in result.why and "plain: labels do not match" in result.why


def test_audit_passes_a_tainted_pool_class_and_keeps_unknown_apart():
    assert audit(GKE, [PLAIN, SANDBOX], {"plain": ["runc"], "sandbox": ["gvisor", "runc"]}).verdict == "usable"
    unknown = audit(GKE, [PLAIN, SANDBOX], {"plain": None, "sandbox": None}, "use --node-probe")
    assert unknown.verdict == "unknown" and unknown.why.endswith("use --node-probe")


def test_pools_group_nodes_that_look_alike():
    a, b = NodeView("a", True, {"cloud.google.com/gke-nodepool": "p1"}), NodeView("b", True, {"cloud.google.com/gke-nodepool": "p1"})
    c = NodeView("c", True, {"cloud.google.com/gke-nodepool": "p2"})
    assert pools([a, b, c, SANDBOX], {"a": ["runc"], "b": ["runc"], "c": ["runc"], "sandbox": None}) == \
        [["a", "b"], ["c"], ["sandbox"]]


def _facts(nodes, classes=(), known=None) -> Facts:
    return Facts(server="s", server_version="v1.37.2", node_k8s_io_v1=True, nodes=tuple(nodes), handlers=("gvisor", "runc"),
                 handlers_reported=any(n.handlers for n in nodes), platform_classes=tuple(asdict(c) for c in classes),
                 known_handlers=known or {})


def test_a_handler_only_on_a_tainted_pool_is_reached_through_its_platform_class():
    nodes = [NodeFacts("plain", True, ("runc",), {}, {}),
             NodeFacts("sandbox", True, ("gvisor", "runc"), {}, dict(SANDBOX.labels), taints=(GVISOR_TAINT,))]
    facts = _facts(nodes, [GKE])
    assert [n.name for n in facts.schedulable_nodes()] == ["plain", "sandbox"]
    assert [n.name for n in facts.open_nodes()] == ["plain"]
    assert facts.nodes_with_handler("gvisor") == ["sandbox"] and facts.why_missing("handler:gvisor") is None
    assert facts.scheduling_for("gvisor") == ({"sandbox.gke.io/runtime": "gvisor"}, [dict(GKE.tolerations[0])])
    assert facts.scheduling_for("runc") is None and facts.nodes_with_handler("runc") == ["plain"]
    assert Facts.from_json(facts.to_json()).scheduling_for("gvisor") == facts.scheduling_for("gvisor")
    assert _facts(nodes).nodes_with_handler("gvisor") == []  # without the class: no way there
    assert _facts(nodes).why_missing("handler:gvisor") == (
        "the nodes that run handler 'gvisor' (sandbox) carry sandbox.gke.io/runtime=gvisor:NoSchedule, "
        "and no RuntimeClass of the cluster for it selects and tolerates them")


def test_a_handler_no_node_reports_is_missing_naming_what_each_node_runs():
    nodes = [NodeFacts("w1", True, ("crun", "runc"), {}, {}), NodeFacts("w2", False, ("runc", "test-handler"), {}, {})]
    assert _facts(nodes).why_missing("handler:test-handler") == (
        "no schedulable node reports handler 'test-handler' in Node.status.runtimeHandlers (w1: crun, runc); "
        "not schedulable: w2")


def test_without_runtime_handlers_placement_is_never_blind():
    nodes = [NodeFacts("a", True, (), {}, {}), NodeFacts("b", True, (), {}, {})]
    blind = _facts(nodes)
    assert blind.nodes_with_handler("runc") == []
    assert "--handler-nodes runc=NODE" in blind.why_missing("handler:runc")
    told = _facts(nodes, known={"b": {"handlers": ["runc"], "source": "--handler-nodes"}})
    assert told.nodes_with_handler("runc") == ["b"] and told.nodes_without_handler("runc") == []
