"""API: the RuntimeClass resource, node.k8s.io/v1, cluster-scoped (RC-API-1 … RC-API-5)."""

import pytest

from conformance.api_checks import (
    RUNTIMECLASS_VERBS,
    allowed_runtimeclass_writes,
    deletecollection_round_trip,
    lifecycle_round_trip,
    runtime_class_rejection,
    runtime_class_update_rejection,
    served_runtimeclasses_resource,
    subject_bound_to,
)


@pytest.mark.clause("RC-API-1")
def test_runtimeclasses_are_served_in_node_k8s_io_v1_with_every_verb(rcc):
    resource = served_runtimeclasses_resource(rcc)
    assert resource is not None, "discovery of node.k8s.io/v1 does not list runtimeclasses"
    assert not resource.namespaced, "runtimeclasses must be cluster-scoped"
    assert set(RUNTIMECLASS_VERBS) <= set(resource.verbs), f"verbs served: {resource.verbs}"


@pytest.mark.clause("RC-API-1")
def test_runtimeclass_lifecycle_create_get_list_watch_patch_update_delete(rcc):
    lifecycle_round_trip(rcc)


@pytest.mark.clause("RC-API-1")
def test_second_create_of_the_same_runtimeclass_name_is_409(rcc):
    name = rcc.runtime_class("runc")
    refused = runtime_class_rejection(rcc, "runc", name=name)
    rcc.expect_rejected(refused, 409)


@pytest.mark.clause("RC-API-1")
def test_deletecollection_by_label_selector_removes_exactly_the_selected_runtimeclasses(rcc):
    deletecollection_round_trip(rcc)


@pytest.mark.clause("RC-API-2")
@pytest.mark.parametrize("bad_handler", ["", "UpperCase", "dotted.handler", "a" * 64, "-leading-dash",
                                         "trailing-dash-", "under_score"])
def test_handler_that_is_not_a_dns1123_label_is_422(rcc, bad_handler):
    refused = runtime_class_rejection(rcc, bad_handler)
    rcc.expect_rejected(refused, 422, "handler")


@pytest.mark.clause("RC-API-2")
@pytest.mark.parametrize("good_handler", ["a", "runc", "kata-qemu-2", "a" * 63])
def test_handler_that_is_a_dns1123_label_is_accepted(rcc, good_handler):
    assert runtime_class_rejection(rcc, good_handler) is None


@pytest.mark.clause("RC-API-3")
def test_changing_the_handler_of_a_runtimeclass_is_422_field_is_immutable(rcc):
    name = rcc.runtime_class("runc")
    refused = runtime_class_update_rejection(rcc, name, {"handler": "crun"})
    rcc.expect_rejected(refused, 422, "field is immutable")


@pytest.mark.clause("RC-API-3")
@pytest.mark.parametrize("change", [
    {"overhead": {"podFixed": {"cpu": "250m", "memory": "64Mi"}}},
    {"scheduling": {"nodeSelector": {"rcc.conformance.io/any": "value"}}},
    {"scheduling": {"tolerations": [{"key": "rcc.conformance.io/any", "operator": "Exists"}]}},
], ids=["overhead", "nodeSelector", "tolerations"])
def test_overhead_and_scheduling_of_a_runtimeclass_may_change(rcc, change):
    name = rcc.runtime_class("runc")
    assert runtime_class_update_rejection(rcc, name, change) is None


@pytest.mark.clause("RC-API-4")
@pytest.mark.parametrize("pod_fixed", [{"cpu": "-1"}, {"memory": "-10Mi"}], ids=["negative-cpu", "negative-memory"])
def test_negative_overhead_is_422(rcc, pod_fixed):
    refused = runtime_class_rejection(rcc, "runc", overhead=pod_fixed)
    rcc.expect_rejected(refused, 422)


@pytest.mark.clause("RC-API-4")
@pytest.mark.parametrize("resource", ["nonstandard", "example.com/"], ids=["unqualified", "empty-name"])
def test_overhead_resource_name_that_is_neither_standard_nor_extended_is_422(rcc, resource):
    refused = runtime_class_rejection(rcc, "runc", overhead={resource: "1"})
    rcc.expect_rejected(refused, 422)


@pytest.mark.clause("RC-API-4")
def test_overhead_with_standard_and_extended_resources_is_accepted(rcc):
    assert runtime_class_rejection(rcc, "runc", overhead={"cpu": "100m", "memory": "10Mi",
                                                         "example.com/widget": "1"}) is None


@pytest.mark.clause("RC-API-5")
@pytest.mark.parametrize("role", ["admin", "edit", "view"])
def test_namespaced_builtin_roles_cannot_write_runtimeclasses(rcc, role):
    subject = subject_bound_to(rcc, role)
    allowed = allowed_runtimeclass_writes(rcc, subject)
    assert allowed == [], f"a subject with only namespaced {role!r} may {allowed} runtimeclasses"
    refused = runtime_class_rejection(rcc, "runc", as_user=subject)
    rcc.expect_rejected(refused, 403)
