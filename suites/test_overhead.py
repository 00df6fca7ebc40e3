"""OVH: pod overhead copied at admission and counted by scheduler, quota and kubelet."""

import pytest

from conformance.case import pin

from conformance import memory_hold
from conformance.containment import escapes
from conformance.overhead_checks import pod_cgroup_limits, quota_used_requests_cpu, wait_for_quota_ready

OVERHEAD = {"cpu": "250m", "memory": "120Mi"}
MISMATCH = "Pod's Overhead doesn't match RuntimeClass's defined Overhead"
WITHOUT = "Pod Overhead set without corresponding RuntimeClass defined Overhead"


@pytest.mark.clause("RC-OVH-1")
def test_runtime_class_overhead_is_copied_into_the_pod_spec_at_admission(rcc):
    runtime_class = rcc.runtime_class("runc", overhead=OVERHEAD)
    admitted = rcc.admitted_pod(runtime_class=runtime_class)
    assert admitted.spec.overhead == OVERHEAD


@pytest.mark.clause("RC-OVH-2")
def test_runtime_class_without_overhead_leaves_the_pod_overhead_empty(rcc):
    runtime_class = rcc.runtime_class("runc")
    admitted = rcc.admitted_pod(runtime_class=runtime_class)
    assert not admitted.spec.overhead


@pytest.mark.clause("RC-OVH-3")
def test_pod_overhead_different_from_its_runtime_class_is_rejected(rcc):
    runtime_class = rcc.runtime_class("runc", overhead=OVERHEAD)
    refused = rcc.pod_rejection(runtime_class=runtime_class, overhead={"cpu": "1", "memory": "120Mi"})
    rcc.expect_rejected(refused, 403, MISMATCH)


@pytest.mark.clause("RC-OVH-3")
def test_pod_overhead_identical_to_its_runtime_class_is_accepted(rcc):
    runtime_class = rcc.runtime_class("runc", overhead=OVERHEAD)
    assert rcc.pod_rejection(runtime_class=runtime_class, overhead=dict(OVERHEAD)) is None


@pytest.mark.clause("RC-OVH-4")
@pytest.mark.parametrize("with_class", [False, True], ids=["no-runtime-class", "class-without-overhead"])
def test_pod_overhead_without_a_runtime_class_overhead_is_rejected(rcc, with_class):
    runtime_class = rcc.runtime_class("runc") if with_class else None
    refused = rcc.pod_rejection(runtime_class=runtime_class, overhead=dict(OVERHEAD))
    rcc.expect_rejected(refused, 403, WITHOUT)


@pytest.mark.window
@pytest.mark.clause("RC-OVH-5")
def test_scheduler_counts_overhead_when_fitting_a_pod_onto_a_node(rcc):
    rcc.exclusive("node-resources")
    node = rcc.schedulable_nodes_with("runc")[0]
    with_overhead = rcc.runtime_class("runc", overhead={"cpu": "800m"})
    without_overhead = rcc.runtime_class("runc")
    free = rcc.free_allocatable(node)["cpu"]
    # Requests alone fit the node; requests plus overhead do not.
    too_big = {"cpu": f"{free - 400}m"}
    rejected = rcc.create_pod(["true"], runtime_class=with_overhead, requests=too_big, node_selector=pin(node))
    rcc.stays_unscheduled(rejected, expected_message="Insufficient cpu")
    rcc.delete_pod(rejected)
    # The same requests without overhead are placed: the overhead made the difference.
    same = rcc.create_pod(["true"], runtime_class=without_overhead, requests=too_big, node_selector=pin(node))
    assert rcc.wait_scheduled(same) == node
    rcc.delete_pod(same)
    # With room for requests plus overhead (and a margin for concurrent tests) it is placed.
    fits = rcc.create_pod(["true"], runtime_class=with_overhead, requests={"cpu": f"{max(free - 1500, 10)}m"},
                          node_selector=pin(node))
    assert rcc.wait_scheduled(fits) == node


@pytest.mark.clause("RC-OVH-6")
def test_resource_quota_counts_overhead_and_rejects_a_pod_over_quota_only_by_overhead(rcc):
    # Shared: its 900m goes to a node of the scheduler's choosing, which only RC-OVH-5 must have to itself.
    rcc.exclusive("node-resources", shared=True)
    rcc.resource_quota({"requests.cpu": "1", "requests.memory": "1Gi"})
    wait_for_quota_ready(rcc)
    runtime_class = rcc.runtime_class("runc", overhead={"cpu": "500m", "memory": "64Mi"})
    over = rcc.pod_rejection(runtime_class=runtime_class, requests={"cpu": "600m", "memory": "64Mi"})
    rcc.expect_rejected(over, 403, "exceeded quota")
    rcc.create_pod(["sleep", "3600"], runtime_class=runtime_class, requests={"cpu": "400m", "memory": "64Mi"})
    assert quota_used_requests_cpu(rcc) == 900, "quota usage must be requests (400m) + overhead (500m)"


