"""Public key infrastructure for the local cluster.

The local cluster runs etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and several kubelets as host processes on loopback addresses.
To test RuntimeClass behaviour under the same security model a real cluster
has, every component talks mutual TLS with certificates from one cluster CA,
authenticates as the identity (CN = user, O = groups) RBAC expects, and the
API server signs service-account tokens with its own key pair.

Everything is generated with the ``cryptography`` library rather than openssl
subprocesses: no external tool versions to depend on, and no private key ever
passes through a command line or a temporary file with loose permissions.

All operations are idempotent.  A second ``up`` of the same cluster directory
must reuse the existing CA and certificates, otherwise every kubeconfig handed
out earlier (to tests, to a user's shell) would stop working.  A certificate
is only re-issued when it no longer matches what was asked for, was signed by
a different CA, is unreadable, or is close to expiry.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertPair",
    "ClusterPKI",
    "PKIError",
    "atomic_write",
]

log = logging.getLogger(__name__)

#: Long enough that a developer's cluster directory never needs a new trust root.
CA_VALIDITY = dt.timedelta(days=3650)
#: What the brief (and kubeadm) use for component certificates.
LEAF_VALIDITY = dt.timedelta(days=365)
#: Re-issue a leaf this long before it expires, so a cluster brought up again
#: does not break in the middle of a long conformance run.
RENEW_BEFORE = dt.timedelta(days=30)
#: Back-date notBefore slightly: components compare against their own clocks,
#: and a certificate that is "not yet valid" by a second fails the handshake.
CLOCK_SKEW = dt.timedelta(minutes=5)

#: The one CA that signs every leaf certificate.
CLUSTER_CA = "kubernetes"

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700

SA_KEY_NAME = "sa.key"
SA_PUB_NAME = "sa.pub"

# Names become file names inside the PKI directory; refuse anything that could
# escape it or hide as a dot-file.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PKIError(RuntimeError):
    """The PKI directory is in a state this module refuses to repair silently."""


@dataclass(frozen=True)
class CertPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class _LeafSpec:
    """Everything that decides whether an existing leaf can be reused."""

    subject: x509.Name
    sans: frozenset[x509.GeneralName]
    ekus: frozenset[x509.ObjectIdentifier]


# --------------------------------------------------------------------------
# Small file and crypto helpers
# --------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with exactly ``mode``, atomically.

    The temporary file is created by ``mkstemp``, i.e. ``os.open`` with
    ``O_CREAT | O_EXCL`` and mode 0600, so a private key is never readable by
    anybody else, not even for the instant between creation and chmod.  The
    mode is then set with ``fchmod`` so the umask cannot loosen or tighten it,
    and ``os.replace`` makes the new content appear all at once: a crashed or
    concurrent writer never leaves a half-written PEM behind.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    # PKCS#8 is understood by Go (etcd, Kubernetes), OpenSSL and Python alike.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki_der(public_key: object) -> bytes:
    """Canonical bytes of a public key, for "does this key belong to that cert"."""
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _new_ec_key() -> ec.EllipticCurvePrivateKey:
    # P-256: supported by every component and orders of magnitude faster to
    # generate than RSA, which keeps `up` and the tests quick.
    return ec.generate_private_key(ec.SECP256R1())


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> object:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid PKI file name {name!r}: use letters, digits, '.', '_', '-'")
    return name


def _subject(common_name: str, organizations: Sequence[str]) -> x509.Name:
    """Build the subject Kubernetes reads: O = groups, CN = user name."""
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _general_names(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    """SAN entries, de-duplicated in order; bad IP literals fail loudly here."""
    names: list[x509.GeneralName] = []
    for dns in dns_names:
        names.append(x509.DNSName(dns))
    for ip in ip_addresses:
        names.append(x509.IPAddress(ipaddress.ip_address(ip)))
    return list(dict.fromkeys(names))


def _sans_of(cert: x509.Certificate) -> frozenset[x509.GeneralName]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(ext.value)


def _ekus_of(cert: x509.Certificate) -> frozenset[x509.ObjectIdentifier]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(ext.value)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _pair_matches(cert: x509.Certificate, key_path: Path) -> bool:
    """True if the key file holds the private half of ``cert``'s public key."""
    key = _load_key(key_path)
    return _spki_der(key.public_key()) == _spki_der(cert.public_key())  # type: ignore[attr-defined]


