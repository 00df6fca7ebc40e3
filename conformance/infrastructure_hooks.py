"""The plugin's side of infrastructure faults: watch the run, mark the tests that met one, end with exit 3.

- The controller (or the only process) starts the run's InfrastructureWatch once the cluster is up
  and stops it at session end; its faults stand for the whole run.
- A test whose exception is an infrastructure fault (conformance.infrastructure.exception_fault)
  gets the fault in its report's user properties: that is how an xdist worker hands it to the
  controller, as it hands over the test's clauses. Its status is "INFRASTRUCTURE" (category
  `infrastructure`), never "FAILED", and its clauses are UNTESTED with the fault as the reason.
- At session end, with any fault, pytest exits 3 and the terminal summary's last line names it
  (the verdict itself comes from conformance.verdict, like every other output's).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conformance import verdict
from conformance.infrastructure import INFRASTRUCTURE_PROPERTY, Fault, exception_fault
from conformance.infrastructure_watch import InfrastructureWatch, board_path
from conformance.kube import Kube

INFRASTRUCTURE_EXIT = verdict.INFRASTRUCTURE_EXIT
WATCH = pytest.StashKey[InfrastructureWatch]()
VERDICT = pytest.StashKey[verdict.Verdict]()
# The watch looks every 2 s and writes what it saw; a node lost just before a failure shows within this.
LATE_SIGHTING_SECONDS = 6.0
_reported: dict[tuple[str, str], Fault] = {}  # controller: faults the tests reported, first sighting per node and kind


def start_watch(config: pytest.Config, kube: Kube, run_id: str) -> None:
    """Watch the nodes Ready now (a node NotReady from the start is unschedulable in the Facts already)."""
    try:
        nodes = kube.core.list_node().items
        ready = [n.metadata.name for n in nodes
                 if any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))]
        config.stash[WATCH] = InfrastructureWatch(kube, board_path(run_id)).start(ready)
    except Exception as exc:  # noqa: BLE001 - e.g. no right to list Leases: the run goes on unwatched
        config.get_terminal_writer().line(f"[rcc] infrastructure is not watched during this run: {exc!r}", yellow=True)


def stop_watch(config: pytest.Config) -> list[dict[str, str]]:
    """Every fault of the run (the watch's and the tests'), oldest first; removes the run's fault file."""
    faults = dict(_reported)
    watch = config.stash.get(WATCH, None)
    if watch is not None:
        for found in watch.stop():
            faults.setdefault((found.node, found.kind), found)
        watch.path.unlink(missing_ok=True)
    return sorted((f.to_json() for f in faults.values()), key=lambda f: f["seen_at"])


def mark_report(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo) -> None:
    """A failed phase of a suite test (one naming a clause) whose exception is an infrastructure fault
    carries the fault (a new list: pytest shares the item's user_properties between its phases' reports)."""
    if not report.failed or call.excinfo is None or item.get_closest_marker("clause") is None:
        return
    found = exception_fault(call.excinfo.value) or _lost_node_of(item)
    if found is not None:
        report.user_properties = [*report.user_properties, (INFRASTRUCTURE_PROPERTY, json.dumps(found.to_json()))]


def _lost_node_of(item: pytest.Item) -> Fault | None:
    """A failure of a test whose nodes (pinned, bound, labelled, tainted) are lost proves nothing about a clause.

    Seen here: the kubelet of the node RC-OVH-5 pinned its Pods to died; the node lifecycle controller
    tainted the node unreachable, and the scheduler's FailedScheduling named the taint instead of
    "Insufficient cpu", an assertion, not a wait. The watch looks every few seconds, so a node lost
    just before the failure is waited for a moment (only for a failed test that used nodes)."""
    case = getattr(item, "funcargs", {}).get("rcc")
    board = getattr(getattr(case, "settings", None), "faults", None)
    if case is None or board is None or not case.nodes_in_use:
        return None
    deadline = time.monotonic() + LATE_SIGHTING_SECONDS
    while (found := board.fault_on(case.nodes_in_use)) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def _carried(report: Any) -> str | None:
    """The fault (as JSON) a failed report carries, if any: mark_report put it there."""
    if not getattr(report, "failed", False):
        return None
    return dict(getattr(report, "user_properties", ()) or ()).get(INFRASTRUCTURE_PROPERTY)


def fault_of(report: Any) -> Fault | None:
    """The fault a (possibly worker's) report carries; the controller keeps it for the run's verdict."""
    raw = _carried(report)
    if not raw:
        return None
    found = Fault.from_json(json.loads(raw))
    _reported.setdefault((found.node, found.kind), found)
    return found


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if _carried(report):
        return "infrastructure", "I", ("INFRASTRUCTURE", {"purple": True})
    return None


def keep_verdict(config: pytest.Config, summary: dict[str, Any]) -> None:
    config.stash[VERDICT] = verdict.decide(summary["pytest_exit_status"], summary)


def decided(config: pytest.Config) -> verdict.Verdict | None:
    return config.stash.get(VERDICT, None)
