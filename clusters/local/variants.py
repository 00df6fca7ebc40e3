"""Broken variants of a local cluster, as data: what each breaks and which clauses must fail.

Used by the project's own tests (tests/test_mutants.py) and by the side-by-side
benchmark (bench/compare_upstream.py), so both break a cluster the same way and
expect the same clauses to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# A runtime binary that exists (so `up` accepts it) but cannot start any container.
BROKEN_RUNTIME = "/bin/false"


@dataclass(frozen=True)
class BrokenVariant:
    name: str
    breaks: frozenset[str]
    apiserver_args: tuple[str, ...] = ()
    broken_handler: str | None = None  # on the first node that has it, this handler cannot run
    # On the first node of this CRI that has it, this handler is promised but left out of the CRI's config.
    unconfigured_handler: tuple[str, str] | None = None  # (cri, handler)
    # On every node, this handler runs another runtime than its name and declaration promise: (handler, runtime
    # table entry). The runtime works; only RC-USE-8's evidence can tell.
    rewired: tuple[str, dict] | None = None
    # The topology's own RuntimeClass of this name steers its Pods by this nodeSelector instead: (class, selector).
    class_selector: tuple[str, dict] | None = None

    def fits(self, base: Path) -> bool:
        """Whether `base` has what this variant breaks (the upstream topology has no CRI-O node)."""
        if not self.unconfigured_handler:
            return True
        cri, name = self.unconfigured_handler
        return any(n.get("cri", "containerd") == cri and any(h["name"] == name for h in n["handlers"])
                   for n in yaml.safe_load(base.read_text())["nodes"])

    def topology_file(self, base: Path, folder: Path) -> Path:
        """The topology to start: `base` itself, or a copy with the variant's broken, unconfigured or rewired handler."""
        if not (self.broken_handler or self.unconfigured_handler or self.rewired or self.class_selector):
            return base
        raw = yaml.safe_load(base.read_text())
        if self.broken_handler:
            raw["runtimes"]["broken"] = {"binary": BROKEN_RUNTIME, "type": "runc"}
            node = next(n for n in raw["nodes"] if any(h["name"] == self.broken_handler for h in n["handlers"]))
            next(h for h in node["handlers"] if h["name"] == self.broken_handler)["runtime"] = "broken"
        if self.unconfigured_handler:
            cri, name = self.unconfigured_handler
            node = next(n for n in raw["nodes"] if n.get("cri", "containerd") == cri
                        and any(h["name"] == name for h in n["handlers"]))
            next(h for h in node["handlers"] if h["name"] == name)["configured"] = False
        if self.rewired:
            handler, runtime = self.rewired
            raw["runtimes"]["rewired"] = dict(runtime)
            for node in raw["nodes"]:
                for entry in node["handlers"]:
                    if entry["name"] == handler:
                        entry["runtime"] = "rewired"
            # A runtime no handler uses any more (runsc, once gvisor runs runc) is dropped: the cluster
            # builds binaries only for runtimes in use.
            used = {entry["runtime"] for node in raw["nodes"] for entry in node["handlers"]}
            raw["runtimes"] = {name: spec for name, spec in raw["runtimes"].items() if name in used}
        if self.class_selector:
            name, selector = self.class_selector
            entry = next(c for c in raw["runtimeClasses"] if c["name"] == name)
            entry.setdefault("scheduling", {})["nodeSelector"] = dict(selector)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "topology.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path


