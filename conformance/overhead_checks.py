"""RC-OVH checks that read quota status or node cgroups."""

from __future__ import annotations

from kubernetes.client import V1Pod

from conformance import quantities
from conformance.case import Case
from conformance.waiting import wait_for

QUOTA_NAME = "rcc-quota"


def wait_for_quota_ready(case: Case) -> None:
    """Admission refuses Pods until the quota controller has computed the quota's status once."""
    wait_for(f"ResourceQuota {QUOTA_NAME} status computed",
             lambda: case.kube.core.read_namespaced_resource_quota(QUOTA_NAME, case.namespace).status.hard or None,
             timeout=case.settings.timeouts["schedule"], interval=0.2)


def quota_used_requests_cpu(case: Case) -> int:
    """requests.cpu used, in millicores, once the quota controller has counted the new Pod."""
    def used() -> int | None:
        status = case.kube.core.read_namespaced_resource_quota(QUOTA_NAME, case.namespace).status
        value = (status.used or {}).get("requests.cpu", "0")
        return quantities.millicpu(value) or None

    value = wait_for("quota usage updated", used, timeout=case.settings.timeouts["schedule"], interval=0.2)
    case.attach("quota used", {"requests.cpu (millicores)": value})
    return value


def pod_cgroup_limits(case: Case, pod: V1Pod) -> dict[str, int]:
    """The Pod-level cgroup's CPU quota (µs per 100ms period) and memory limit, read on its node."""
    current = case.read_pod(pod.metadata.name)
    evidence = case.settings.evidence
    assert evidence is not None, "node evidence is unavailable"
    qos = current.status.qos_class
    node, uid = current.spec.node_name, current.metadata.uid
    cpu = evidence.pod_cgroup_value(node, uid, qos, "cpu.cfs_quota_us")
    memory = evidence.pod_cgroup_value(node, uid, qos, "memory.limit_in_bytes")
    assert cpu is not None and memory is not None, f"no Pod cgroup for {uid} ({qos}) on {node}"
    limits = {"cpu_quota_us": int(cpu), "memory_bytes": int(memory)}
    case.attach(f"Pod cgroup on {node}", {"qos": qos, **limits})
    return limits