@pytest.mark.clause("RC-OVH-7")
def test_kubelet_sizes_the_pod_cgroup_with_overhead(rcc, handlers):
    # Per handler: a sandboxing runtime (gVisor) puts its sandbox in this cgroup, so it must hold there too.
    # And per CRI: the kubelet makes the Pod cgroup with the CRI's help, so one node of each CRI is checked.
    rcc.exclusive("node-resources", shared=True)
    guaranteed = {"cpu": "100m", "memory": "100Mi"}

    def sized_with_overhead(handler):
        runtime_class = rcc.runtime_class(handler, overhead={"cpu": "200m", "memory": "140Mi"})
        pods = [rcc.create_pod(["sleep", "3600"], runtime_class=runtime_class, requests=guaranteed,
                               limits=guaranteed, node_selector=pin(node)) for node in rcc.one_node_per_cri(handler)]
        for pod in pods:
            rcc.wait_running(pod)
            limits = pod_cgroup_limits(rcc, pod)
            assert limits == {"cpu_quota_us": 30000, "memory_bytes": 251658240}, (pod.spec.node_selector, limits)

    rcc.each(handlers, sized_with_overhead)


@pytest.mark.clause("RC-OVH-8")
@pytest.mark.needs("node-evidence")
def test_sandbox_and_every_container_process_stay_inside_the_pod_cgroup(rcc, handlers):
    # The cgroup RC-OVH-7 sized bounds the Pod only if what runs the Pod is in it: pause or gVisor's sandbox
    # and gofer, and every container process (here a shell with a child), on one node of each CRI.
    # CPU: a small request and no limit. These Pods share nodes with RC-OVH-7's and RC-OVH-6's (a shared
    # lock), and a 2-core node fills up (OutOfcpu); without a CPU quota a gVisor sandbox still boots quickly.
    rcc.exclusive("node-resources", shared=True)
    requests, limits = {"cpu": "10m", "memory": "64Mi"}, {"memory": "64Mi"}

    def contained(handler):
        runtime_class = rcc.runtime_class(handler, overhead={"cpu": "10m", "memory": "128Mi"})
        pods = [rcc.create_pod(["sh", "-c", "sleep 3600 & sleep 3600"], runtime_class=runtime_class,
                               requests=requests, limits=limits, node_selector=pin(node))
                for node in rcc.one_node_per_cri(handler)]
        for pod in pods:
            rcc.wait_running(pod)
        escaped = [why for pod in pods if (why := escapes(rcc, pod, handler))]
        assert not escaped, "; ".join(escaped)

    rcc.each(handlers, contained)


@pytest.mark.clause("RC-OVH-8")
def test_a_pod_cannot_hold_more_memory_than_its_limits_plus_overhead(rcc, handlers):
    # Limit 64Mi + overhead 160Mi = 224Mi; the Pod tries to hold 640Mi of touched pages. Refused in any form
    # (allocation failure, an OOM kill, the sandbox dying) passes and is recorded; getting it fails with the figure.
    # Only memory is limited (the Pod cgroup's memory limit is containers' limits plus overhead); CPU is a small
    # request, so that these Pods fit beside the other overhead tests' Pods on a small node.
    rcc.exclusive("node-resources", shared=True)
    requests, limits = {"cpu": "10m", "memory": "64Mi"}, {"memory": "64Mi"}
    overhead, target_mib = {"cpu": "10m", "memory": "160Mi"}, 640
    forms = []

    def refused(handler):
        runtime_class = rcc.runtime_class(handler, overhead=overhead)
        pods = [(node, rcc.create_pod(memory_hold.command(target_mib), runtime_class=runtime_class,
                                      requests=requests, limits=limits, node_selector=pin(node)))
                for node in rcc.one_node_per_cri(handler)]
        held = []
        for node, pod in pods:
            outcome = memory_hold.attempt(rcc, pod)
            forms.append(f"{handler} on {node}: {outcome.form}")
            if outcome.held_mib is not None:
                held.append(f"{handler} on {node}: the Pod holds {outcome.held_mib:.0f} MiB, more than its limit "
                            f"of 224 MiB (containers 64Mi + overhead 160Mi)")
        assert not held, "; ".join(held)

    try:
        rcc.each(handlers, refused)
    finally:
        rcc.observed("RC-OVH-8", "; ".join(sorted(forms)) or "no Pod decided")
