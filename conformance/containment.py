"""RC-OVH-8, membership: every host process that runs a Pod sits in the Pod cgroup RC-OVH-7 sized, or below it.

The processes come from the node (clusters/pod_processes.py: the CRI's pids and ids, then the
process tree); this module says which of them must be inside and judges each one's cgroups.

The rule, read from the upstream sources:

- Must be inside: the sandbox and everything the Pod's containers run. runc and crun put the
  pause process and each container's processes in the container's `linux.cgroupsPath`, which
  the CRI derives from the Pod cgroup (`<pod cgroup>/<id>`, or the systemd scope below the Pod
  slice). gVisor's runsc, creating a Pod's root container, joins that container's cgroup before
  it starts the gofer and the sandbox ("create and join cgroup before processes are created",
  runsc/container/container.go, skipped only under `--ignore-cgroups`), so `runsc-sandbox …
  boot` (the sentry, which holds all the Pod's memory, and systrap's stub processes it forks) and
  `runsc-gofer … gofer` must be inside; a subcontainer's gofer joins that container's cgroup. A
  VM runtime's monitor (qemu, cloud-hypervisor, firecracker) is the sandbox too.
- May be outside: the CRI's per-Pod supervisor: containerd's shim (`containerd-shim-*`, started
  by containerd in containerd's own cgroup unless the runtime options say `ShimCgroup`;
  gVisor's shim likewise) and CRI-O's conmon (placed by `conmon_cgroup`; `pod` puts it inside,
  as this project's CRI-O does). They are found as the roots of the tree: processes that name a
  CRI id but that the CRI's status does not name as a sandbox or container pid. Also the OCI
  runtime's own command-line calls on the supervisor's behalf (`runc`/`runsc` `create`, `start`,
  `exec`, `wait`, `events`, …: neither `boot`, `gofer` nor `init`), which exit or stay in the
  supervisor's cgroup by design.

A cgroup v1 process is inside when its memory and cpu hierarchies both place it at or below
the Pod's directory; on cgroup v2 its one unified path does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import pytest
from kubernetes.client import V1Pod

from clusters.pod_processes import NodeProcess, PodProcesses
from clusters.provider import ContainmentEvidence
from conformance.case import Case

PROPERTY = "containment"  # the prefix of the user_properties a test records its rows under, for the report's isolation table
V1_CONTROLLERS = ("memory", "cpu")
RUNTIME_BINARIES = frozenset({"runc", "crun", "runsc", "youki", "kata-runtime"})
SANDBOX_SUBCOMMANDS = frozenset({"boot", "gofer", "init"})  # runsc's sandbox and gofer, runc's container init
HYPERVISORS = ("qemu", "cloud-hypervisor", "firecracker")
ALLOWED_OUTSIDE = ("CRI supervisor", "runtime CLI", "bystander")


@dataclass(frozen=True)
class Judged:
    """One process of the Pod, what it is, where it sits, and whether that is inside the Pod cgroup."""

    pid: int
    role: str
    command: str
    cgroups: dict[str, str]
    inside: bool

    @property
    def must_be_inside(self) -> bool:
        return self.role not in ALLOWED_OUTSIDE

    @property
    def escaped(self) -> bool:
        return self.must_be_inside and not self.inside


def _base(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def role_of(process: NodeProcess, tree: PodProcesses) -> str:
    """What the process is to the Pod (see the module docstring for which roles may live outside)."""
    argv = process.argv
    names = {_base(process.exe), *(_base(a) for a in argv[:2])}
    tokens = set(argv)
    if process.pid in tree.roots and not process.named_by_cri:
        return "CRI supervisor" if tree.children(process.pid) else "bystander"
    if "boot" in tokens and any(n.startswith("runsc") for n in names):
        return "gVisor sandbox (runsc boot)"
    if "gofer" in tokens and any(n.startswith("runsc") for n in names):
        return "gVisor gofer"
    if names & RUNTIME_BINARIES and not tokens & SANDBOX_SUBCOMMANDS:
        return "runtime CLI"
    if any(n.startswith(h) for n in names for h in HYPERVISORS):
        return "VM monitor"
    if _base(process.exe) == "pause":
        return "sandbox (pause)"
    return "container process"


def within(path: str, pod_cgroup: str) -> bool:
    """`path` is the Pod cgroup or below it. Paths read inside a cgroup namespace may start with `/..` or miss
    the leading part, so the Pod's directory is located in `path` and what precedes it must end the Pod's parents."""
    parts = [p for p in path.split("/") if p and p != ".."]
    pod_parts = [p for p in pod_cgroup.split("/") if p]
    if not pod_parts or pod_parts[-1] not in parts:
        return False
    before, parents = parts[:parts.index(pod_parts[-1])], pod_parts[:-1]
    return len(before) <= len(parents) and parents[len(parents) - len(before):] == before


def relevant_cgroups(process: NodeProcess) -> dict[str, str]:
    """v1: the memory and cpu hierarchies' paths (a missing one is ""); v2: the unified path."""
    v1 = {k: v for k, v in process.cgroups.items() if k}
    if not v1:
        return {"unified": process.cgroups.get("", "")}
    return {c: next((path for k, path in v1.items() if c in k.split(",")), "") for c in V1_CONTROLLERS}


