"""A cluster the suite did not make (`--kubeconfig`), as a ClusterProvider.

The platform team's cluster: attached to, never created or destroyed. What the
suite may learn about its nodes it learns through the API server; node evidence
is the opt-in node probe (clusters/existing/node_probe.py: a privileged Pod per
node), started once by the run's controller and read by every worker.

`owns_cluster` is False here (True, by default, for providers that bring a
cluster up): the run then waits for its namespaces to be gone at the end, and
node-tainting tests stay opt-in (`--allow-disruptive`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kubernetes.client import ApiClient, CoreV1Api

from clusters.existing import node_probe
from clusters.existing.node_probe import ProbeEvidence

Progress = Callable[[str], None]

OPT_IN = (f"{node_probe.OPT_IN} (hostPID, in a namespace of its own; "
          "RBAC in clusters/existing/rbac.yaml)")


def kubeconfig_of(kubeconfig: Path | None) -> Path:
    """The kubeconfig named, else the first of $KUBECONFIG, else ~/.kube/config (as kubectl reads it)."""
    if kubeconfig:
        return kubeconfig
    env = os.environ.get("KUBECONFIG")
    return Path(env.split(os.pathsep)[0]) if env else Path.home() / ".kube" / "config"


class ExistingProvider:
    """The user's cluster; `node_probe` opts into node evidence through probe Pods."""

    name = "existing"
    owns_cluster = False

    def __init__(self, kubeconfig: Path | None, context: str | None, run_id: str, labels: dict[str, str],
                 node_probe: bool = False, progress: Progress = print) -> None:
        self.kubeconfig = kubeconfig_of(kubeconfig)
        self.context = context
        self.run_id = run_id
        self.labels = dict(labels)
        self.node_probe = node_probe
        self.progress = progress
        self._api: ApiClient | None = None
        self.probe_problem: str | None = None

    def create(self) -> Path:
        """Nothing to bring up: the kubeconfig as given (the suite connects and reports its problems)."""
        self.progress(f"existing cluster: kubeconfig {self.kubeconfig}, context {self.context or '(current)'}")
        return self.kubeconfig

    def attach(self, api: ApiClient) -> None:
        """The API client the run connected with (workers attach too; only the controller starts probes)."""
        self._api = api

    def start_node_probe(self, image: str, nodes: list[str], timeout: float) -> str | None:
        """With --node-probe, one probe Pod per node; None, or why there is no node evidence."""
        if not self.node_probe or self._api is None:
            return None
        self.progress(f"node probe: a privileged Pod per node ({len(nodes)}) in namespace "
                      f"{node_probe.namespace_name(self.run_id)}")
        self.probe_problem = node_probe.start_probes(CoreV1Api(self._api), self.run_id, self.labels, image,
                                                     nodes, timeout)
        return self.probe_problem

    def evidence(self) -> ProbeEvidence | None:
        if not self.node_probe or self._api is None or self.probe_problem:
            return None
        return ProbeEvidence(self._api, self.run_id)

    def why_no_evidence(self) -> str:
        return self.probe_problem or OPT_IN

    def destroy(self) -> None:
        """The cluster stays; only the probe namespace goes (the run's sweep would remove it too)."""
        if self.node_probe and self._api is not None:
            try:
                node_probe.stop_probes(CoreV1Api(self._api), self.run_id)
            except Exception:  # noqa: BLE001 - best effort: an API server gone away has nothing left to remove
                pass

    def export_logs(self, destination: Path) -> None:
        """A platform's component logs are not the suite's to read."""
