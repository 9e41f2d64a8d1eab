"""Kafka client options built from settings, the same for every client of the hub."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.core.kafka.tls import security_protocol, ssl_context
from hub.core.settings import HubSettings, KafkaSettings


def client_options(settings: HubSettings) -> dict[str, Any]:
    """Connection options shared by producers, consumers and the admin client: SASL/SCRAM
    when a user is set, TLS verifying ``kafka_security.ssl_cafile`` when set
    (hub.core.kafka.tls)."""
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


def delivery_options(k: KafkaSettings) -> dict[str, Any]:
    """How records are produced, apart from where to connect: acks=all and idempotence (no
    loss, no duplicates or reordering from internal retries), linger for throughput,
    compression as set (none by default: see ``KafkaSettings.compression_type``). The
    benchmark's raw-client baselines use these too (``bench.harness.producer``)."""
    return {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": k.linger_ms,
        "compression_type": None if k.compression_type == "none" else k.compression_type,
        "max_batch_size": 256 * 1024,
    }


def producer_options(settings: HubSettings) -> dict[str, Any]:
    """Connection options plus :func:`delivery_options` and the request timeout."""
    return {**client_options(settings), **delivery_options(settings.kafka),
            "request_timeout_ms": settings.kafka.request_timeout_ms}  # fmt: skip


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
