"""The run's settings and defaults: a leaf module that every other part of `conformance/` may read.

It imports nothing from `conformance/` at run time (only type names), so nothing depends back on
it: `case`, `pod_states`, `node_changes`, `options` and the plugin all read it without a circle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # type names only: a run-time import would make this module depend on others
    from clusters.provider import NodeEvidence
    from conformance.infrastructure_watch import FaultBoard
    from conformance.preflight import Facts

DEFAULT_TIMEOUTS = {
    "pod-start": 120.0,       # created -> Succeeded/Running (image present, sandbox created)
    "schedule": 30.0,         # created -> bound to a node, or FailedScheduling seen
    "sandbox-failure": 90.0,  # created -> the kubelet's FailedCreatePodSandBox event
    "never-runs": 5.0,        # window observed after the decisive event
    "namespace": 60.0,        # namespace ready (default ServiceAccount exists)
}

# xdist workers when the command line names none: measured on a 2-core machine (docs/performance.md).
DEFAULT_WORKERS = 6


@dataclass
class RunSettings:
    """Per-run options every Case shares."""

    run_id: str
    worker: str
    image: str
    timeouts: dict[str, float]
    facts: "Facts"
    evidence: "NodeEvidence | None"
    # RC-USE-8: handler -> node (or "*") -> declared isolation (conformance/isolation.py).
    isolation: dict[str, dict[str, dict]] = field(default_factory=dict)
    # On a cluster the suite made, a test's namespace is left to the run's final sweep (its Pods are
    # still deleted by the test): deleting ~80 namespaces during the run made half of the API
    # server's requests (the namespace controller lists and deletes every resource type in each).
    namespaces_swept_at_end: bool = False
    # The run's standing infrastructure faults (conformance.infrastructure_watch); None: not watched.
    faults: "FaultBoard | None" = None
