"""Which certificates and kubeconfigs the local cluster's components get, issued by its CA (pki.py).

The control plane's certificates (serving, client, etcd), each kubelet's client and serving
pair, and the self-contained kubeconfigs that carry them. The identities (CN = user,
O = groups) are the ones RBAC's bootstrap policy, the Node authorizer and NodeRestriction
expect, so the cluster runs under the security model a real one has.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

import yaml

from clusters.local.pki import KEY_MODE, CertPair, ClusterPKI, atomic_write

__all__ = ["APISERVER_DNS_NAMES", "issue_control_plane", "issue_kubelet", "write_kubeconfig"]

# DNS names every in-cluster client may use to reach the API server.
APISERVER_DNS_NAMES: tuple[str, ...] = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)


# --------------------------------------------------------------------------
# Kubeconfig
# --------------------------------------------------------------------------


def _b64_file(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    client: CertPair,
    cluster_name: str,
    user: str,
    context: str | None = None,
) -> Path:
    """Write a self-contained kubeconfig for ``client`` talking to ``server``.

    Certificate and key are embedded (``*-data`` fields) rather than referenced
    by path, so the file keeps working when copied elsewhere or read from a
    different working directory, and there is one file to protect.  Because it
    carries a private key it is written 0600, atomically.
    """
    path = Path(path)
    context = context or f"{user}@{cluster_name}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server, "certificate-authority-data": _b64_file(ca)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64_file(client.cert),
                    "client-key-data": _b64_file(client.key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, yaml.safe_dump(config, sort_keys=False).encode("utf-8"), KEY_MODE)
    return path


# --------------------------------------------------------------------------
# The standard certificate set
# --------------------------------------------------------------------------


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def issue_control_plane(pki: ClusterPKI, apiserver_ips: Sequence[str], service_ip: str) -> dict[str, CertPair]:
    """Issue every control-plane certificate; keys of the result name each one.

    * ``apiserver``: serving cert, reachable as ``kubernetes[.default[.svc…]]``,
      ``localhost``, 127.0.0.1, the given IPs and the ``kubernetes`` Service IP
      (what in-cluster clients dial).
    * ``apiserver-kubelet-client``: the API server's identity towards kubelets
      (logs, exec, port-forward); ``system:masters`` so kubelet authz allows it.
    * ``etcd-server``: etcd's serving and peer cert on loopback.
    * ``apiserver-etcd-client``: the API server's client cert for etcd.
    * ``admin``: ``rcc-admin`` in ``system:masters``, for the suite and users.
    * ``controller-manager`` / ``scheduler``: the user names the default RBAC
      bootstrap policy grants these components' permissions to.
    """
    ips = _unique(["127.0.0.1", *apiserver_ips, service_ip])
    loopback_ips = ["127.0.0.1"]
    return {
        "apiserver": pki.issue(
            "apiserver", "kube-apiserver", dns_names=APISERVER_DNS_NAMES, ip_addresses=ips, server=True
        ),
        "apiserver-kubelet-client": pki.issue(
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            organizations=["system:masters"],
            client=True,
        ),
        "etcd-server": pki.issue(
            "etcd-server",
            "etcd-server",
            dns_names=["localhost"],
            ip_addresses=loopback_ips,
            server=True,
            client=True,
        ),
        "apiserver-etcd-client": pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
        "admin": pki.issue("admin", "rcc-admin", organizations=["system:masters"], client=True),
        "controller-manager": pki.issue("controller-manager", "system:kube-controller-manager", client=True),
        "scheduler": pki.issue("scheduler", "system:kube-scheduler", client=True),
    }


def issue_kubelet(pki: ClusterPKI, node_name: str, node_ip: str) -> tuple[CertPair, CertPair]:
    """Issue ``(client, serving)`` certificates for the kubelet of ``node_name``.

    The client identity ``system:node:<name>`` in ``system:nodes`` is what the
    Node authorizer and NodeRestriction admission plugin require; the serving
    certificate lets the API server verify the kubelet it connects to by its
    node IP or name.
    """
    identity = f"system:node:{node_name}"
    groups = ["system:nodes"]
    client = pki.issue(f"kubelet-{node_name}-client", identity, organizations=groups, client=True)
    serving = pki.issue(
        f"kubelet-{node_name}-serving",
        identity,
        organizations=groups,
        dns_names=[node_name],
        ip_addresses=[node_ip],
        server=True,
    )
    return client, serving
