"""The local cluster's PKI (clusters/local/pki.py, certificates.py): kubeadm's files, checked as
files and by a real etcd and kube-apiserver that must accept them (and refuse what they must)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client, config as kube_config

from clusters.local import config
from clusters.toolbox.binaries import Binaries, ensure_binaries
from clusters.local.certificates import control_plane_certificates, control_plane_kubeconfigs, node_credentials
from clusters.local.layout import ClusterLayout
from clusters.local.pki import APISERVER_KUBELET_CLIENT_BINDING, CertPair, ClusterPKI, Kubeadm, kubeadm_config
from clusters.local.readiness import http_ok
from clusters.local.topology import Ports, Topology, load_topology


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}


def ekus(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def subject(cert: x509.Certificate) -> tuple[str, list[str]]:
    return (cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value,
            [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)])


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def kubeconfig_cert(path: Path) -> x509.Certificate:
    import base64

    (user,) = yaml.safe_load(path.read_text())["users"]
    return x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))


@dataclasses.dataclass(frozen=True)
class Made:
    topology: Topology
    layout: ClusterLayout
    kubeadm: Kubeadm
    pki: ClusterPKI
    binaries: Binaries


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Made:
    """The default topology on free ports, its PKI made as `up` makes it, in a temporary state folder."""
    default = load_topology()
    apiserver, etcd_client, etcd_peer = free_ports(3)
    topology = dataclasses.replace(default, name="rcc-pki-test", ports=Ports(apiserver, etcd_client, etcd_peer, 1, 2))
    layout = ClusterLayout.for_cluster(topology.name, tmp_path_factory.mktemp("state"))
    binaries = ensure_binaries(topology.kubernetes_version, set(), progress=lambda _m: None)
    kubeadm = Kubeadm(binaries["kubeadm"], topology, layout)
    pki = control_plane_certificates(kubeadm)
    control_plane_kubeconfigs(kubeadm)
    for spec in topology.nodes:
        node_credentials(kubeadm, spec, layout.node(spec.name, 1))
    return Made(topology, layout, kubeadm, pki, binaries)


@pytest.fixture(scope="module")
def apiserver(cluster) -> Iterator[str]:
    """etcd and kube-apiserver with the flags `up` gives them; yields the API server's URL."""
    topology, layout, pki, binaries = cluster.topology, cluster.layout, cluster.pki, cluster.binaries
    layout.etcd_data.mkdir(mode=0o700)
    layout.logs.mkdir()
    started: list[subprocess.Popen] = []

    def launch(name: str, argv: list[str]) -> None:
        with (layout.logs / f"{name}.log").open("w") as log:
            started.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def wait(what: str, check, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in started), f"a component exited; see {layout.logs}"
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{what} not ready in {timeout} s; see {layout.logs}")

    try:
        launch("etcd", [str(binaries["etcd"]), *config.etcd_args(topology, layout, pki)])
        wait("etcd", lambda: http_ok(f"https://127.0.0.1:{topology.ports.etcd_client}/health",
                                     pki.etcd_ca.cert, pki.etcd_healthcheck_client))
        launch("kube-apiserver", [str(binaries["kube-apiserver"]), *config.apiserver_args(topology, layout, pki)])
        server = f"https://127.0.0.1:{topology.ports.apiserver}"
        wait("kube-apiserver", lambda: http_ok(f"{server}/readyz", pki.ca.cert))
        yield server
    finally:
        for process in reversed(started):  # the API server first; its graceful shutdown is not needed
            process.kill()
            process.wait(timeout=30)


def api(kubeconfig: Path) -> client.ApiClient:
    return kube_config.new_client_from_config(config_file=str(kubeconfig))


