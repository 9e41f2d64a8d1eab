"""The secure local broker over TLS: SASL/SCRAM + ACLs on a ``SASL_SSL`` listener.

:class:`TlsKafkaStack` is :class:`hub.dev.stack.security.SecureKafkaStack` (deny-by-default
ACLs, the hub as only super user) whose client and inter-broker listener speaks
``SASL_SSL``: TLS first, then SCRAM-SHA-512 inside it. At each start it makes sure the
project's own CA and broker certificate exist (:mod:`hub.dev.stack.certs`, under
``<home>/kafka/tls/``) and hands them to Kafka as PEM stores, inline in
``server.properties`` (Kafka requires a key password for a PEM key *file*, not for an
inline key). Clients trust ``<home>/kafka/tls/ca.pem`` (``HUB_KAFKA_SECURITY__SSL_CAFILE``).

The controller listener stays ``SASL_PLAINTEXT`` with PLAIN on 127.0.0.1: only the broker
itself talks to it. The secure broker keeps its data in ``<home>/kafka/data-secure`` (its
storage is formatted with the hub's SCRAM credentials), apart from the plain broker's
``data``; both share the jars, the pid file and the ports, so one runs at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

from hub.dev.stack.certs import DEFAULT_HOSTS, TlsFiles, ensure_certificates
from hub.dev.stack.security import SecureKafkaStack

#: marks a ``server.properties`` written by this module (how status/down tell the modes)
SECURE_MARK = "# hub stack: secure (SASL_SSL)"


def _inline(pem: str) -> str:
    """A PEM block as one properties value: Java's Properties turns ``\\n`` into newlines."""
    return pem.strip().replace("\n", "\\n")


class TlsKafkaStack(SecureKafkaStack):
    """:class:`SecureKafkaStack` on ``SASL_SSL`` with a generated CA (see module doc)."""

    protocol = "SASL_SSL"

    def __init__(self, *args: object, hosts: tuple[str, ...] = DEFAULT_HOSTS,
                 **kwargs: object) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.hosts = hosts
        self.data_dir = self.root / "data-secure"
        self.tls_dir = self.root / "tls"
        self.env_file = self.root / "secure.env"

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients must trust (exists once the stack was started)."""
        return self.tls_dir / "ca.pem"

    def certificates(self) -> TlsFiles:
        """Create or reuse the CA and broker certificate (idempotent, no manual step)."""
        return ensure_certificates(self.tls_dir, self.hosts)

    def _write_configs(self) -> None:
        self.certificates()
        # The properties hold the broker's private key and the admin password: create the
        # file owner-only before anything is written to it (write_text keeps the mode).
        self.root.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.config_file, os.O_WRONLY | os.O_CREAT, 0o600))
        self.config_file.chmod(0o600)
        super()._write_configs()

    def _extra_properties(self) -> str:
        files = self.certificates()
        return "\n".join([
            SECURE_MARK,
            "ssl.keystore.type=PEM",
            f"ssl.keystore.certificate.chain={_inline(files.cert_file.read_text())}",
            f"ssl.keystore.key={_inline(files.key_file.read_text())}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={files.ca_file}",
            "ssl.client.auth=none",
            "ssl.enabled.protocols=TLSv1.3,TLSv1.2",
            # the broker checks its own certificate's names when it connects to itself
            "ssl.endpoint.identification.algorithm=https",
            "",
        ])  # fmt: skip


def runs_secure(config_file: Path) -> bool:
    """True when ``config_file`` was last written by :class:`TlsKafkaStack`."""
    try:
        return SECURE_MARK in config_file.read_text()
    except OSError:
        return False
