"""Which certificates and kubeconfigs the local cluster's components get.

kubeadm makes the control plane's and each kubelet's kubeconfig (``clusters/local/pki.py``);
this module signs, with the CA kubeadm made, the serving certificates no kubeadm phase
makes (why each is needed is in pki.py's docstring): each kubelet's, for its node name and
address, and the controller-manager's and scheduler's, for 127.0.0.1. They follow
kubeadm's own choices: an ECDSA P-256 key, one year of validity, server-auth only, the key
written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from clusters.local.layout import NodeLayout
from clusters.local.pki import CertPair, ClusterPKI, Kubeadm
from clusters.local.topology import NodeSpec

__all__ = ["control_plane_certificates", "control_plane_kubeconfigs", "issue_serving", "node_credentials"]

#: kubeadm's ``certificateValidityPeriod`` default.
VALIDITY = dt.timedelta(days=365)
#: Components compare against their own clocks: a certificate "not yet valid" by a second fails.
CLOCK_SKEW = dt.timedelta(minutes=5)


def control_plane_certificates(kubeadm: Kubeadm) -> ClusterPKI:
    """kubeadm's config and certificates: all etcd and the API server need to start."""
    kubeadm.write_config()
    return kubeadm.certificates()


def control_plane_kubeconfigs(kubeadm: Kubeadm) -> None:
    """The admin, controller-manager and scheduler kubeconfigs (three kubeadm processes at once), and the
    controller-manager's and scheduler's serving certificates: needed once the API server answers."""
    pki = kubeadm.pki
    with ThreadPoolExecutor(max_workers=3) as pool:
        jobs = [pool.submit(kubeadm.admin_kubeconfig),
                *(pool.submit(kubeadm.component_kubeconfig, c) for c in ("controller-manager", "scheduler"))]
        for component in ("controller-manager", "scheduler"):
            issue_serving(pki.ca, pki.serving(component), f"kube-{component}", dns_names=["localhost"],
                          ip_addresses=["127.0.0.1"])
        for job in jobs:
            job.result()


def node_credentials(kubeadm: Kubeadm, spec: NodeSpec, node: NodeLayout) -> None:
    """The kubelet's kubeconfig (kubeadm) and its serving certificate for its name and address."""
    kubeadm.kubelet_kubeconfig(node)
    issue_serving(kubeadm.pki.ca, kubeadm.pki.kubelet_serving(spec.name), f"system:node:{spec.name}",
                  organizations=["system:nodes"], dns_names=[spec.name], ip_addresses=[spec.address])


def issue_serving(ca: CertPair, out: CertPair, common_name: str, organizations: Sequence[str] = (),
                  dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = ()) -> CertPair:
    """Sign a server-auth certificate for the given names with ``ca``, into ``out``.

    Go checks a server's address against the SANs only (never the CN), so at least one
    name or address is required.
    """
    sans = [*(x509.DNSName(d) for d in dns_names), *(x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses)]
    if not sans:
        raise ValueError(f"{common_name}: a serving certificate needs a DNS name or an IP address")
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # The CA's own key identifier, whichever method made it (Go 1.26: truncated SHA-256): OpenSSL
        # looks the issuer up by it, and a recomputed SHA-1 one matched no CA ("unable to get local issuer").
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write(out.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()), 0o600)
    _write(out.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return out


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with exactly ``mode`` (never looser, not even for an instant), replacing an old one."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)  # the umask may have narrowed it
        out.write(data)
