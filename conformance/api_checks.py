"""RC-API checks that take more than one call: discovery, verb round trips, access reviews.

Every object made here carries the run's labels and has its cleanup registered
with the Case, so an assertion that stops a round trip early leaks nothing.
"""

from __future__ import annotations

from typing import Any

import allure
from kubernetes import watch
from kubernetes.client import CustomObjectsApi

from conformance import manifests
from conformance.case import Case
from conformance.kube import DRY_RUN, Rejection, ignore_not_found, rejection

RUNTIMECLASS_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def served_runtimeclasses_resource(case: Case) -> Any | None:
    """The `runtimeclasses` entry of node.k8s.io/v1 discovery, or None."""
    resources = CustomObjectsApi(case.kube.api).get_api_resources("node.k8s.io", "v1").resources
    return next((r for r in resources if r.name == "runtimeclasses"), None)


def lifecycle_round_trip(case: Case) -> None:
    """create, get, list by label, watch, patch, update and delete one RuntimeClass, checking each answer."""
    node_api = case.kube.node
    marker = {case.node_key("lifecycle"): "yes"}
    before = node_api.list_runtime_class(label_selector=_selector(marker)).metadata.resource_version
    name = case.runtime_class("runc")
    with allure.step("get"):
        assert node_api.read_runtime_class(name).handler == "runc"
    with allure.step("patch: add a label"):
        node_api.patch_runtime_class(name, {"metadata": {"labels": marker}})
    with allure.step("list by label selector"):
        listed = [rc.metadata.name for rc in node_api.list_runtime_class(label_selector=_selector(marker)).items]
        assert listed == [name], f"list with selector returned {listed}"
    with allure.step("watch from before the create"):
        stream = watch.Watch().stream(node_api.list_runtime_class, label_selector=f"{manifests.LABEL_RUN}="
                                      f"{case.settings.run_id}", resource_version=before, timeout_seconds=10)
        seen = next((e["type"] for e in stream if e["object"].metadata.name == name), None)
        assert seen in ("ADDED", "MODIFIED"), f"watch did not report {name} (saw {seen})"
    with allure.step("update: replace overhead"):
        current = node_api.read_runtime_class(name)
        current.overhead = {"podFixed": {"cpu": "50m"}}
        updated = node_api.replace_runtime_class(name, current)
        assert updated.overhead.pod_fixed == {"cpu": "50m"}
    with allure.step("delete"):
        node_api.delete_runtime_class(name)
        assert rejection(lambda: node_api.read_runtime_class(name)).status == 404


def deletecollection_round_trip(case: Case) -> None:
    """deletecollection with a label selector removes the selected RuntimeClasses and no other."""
    marker = {case.node_key("collection"): "doomed"}
    doomed = [case.runtime_class("runc") for _ in range(2)]
    survivor = case.runtime_class("runc")
    for name in doomed:
        case.kube.node.patch_runtime_class(name, {"metadata": {"labels": marker}})
    with allure.step(f"deletecollection {_selector(marker)}"):
        case.kube.node.delete_collection_runtime_class(label_selector=_selector(marker))
    for name in doomed:
        assert rejection(lambda: case.kube.node.read_runtime_class(name)).status == 404, f"{name} survived"
    assert case.kube.node.read_runtime_class(survivor).metadata.name == survivor


def runtime_class_rejection(case: Case, handler: str, name: str | None = None,
                            overhead: dict[str, str] | None = None, as_user: str | None = None) -> Rejection | None:
    """Dry-run create of a RuntimeClass (optionally as another user); the Rejection if refused."""
    body = manifests.runtime_class(name or case.unique("rc"), handler, case.settings.run_id, overhead)
    kube = case.kube.impersonating(as_user) if as_user else case.kube
    with allure.step(f"dry-run create RuntimeClass handler={handler!r}" + (f" as {as_user}" if as_user else "")):
        refused = rejection(lambda: kube.node.create_runtime_class(body, dry_run=DRY_RUN))
    case.attach("API answer", refused.__dict__ if refused else {"accepted": True})
    return refused


def runtime_class_update_rejection(case: Case, name: str, change: dict[str, Any]) -> Rejection | None:
    """Dry-run update (PUT) of a RuntimeClass with top-level fields replaced."""
    current = case.kube.api.sanitize_for_serialization(case.kube.node.read_runtime_class(name))
    current.update(change)
    with allure.step(f"dry-run update RuntimeClass {name} with {change}"):
        refused = rejection(lambda: case.kube.node.replace_runtime_class(name, current, dry_run=DRY_RUN))
    case.attach("API answer", refused.__dict__ if refused else {"accepted": True})
    return refused


def subject_bound_to(case: Case, cluster_role: str) -> str:
    """A user holding only the built-in ClusterRole `cluster_role`, bound in the test's namespace."""
    user = f"rcc-{case.settings.run_id}-{cluster_role}-user"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": f"rcc-{cluster_role}", "labels": manifests.run_labels(case.settings.run_id)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    with allure.step(f"bind ClusterRole {cluster_role} to {user} in namespace {case.namespace}"):
        case.kube.rbac.create_namespaced_role_binding(case.namespace, binding)
        case.defer(lambda: ignore_not_found(lambda: case.kube.rbac.delete_namespaced_role_binding(
            f"rcc-{cluster_role}", case.namespace)))
    return user


def allowed_runtimeclass_writes(case: Case, user: str) -> list[str]:
    """The write verbs on runtimeclasses a SubjectAccessReview allows `user`."""
    allowed = []
    for verb in WRITE_VERBS:
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, "resourceAttributes": {"verb": verb, "group": "node.k8s.io",
                                                                "resource": "runtimeclasses"}}}
        if case.kube.authz.create_subject_access_review(review).status.allowed:
            allowed.append(verb)
    case.attach(f"access review for {user}", {"allowed write verbs": allowed})
    return allowed


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())