def judge(tree: PodProcesses) -> list[Judged]:
    """Each process's role and whether its cgroups are the Pod's. What a sandbox forks (gVisor's systrap stubs,
    whose command line may read empty) is part of the sandbox, whatever it looks like."""
    pod_cgroup = tree.pod_cgroups[0] if tree.pod_cgroups else ""
    roles = {p.pid: role_of(p, tree) for p in tree.processes}
    parents = {p.pid: p.ppid for p in tree.processes}

    def sandbox_above(pid: int) -> str | None:
        seen: set[int] = set()
        while (pid := parents.get(pid, 0)) in roles and pid not in seen:
            seen.add(pid)
            if roles[pid] in ("gVisor sandbox (runsc boot)", "VM monitor"):
                return roles[pid]
        return None

    judged = []
    for process in tree.processes:
        role = roles[process.pid]
        if role in ALLOWED_OUTSIDE and (above := sandbox_above(process.pid)):
            role = "gVisor sandbox's own process" if above.startswith("gVisor") else "VM monitor's own process"
        cgroups = relevant_cgroups(process)
        inside = bool(pod_cgroup) and all(within(path, pod_cgroup) for path in cgroups.values())
        judged.append(Judged(process.pid, role, process.command[:200], cgroups, inside))
    return judged


def container_ids(pod: V1Pod) -> list[str]:
    """The CRI's container ids from the Pod's status (`containerd://…`, `cri-o://…`)."""
    return [s.container_id.split("://", 1)[-1] for s in pod.status.container_statuses or [] if s.container_id]


def processes_of(case: Case, pod: V1Pod) -> tuple[str, PodProcesses]:
    """The node and the Pod's process tree there; a skip naming the capability when the evidence cannot list it."""
    evidence = case.settings.evidence
    if not isinstance(evidence, ContainmentEvidence):
        pytest.skip("missing capability node-evidence: this cluster's node evidence cannot list a Pod's processes")
    sandbox = case.sandbox_of(pod)
    current = case.read_pod(pod.metadata.name)
    node = current.spec.node_name
    return node, evidence.pod_processes(node, current.metadata.uid, sandbox.sandbox_id, container_ids(current))


def escapes(case: Case, pod: V1Pod, handler: str) -> str:
    """"" when every process that must be inside is, else a sentence naming each one outside (or why none could
    be judged). The evidence (pid, role, command, cgroups, Pod cgroup) goes into the report either way."""
    node, tree = processes_of(case, pod)
    judged = judge(tree)
    pod_cgroup = tree.pod_cgroups[0] if tree.pod_cgroups else "(none found)"
    case.attach(f"processes of Pod {pod.metadata.name} ({handler}) on {node}",
                {"podCgroup": pod_cgroup, "processes": [asdict(j) | {"mustBeInside": j.must_be_inside}
                                                        for j in judged]})
    escaped = [j for j in judged if j.escaped]
    members = [j for j in judged if j.must_be_inside]
    if not tree.pod_cgroups:
        why = f"no Pod cgroup (pod{pod.metadata.uid}) on {node}"
    elif not members:
        why = f"no process of the Pod found on {node} (nothing the CRI names runs there)"
    elif escaped:
        why = "; ".join(f"pid {j.pid} ({j.role}: {j.command[:80]}) is in "
                        + ", ".join(f"{k} {v or '(none)'}" for k, v in j.cgroups.items()) for j in escaped)
    else:
        why = ""
    record_row(case, handler, node, "escaped" if why else "inside",
               why or f"{len(members)} process(es) inside {pod_cgroup}: "
               + ", ".join(f"{j.role} {j.pid}" for j in members)[:300])
    return f"{handler} on {node}: outside the Pod cgroup {pod_cgroup}: {why}" if why else ""


def record_row(case: Case, handler: str, node: str, verdict: str, evidence: str) -> None:
    """A row for the isolation table's containment column (conformance/isolation_report.py), one key per row:
    the handlers of one test are checked side by side, and the plugin collects every `containment:` key."""
    row = {"handler": handler, "node": node, "containment": verdict, "containment_evidence": evidence}
    case.record_property(f"{PROPERTY}:{handler}/{node}", json.dumps(row))