def who(kubeconfig: Path) -> tuple[str, set[str]]:
    """The user and groups the API server authenticates this kubeconfig's client certificate as."""
    with api(kubeconfig) as c:
        review = client.AuthenticationV1Api(c).create_self_subject_review(
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return review.status.user_info.username, set(review.status.user_info.groups)


# ---------------------------------------------------------------- the kubeadm config


def test_kubeadm_config_names_this_clusters_endpoint_folders_and_ranges(tmp_path: Path) -> None:
    topology = load_topology()
    layout = ClusterLayout.for_cluster("rcc", tmp_path)
    init, cluster = yaml.safe_load_all(kubeadm_config(topology, layout))

    assert (init["kind"], cluster["kind"]) == ("InitConfiguration", "ClusterConfiguration")
    assert init["localAPIEndpoint"] == {"bindPort": topology.ports.apiserver}
    assert cluster["controlPlaneEndpoint"] == f"127.0.0.1:{topology.ports.apiserver}"
    assert cluster["certificatesDir"] == str(layout.pki)
    assert cluster["kubernetesVersion"] == topology.kubernetes_version  # never looked up online
    assert cluster["networking"]["serviceSubnet"] == topology.service_cidr
    assert cluster["encryptionAlgorithm"] == "ECDSA-P256"


# ---------------------------------------------------------------- the files


def test_every_leaf_is_signed_by_its_ca_and_valid_for_a_year(cluster) -> None:
    pki = cluster.pki
    by_ca = {pki.ca: [pki.apiserver, pki.apiserver_kubelet_client, pki.serving("controller-manager"),
                      pki.serving("scheduler"), *(pki.kubelet_serving(n.name) for n in cluster.topology.nodes)],
             pki.etcd_ca: [pki.etcd_server, pki.etcd_healthcheck_client, pki.apiserver_etcd_client],
             pki.front_proxy_ca: [pki.front_proxy_client]}
    now = dt.datetime.now(dt.timezone.utc)
    for ca, leaves in by_ca.items():
        ca_cert = load(ca.cert)
        assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        for leaf in leaves:
            cert = load(leaf.cert)
            cert.verify_directly_issued_by(ca_cert)
            assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, leaf
            assert cert.not_valid_before_utc <= now
            assert dt.timedelta(days=364) < cert.not_valid_after_utc - now <= dt.timedelta(days=366), leaf


def test_serving_certificates_name_what_clients_dial(cluster) -> None:
    topology, pki = cluster.topology, cluster.pki
    dns, ips = sans(load(pki.apiserver.cert))
    assert {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", "localhost"} <= dns
    assert {"127.0.0.1", topology.service_ip} <= ips
    assert ekus(load(pki.apiserver.cert)) == {ExtendedKeyUsageOID.SERVER_AUTH}
    etcd_dns, etcd_ips = sans(load(pki.etcd_server.cert))
    assert "localhost" in etcd_dns and "127.0.0.1" in etcd_ips
    for component in ("controller-manager", "scheduler"):
        assert sans(load(pki.serving(component).cert)) == ({"localhost"}, {"127.0.0.1"})
    for spec in topology.nodes:
        cert = load(pki.kubelet_serving(spec.name).cert)
        assert sans(cert) == ({spec.name}, {spec.address})
        assert ekus(cert) == {ExtendedKeyUsageOID.SERVER_AUTH}
        assert subject(cert) == (f"system:node:{spec.name}", ["system:nodes"])


def test_kubeconfigs_name_the_local_endpoint_and_the_identities_rbac_expects(cluster) -> None:
    topology, layout = cluster.topology, cluster.layout
    server = f"https://127.0.0.1:{topology.ports.apiserver}"
    expected = {layout.kubeconfig: ("kubernetes-super-admin", ["system:masters"]),
                layout.component_kubeconfig("controller-manager"): ("system:kube-controller-manager", []),
                layout.component_kubeconfig("scheduler"): ("system:kube-scheduler", []),
                **{layout.node(n.name, 1).kubelet_kubeconfig: (f"system:node:{n.name}", ["system:nodes"])
                   for n in topology.nodes}}
    for path, identity in expected.items():
        (entry,) = yaml.safe_load(path.read_text())["clusters"]
        assert entry["cluster"]["server"] == server, path
        assert subject(kubeconfig_cert(path)) == identity, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_private_keys_are_readable_by_their_owner_only(cluster) -> None:
    layout = cluster.layout
    keys = list(layout.pki.rglob("*.key"))
    assert len(keys) >= 15  # kubeadm's 12 and the 5 serving pairs made by hand
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def tls_handshake(server: CertPair, ca: Path, hostname: str) -> None:
    """OpenSSL (Python's ssl) as the client, verifying `server` against `ca` for `hostname`."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server.cert, server.key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)

    def serve() -> None:
        try:
            server_ctx.wrap_socket(a, server_side=True).sendall(b"ok")
        except ssl.SSLError:  # the client refused the certificate: its side raises
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=hostname) as tls:
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(10)
        a.close()


def test_the_serving_certificates_made_by_hand_verify_against_the_cluster_ca(cluster) -> None:
    """What `up`'s health checks and the API server do: find the issuer and check the name."""
    pki = cluster.pki
    for component in ("controller-manager", "scheduler"):
        tls_handshake(pki.serving(component), pki.ca.cert, "127.0.0.1")
    for spec in cluster.topology.nodes:
        tls_handshake(pki.kubelet_serving(spec.name), pki.ca.cert, spec.address)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(pki.kubelet_serving(spec.name), pki.ca.cert, "127.0.0.1")


def test_a_serving_certificate_needs_a_name() -> None:
    from clusters.local.certificates import issue_serving

    with pytest.raises(ValueError, match="needs a DNS name or an IP address"):
        issue_serving(CertPair(Path("/nonexistent.crt"), Path("/nonexistent.key")),
                      CertPair(Path("/x.crt"), Path("/x.key")), "nameless")


# ---------------------------------------------------------------- a real API server


def test_the_api_server_authenticates_each_kubeconfig_as_its_identity(cluster, apiserver) -> None:
    topology, layout = cluster.topology, cluster.layout
    assert who(layout.kubeconfig) == ("kubernetes-super-admin", {"system:masters", "system:authenticated"})
    assert who(layout.component_kubeconfig("scheduler"))[0] == "system:kube-scheduler"
    for spec in topology.nodes:
        user, groups = who(layout.node(spec.name, 1).kubelet_kubeconfig)
        assert (user, "system:nodes" in groups) == (f"system:node:{spec.name}", True)


def test_a_user_kubeconfig_from_kubeadm_is_accepted(cluster, apiserver, tmp_path: Path) -> None:
    kubeadm = cluster.kubeadm
    path = tmp_path / "user.conf"
    path.write_text(kubeadm.user_kubeconfig("rcc-test-user", ["rcc-test-group"]))
    assert who(path) == ("rcc-test-user", {"rcc-test-group", "system:authenticated"})


def test_a_certificate_of_another_ca_is_refused(cluster, apiserver) -> None:
    """The etcd CA signs the API server's etcd client: the API server itself must not trust it."""
    pki = cluster.pki
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.apiserver_etcd_client.cert), str(pki.apiserver_etcd_client.key))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{apiserver}/api", context=context, timeout=10)
    assert refused.value.code == 401


def test_kubeadms_binding_lets_the_api_server_use_the_kubelet_api(cluster, apiserver) -> None:
    """kubeadm's apiserver-kubelet-client has no group: only the binding `up` makes (as kubeadm init
    does) lets it through a kubelet's webhook authorization when the API server asks for logs or exec."""
    layout, pki = cluster.layout, cluster.pki
    user, groups = subject(load(pki.apiserver_kubelet_client.cert))
    assert (user, groups) == ("kube-apiserver-kubelet-client", [])
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": user, "groups": ["system:authenticated"],
                       "resourceAttributes": {"verb": "create", "resource": "nodes", "subresource": "proxy"}}}
    with api(layout.kubeconfig) as c:
        rbac, authz = client.RbacAuthorizationV1Api(c), client.AuthorizationV1Api(c)
        assert not authz.create_subject_access_review(review).status.allowed
        rbac.create_cluster_role_binding(APISERVER_KUBELET_CLIENT_BINDING)
        deadline = time.monotonic() + 10  # the RBAC authorizer reads bindings from its informer
        while not authz.create_subject_access_review(review).status.allowed:
            assert time.monotonic() < deadline, "the binding did not allow the API server's kubelet client"
            time.sleep(0.2)
