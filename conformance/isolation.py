"""RC-USE-8 as data: what a Pod saw of its kernel, which class that is, what was declared. No I/O here.

Three isolation classes (SPEC RC-USE-8): `shared-kernel` (runc, crun: the Pod's kernel
is the node's), `user-space-kernel` (gVisor: a kernel written in user space, which
says so: `uname -r` ends in `-gvisor`, `dmesg` starts with "Starting gVisor..."),
`vm` (Kata, Firecracker: a kernel that is not the node's and is no user-space kernel).

The Pod looks from inside, unprivileged; the node's `status.nodeInfo.kernelVersion`
is what the node's own kernel says. Node evidence (clusters/procfs.py) adds which
runtime runs the sandbox. Expectations come from the topology of a cluster the suite
created, or from the user (`--isolation FILE`, `--expect-isolation HANDLER=CLASS[:RUNTIME]`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import yaml

CLASSES = ("shared-kernel", "user-space-kernel", "vm")
RUNTIMES = ("runc", "crun", "youki", "runsc", "kata")
MARKER = "rcc-isolation-observed"
ANY_NODE = "*"
PROPERTY = "isolation"  # the user_property a test records its row under

# What the unprivileged Pod prints: key=value lines, then a marker, then it stays up for node evidence.
POD_COMMAND = ["sh", "-c",
               'echo "release=$(uname -r)"; echo "version=$(cat /proc/version)"; '
               'echo "dmesg=$(dmesg 2>/dev/null | head -n 2 | tr \'\\n\' \' \')"; '
               f'echo {MARKER}; exec sleep 3600']


@dataclass(frozen=True)
class PodView:
    """What the Pod saw of its kernel."""

    release: str
    version: str
    dmesg: str

    @classmethod
    def parse(cls, log: str) -> "PodView | None":
        """The Pod's log as a view; None until the marker line shows it has printed everything."""
        if MARKER not in log:
            return None
        values = dict(line.split("=", 1) for line in log.splitlines() if "=" in line)
        return cls(*(values.get(key, "").strip() for key in ("release", "version", "dmesg")))

    @property
    def user_space_kernel_banner(self) -> str | None:
        """gVisor's way of saying so, if any."""
        if self.release.endswith("-gvisor"):
            return f"uname -r {self.release!r} ends in -gvisor"
        if "Starting gVisor" in self.dmesg:
            return "dmesg starts 'Starting gVisor...'"
        if "gvisor" in self.version.lower():
            return f"/proc/version {self.version!r} names gVisor"
        return None


def classify(view: PodView, node_kernel: str) -> tuple[str, str]:
    """The class the Pod's view shows against the node's kernelVersion, and why in one sentence."""
    banner = view.user_space_kernel_banner
    if banner:
        return "user-space-kernel", f"{banner}; the node's kernel is {node_kernel!r}"
    if not view.release:
        return "unknown", "the Pod printed no kernel release"
    if view.release == node_kernel:
        return "shared-kernel", f"uname -r {view.release!r} is the node's kernelVersion"
    return "vm", (f"uname -r {view.release!r} is not the node's kernelVersion {node_kernel!r} "
                  f"and no user-space kernel banner ({view.version[:80]!r})")


@dataclass(frozen=True)
class Expectation:
    isolation: str
    runtime: str | None
    source: str


def expectation_from(value: str, source: str) -> Expectation:
    """`CLASS` or `CLASS:RUNTIME`; a ValueError says what is allowed."""
    isolation, _, runtime = value.partition(":")
    return checked(isolation.strip(), runtime.strip() or None, source)


def checked(isolation: str, runtime: str | None, source: str) -> Expectation:
    if isolation not in CLASSES:
        raise ValueError(f"{source}: isolation class {isolation!r} is not one of {', '.join(CLASSES)}")
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"{source}: runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    return Expectation(isolation, runtime, source)


