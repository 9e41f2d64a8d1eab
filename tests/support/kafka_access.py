"""Attempts by a Kafka client at reading, joining a group, writing: the isolation probes.

Every probe is a real aiokafka client with the options given (protocol, credentials, TLS
context), so a refusal is the broker's (authentication, ACL) or the TLS layer's.
:func:`refused` says whether an attempt obtained nothing; a read that obtains a record,
or a write that is acknowledged, is a breach.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
import struct
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError


def as_client(bootstrap: str, user: str | None = None, password: str = "",
              context: ssl.SSLContext | None = None) -> dict[str, Any]:  # fmt: skip
    """Options of a client: SASL/SCRAM when ``user``, TLS when ``context``."""
    opts: dict[str, Any] = {"bootstrap_servers": bootstrap, "request_timeout_ms": 5000,
                            "metadata_max_age_ms": 5000, "connections_max_idle_ms": 10000}
    tls = context is not None
    if user is not None:
        opts.update(security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
                    sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=user,
                    sasl_plain_password=password)  # fmt: skip
    else:
        opts.update(security_protocol="SSL" if tls else "PLAINTEXT")
    if tls:
        opts["ssl_context"] = context
    return opts


async def read(opts: dict[str, Any], topic: str, group: str | None) -> int:
    """Records read from ``topic`` (partition 0); raises when refused. In a group, the
    offsets are committed too (OffsetCommit needs READ on the group)."""
    consumer = AIOKafkaConsumer(**opts, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    try:
        await asyncio.wait_for(consumer.start(), 20)
        if group is None:
            consumer.assign([TopicPartition(topic, 0)])
        else:
            consumer.subscribe([topic])
        got = 0
        for _ in range(20):
            if topic in consumer._client.cluster.unauthorized_topics:
                raise TopicAuthorizationFailedError(topic)  # told by the metadata: stop now
            batch = await consumer.getmany(timeout_ms=500)
            got += sum(len(v) for v in batch.values())
            if got:
                break
        if group is not None:
            await consumer.commit()
        return got
    finally:
        await consumer.stop()


async def write(opts: dict[str, Any], topic: str) -> None:
    """Produce one record and wait for its acknowledgement; raises when refused."""
    producer = AIOKafkaProducer(**opts)
    try:
        await asyncio.wait_for(producer.start(), 20)
        await asyncio.wait_for(producer.send_and_wait(topic, b"intrusion"), 10)
    finally:
        await producer.stop()


def refused(attempt: Coroutine[Any, Any, Any]) -> bool:
    """Refused: an error, or a read that obtained no record (every topic tried has some)."""
    try:
        got = asyncio.run(attempt)
    except (TimeoutError, KafkaError, OSError):
        return True
    return got == 0 if isinstance(got, int) else False


def api_versions_request(correlation_id: int = 7) -> bytes:
    """A raw ApiVersions v0 request (the first thing any Kafka client sends)."""
    client = b"probe"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client)) + client
    return struct.pack(">i", len(body)) + body


def raw_api_versions(port: int, context: ssl.SSLContext | None,
                     server_hostname: str = "127.0.0.1") -> int | None:  # fmt: skip
    """Send ApiVersions over a raw socket (TLS when ``context``) and return the correlation
    id of a Kafka answer, or None when the broker answered no Kafka response (closed the
    connection, or sent anything else). TLS errors propagate (``ssl.SSLError``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        sock: socket.socket = raw
        if context is not None:
            sock = context.wrap_socket(raw, server_hostname=server_hostname)
        sock.sendall(api_versions_request())
        head = b""
        try:
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    return None
                head += chunk
        except (ConnectionError, TimeoutError):
            return None
        size, correlation = struct.unpack(">ii", head)
        return correlation if 4 <= size < 1_000_000 else None


def actor_matrix(ids: list[str], creds: dict[str, dict[str, Any]]) -> tuple[list[str], int]:
    """Every probe an actor must be refused: for each ordered pair, read the other's feed,
    join the other's group, write the other's feed; for each actor, write any feed or hub
    topic, read the hub's topics, use a group outside its prefix. Returns the breaches
    and the number of attempts."""
    from hub.core import topics
    from hub.core.kafka.acl import group_prefix

    breaches: list[str] = []
    attempts: list[tuple[str, Coroutine[Any, Any, Any]]] = []
    for a in ids:
        own = topics.feed_topic(a)
        for b in ids:
            if b != a:
                other = topics.feed_topic(b)
                attempts += [(f"{a} read {other}", read(creds[a], other, None)),
                             (f"{a} joined {b}'s group",
                              read(creds[a], own, f"{group_prefix(b)}app")),
                             (f"{a} wrote {other}", write(creds[a], other))]  # fmt: skip
        attempts += [(f"{a} wrote {t}", write(creds[a], t))
                     for t in (own, topics.DEMANDES, topics.ACTORS, topics.DLQ)]
        attempts += [(f"{a} read {t}", read(creds[a], t, None))
                     for t in (topics.DEMANDES, topics.ACTORS)]
        attempts.append((f"{a} used a group outside its prefix",
                         read(creds[a], own, "no-prefix-group")))
    for what, attempt in attempts:
        if not refused(attempt):
            breaches.append(what)
    return breaches, len(attempts)


def dispatch_to_own_feeds(env: dict[str, str], home: Path, settings: Any, ids: list[str],
                          creds: dict[str, dict[str, Any]], timeout: float) -> None:
    """Start a real ``hub worker`` (``env``), publish one demand every actor of ``ids``
    wants, and check each actor reads it from its own feed, in its own group (the control
    that keeps an isolation matrix honest); the worker is stopped after."""
    from connectors.ingress.publishing import prepare_event, publish_events
    from hub.core import topics
    from hub.core.kafka.acl import group_prefix
    from reliability.cluster import Worker
    from tests.support.demandes import demande_event, new_num_unique

    worker = Worker(env, home / "worker.log")
    worker.start()
    try:
        event = prepare_event(demande_event(new_num_unique(), ["76540"]))
        asyncio.run(publish_events(settings, [event]))
        deadline = time.monotonic() + timeout
        for a in ids:
            own = topics.feed_topic(a)
            while asyncio.run(read(creds[a], own, f"{group_prefix(a)}app")) < 1:
                assert worker.alive(), f"worker died, see {worker.log}"
                assert time.monotonic() < deadline, f"{a}: nothing dispatched"
            assert asyncio.run(read(creds[a], own, None)) == 1, a
    finally:
        worker.signal(signal.SIGTERM)
