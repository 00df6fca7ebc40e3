"""Unit tests for the local cluster's PKI (clusters/local/pki.py)."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clusters.local.certificates import APISERVER_DNS_NAMES, issue_control_plane, issue_kubelet, write_kubeconfig
from clusters.local.pki import CertPair, ClusterPKI


@pytest.fixture
def pki(tmp_path: Path) -> ClusterPKI:
    return ClusterPKI(tmp_path / "pki")


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(ext.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)},
    )


def ekus(cert: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def cn(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def orgs(cert: x509.Certificate) -> list[str]:
    return [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]


def issue_server(pki: ClusterPKI, **overrides) -> CertPair:
    kwargs = dict(common_name="srv", dns_names=["localhost"], ip_addresses=["127.0.0.1"], server=True)
    kwargs.update(overrides)
    return pki.issue("srv", **kwargs)


# ---------------------------------------------------------------- CA


def test_ca_is_self_signed_ca(pki: ClusterPKI) -> None:
    pair = pki.ensure_ca()
    ca = load(pair.cert)

    assert ca.subject == ca.issuer
    ca.verify_directly_issued_by(ca)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    assert key.public_key().public_numbers() == ca.public_key().public_numbers()


def test_ensure_ca_is_idempotent_across_instances(tmp_path: Path) -> None:
    first = ClusterPKI(tmp_path / "pki").ensure_ca()
    cert_bytes, key_bytes = first.cert.read_bytes(), first.key.read_bytes()

    again = ClusterPKI(tmp_path / "pki").ensure_ca()

    assert again == first
    assert again.cert.read_bytes() == cert_bytes
    assert again.key.read_bytes() == key_bytes


def test_ensure_ca_replaces_mismatched_key(pki: ClusterPKI) -> None:
    pair = pki.ensure_ca()
    old = pair.cert.read_bytes()
    other = ClusterPKI(pki.pki_dir / "other").ensure_ca()
    pair.key.write_bytes(other.key.read_bytes())

    pki.ensure_ca()

    assert pair.cert.read_bytes() != old
    ca = load(pair.cert)
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == ca.public_key().public_numbers()


# ---------------------------------------------------------------- leaves


def test_leaf_verifies_against_ca(pki: ClusterPKI) -> None:
    leaf = load(issue_server(pki).cert)
    ca = load(pki.ensure_ca().cert)

    leaf.verify_directly_issued_by(ca)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    validity = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert 364 <= validity.days <= 366


def test_leaf_key_matches_cert_and_is_ec(pki: ClusterPKI) -> None:
    pair = issue_server(pki)
    key = serialization.load_pem_private_key(pair.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == load(pair.cert).public_key().public_numbers()


def test_leaf_subject_sans_and_ekus(pki: ClusterPKI) -> None:
    pair = pki.issue(
        "both",
        "some-user",
        organizations=["group-a", "group-b"],
        dns_names=["localhost", "node-1"],
        ip_addresses=["127.0.0.1", "10.96.0.1", "::1"],
        server=True,
        client=True,
    )
    cert = load(pair.cert)

    assert cn(cert) == "some-user"
    assert orgs(cert) == ["group-a", "group-b"]
    assert sans(cert) == ({"localhost", "node-1"}, {"127.0.0.1", "10.96.0.1", "::1"})
    assert ekus(cert) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


@pytest.mark.parametrize(
    ("server", "client", "expected"),
    [
        (True, False, {ExtendedKeyUsageOID.SERVER_AUTH}),
        (False, True, {ExtendedKeyUsageOID.CLIENT_AUTH}),
    ],
)
def test_ekus_only_as_requested(pki: ClusterPKI, server: bool, client: bool, expected: set) -> None:
    pair = pki.issue("leaf", "x", dns_names=["localhost"], server=server, client=client)
    assert ekus(load(pair.cert)) == expected


def test_client_cert_without_sans_has_no_san_extension(pki: ClusterPKI) -> None:
    cert = load(pki.issue("c", "user", client=True).cert)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="x", common_name="x"),  # neither server nor client
        dict(name="x", common_name="x", server=True),  # server without SANs
        dict(name="x", common_name="x", client=True, ip_addresses=["not-an-ip"]),
        dict(name="../escape", common_name="x", client=True),
        dict(name=".hidden", common_name="x", client=True),
    ],
)
def test_issue_rejects_bad_requests(pki: ClusterPKI, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        pki.issue(**kwargs)


# ---------------------------------------------------------------- permissions


def test_file_and_directory_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the modes must not depend on the caller's umask
    try:
        pki = ClusterPKI(tmp_path / "pki")
        ca = pki.ensure_ca()
        leaf = issue_server(pki)
        sa_key, sa_pub = pki.ensure_service_account_keypair()
    finally:
        os.umask(old_umask)

    assert mode(pki.pki_dir) == 0o700
    for key in (ca.key, leaf.key, sa_key):
        assert mode(key) == 0o600, key
    for cert in (ca.cert, leaf.cert, sa_pub):
        assert mode(cert) == 0o644, cert
    assert not [p.name for p in pki.pki_dir.iterdir() if p.name.startswith(".")], "temp files left"


def test_existing_directory_is_tightened(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    ClusterPKI(d)
    assert mode(d) == 0o700


# ---------------------------------------------------------------- idempotence


def test_issue_is_idempotent(tmp_path: Path) -> None:
    first = issue_server(ClusterPKI(tmp_path / "pki"))
    cert_bytes, key_bytes = first.cert.read_bytes(), first.key.read_bytes()

    again = issue_server(ClusterPKI(tmp_path / "pki"))

    assert again == first
    assert again.cert.read_bytes() == cert_bytes
    assert again.key.read_bytes() == key_bytes


def test_san_order_does_not_force_reissue(pki: ClusterPKI) -> None:
    first = pki.issue("s", "s", dns_names=["a", "b"], server=True).cert.read_bytes()
    again = pki.issue("s", "s", dns_names=["b", "a"], server=True).cert.read_bytes()
    assert again == first


@pytest.mark.parametrize(
    "change",
    [
        dict(dns_names=["localhost", "extra.example"]),
        dict(ip_addresses=["127.0.0.2"]),
        dict(common_name="other"),
        dict(organizations=["system:masters"]),
        dict(client=True),
    ],
)
def test_changed_request_reissues(pki: ClusterPKI, change: dict) -> None:
    before = issue_server(pki).cert.read_bytes()

    pair = issue_server(pki, **change)

    assert pair.cert.read_bytes() != before
    cert = load(pair.cert)
    if "dns_names" in change or "ip_addresses" in change:
        dns, ips = sans(cert)
        assert dns == set(change.get("dns_names", ["localhost"]))
        assert ips == set(change.get("ip_addresses", ["127.0.0.1"]))
    if "common_name" in change:
        assert cn(cert) == "other"
    if "organizations" in change:
        assert orgs(cert) == ["system:masters"]
    if "client" in change:
        assert ExtendedKeyUsageOID.CLIENT_AUTH in ekus(cert)


def test_new_ca_reissues_leaves(pki: ClusterPKI) -> None:
    pair = issue_server(pki)
    before = pair.cert.read_bytes()
    ca = pki.ensure_ca()
    ca.cert.unlink()
    ca.key.unlink()

    issue_server(pki)

    assert pair.cert.read_bytes() != before
    load(pair.cert).verify_directly_issued_by(load(ca.cert))


def test_lost_leaf_key_reissues(pki: ClusterPKI) -> None:
    pair = issue_server(pki)
    before = pair.cert.read_bytes()
    pair.key.unlink()

    issue_server(pki)

    assert pair.key.exists()
    assert pair.cert.read_bytes() != before


def test_corrupt_leaf_cert_reissues(pki: ClusterPKI) -> None:
    pair = issue_server(pki)
    pair.cert.write_text("garbage")

    issue_server(pki)

    load(pair.cert).verify_directly_issued_by(load(pki.ensure_ca().cert))


# ---------------------------------------------------------------- service-account keys


def test_service_account_keypair(pki: ClusterPKI) -> None:
    key_path, pub_path = pki.ensure_service_account_keypair()

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    pub = serialization.load_pem_public_key(pub_path.read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert pub.public_numbers() == key.public_key().public_numbers()

    key_bytes = key_path.read_bytes()
    pub_path.unlink()
    assert pki.ensure_service_account_keypair() == (key_path, pub_path)
    assert key_path.read_bytes() == key_bytes, "the signing key must never be rotated silently"
    assert serialization.load_pem_public_key(pub_path.read_bytes()).public_numbers() == pub.public_numbers()


# ---------------------------------------------------------------- kubeconfig


def test_kubeconfig_embeds_data(pki: ClusterPKI, tmp_path: Path) -> None:
    ca = pki.ensure_ca()
    admin = pki.issue("admin", "rcc-admin", organizations=["system:masters"], client=True)

    path = write_kubeconfig(
        tmp_path / "kube" / "admin.kubeconfig",
        server="https://127.0.0.1:6443",
        ca=ca.cert,
        client=admin,
        cluster_name="rcc",
        user="rcc-admin",
    )

    assert mode(path) == 0o600
    cfg = yaml.safe_load(path.read_text())
    assert cfg["kind"] == "Config"
    (cluster,) = cfg["clusters"]
    (user,) = cfg["users"]
    (context,) = cfg["contexts"]
    assert cluster["name"] == "rcc"
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == ca.cert.read_bytes()
    assert user["name"] == "rcc-admin"
    assert base64.b64decode(user["user"]["client-certificate-data"]) == admin.cert.read_bytes()
    assert base64.b64decode(user["user"]["client-key-data"]) == admin.key.read_bytes()
    assert context["context"] == {"cluster": "rcc", "user": "rcc-admin"}
    assert cfg["current-context"] == context["name"]


def test_kubeconfig_explicit_context(pki: ClusterPKI, tmp_path: Path) -> None:
    ca = pki.ensure_ca()
    client = pki.issue("c", "u", client=True)
    path = write_kubeconfig(tmp_path / "k", "https://127.0.0.1:6443", ca.cert, client, "rcc", "u", context="ctx")
    cfg = yaml.safe_load(path.read_text())
    assert cfg["current-context"] == "ctx"
    assert cfg["contexts"][0]["name"] == "ctx"


# ---------------------------------------------------------------- standard set


def test_issue_control_plane(pki: ClusterPKI) -> None:
    certs = issue_control_plane(pki, apiserver_ips=["127.0.0.1", "127.0.0.10"], service_ip="10.96.0.1")
    ca = load(pki.ensure_ca().cert)

    assert set(certs) == {
        "apiserver",
        "apiserver-kubelet-client",
        "etcd-server",
        "apiserver-etcd-client",
        "admin",
        "controller-manager",
        "scheduler",
    }
    loaded = {name: load(pair.cert) for name, pair in certs.items()}
    for cert in loaded.values():
        cert.verify_directly_issued_by(ca)

    dns, ips = sans(loaded["apiserver"])
    assert dns == set(APISERVER_DNS_NAMES) >= {"kubernetes.default.svc.cluster.local", "localhost"}
    assert ips == {"127.0.0.1", "127.0.0.10", "10.96.0.1"}
    assert ekus(loaded["apiserver"]) == {ExtendedKeyUsageOID.SERVER_AUTH}

    assert sans(loaded["etcd-server"]) == ({"localhost"}, {"127.0.0.1"})
    assert ekus(loaded["etcd-server"]) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}

    client_ids = {
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ["system:masters"]),
        "apiserver-etcd-client": ("kube-apiserver-etcd-client", []),
        "admin": ("rcc-admin", ["system:masters"]),
        "controller-manager": ("system:kube-controller-manager", []),
        "scheduler": ("system:kube-scheduler", []),
    }
    for name, (common_name, groups) in client_ids.items():
        assert (cn(loaded[name]), orgs(loaded[name])) == (common_name, groups), name
        assert ekus(loaded[name]) == {ExtendedKeyUsageOID.CLIENT_AUTH}, name

    # A second `up` reuses everything.
    again = issue_control_plane(pki, apiserver_ips=["127.0.0.1", "127.0.0.10"], service_ip="10.96.0.1")
    assert {n: p.cert.read_bytes() for n, p in again.items()} == {
        n: p.cert.read_bytes() for n, p in certs.items()
    }


def test_issue_kubelet(pki: ClusterPKI) -> None:
    client, serving = issue_kubelet(pki, "node-1", "127.0.0.11")

    c = load(client.cert)
    assert cn(c) == "system:node:node-1"
    assert orgs(c) == ["system:nodes"]
    assert ekus(c) == {ExtendedKeyUsageOID.CLIENT_AUTH}

    s = load(serving.cert)
    assert sans(s) == ({"node-1"}, {"127.0.0.11"})
    assert ekus(s) == {ExtendedKeyUsageOID.SERVER_AUTH}
    assert client != serving

    other_client, _ = issue_kubelet(pki, "node-2", "127.0.0.12")
    assert other_client.cert != client.cert


# ---------------------------------------------------------------- real TLS


def test_mutual_tls_handshake(pki: ClusterPKI) -> None:
    """The files work for OpenSSL too: mTLS with IP hostname check and EKUs."""
    ca = pki.ensure_ca()
    server = pki.issue("srv", "srv", ip_addresses=["127.0.0.1"], server=True)
    client = pki.issue("cli", "rcc-admin", organizations=["system:masters"], client=True)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server.cert, server.key)
    server_ctx.load_verify_locations(ca.cert)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname on by default
    client_ctx.load_cert_chain(client.cert, client.key)
    client_ctx.load_verify_locations(ca.cert)

    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    peer: dict = {}

    def serve() -> None:
        with server_ctx.wrap_socket(a, server_side=True) as tls:
            peer["cert"] = tls.getpeercert()
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(10)

    subject = dict(item for rdn in peer["cert"]["subject"] for item in rdn)
    assert subject == {"organizationName": "system:masters", "commonName": "rcc-admin"}
