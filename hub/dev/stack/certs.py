"""The local stack's own certificate authority and broker certificate (PEM files).

:func:`ensure_certificates` is idempotent and needs no manual step: the first call creates
a CA (kept, so actors that trust it keep trusting it) and a broker certificate signed by it
for ``127.0.0.1`` and ``localhost`` (subject alternative names: TLS clients check them,
the common name is ignored); later calls reuse both, and reissue only the broker
certificate when it is missing, near its end or lacks a host. Layout of ``folder``::

    ca.pem          the CA certificate: what clients trust (ssl_cafile)
    ca-key.pem      the CA private key (0600): only to reissue the broker certificate
    broker.pem      the broker certificate followed by the CA (its chain)
    broker-key.pem  the broker private key, PKCS#8 unencrypted (0600)

Keys are ECDSA P-256 (instant to generate, supported by Java's PEM loader and OpenSSL).
This is a development CA: in production the broker's certificate comes from the
organisation's PKI and only ``ssl_cafile`` changes on the clients.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.core.errors import ConfigError

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CA_DAYS, BROKER_DAYS = 3650, 825
#: a broker certificate closer than this to its end is reissued at the next start
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files of :func:`ensure_certificates`."""

    ca_file: Path
    ca_key_file: Path
    cert_file: Path
    key_file: Path


def _files(folder: Path) -> TlsFiles:
    return TlsFiles(folder / "ca.pem", folder / "ca-key.pem", folder / "broker.pem",
                    folder / "broker-key.pem")  # fmt: skip


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only (created 0600: never readable by others,
    even for an instant), replacing the file atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_ca(
    name: str = "Passerelle local CA",
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its key (also used by tests as an untrusted CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    return cert, key


def new_leaf(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, hosts: tuple[str, ...]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server (and client: the broker connects to itself) certificate for ``hosts``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(min(_now() + dt.timedelta(days=BROKER_DAYS),
                                 ca.not_valid_after_utc))
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    return cert, key


def _leaf_still_good(files: TlsFiles, ca: x509.Certificate, hosts: tuple[str, ...]) -> bool:
    if not (files.cert_file.is_file() and files.key_file.is_file()):
        return False
    chain = x509.load_pem_x509_certificates(files.cert_file.read_bytes())
    leaf = chain[0]
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return (leaf.issuer == ca.subject and leaf.not_valid_after_utc - _now() > RENEW_BEFORE
            and all(name in sans for name in _san(hosts)))  # fmt: skip


def ensure_certificates(folder: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> TlsFiles:
    """Create (first call) or reuse the CA and broker certificate under ``folder``.

    Raises :class:`ConfigError` when existing files cannot be read as PEM (a person edited
    or truncated them: delete the folder to start a new CA).
    """
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    files = _files(folder)
    try:
        if files.ca_file.is_file() and files.ca_key_file.is_file():
            ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
            loaded = serialization.load_pem_private_key(files.ca_key_file.read_bytes(), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ConfigError(f"{files.ca_key_file} is not an EC key")
            ca_key = loaded
        else:
            ca, ca_key = new_ca()
            _write_private(files.ca_key_file, _key_pem(ca_key))
            files.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
            files.cert_file.unlink(missing_ok=True)  # signed by a former CA: reissue
        if not _leaf_still_good(files, ca, hosts):
            leaf, key = new_leaf(ca, ca_key, hosts)
            _write_private(files.key_file, _key_pem(key))
            files.cert_file.write_bytes(
                leaf.public_bytes(serialization.Encoding.PEM)
                + ca.public_bytes(serialization.Encoding.PEM)
            )
    except ValueError as exc:  # cryptography's "could not deserialize" family
        raise ConfigError(
            f"unreadable certificate or key in {folder}: delete the folder "
            f"to create a new CA ({type(exc).__name__})"
        ) from exc
    return files
