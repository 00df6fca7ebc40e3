"""Whether the scheduler's own copy of a node shows a taint the test just set: a wait, never a verdict.

The scheduler places Pods by its cached copy of each node. Right after an API server restart its
watches reconnect, and for a moment it may still hold the node without the taint (seen here: a
run's RC-SCH-5 Pod bound to the node that had just been tainted, during a restart of a few
seconds; the run ended NOT CONFORMANT on a scheduler that was right). A test that judges what the
scheduler does with a taint first lets it see the taint.
"""

from __future__ import annotations

import time
from typing import Any

from conformance import manifests
from conformance.waiting import WaitTimeout, wait_for

CANARY_SECONDS = 10.0  # a current scheduler refuses a Pod within a second or two
# How long a stale copy is waited out: its watches reconnect with backoff after a restart (a run here
# saw four canaries bound over 3 s, the fifth Pod refused).
STALE_SECONDS = 30.0
PAUSE = 1.0


def wait_until_it_sees_the_taint(case: Any, node: str) -> None:
    """`case` is the test's Case (typed loosely: it is the one caller, and imports this module).

    A canary pinned to `node`, not tolerating the test's taint: refused (FailedScheduling) means the
    scheduler's copy is current; bound means stale, so the canary goes and another is tried. A
    scheduler that never refuses is left to the test that follows, which fails on it."""
    deadline = time.monotonic() + STALE_SECONDS
    while True:
        canary = case.create_pod(["true"], node_selector=manifests.pin(node), tolerate_own_taint=False)
        name = canary.metadata.name

        def decided() -> str | None:
            if case.pod_states.event_with_reason(name, "FailedScheduling"):
                return "refused"
            return "bound" if case.pod_states.read_pod(name).spec.node_name else None

        try:
            seen = wait_for(f"the scheduler sees the taint of {node} (canary {name})", decided,
                            timeout=CANARY_SECONDS, interval=0.2, sleep=case.until_change)
        except WaitTimeout:
            seen = "undecided"
        finally:
            case.delete_pod(canary)
        if seen != "bound" or time.monotonic() > deadline:
            return
        case.pause(PAUSE)
