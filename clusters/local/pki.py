"""The local cluster's certificates and kubeconfigs, made by kubeadm.

Every component talks mutual TLS and authenticates as the identity RBAC, the Node
authorizer and NodeRestriction expect, as on a kubeadm cluster; so the files are the ones
``kubeadm init`` makes, made by the same code, from the ``InitConfiguration`` and
``ClusterConfiguration`` that :func:`kubeadm_config` writes from the topology:

* ``kubeadm init phase certs all``: the cluster CA, the API server's serving and
  kubelet-client certificates, the front-proxy CA and client, the etcd CA with etcd's
  serving, peer and health-check certificates, the API server's etcd client, and the
  service-account key pair (file names: :class:`ClusterPKI`);
* ``kubeadm init phase kubeconfig super-admin``: the cluster's admin kubeconfig
  (``kubernetes-super-admin`` in ``system:masters``, for the user and the suite);
* ``kubeadm kubeconfig user``: the controller-manager's and scheduler's kubeconfigs, each
  kubelet's (``system:node:<name>`` in ``system:nodes``), and any other identity
  (:meth:`Kubeadm.user_kubeconfig`). Not ``init phase kubeconfig controller-manager|
  scheduler|kubelet``: kubeadm 1.37 points those three at the *advertise* address, and the
  advertise address cannot be this cluster's 127.0.0.1 (``advertiseAddress: 127.0.0.1``
  fails with "unable to select an IP from lo network interface"), so kubeadm takes the
  host's own address, where the API server does not listen. ``kubeconfig user`` points at
  ``controlPlaneEndpoint``, 127.0.0.1, like ``super-admin.conf``.

Made by hand (``clusters/local/certificates.py``), because no kubeadm phase makes them:

* each kubelet's serving certificate: a kubeadm node's kubelet signs its own, and the
  kubeadm API server does not verify it; here the API server checks every kubelet against
  the cluster CA (``--kubelet-certificate-authority``), which kubeadm could only serve
  through ``serverTLSBootstrap`` and a CSR approver that this cluster does not run;
* the controller-manager's and scheduler's serving certificates: kubeadm lets both sign
  their own, and ``up`` checks their ``/healthz`` against the cluster CA.

And one object, not a file: kubeadm's ``apiserver-kubelet-client`` certificate carries no
group (no longer ``system:masters``); ``kubeadm init`` binds its user to
``system:kubelet-api-admin`` once the API server answers, and the kubelets' webhook
authorization needs that binding for the API server's log, exec and port-forward calls.
:data:`APISERVER_KUBELET_CLIENT_BINDING` is that binding; ``up`` creates it.

kubeadm's choices are kept: one year for leaves and ten for CAs, keys and kubeconfigs
0600; ECDSA P-256 keys (``encryptionAlgorithm``) make ``phase certs all`` take 0.05 s.
kubeadm takes the advertise address (only a SAN of the API server and etcd here) from the
host's default route. The PKI lives as long as the cluster's state folder: ``down`` removes
it and every ``up`` of a stopped cluster makes a new one.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from clusters.toolbox.errors import ClusterError
from clusters.local.layout import ClusterLayout, NodeLayout
from clusters.local.topology import Topology

__all__ = ["APISERVER_KUBELET_CLIENT_BINDING", "CertPair", "ClusterPKI", "Kubeadm", "kubeadm_config"]

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBEADM_TIMEOUT = 60

#: kubeadm's ``apiserver-kubelet-client`` certificate's user name.
APISERVER_KUBELET_CLIENT = "kube-apiserver-kubelet-client"
#: The ClusterRoleBinding ``kubeadm init`` makes for it: what lets the API server use the kubelet API.
APISERVER_KUBELET_CLIENT_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "kubeadm:apiserver-kubelet-client"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:kubelet-api-admin"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": APISERVER_KUBELET_CLIENT}],
}


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPKI:
    """Where each file of the cluster's PKI is: kubeadm's file names under its ``certificatesDir``."""

    dir: Path

    def _pair(self, stem: str) -> CertPair:
        return CertPair(cert=self.dir / f"{stem}.crt", key=self.dir / f"{stem}.key")

    @property
    def ca(self) -> CertPair:
        return self._pair("ca")

    @property
    def apiserver(self) -> CertPair:
        return self._pair("apiserver")

    @property
    def apiserver_kubelet_client(self) -> CertPair:
        return self._pair("apiserver-kubelet-client")

    @property
    def apiserver_etcd_client(self) -> CertPair:
        return self._pair("apiserver-etcd-client")

    @property
    def front_proxy_ca(self) -> CertPair:
        return self._pair("front-proxy-ca")

    @property
    def front_proxy_client(self) -> CertPair:
        return self._pair("front-proxy-client")

    @property
    def etcd_ca(self) -> CertPair:
        return self._pair("etcd/ca")

    @property
    def etcd_server(self) -> CertPair:
        return self._pair("etcd/server")

    @property
    def etcd_healthcheck_client(self) -> CertPair:
        return self._pair("etcd/healthcheck-client")

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def service_account_public_key(self) -> Path:
        return self.dir / "sa.pub"

    # Made by hand (clusters/local/certificates.py), signed by the cluster CA.

    def serving(self, component: str) -> CertPair:
        """The controller-manager's or scheduler's serving certificate."""
        return self._pair(f"{component}-serving")

    def kubelet_serving(self, node: str) -> CertPair:
        return self._pair(f"kubelet-{node}-serving")


def control_plane_name(topology: Topology) -> str:
    """The control plane's name in kubeadm's config: a DNS name of the API server and etcd certificates."""
    return f"{topology.name}-control-plane"


def kubeadm_config(topology: Topology, layout: ClusterLayout) -> str:
    """The config every kubeadm command reads: addresses, names and folders of this cluster.

    No ``advertiseAddress`` (see the module docstring); ``controlPlaneEndpoint`` is the API
    server's 127.0.0.1 address. ``criSocket`` and ``kubernetesVersion`` are set so that
    kubeadm neither looks for a container runtime nor asks the internet for the newest release.
    """
    init = {
        "apiVersion": KUBEADM_API, "kind": "InitConfiguration",
        "localAPIEndpoint": {"bindPort": topology.ports.apiserver},
        "nodeRegistration": {"name": control_plane_name(topology), "criSocket": "unix:///dev/null", "taints": []},
    }
    cluster = {
        "apiVersion": KUBEADM_API, "kind": "ClusterConfiguration",
        "clusterName": topology.name,
        "kubernetesVersion": topology.kubernetes_version,
        "controlPlaneEndpoint": f"127.0.0.1:{topology.ports.apiserver}",
        "certificatesDir": str(layout.pki),
        "encryptionAlgorithm": "ECDSA-P256",
        "networking": {"serviceSubnet": topology.service_cidr, "dnsDomain": "cluster.local"},
        "apiServer": {"certSANs": ["localhost", "127.0.0.1"]},
        "etcd": {"local": {"dataDir": str(layout.etcd_data)}},
    }
    return yaml.safe_dump_all([init, cluster], sort_keys=False)


class Kubeadm:
    """kubeadm's certificate and kubeconfig commands for one cluster, reading the config `write_config` wrote."""

    def __init__(self, binary: Path, topology: Topology, layout: ClusterLayout) -> None:
        self.binary = binary
        self.topology = topology
        self.layout = layout
        self.pki = ClusterPKI(layout.pki)

    def write_config(self) -> Path:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.kubeadm_config.write_text(kubeadm_config(self.topology, self.layout))
        return self.layout.kubeadm_config

    def certificates(self) -> ClusterPKI:
        """Every certificate and key of the control plane (``kubeadm init phase certs all``)."""
        self._run("init", "phase", "certs", "all")
        return self.pki

    def admin_kubeconfig(self) -> Path:
        """``super-admin.conf``: ``kubernetes-super-admin`` in ``system:masters``, the user's and the suite's."""
        self._run("init", "phase", "kubeconfig", "super-admin", "--kubeconfig-dir", str(self.layout.root))
        return self.layout.kubeconfig

    def component_kubeconfig(self, component: str) -> Path:
        """The controller-manager's or scheduler's kubeconfig, as ``system:kube-<component>``."""
        path = self.layout.component_kubeconfig(component)
        _write_private(path, self.user_kubeconfig(f"system:kube-{component}"))
        return path

    def kubelet_kubeconfig(self, node: NodeLayout) -> Path:
        """The node's kubelet kubeconfig: ``system:node:<name>`` in ``system:nodes``."""
        node.root.mkdir(parents=True, exist_ok=True)
        _write_private(node.kubelet_kubeconfig, self.user_kubeconfig(f"system:node:{node.name}", ["system:nodes"]))
        return node.kubelet_kubeconfig

    def user_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> str:
        """A kubeconfig (text) for client certificate ``user`` in ``groups`` (``kubeadm kubeconfig user``)."""
        return self._run("kubeconfig", "user", "--client-name", user, *(f"--org={g}" for g in groups))

    def _run(self, *args: str) -> str:
        argv = [str(self.binary), *args, "--config", str(self.layout.kubeadm_config)]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=KUBEADM_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ClusterError(f"`kubeadm {' '.join(args[:4])}` did not finish in {KUBEADM_TIMEOUT} s") from None
        if result.returncode != 0:
            raise ClusterError(f"`kubeadm {' '.join(args[:4])}` failed: {result.stderr.strip()[-400:]}; "
                               f"its config is {self.layout.kubeadm_config}")
        return result.stdout


def _write_private(path: Path, text: str) -> None:
    """Write a file that holds a private key: created 0600, never readable by others for an instant."""
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)
