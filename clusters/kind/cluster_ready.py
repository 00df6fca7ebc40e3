"""After ``kind create cluster``: wait until the cluster can run the suite, and keep DNS inside it.

``kind create cluster`` returns once kubeadm has joined every node, before the
pod network has configured them (nodes NotReady) and before CoreDNS runs. The
suite's first Pods would then wait on scheduling, so the provider waits here,
each wait bounded and failing with one line that names what is not Ready.

A node Ready is not yet a node the suite can read once and trust: the node
lifecycle controller lifts the ``node.kubernetes.io/not-ready`` taint seconds
after the kubelet posts Ready (a Pod without tolerations cannot land there in
between), and a handler the provider adds restarts that node's containerd, which
the kubelet learns at its next runtime-status poll and posts in
``Node.status.runtimeHandlers`` at its next status update (up to ~15 s later).
Both were seen right after ``kind create cluster`` returned. The suite's
preflight reads the nodes once, so the provider waits until every node has
neither lifecycle taint and reports the handlers its topology lists (a node
whose kubelet or CRI reports no ``runtimeHandlers`` at all, as with containerd
1.7, cannot, and is not waited for).

CoreDNS as kubeadm deploys it forwards every name outside ``cluster.local``
to the node's resolvers, i.e. off the machine. The suite resolves nothing
outside the cluster, so the ``forward`` block is removed from the Corefile:
such a lookup then fails inside the cluster instead of leaving it.

Commands run with the control plane's own kubectl and admin kubeconfig
through ``docker exec``, so the host needs no kubectl.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping

from clusters.kind.nodes import NodeShell
from clusters.toolbox.errors import ClusterError

ADMIN = "/etc/kubernetes/admin.conf"
_FORWARD_BLOCK = re.compile(r"^\s*forward\s[^\n]*\{[^}]*\}\s*\n|^\s*forward\s[^\n{]*\n", re.MULTILINE)

Progress = Callable[[str], None]


def corefile_without_forward(corefile: str) -> str:
    """The Corefile with its ``forward`` directive (one line or a block) removed."""
    return _FORWARD_BLOCK.sub("", corefile)


# Taints the node lifecycle controller sets while a node is not (yet, or no longer) Ready.
LIFECYCLE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def nodes_not_settled(nodes: dict, expected: Mapping[str, Iterable[str]]) -> list[str]:
    """``NODE: WHAT`` for each lifecycle taint a node still carries and each handler of ``expected``
    (node -> handler names) a reporting node does not report yet; [] once every node is settled.

    ``nodes`` is a NodeList as JSON. A node reporting no runtimeHandlers at all cannot report any,
    so none is waited for there.
    """
    unsettled = []
    for item in nodes.get("items", []):
        name = item["metadata"]["name"]
        unsettled += [f"{name}: taint {t['key']}" for t in item.get("spec", {}).get("taints") or ()
                      if t.get("key") in LIFECYCLE_TAINTS]
        reported = item.get("status", {}).get("runtimeHandlers") or []
        if reported:
            names = {h.get("name", "") for h in reported}
            unsettled += [f"{name}: handler {h} not reported" for h in expected.get(name, ()) if h not in names]
    return unsettled


def wait_until_ready(shell: NodeShell, control_plane: str, progress: Progress,
                     handlers: Mapping[str, Iterable[str]] | None = None, timeout: float = 300) -> None:
    """Nodes Ready and settled (no lifecycle taint, their ``handlers`` reported: node -> names), CoreDNS
    without forwarding and Available; ClusterError naming what is not."""
    def kubectl(*args: str, stdin: str | None = None):
        return shell.run(control_plane, "kubectl", "--kubeconfig", ADMIN, *args, stdin=stdin, timeout=120)

    _keep_dns_inside(kubectl, progress)
    deadline = time.monotonic() + timeout
    progress("kind: waiting for every node to be Ready")
    _until(deadline, "nodes Ready",
           lambda: kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=20s"))
    progress("kind: waiting for every node to be untainted and to report its handlers")
    _until(deadline, "nodes settled", lambda: _settled(kubectl, handlers or {}))
    progress("kind: waiting for CoreDNS")
    _until(deadline, "CoreDNS Available",
           lambda: kubectl("-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=20s"))


def _keep_dns_inside(kubectl, progress: Progress) -> None:
    got = kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "json")
    if got.returncode != 0:
        raise ClusterError(f"cannot read the coredns ConfigMap: {got.stderr.strip()[-200:]}")
    configmap = json.loads(got.stdout)
    corefile = configmap["data"]["Corefile"]
    trimmed = corefile_without_forward(corefile)
    if trimmed == corefile:
        return
    configmap["data"]["Corefile"] = trimmed
    for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        configmap["metadata"].pop(field, None)
    replaced = kubectl("replace", "-f", "-", stdin=json.dumps(configmap))
    if replaced.returncode != 0:
        raise ClusterError(f"cannot update the coredns ConfigMap: {replaced.stderr.strip()[-200:]}")
    kubectl("-n", "kube-system", "rollout", "restart", "deployment/coredns")
    progress("kind: CoreDNS answers cluster names only (its forward to the node's resolvers removed)")


def _settled(kubectl, handlers: Mapping[str, Iterable[str]]) -> subprocess.CompletedProcess:
    """A result for `_until`: exit 0 once `nodes_not_settled` finds nothing, else naming what it found."""
    got = kubectl("get", "nodes", "-o", "json")
    if got.returncode != 0:
        return got
    unsettled = nodes_not_settled(json.loads(got.stdout or "{}"), handlers)
    return subprocess.CompletedProcess(got.args, 1 if unsettled else 0, "", "; ".join(unsettled))


def _until(deadline: float, what: str, attempt) -> None:
    while True:
        result = attempt()
        if result.returncode == 0:
            return
        if time.monotonic() >= deadline:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ClusterError(f"kind cluster: {what} not reached in time: {detail[0][:200]}")
        time.sleep(2)
