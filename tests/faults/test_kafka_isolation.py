"""Per-actor isolation on a private SASL/SCRAM + ACL broker (deny by default).

Actors are registered through the real registry service and Kafka publisher, which create
their credentials and ACLs; a real ``hub worker``, authenticated as the hub, dispatches a
demand to every feed. The matrix then tries, for every ordered pair of actors, to
read the other's feed, join the other's consumer group and write to either feed, plus
writes and reads on the hub's own topics: every attempt must be refused, while reading
one's own feed in one's own group works (the control that keeps the test honest).
Unauthenticated and wrong-password connections are refused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from hub import topics
from hub.actors import Actor, ActorFilters
from hub.kafka.acl import actor_password, group_prefix
from hub.publishing import prepare_event, publish_events
from hub.settings import HubSettings
from hub.stack.security import SecureKafkaStack
from reliability.cluster import REPO, Worker, free_port
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
ACTORS = int(os.environ.get("HUB_ISOLATION_ACTORS", "3"))
ADMIN_PW, SECRET = uuid.uuid4().hex, uuid.uuid4().hex


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubSettings]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("secure-kafka")
    stack = SecureKafkaStack(home=home, port=free_port(), controller_port=free_port(),
                             password=ADMIN_PW)  # fmt: skip
    cached = REPO / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    stack.up(timeout=120)
    try:
        yield HubSettings(
            home=home, kafka={"bootstrap_servers": stack.bootstrap, "sasl_username": "hub",
                              "sasl_password": ADMIN_PW},
            database={"url": f"sqlite:///{home / 'hub.db'}"},
            kafka_security={"enabled": True, "actor_secret": SECRET})  # fmt: skip
    finally:
        stack.down()


def _as(settings: HubSettings, user: str | None, password: str = "") -> dict[str, Any]:
    opts: dict[str, Any] = {"bootstrap_servers": settings.kafka.bootstrap_servers,
                            "request_timeout_ms": 5000, "metadata_max_age_ms": 5000}  # fmt: skip
    if user is not None:
        opts.update(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                    sasl_plain_username=user, sasl_plain_password=password)  # fmt: skip
    return opts


async def _read(opts: dict[str, Any], topic: str, group: str | None) -> int:
    """Records read from ``topic`` (partition 0) by a client; raises when refused."""
    consumer = AIOKafkaConsumer(**opts, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        if group is None:
            consumer.assign([tp])
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
            await consumer.commit()  # a group member: OffsetCommit needs READ on the group
        return got
    finally:
        await consumer.stop()


async def _write(opts: dict[str, Any], topic: str) -> None:
    producer = AIOKafkaProducer(**opts)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"intrusion"), 10)
    finally:
        await producer.stop()


def _refused(coro: Any) -> bool:
    """Refused: an error, or a read that obtained no record (every topic tried has some)."""
    try:
        got = asyncio.run(coro)
    except (TimeoutError, KafkaError, OSError):
        return True
    return got == 0


def test_isolation_matrix(secure: HubSettings) -> None:
    from hub.db import make_engine, migrate
    from hub.geo import get_geography
    from hub.kafka.publisher import KafkaActorPublisher
    from hub.registry.service import ActorService
    from hub.registry.store import ActorStore

    engine = make_engine(secure.database_url)
    migrate(engine)
    service = ActorService(ActorStore(engine), get_geography(),
                           publisher=KafkaActorPublisher(secure))  # fmt: skip
    ids = [f"iso-{i}-{uuid.uuid4().hex[:4]}" for i in range(ACTORS)]
    for aid in ids:
        service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                    filters=ActorFilters(communes=["76540"])))  # fmt: skip
    creds = {aid: _as(secure, aid, actor_password(SECRET, aid)) for aid in ids}
    # the hub's worker, authenticated as the hub, dispatches one demand to every feed
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(secure.home),
               HUB_KAFKA__BOOTSTRAP_SERVERS=secure.kafka.bootstrap_servers,
               HUB_KAFKA__SASL_USERNAME="hub", HUB_KAFKA__SASL_PASSWORD=ADMIN_PW,
               HUB_WORKER__APP_ID="isolation-dispatch", HUB_DATABASE__URL=secure.database_url)
    worker = Worker(env, secure.home / "worker.log")
    worker.start()
    try:
        event = prepare_event(demande_event(new_num_unique(), ["76540"]))
        asyncio.run(publish_events(secure, [event]))
        deadline = time.monotonic() + 90
        for a in ids:  # the control: each actor reads its own feed in its own group
            own = topics.feed_topic(a)
            while asyncio.run(_read(creds[a], own, f"{group_prefix(a)}app")) < 1:
                assert worker.alive(), f"worker died, see {worker.log}"
                assert time.monotonic() < deadline, f"{a}: nothing dispatched"
            assert asyncio.run(_read(creds[a], own, None)) == 1, a
    finally:
        worker.signal(signal.SIGTERM)

    breaches: list[str] = []
    for a in ids:
        own = topics.feed_topic(a)
        for b in ids:
            if b == a:
                continue
            other = topics.feed_topic(b)
            if not _refused(_read(creds[a], other, None)):
                breaches.append(f"{a} read {other}")
            if not _refused(_read(creds[a], own, f"{group_prefix(b)}app")):
                breaches.append(f"{a} joined {b}'s group")
            if not _refused(_write(creds[a], other)):
                breaches.append(f"{a} wrote {other}")
        for topic in (own, topics.DEMANDES, topics.ACTORS, topics.DLQ):
            if not _refused(_write(creds[a], topic)):
                breaches.append(f"{a} wrote {topic}")
        for topic in (topics.DEMANDES, topics.ACTORS):
            if not _refused(_read(creds[a], topic, None)):
                breaches.append(f"{a} read {topic}")
        if not _refused(_read(creds[a], own, "no-prefix-group")):
            breaches.append(f"{a} used a group outside its prefix")
    assert breaches == []

    # unauthenticated, wrong password, removed actor: no connection at all
    assert _refused(_read(_as(secure, None), topics.feed_topic(ids[0]), None))
    assert _refused(_read(_as(secure, ids[0], "wrong"), topics.feed_topic(ids[0]), None))
    service.remove(ids[-1])
    assert _refused(_read(creds[ids[-1]], topics.feed_topic(ids[-1]), None))
