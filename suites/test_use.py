"""USE: selecting a runtime from a Pod (RC-USE-1 … RC-USE-7)."""

import pytest

from conformance.case import pin


@pytest.mark.clause("RC-USE-1")
def test_pod_naming_a_runtime_class_with_a_configured_handler_runs_to_succeeded(rcc, handlers):
    def runs_to_succeeded(handler):
        runtime_class, on_node = rcc.runtime_class_on_nodes_with(handler)
        pod = rcc.create_pod(["sh", "-c", "echo ran under $0"], runtime_class=runtime_class, node_selector=on_node)
        rcc.wait_succeeded(pod)

    rcc.each(handlers, runs_to_succeeded)


@pytest.mark.clause("RC-USE-2")
def test_cri_sandbox_of_the_pod_reports_the_runtime_class_handler(rcc, handlers):
    def sandbox_reports(handler):
        # Each CRI implementation reports the handler its own way: checked on one node of each.
        runtime_class = rcc.runtime_class(handler)
        pods = [rcc.create_pod(["true"], runtime_class=runtime_class, node_selector=pin(node))
                for node in rcc.one_node_per_cri(handler)]
        for pod in pods:
            rcc.wait_succeeded(pod)
            assert rcc.sandbox_of(pod).runtime_handler == handler, pod.spec.node_selector

    rcc.each(handlers, sandbox_reports)


@pytest.mark.clause("RC-USE-3")
def test_pod_without_runtime_class_runs_with_the_default_runtime(rcc):
    pods = [rcc.create_pod(["true"], node_selector=pin(node)) for node in rcc.one_node_per_cri()]
    for pod in pods:
        rcc.wait_succeeded(pod)
        sandbox = rcc.sandbox_of(pod)
        node = rcc.read_pod(pod.metadata.name).spec.node_name
        # The CRI reports the default runtime as an empty handler, "as if RuntimeClass were disabled".
        assert sandbox.runtime_handler in ("", rcc.default_handler_of(node)), node


@pytest.mark.window
@pytest.mark.clause("RC-USE-4")
def test_pod_naming_a_missing_runtime_class_never_runs(rcc):
    missing = rcc.unique("rc-missing")
    refused = rcc.pod_rejection(runtime_class=missing)
    if refused is not None:
        rcc.observed("RC-USE-4", "rejected at admission")
        rcc.expect_rejected(refused, 403, f'RuntimeClass "{missing}" not found')
        return
    # Admitted: the guarantee left is that the Pod never runs; record how the cluster says so.
    pod = rcc.create_pod(runtime_class=missing)
    form = rcc.never_runs(pod)
    rcc.observed("RC-USE-4", form)


@pytest.mark.window
@pytest.mark.clause("RC-USE-5")
def test_pod_naming_a_runtime_class_whose_handler_no_node_has_never_runs(rcc):
    handler = rcc.unique("absent")[:40].rstrip("-")
    runtime_class = rcc.runtime_class(handler)
    # Each CRI refuses an unknown handler in its own words; one Pod per kind of node records them.
    pods = [rcc.create_pod(runtime_class=runtime_class, node_selector=pin(node)) for node in rcc.one_node_per_cri()]
    forms = sorted(set(rcc.never_run(pods, handler=handler)))
    rcc.observed("RC-USE-5", "; ".join(forms))


@pytest.mark.window
@pytest.mark.clause("RC-USE-6")
def test_deleting_a_runtime_class_rejects_new_pods_and_keeps_running_ones(rcc, handlers):
    def rejects_new_keeps_running(handler):
        runtime_class, on_node = rcc.runtime_class_on_nodes_with(handler)
        running = rcc.create_pod(["sleep", "3600"], runtime_class=runtime_class, node_selector=on_node)
        rcc.wait_running(running)
        rcc.delete_runtime_class(runtime_class)
        # Admission reads RuntimeClasses from an informer cache: the deletion reaches it shortly after.
        refused = rcc.eventual_pod_rejection(runtime_class=runtime_class)
        assert refused.status == 403, refused
        assert f'RuntimeClass "{runtime_class}" not found' in refused.message
        rcc.keeps_running(running)

    rcc.each(handlers, rejects_new_keeps_running)


@pytest.mark.clause("RC-USE-7")
@pytest.mark.parametrize("field", ["runtimeClassName", "overhead"])
def test_runtime_class_name_and_overhead_of_an_existing_pod_are_immutable(rcc, field):
    runtime_class = rcc.runtime_class("runc", overhead={"cpu": "10m"})
    other = rcc.runtime_class("runc", overhead={"cpu": "20m"})
    pod = rcc.create_pod(["sleep", "3600"], runtime_class=runtime_class)
    change = {"runtimeClassName": other} if field == "runtimeClassName" else {"overhead": {"cpu": "20m"}}
    refused = rcc.pod_update_rejection(pod, {"spec": change})
    rcc.expect_rejected(refused, 422, any_of=("forbidden", "immutable"))