# --------------------------------------------------------------------------
# The PKI
# --------------------------------------------------------------------------


class ClusterPKI:
    """One cluster CA, the leaf certificates it signs and the SA key pair.

    Files live flat in ``pki_dir``: ``<ca>-ca.crt``/``<ca>-ca.key`` for a CA,
    ``<name>.crt``/``<name>.key`` for a leaf, ``sa.key``/``sa.pub`` for the
    service-account signing keys.  ``issue`` always signs with the cluster
    CA (``CLUSTER_CA``) and creates it on first use, so callers never have to
    order their calls.
    """

    def __init__(self, pki_dir: Path) -> None:
        self.pki_dir = Path(pki_dir)
        self._ensure_dir()

    # ---- directory -------------------------------------------------------

    def _ensure_dir(self) -> None:
        """Create the directory 0700, tightening it if it already existed.

        ``mkdir(mode=...)`` is filtered by the umask and ignored for an
        existing directory, hence the explicit chmod.
        """
        self.pki_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.pki_dir, DIR_MODE)

    def _pair(self, stem: str) -> CertPair:
        return CertPair(cert=self.pki_dir / f"{stem}.crt", key=self.pki_dir / f"{stem}.key")

    # ---- CA --------------------------------------------------------------

    def ca_pair(self, name: str = CLUSTER_CA) -> CertPair:
        """Paths of CA ``name``; nothing is created."""
        return self._pair(f"{_check_name(name)}-ca")

    def ensure_ca(self, name: str = CLUSTER_CA) -> CertPair:
        """Return CA ``name``, creating it only if there is no usable one.

        Reuse is what keeps previously written kubeconfigs valid across
        restarts.  An unusable CA (unreadable, key not matching, not a CA,
        expired) is replaced: nothing it signed could be trusted anyway, and
        every leaf is re-issued on its next ``issue`` because the signature
        check against the new CA fails.
        """
        pair = self.ca_pair(name)
        reason = self._ca_problem(pair)
        if reason is None:
            return pair
        if pair.cert.exists() or pair.key.exists():
            log.warning("replacing CA %s: %s", name, reason)
        self._create_ca(pair, name)
        return pair

    def _ca_problem(self, pair: CertPair) -> str | None:
        """Why the CA files cannot be reused, or None if they can."""
        if not (pair.cert.is_file() and pair.key.is_file()):
            return "missing"
        try:
            cert = _load_cert(pair.cert)
            if not _pair_matches(cert, pair.key):
                return "key does not match certificate"
        except (ValueError, TypeError) as exc:
            return f"unreadable: {exc}"
        if not _is_ca(cert):
            return "certificate is not a CA"
        if cert.not_valid_after_utc <= _now():
            return "expired"
        return None

    def _create_ca(self, pair: CertPair, name: str) -> None:
        key = _new_ec_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}-ca")])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        # Key first: if we crash in between, the cert/key mismatch is detected
        # and the CA recreated rather than a stale cert paired with a new key.
        atomic_write(pair.key, _key_pem(key), KEY_MODE)
        atomic_write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)

    def _signing_ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
        pair = self.ensure_ca(CLUSTER_CA)
        key = _load_key(pair.key)
        if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            raise PKIError(f"CA key {pair.key} is neither EC nor RSA")
        return _load_cert(pair.cert), key

    # ---- service-account keys ---------------------------------------------

    def ensure_service_account_keypair(self) -> tuple[Path, Path]:
        """Return ``(private_key_pem, public_key_pem)`` for SA token signing.

        The private key goes to kube-apiserver's
        ``--service-account-signing-key-file`` (and the controller manager's
        ``--service-account-private-key-file``), the public key to
        ``--service-account-key-file``.  The private key is never rotated
        here, because that would invalidate every token already issued; the
        public half is (re)derived from it whenever it is missing or wrong.
        """
        key_path = self.pki_dir / SA_KEY_NAME
        pub_path = self.pki_dir / SA_PUB_NAME
        key = self._load_sa_key(key_path)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            atomic_write(key_path, _key_pem(key), KEY_MODE)
        pub_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not (pub_path.is_file() and pub_path.read_bytes() == pub_pem):
            atomic_write(pub_path, pub_pem, CERT_MODE)
        return key_path, pub_path

    @staticmethod
    def _load_sa_key(path: Path) -> rsa.RSAPrivateKey | None:
        if not path.is_file():
            return None
        try:
            key = _load_key(path)
        except (ValueError, TypeError) as exc:
            log.warning("replacing unreadable service-account key %s: %s", path, exc)
            return None
        if not isinstance(key, rsa.RSAPrivateKey):
            log.warning("replacing non-RSA service-account key %s", path)
            return None
        return key

    # ---- leaves ------------------------------------------------------------

    def issue(
        self,
        name: str,
        common_name: str,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
        *,
        validity: dt.timedelta = LEAF_VALIDITY,
    ) -> CertPair:
        """Sign (or reuse) the leaf certificate ``<name>.crt`` / ``<name>.key``.

        ``common_name`` and ``organizations`` are the user and groups the API
        server derives from a client certificate; ``dns_names`` and
        ``ip_addresses`` are what a TLS client checks a server's address
        against (CN is ignored for that by Go).  ``server`` / ``client``
        select the extended key usages, which Go's TLS stack enforces.

        An existing certificate is reused when its key matches, it was signed
        by the current CA, and its subject, SANs and key usages are exactly the
        requested ones, with more than ``RENEW_BEFORE`` left to run.
        """
        _check_name(name)
        if not (server or client):
            raise ValueError(f"{name}: a leaf certificate must be for server and/or client auth")
        sans = _general_names(dns_names, ip_addresses)
        if server and not sans:
            raise ValueError(f"{name}: a server certificate needs DNS or IP SANs (Go ignores CN)")
        ekus: list[x509.ObjectIdentifier] = []
        if server:
            ekus.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            ekus.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        spec = _LeafSpec(_subject(common_name, organizations), frozenset(sans), frozenset(ekus))

        ca_cert, ca_key = self._signing_ca()
        pair = self._pair(name)
        reason = self._leaf_problem(pair, spec, ca_cert)
        if reason is None:
            return pair
        log.debug("issuing %s: %s", name, reason)
        self._sign_leaf(pair, spec, sans, ekus, ca_cert, ca_key, validity)
        return pair

    def _leaf_problem(self, pair: CertPair, spec: _LeafSpec, ca_cert: x509.Certificate) -> str | None:
        """Why the existing leaf cannot be reused, or None if it can."""
        if not (pair.cert.is_file() and pair.key.is_file()):
            return "missing"
        try:
            cert = _load_cert(pair.cert)
            if not _pair_matches(cert, pair.key):
                return "key does not match certificate"
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature) as exc:
            return f"not usable with the current CA: {str(exc) or type(exc).__name__}"
        if cert.subject != spec.subject:
            return "subject changed"
        if _sans_of(cert) != spec.sans:
            return "SANs changed"
        if _ekus_of(cert) != spec.ekus:
            return "key usages changed"
        if cert.not_valid_after_utc - _now() < RENEW_BEFORE:
            return "expiring"
        return None

    def _sign_leaf(
        self,
        pair: CertPair,
        spec: _LeafSpec,
        sans: list[x509.GeneralName],
        ekus: list[x509.ObjectIdentifier],
        ca_cert: x509.Certificate,
        ca_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
        validity: dt.timedelta,
    ) -> None:
        key = _new_ec_key()
        now = _now()
        # A leaf outliving its CA would only produce confusing errors later.
        not_after = min(now + validity, ca_cert.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(spec.subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,  # EC keys sign; they never encrypt a premaster secret
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        atomic_write(pair.key, _key_pem(key), KEY_MODE)
        atomic_write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