def parse_file(text: str, source: str) -> dict[str, Expectation]:
    """`handler: {class: user-space-kernel, runtime: runsc}` per line of a small YAML file."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{source}: write one `HANDLER: {{class: CLASS, runtime: RUNTIME}}` per line")
    declared = {}
    for handler, spec in raw.items():
        if isinstance(spec, str):
            spec = {"class": spec}
        if not isinstance(spec, dict) or "class" not in spec:
            raise ValueError(f"{source}: handler {handler!r} needs `class:` (one of {', '.join(CLASSES)})")
        declared[str(handler)] = checked(str(spec["class"]), str(spec["runtime"]) if spec.get("runtime") else None,
                                         f"{source}, handler {handler}")
    return declared


def parse_cli(items: list[str]) -> dict[str, Expectation]:
    """`--expect-isolation HANDLER=CLASS[:RUNTIME]`, repeatable."""
    declared = {}
    for item in items:
        handler, sep, value = item.partition("=")
        if not sep or not handler:
            raise ValueError(f"--expect-isolation {item!r}: use HANDLER=CLASS[:RUNTIME], "
                             f"e.g. gvisor=user-space-kernel:runsc")
        declared[handler] = expectation_from(value, f"--expect-isolation {item}")
    return declared


def merge(topology: dict[str, dict[str, tuple[str, str]]], source: str,
          user: dict[str, Expectation]) -> dict[str, dict[str, dict]]:
    """handler -> node (or `*`) -> expectation as JSON; the user's word overrides the topology's."""
    table: dict[str, dict[str, dict]] = {}
    for handler, nodes in topology.items():
        for node, (isolation, runtime) in nodes.items():
            table.setdefault(handler, {})[node] = asdict(Expectation(isolation, runtime, f"{source}, node {node}"))
    for handler, expectation in user.items():
        table[handler] = {ANY_NODE: asdict(expectation)}
    return table


def expected(table: dict[str, dict[str, dict]], handler: str, node: str) -> Expectation | None:
    nodes = table.get(handler, {})
    raw = nodes.get(node) or nodes.get(ANY_NODE)
    return Expectation(**raw) if raw else None


# Handler names that say which sandbox runs them: a platform class whose handler is called so promises
# that sandbox's isolation (issue 19) unless the user declares otherwise.
WELL_KNOWN = (("gvisor", "user-space-kernel", "runsc"), ("runsc", "user-space-kernel", "runsc"),
              ("kata", "vm", "kata"))


def well_known(handler: str) -> Expectation | None:
    """What a handler named after gVisor/runsc or Kata promises, by its name alone; None for others."""
    name = handler.lower()
    for word, isolation, runtime in WELL_KNOWN:
        if word in name:
            return Expectation(isolation, runtime, f"handler {handler!r} is named after {runtime}")
    return None


def expected_of_class(table: dict[str, dict[str, dict]], name: str, handler: str, node: str) -> Expectation | None:
    """A platform class's promise: the user's (or topology's) word for the class, else for its handler,
    else what its handler's well-known name promises."""
    return expected(table, name, node) or expected(table, handler, node) or well_known(handler)


@dataclass
class Observation:
    """One row of the report's isolation table: one handler on one node."""

    handler: str
    node: str
    observed: str
    pod_evidence: str
    runtime: str | None = None
    runtime_class: str | None = None
    node_evidence: str | None = None
    expected: str | None = None
    expected_runtime: str | None = None
    declared_by: str | None = None
    platform_class: str | None = None  # set when the Pod used a platform's own RuntimeClass (issue 19)

    def problems(self) -> list[str]:
        """Sentences saying what was expected and what was seen; empty when it matches (or nothing was declared)."""
        found = []
        if self.expected is None:
            return found
        where = f"handler {self.handler!r} on node {self.node}"
        if self.platform_class is not None:
            where = f"class {self.platform_class!r} (handler {self.handler!r}) on node {self.node}"
        if self.observed != self.expected:
            found.append(f"{where}: expected {self.expected} ({self.declared_by}), the Pod saw {self.observed}: "
                         f"{self.pod_evidence}")
        if self.runtime_class is not None and self.runtime_class != self.expected:
            found.append(f"{where}: expected {self.expected}, the node runs it with {self.runtime} "
                         f"({self.runtime_class}): {self.node_evidence}")
        if self.expected_runtime and self.runtime is not None and self.runtime != self.expected_runtime:
            found.append(f"{where}: expected runtime {self.expected_runtime} ({self.declared_by}), the node runs "
                         f"{self.runtime}: {self.node_evidence}")
        return found

    def to_json(self) -> dict:
        verdict = "undeclared" if self.expected is None else ("mismatch" if self.problems() else "as declared")
        return {**asdict(self), "verdict": verdict}
