"""The local broker with SASL/SCRAM and ACLs (deny by default): ``SecureKafkaStack``.

Listeners, all on 127.0.0.1:

* client port: ``SASL_PLAINTEXT`` with SCRAM-SHA-512 (clients and inter-broker traffic);
* controller port: ``SASL_PLAINTEXT`` with PLAIN (KRaft keeps SCRAM credentials in its
  metadata, so the controller listener cannot use SCRAM), admin user only.

The authorizer is KRaft's ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found``
off: a principal without an ACL can do nothing. The hub's ``admin`` user is the only super
user; its SCRAM credentials are written at storage format time. Actors get credentials
and ACLs when registered (:mod:`hub.core.kafka.acl`, :mod:`hub.stores.registry.publisher`).
TLS: :class:`hub.dev.stack.tls.TlsKafkaStack` sets :attr:`SecureKafkaStack.protocol` to
``SASL_SSL`` and adds its key and trust stores (:meth:`SecureKafkaStack._extra_properties`).
"""

from __future__ import annotations

import subprocess

from hub.core.errors import ConfigError
from hub.dev.stack.kafka import JVM_UMASK, SINGLE_NODE_PROPERTIES, KafkaStack

_SECURE_PROPERTIES = """\
# Written by hub/dev/stack/security.py at each start: edit that file, not this one.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners={protocol}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners={protocol}://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name={protocol}
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,{protocol}:{protocol}
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=\
org.apache.kafka.common.security.plain.PlainLoginModule required \
username="{admin}" password="{password}" user_{admin}="{password}";
listener.name.{listener}.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required \
username="{admin}" password="{password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{admin}
"""


class SecureKafkaStack(KafkaStack):
    """:class:`KafkaStack` with SASL/SCRAM + ACLs; ``admin``/``password`` is the hub."""

    #: security protocol of the client (and inter-broker) listener
    protocol = "SASL_PLAINTEXT"

    def __init__(self, *args: object, admin: str = "hub", password: str, **kwargs: object
                 ) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not password or '"' in password or "\\" in password:
            raise ConfigError('the Kafka admin password must be non-empty, without " or \\')
        self.admin, self.password = admin, password

    def _write_configs(self) -> None:
        super()._write_configs()  # folders and log4j
        self.config_file.write_text((_SECURE_PROPERTIES + SINGLE_NODE_PROPERTIES).format(
            port=self.port, controller_port=self.controller_port, data_dir=self.data_dir,
            admin=self.admin, password=self.password, protocol=self.protocol,
            listener=self.protocol.lower()) + self._extra_properties())  # fmt: skip

    def _extra_properties(self) -> str:
        """Lines appended to the broker's properties (subclasses: TLS stores)."""
        return ""

    def _format_storage(self) -> None:
        if (self.data_dir / "meta.properties").is_file():
            return
        import base64
        import uuid

        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        scram = f"SCRAM-SHA-512=[name={self.admin},password={self.password}]"
        cmd = self._java("kafka.tools.StorageTool", "format", "-t", cluster_id,
                         "-c", str(self.config_file), "--ignore-formatted",
                         "--add-scram", scram, level="WARN")  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, umask=JVM_UMASK)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            raise ConfigError(f"formatting secure Kafka storage failed: {detail[0]}")
