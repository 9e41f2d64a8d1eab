"""Kafka client options built from settings, the same for every client of the hub, and
the one way a broker that does not answer is reported:

* :func:`start_client` starts any aiokafka client (consumer, producer, admin); when no
  broker answers it closes the half-started client (no "Unclosed AIOKafkaConsumer" at
  exit) and raises :func:`unavailable`, a :class:`~hub.core.errors.KafkaUnavailableError`;
* :func:`unavailable_message` is what a person reads instead (the CLI prints it for that
  error and for any aiokafka ``KafkaConnectionError`` met elsewhere): where Kafka was
  looked for and how to start it or point the hub at another broker;
* :class:`ConnectionNoise` drops aiokafka's own log lines about failed connections, for
  the CLI without ``-v``: the command says it once, in its own words.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from hub.core.errors import KafkaUnavailableError
from hub.core.kafka.handshake import diagnose
from hub.core.kafka.metadata import track_every_topic
from hub.core.kafka.tls import security_protocol, ssl_context
from hub.core.settings import HubSettings, KafkaSettings

#: the environment variable of ``kafka.bootstrap_servers`` (HubSettings: ``HUB_`` prefix,
#: ``__`` between levels)
BOOTSTRAP_ENV = "HUB_KAFKA__BOOTSTRAP_SERVERS"


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


def unavailable_message(bootstrap_servers: str) -> str:
    """One line for a person: no Kafka broker answers at ``bootstrap_servers``, and how to
    start the development broker or point the hub at another one."""
    return (f"Kafka not reachable at {bootstrap_servers}: start it with 'hub stack up' "
            f"(or set {BOOTSTRAP_ENV})")  # fmt: skip


def unavailable(settings: HubSettings, cause: BaseException) -> KafkaUnavailableError:
    """The error of a broker that does not answer. Its message, ``Kafka unavailable:
    <cause's type>``, names no address: it may reach an API client (HTTP 503)."""
    return KafkaUnavailableError(f"Kafka unavailable: {type(cause).__name__}",
                                 bootstrap_servers=settings.kafka.bootstrap_servers)  # fmt: skip


#: any aiokafka client the hub starts
AnyClient: TypeAlias = AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient


async def start_client(client: AnyClient, settings: HubSettings, *,
                       timeout_s: float | None = None) -> None:  # fmt: skip
    """Start ``client``. When no broker answers (connection refused or failed, or no start
    within ``timeout_s``), close it and raise :func:`unavailable`; when a broker answered
    but refused the SASL authentication or the TLS handshake (aiokafka says "unable to
    bootstrap" for both), raise :class:`~hub.core.kafka.handshake.KafkaHandshakeError`
    instead, one line saying so (:func:`hub.core.kafka.handshake.diagnose`). A producer
    tracks the existing topics by name (:mod:`hub.core.kafka.metadata`: why). Other
    errors of the start are raised as they are, the client closed as well."""
    try:
        if timeout_s is None:
            await client.start()
        else:
            await asyncio.wait_for(client.start(), timeout_s)
        if isinstance(client, AIOKafkaProducer):
            await track_every_topic(client)
    except BaseException as exc:
        # aiokafka does not close what it opened when its start fails: the caller never
        # gets a client to close, so close it here (asyncio warns about it otherwise)
        await _close(client)
        if isinstance(exc, KafkaConnectionError):
            refused = await diagnose(settings, client_options(settings))
            if refused is not None:
                raise refused from exc
        if isinstance(exc, KafkaConnectionError | TimeoutError):
            raise unavailable(settings, exc) from exc
        raise


async def _close(client: AnyClient) -> None:
    try:
        if isinstance(client, AIOKafkaAdminClient):
            await client.close()
        else:
            await client.stop()
    except Exception:  # nothing more to do for a client that never started
        logging.getLogger(__name__).debug("closing a client that did not start", exc_info=True)


class ConnectionNoise(logging.Filter):
    """Drops aiokafka's log lines about a broker it could not connect to ("Unable connect
    to ...", "Unable to update metadata from ..."). Installed by the CLI
    unless ``-v``: a command that cannot reach Kafka says so once, as
    :func:`unavailable_message`; every other aiokafka line passes."""

    TEMPLATES = frozenset({
        'Unable connect to "%s:%s": %s',
        "Unable to update metadata from %s",
        "Unable connect to node with id %s: %s",
    })  # fmt: skip
    #: the loggers aiokafka writes them to (its client module logs as ``aiokafka``, not
    #: under its module name): a logger's filters see only its own records
    LOGGERS = ("aiokafka", "aiokafka.client")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.TEMPLATES

    @classmethod
    def lift(cls) -> None:
        """Let every such line through again: a service (worker, API, connector) runs until
        stopped and its log is what an operator reads later, so each connection it could
        not make is said there (:func:`connectors.shape.run_until_signal`,
        :func:`dispatch.runtime.worker.run_worker`)."""
        for name in cls.LOGGERS:
            noisy = logging.getLogger(name)
            for f in [f for f in noisy.filters if isinstance(f, cls)]:
                noisy.removeFilter(f)
