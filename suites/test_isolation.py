"""USE: the Pod gets the isolation its handler is meant to give (RC-USE-8).

Seen twice: from inside an unprivileged Pod (its kernel against the node's), and from
the node (the runtime that really runs the sandbox, not the configuration's word).
What each handler gave goes into the report's isolation table either way.
"""

import pytest

from conformance.isolation_checks import judge_or_skip, observe_isolation


@pytest.mark.clause("RC-USE-8")
def test_pod_sees_the_kernel_its_handler_isolation_class_promises(rcc, handler):
    rows = observe_isolation(rcc, handler, from_node=False)
    judge_or_skip(rows, handler)


@pytest.mark.clause("RC-USE-8")
@pytest.mark.needs("node-evidence")
def test_node_runs_the_pod_with_the_runtime_its_handler_declares(rcc, handler):
    rows = observe_isolation(rcc, handler, from_node=True)
    judge_or_skip(rows, handler)
