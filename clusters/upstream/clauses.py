"""Which SPEC.md clauses each upstream RuntimeClass e2e test checks (Kubernetes v1.37.2), as data.

Read from the test bodies in k8s.io/kubernetes@v1.37.2 (test/e2e/common/node/runtimeclass.go,
test/e2e/node/runtimeclass.go, test/e2e/scheduling/predicates.go). A clause is mapped to a
test only when the test *asserts* something the clause requires; what the test does not
assert is written down as the gap (`partial` = the test checks part of the clause only).
A test's clauses count as covered when it ran (passed or failed); skipped tests cover nothing.

Not mapped on purpose:
- RC-OVH-7 (pod cgroup sized with overhead): upstream checks it in the node e2e suite
  (test/e2e_node), which is not part of the `e2e.test` binary.
- RC-API-2/3/4 (handler and overhead validation, handler immutability): covered by upstream
  unit/integration tests of pkg/apis/node/validation, not by e2e.
- RC-API-5, RC-USE-2, RC-USE-3, RC-USE-7, RC-CRI-2, RC-SCH-5, RC-SCH-6, RC-OVH-3, RC-OVH-4,
  RC-OVH-6: no upstream e2e test of the focus asserts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UpstreamTest:
    """One upstream spec: `match` is a substring of its full Ginkgo name."""

    match: str
    source: str
    clauses: dict[str, str]  # clause ID -> what the test asserts of it
    partial: frozenset[str] = field(default_factory=frozenset)  # clauses it checks only in part
    needs: str = ""  # what the cluster must provide beyond a working control plane
    short: str = ""  # label for tables


COMMON = "test/e2e/common/node/runtimeclass.go"
NODE = "test/e2e/node/runtimeclass.go"
PREDICATES = "test/e2e/scheduling/predicates.go"

UPSTREAM_TESTS: tuple[UpstreamTest, ...] = (
    UpstreamTest(
        "should reject a Pod requesting a non-existent RuntimeClass", COMMON,
        {"RC-USE-4": "dry-run Pod create is Forbidden (403); the message is not checked"},
        partial=frozenset({"RC-USE-4"}),
        short="non-existent class rejected"),
    UpstreamTest(
        "should reject a Pod requesting a RuntimeClass with an unconfigured handler", COMMON,
        {"RC-USE-5": "Pod with an unknown handler is still Pending after waiting for FailedCreatePodSandBox "
                     "(the event is optional: only the phase is asserted)"},
        partial=frozenset({"RC-USE-5"}),
        short="unconfigured handler stays Pending"),
    UpstreamTest(
        "should run a Pod requesting a RuntimeClass with a configured handler", COMMON,
        {"RC-USE-1": "a Pod with handler test-handler Succeeds (one handler, not every handler)",
         "RC-CRI-1": "greps `runtimes.test-handler` in /etc/containerd/config.toml of a node (skips otherwise)"},
        partial=frozenset({"RC-USE-1", "RC-CRI-1"}),
        needs="test-handler on every node, /etc/containerd/config.toml naming it, agnhost hostexec pod",
        short="configured handler runs"),
    UpstreamTest(
        "should schedule a Pod requesting a RuntimeClass without PodOverhead", COMMON,
        {"RC-OVH-2": "the scheduled Pod's spec.overhead is empty"},
        short="no overhead, none set"),
    UpstreamTest(
        "should schedule a Pod requesting a RuntimeClass and initialize its Overhead", COMMON,
        {"RC-OVH-1": "spec.overhead of the scheduled Pod equals podFixed (10m, 1Mi)"},
        short="overhead initialized"),
    UpstreamTest(
        "should reject a Pod requesting a deleted RuntimeClass", COMMON,
        {"RC-USE-6": "after delete, a dry-run Pod create is Forbidden; running Pods are not checked"},
        partial=frozenset({"RC-USE-6"}),
        short="deleted class rejected"),
    UpstreamTest(
        "should support RuntimeClasses API operations", COMMON,
        {"RC-API-1": "discovery of node.k8s.io/v1 runtimeclasses; create (409 on repeat), get, list by label, "
                     "watch, patch, update, delete, deletecollection"},
        short="API operations"),
    UpstreamTest(
        "should reject a Pod requesting a RuntimeClass with conflicting node selector", NODE,
        {"RC-SCH-3": "Pod create is Forbidden (403); the conflict message is not checked"},
        partial=frozenset({"RC-SCH-3"}),
        short="conflicting nodeSelector rejected"),
    UpstreamTest(
        "should run a Pod requesting a RuntimeClass with scheduling with taints", NODE,
        {"RC-SCH-1": "the admitted Pod's nodeSelector equals Pod's + RuntimeClass's keys",
         "RC-SCH-2": "the Pod lands on the one node labelled for it",
         "RC-SCH-4": "the RuntimeClass toleration is in the admitted Pod and it lands on the tainted node"},
        partial=frozenset({"RC-SCH-2"}),  # the "no matching node stays Pending" half is not checked
        needs="pause image (GetNodeThatCanRunPod), test-handler on the chosen node",
        short="scheduling with taints"),
    UpstreamTest(
        "should run a Pod requesting a RuntimeClass with scheduling without taints", NODE,
        {"RC-SCH-1": "the admitted Pod's nodeSelector equals Pod's + RuntimeClass's keys",
         "RC-SCH-2": "the Pod lands on the one node labelled for it"},
        partial=frozenset({"RC-SCH-2"}),
        needs="as above, plus /etc/containerd/config.toml naming test-handler (skips otherwise)",
        short="scheduling without taints"),
    UpstreamTest(
        "verify pod overhead is accounted for", PREDICATES,
        {"RC-OVH-5": "a Pod fitting an extended resource only without its overhead gets FailedScheduling",
         "RC-OVH-1": "implied: the scheduler can only count overhead the admission copied into the Pod"},
        partial=frozenset({"RC-OVH-5", "RC-OVH-1"}),  # no "fits with overhead is scheduled" half; cpu/memory unused
        needs="pause image; Node status update with a fake extended resource",
        short="scheduler counts overhead"),
)


def clauses_of(test_name: str) -> dict[str, str]:
    """Clauses a full upstream test name checks ({} when it is not one of ours)."""
    test = find(test_name)
    return dict(test.clauses) if test else {}


def short_name(test_name: str) -> str:
    test = find(test_name)
    return test.short if test else test_name


def find(test_name: str) -> UpstreamTest | None:
    return next((t for t in UPSTREAM_TESTS if t.match in test_name), None)


def coverage(ran: list[str]) -> dict[str, str]:
    """Clause -> "full" or "partial" for the upstream tests that ran (full wins over partial)."""
    result: dict[str, str] = {}
    for name in ran:
        test = find(name)
        if test is None:
            continue
        for cid in test.clauses:
            level = "partial" if cid in test.partial else "full"
            if result.get(cid) != "full":
                result[cid] = level
    return result
