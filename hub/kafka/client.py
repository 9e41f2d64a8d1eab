"""Kafka client options built from settings, the same for every client of the hub."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.kafka.tls import security_protocol, ssl_context
from hub.settings import HubSettings


def client_options(settings: HubSettings) -> dict[str, Any]:
    """Connection options shared by producers, consumers and the admin client: SASL/SCRAM
    when a user is set, TLS verifying ``kafka_security.ssl_cafile`` when set (hub.kafka.tls)."""
    k = settings.kafka
    opts: dict[str, Any] = {"bootstrap_servers": k.bootstrap_servers,
                            "security_protocol": security_protocol(settings)}  # fmt: skip
    context = ssl_context(settings)
    if context is not None:
        opts["ssl_context"] = context
    if k.sasl_username:
        opts.update(
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=k.sasl_username,
            sasl_plain_password=k.sasl_password.get_secret_value(),
        )
    return opts


def producer_options(settings: HubSettings) -> dict[str, Any]:
    """Producer settings chosen for no loss: acks=all and idempotence (no duplicates or
    reordering from internal retries); linger for throughput; compression as set (none by
    default: see ``KafkaSettings.compression_type``)."""
    k = settings.kafka
    return {
        **client_options(settings),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": k.linger_ms,
        "compression_type": None if k.compression_type == "none" else k.compression_type,
        "request_timeout_ms": k.request_timeout_ms,
        "max_batch_size": 256 * 1024,
    }


def new_producer(settings: HubSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition] | None:
    """The partitions of ``topic`` (None if the topic does not exist).

    ``consumer.topics()`` fetches metadata into a throw-away object, so
    ``partitions_for_topic`` would not know a topic the consumer never subscribed to.
    """
    metadata = await consumer._client.fetch_all_metadata()
    parts = metadata.partitions_for_topic(topic)
    if parts is None:
        return None
    return [TopicPartition(topic, p) for p in sorted(parts)]
