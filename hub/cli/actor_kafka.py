"""``hub actors kafka-config ACTOR``: the Kafka client configuration to hand to an actor.

Prints Java-client properties (what Kafka's own tools, Kafka Connect, Spring, kcat with
``-F`` and librdkafka read): the actor's SCRAM user and password (derived from
``HUB_KAFKA_SECURITY__ACTOR_SECRET``, :func:`hub.core.kafka.acl.actor_password`, never stored),
SASL_SSL when ``HUB_KAFKA_SECURITY__SSL_CAFILE`` is set (the CA to trust, as a PEM trust
store), and a consumer group inside the actor's prefix. The output holds a secret: it is
printed for the operator to transmit, never logged.
"""

from __future__ import annotations

import click

from hub.cli.actors import _service, actors
from hub.core.errors import ConfigError
from hub.core.kafka.acl import actor_password, group_prefix
from hub.core.kafka.tls import security_protocol
from hub.core.settings import HubSettings, get_settings
from hub.core.topics import feed_topic


def actor_properties(settings: HubSettings, actor_id: str) -> str:
    """The actor's consumer properties (see module doc)."""
    sec = settings.kafka_security
    if not sec.enabled:
        raise ConfigError("HUB_KAFKA_SECURITY__ENABLED is off: actors have no Kafka identity")
    password = actor_password(sec.actor_secret.get_secret_value(), actor_id)
    protocol = security_protocol(
        settings.model_copy(
            update={"kafka": settings.kafka.model_copy(update={"sasl_username": actor_id})}
        )
    )
    lines = [
        f"# Kafka consumer of actor {actor_id}: topic {feed_topic(actor_id)}, "
        f"consumer groups {group_prefix(actor_id)}*",
        f"bootstrap.servers={settings.kafka.bootstrap_servers}",
        f"security.protocol={protocol}",
        "sasl.mechanism=SCRAM-SHA-512",
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{actor_id}" password="{password}";',
    ]
    if sec.ssl_cafile:
        lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={sec.ssl_cafile}",
                  "ssl.endpoint.identification.algorithm=https"]  # fmt: skip
    lines += [f"group.id={group_prefix(actor_id)}consumer", "enable.auto.commit=false",
              "auto.offset.reset=earliest"]  # fmt: skip
    return "\n".join(lines)


@actors.command("kafka-config")
@click.argument("actor_id", metavar="ACTOR")
def kafka_config(actor_id: str) -> None:
    """Print ACTOR's Kafka client properties (credentials, TLS trust, group): a secret."""
    _service().store.get(actor_id)  # a registered actor only (NotFoundError otherwise)
    settings = click.get_current_context().find_object(HubSettings) or get_settings()
    click.echo(actor_properties(settings, actor_id))