BROKEN_VARIANTS = (
    BrokenVariant("no-runtimeclass-admission",
                  frozenset({"RC-USE-6", "RC-SCH-1", "RC-SCH-2", "RC-SCH-3", "RC-SCH-4",
                             "RC-OVH-1", "RC-OVH-3", "RC-OVH-4", "RC-OVH-5", "RC-OVH-6", "RC-OVH-7"}),
                  apiserver_args=("--disable-admission-plugins=RuntimeClass",)),
    BrokenVariant("no-resourcequota-admission", frozenset({"RC-OVH-6"}),
                  apiserver_args=("--disable-admission-plugins=ResourceQuota",)),
    # The node still reports crun (containerd lists it); only running a Pod shows it is broken.
    # RC-OVH-7 runs per handler, and its crun Pod lands on that node; so does RC-USE-8's.
    BrokenVariant("crun-broken-on-one-node",
                  frozenset({"RC-USE-1", "RC-USE-2", "RC-USE-6", "RC-USE-8", "RC-CRI-1", "RC-OVH-7", "RC-OVH-8"}),
                  broken_handler="crun"),
    # The CRI-O node's CRI lacks a handler the topology promises (only that node has it): every
    # test of that handler fails (RC-OVH-7 and RC-USE-8 run per handler too), and nothing else does.
    BrokenVariant("crio-lacks-a-promised-handler",
                  frozenset({"RC-USE-1", "RC-USE-2", "RC-USE-6", "RC-USE-8", "RC-CRI-1", "RC-OVH-7", "RC-OVH-8"}),
                  unconfigured_handler=("crio", "crio-runc")),
    # A RoleBinding cannot grant a cluster-scoped resource, so RBAC alone keeps RC-API-5; an
    # authorizer that allows everything is what breaks it.
    BrokenVariant("authorization-always-allow", frozenset({"RC-API-5"}),
                  apiserver_args=("--authorization-mode=AlwaysAllow",)),
    # The crun handler keeps its name and its declaration (type crun) but containerd runs runc: Pods run
    # and share the node's kernel as promised; only the runtime's own state on the node shows runc.
    BrokenVariant("crun-handler-runs-runc", frozenset({"RC-USE-8"}),
                  rewired=("crun", {"binary": "runc", "type": "crun"})),
    # What runs the Pod escapes a Pod cgroup sized right (RC-OVH-8). RC-OVH-7 alone would miss it: the kubelet
    # makes and sizes the Pod cgroup whatever the runtime then does, and RC-OVH-7 reads only that cgroup's files.
    # Here a front between the CRI (containerd's shim, CRI-O's conmon) and runc rewrites each bundle's
    # cgroupsPath, as a shim or runtime that mishandles it would: handler runc's sandboxes and containers, on
    # containerd and CRI-O nodes, land beside the Pod cgroup. Each container keeps its own limit, so the memory
    # attempt is still refused: the membership test fails, the enforcement test passes.
    BrokenVariant("runc-pods-escape-their-cgroup", frozenset({"RC-OVH-8"}),
                  rewired=("runc", {"binary": "runc", "relocateCgroups": "escaped"})),
)

# Only where the base topology has a `gvisor` handler: runsc's own setting `ignore-cgroups` (a runsc flag, set
# through the gVisor shim's runsc.toml) makes runsc skip joining the container's cgroup before it starts the
# gofer and the sandbox, so both stay in the shim's cgroup, outside the Pod's. RC-OVH-7 alone would miss it
# (the Pod cgroup is sized right, and empty). The sentry then holds the Pod's memory with no host bound:
# the membership test fails, and so does the enforcement test unless gVisor refuses the memory itself.
GVISOR_IGNORES_CGROUPS = BrokenVariant("gvisor-ignores-cgroups", frozenset({"RC-OVH-8"}),
                                       rewired=("gvisor", {"binary": "runsc", "type": "runsc",
                                                           "flags": {"ignore-cgroups": True}}))

# Only where the base topology has a `gvisor` handler: it runs runc while promising a user-space kernel.
GVISOR_RUNS_RUNC = BrokenVariant("gvisor-handler-runs-runc", frozenset({"RC-USE-8"}),
                                 rewired=("gvisor", {"binary": "runc", "type": "runc",
                                                     "isolation": "user-space-kernel"}))


# Only where the base topology serves a RuntimeClass `gvisor` of its own: the platform's class steers its Pods to
# the pool without gVisor (a selector copied from the wrong pool, as on a k3s or hand-made class). Every node
# still runs what it should and the suite's own classes are right; only the audit of the platform's classes
# (RC-SCH-7) sees that the class admits nodes lacking its handler. RC-USE-8's check of the class then skips.
PLATFORM_CLASS_MISSTEERED = BrokenVariant("platform-class-admits-nodes-without-its-handler", frozenset({"RC-SCH-7"}),
                                          class_selector=("gvisor", {"rcc.conformance.io/pool": "sandboxed"}))


def variants_for(base: Path) -> tuple[BrokenVariant, ...]:
    """The broken variants that apply to a topology (the gVisor ones need a `gvisor` handler there, the
    platform class one a RuntimeClass `gvisor` of the topology's own)."""
    raw = yaml.safe_load(base.read_text())
    has_gvisor = any(h["name"] == "gvisor" for n in raw["nodes"] for h in n["handlers"])
    serves_gvisor = any(c["name"] == "gvisor" for c in raw.get("runtimeClasses") or [])
    return (BROKEN_VARIANTS + ((GVISOR_RUNS_RUNC, GVISOR_IGNORES_CGROUPS) if has_gvisor else ())
            + ((PLATFORM_CLASS_MISSTEERED,) if serves_gvisor else ()))
