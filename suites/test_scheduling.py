"""SCH: RuntimeClass scheduling merged into Pods at admission and honoured by the scheduler."""

import pytest

from conformance.case import pin


@pytest.mark.clause("RC-SCH-1")
def test_runtime_class_node_selector_is_merged_into_the_pod_node_selector(rcc):
    runtime_class = rcc.runtime_class("runc", node_selector={"rcc.conformance.io/from-class": "yes"})
    admitted = rcc.admitted_pod(runtime_class=runtime_class, node_selector={"rcc.conformance.io/from-pod": "yes"})
    assert admitted.spec.node_selector == {"rcc.conformance.io/from-class": "yes",
                                           "rcc.conformance.io/from-pod": "yes"}


@pytest.mark.clause("RC-SCH-1", "RC-SCH-2")
def test_pod_lands_only_on_the_node_matching_both_selectors(rcc):
    nodes = rcc.schedulable_nodes_with("runc")[:2]
    everywhere = [rcc.label_node(node, "pool") for node in nodes][0]
    target = nodes[-1]
    only_target = rcc.label_node(target, "target")
    runtime_class = rcc.runtime_class("runc", node_selector=dict([everywhere]))
    pod = rcc.create_pod(["true"], runtime_class=runtime_class, node_selector=dict([only_target]))
    assert rcc.wait_scheduled(pod) == target


@pytest.mark.window
@pytest.mark.clause("RC-SCH-2")
def test_pod_whose_merged_selector_matches_no_node_stays_pending(rcc):
    runtime_class = rcc.runtime_class("runc", node_selector={rcc.node_key("nowhere"): "true"})
    pod = rcc.create_pod(["true"], runtime_class=runtime_class)
    rcc.stays_unscheduled(pod)


@pytest.mark.clause("RC-SCH-3")
def test_node_selector_conflict_between_pod_and_runtime_class_is_rejected(rcc):
    key = "rcc.conformance.io/zone"
    runtime_class = rcc.runtime_class("runc", node_selector={key: "class-value"})
    refused = rcc.pod_rejection(runtime_class=runtime_class, node_selector={key: "pod-value"})
    rcc.expect_rejected(refused, 403, f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = class-value; "
                                      f"pod.spec.nodeSelector[{key}] = pod-value")


@pytest.mark.clause("RC-SCH-4")
def test_runtime_class_tolerations_are_merged_pod_first_without_duplicates(rcc):
    shared = {"key": "rcc.conformance.io/shared", "operator": "Equal", "value": "x", "effect": "NoSchedule"}
    extra = {"key": "rcc.conformance.io/extra", "operator": "Exists", "effect": "NoSchedule"}
    covered = {"key": "rcc.conformance.io/covered", "operator": "Equal", "value": "v", "effect": "NoSchedule"}
    covering = {"key": "rcc.conformance.io/covered", "operator": "Exists"}
    runtime_class = rcc.runtime_class("runc", tolerations=[shared, extra, covered])
    admitted = rcc.admitted_pod(runtime_class=runtime_class, tolerations=[covering, shared])
    keys = [(t.key, t.operator, t.effect) for t in admitted.spec.tolerations if t.key.startswith("rcc.")]
    assert keys == [("rcc.conformance.io/covered", "Exists", None),
                    ("rcc.conformance.io/shared", "Equal", "NoSchedule"),
                    ("rcc.conformance.io/extra", "Exists", "NoSchedule")], keys


@pytest.mark.clause("RC-SCH-4")
def test_runtime_class_toleration_lets_the_pod_land_on_a_node_tainted_for_the_runtime(rcc):
    node = rcc.schedulable_nodes_with("runc")[0]
    taint = rcc.taint_node(node, "sandboxed")
    runtime_class = rcc.runtime_class("runc", node_selector=pin(node), tolerations=[{**taint, "operator": "Equal"}])
    pod = rcc.create_pod(["true"], runtime_class=runtime_class, tolerate_own_taint=False)
    assert rcc.wait_scheduled(pod) == node
    rcc.wait_succeeded(pod)


@pytest.mark.window
@pytest.mark.clause("RC-SCH-5")
def test_pod_without_the_toleration_is_not_scheduled_onto_the_tainted_node(rcc):
    node = rcc.schedulable_nodes_with("runc")[0]
    rcc.taint_node(node, "sandboxed")

    def stays_off_the_tainted_node(with_class):
        runtime_class = rcc.runtime_class("runc") if with_class else None
        pod = rcc.create_pod(["true"], runtime_class=runtime_class, node_selector=pin(node),
                             tolerate_own_taint=False)
        message = rcc.stays_unscheduled(pod)
        assert "taint" in message, f"FailedScheduling does not mention the taint: {message}"

    # A Pod without a RuntimeClass, and one whose RuntimeClass has no toleration: watched at once.
    rcc.each([False, True], stays_off_the_tainted_node,
             label=lambda with_class: "class-without-toleration" if with_class else "no-runtime-class")


@pytest.mark.clause("RC-SCH-6")
def test_runtime_class_without_scheduling_adds_no_node_selector_or_tolerations(rcc):
    runtime_class = rcc.runtime_class("runc")
    selector = {"rcc.conformance.io/own": "yes"}
    own = [{"key": "rcc.conformance.io/own", "operator": "Exists", "effect": "NoSchedule"}]
    plain = rcc.admitted_pod(node_selector=selector, tolerations=own)
    with_class = rcc.admitted_pod(runtime_class=runtime_class, node_selector=selector, tolerations=own)
    assert with_class.spec.node_selector == plain.spec.node_selector == selector
    assert rcc.plain(with_class.spec.tolerations) == rcc.plain(plain.spec.tolerations)
