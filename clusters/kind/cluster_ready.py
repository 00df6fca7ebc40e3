"""After ``kind create cluster``: wait until the cluster can run the suite, and keep DNS inside it.

``kind create cluster`` returns once kubeadm has joined every node, before the
pod network has configured them (nodes NotReady) and before CoreDNS runs. The
suite's first Pods would then wait on scheduling, so the provider waits here,
each wait bounded and failing with one line that names what is not Ready.

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
import time
from collections.abc import Callable

from clusters.kind.nodes import NodeShell
from clusters.toolbox.errors import ClusterError

ADMIN = "/etc/kubernetes/admin.conf"
_FORWARD_BLOCK = re.compile(r"^\s*forward\s[^\n]*\{[^}]*\}\s*\n|^\s*forward\s[^\n{]*\n", re.MULTILINE)

Progress = Callable[[str], None]


def corefile_without_forward(corefile: str) -> str:
    """The Corefile with its ``forward`` directive (one line or a block) removed."""
    return _FORWARD_BLOCK.sub("", corefile)


def wait_until_ready(shell: NodeShell, control_plane: str, progress: Progress, timeout: float = 300) -> None:
    """Nodes Ready, CoreDNS without forwarding and Available; ClusterError naming what is not."""
    def kubectl(*args: str, stdin: str | None = None):
        return shell.run(control_plane, "kubectl", "--kubeconfig", ADMIN, *args, stdin=stdin, timeout=120)

    _keep_dns_inside(kubectl, progress)
    deadline = time.monotonic() + timeout
    progress("kind: waiting for every node to be Ready")
    _until(deadline, "nodes Ready",
           lambda: kubectl("wait", "--for=condition=Ready", "nodes", "--all", "--timeout=20s"))
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


def _until(deadline: float, what: str, attempt) -> None:
    while True:
        result = attempt()
        if result.returncode == 0:
            return
        if time.monotonic() >= deadline:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ClusterError(f"kind cluster: {what} not reached in time: {detail[0][:200]}")
        time.sleep(2)
