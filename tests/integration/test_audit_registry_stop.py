"""``hub audit record`` on feeds in the Confluent wire format whose schema id the registry
does not hold (independent audit H, F-4): the real broker, a real schema registry (Apicurio
Registry, as ``hub stack up --with-registry`` runs it, a private instance on a free port),
a real ``hub audit record --once`` process, then the long-running recorder.

The feed holds a record the recorder can read (single-object) and then records framed
with id 1 while the fresh registry answers 404 for it (as after a restore, a new in-memory
instance, a wrong context). The recorder must record the first, stop that feed at the
second with one line naming it (never dead-letter it, never commit past it), go on with the
other feeds (a record there that truly does not decode is still dead-lettered), and
record the rest once the registry holds the id again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Engine

from hub.core import topics
from hub.core.backoff import Backoff
from hub.core.db import make_engine, migrate
from hub.core.errors import ConfigError
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import client_options, new_producer, topic_partitions
from hub.core.schema_registry import install_resolver, register_feed_schema
from hub.core.settings import HubSettings
from hub.dev.stack.registry import RegistryStack
from hub.stores.audit.recorder import AuditRecorder
from hub.stores.audit.store import AuditStore
from schemas import get_codec
from schemas.confluent import IDS, frame
from tests.support.demandes import demande_event, new_num_unique
from tests.support.registry import confluent_settings, private_registry

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(600)]
HERE = "76204"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    with private_registry(tmp_path_factory) as fresh:
        yield fresh


@pytest.fixture()
def confluent(settings: HubSettings, registry: RegistryStack) -> Iterator[HubSettings]:
    conf = confluent_settings(settings, registry)
    IDS.forget()  # a fresh recorder process: no id learned
    install_resolver(conf)
    yield conf
    IDS.forget()


def _record(num: str) -> dict[str, Any]:
    return {"kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num,
            "operation": "CRE", "demandeVersion": 1, "occurredAt": 1,
            "dispatchedAt": 1_700_000_000_000, "profile": "consultant_simple",
            "reason": None, "changedFields": [],
            "demande": demande_event(num, [HERE])["demande"], "evenement": None}  # fmt: skip


async def _write(settings: HubSettings, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = new_producer(settings)
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _dlq_end(settings: HubSettings) -> dict[TopicPartition, int]:
    probe = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await probe.start()
    try:
        parts = await topic_partitions(probe, topics.DLQ) or [TopicPartition(topics.DLQ, 0)]
        return dict(await probe.end_offsets(parts))
    finally:
        await probe.stop()


async def _letters_since(settings: HubSettings, since: dict[TopicPartition, int],
                         source_prefix: str) -> list[dict[str, Any]]:  # fmt: skip
    """Every letter of hub.dlq written after ``since`` whose source topic starts with
    ``source_prefix``."""
    probe = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await probe.start()
    try:
        parts = await topic_partitions(probe, topics.DLQ) or [TopicPartition(topics.DLQ, 0)]
        ends = await probe.end_offsets(parts)
        probe.assign(parts)
        for tp in parts:
            probe.seek(tp, since.get(tp, 0))
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(
                [await probe.position(tp) < ends[tp] for tp in parts]):  # fmt: skip
            for ms in (await probe.getmany(timeout_ms=500)).values():
                out += [get_codec().decode_as(m.value, "DeadLetter") for m in ms]
        return [x for x in out if str(x["sourceTopic"]).startswith(source_prefix)]
    finally:
        await probe.stop()


async def _committed(settings: HubSettings, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        got = await consumer.committed(tp)
        return None if got is None else int(got)
    finally:
        await consumer.stop()


def _nums(engine: Engine, actor_id: str) -> list[str]:
    return sorted(e.num_unique for e in AuditStore(engine).query(actor_id=actor_id))


def test_an_unknown_registry_id_stops_the_feed_and_nothing_is_skipped(
        confluent: HubSettings, registry: RegistryStack, hub_env: dict[str, str],
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    codec = get_codec()
    suffix = uuid.uuid4().hex[:8]
    framed_actor, junk_actor = f"audreg-a-{suffix}", f"audreg-b-{suffix}"
    framed_topic, junk_topic = topics.feed_topic(framed_actor), topics.feed_topic(junk_actor)
    # the registry is fresh: it does not hold id 1 (yet)
    assert httpx.get(f"{registry.api_url}/schemas/ids/1", timeout=10).status_code == 404
    first, *later = [new_num_unique() for _ in range(3)]
    read_now = codec.encode("FeedRecord", _record(first))  # single-object: no registry
    framed = [frame(1, codec.encode("FeedRecord", _record(n))[10:]) for n in later]
    junk_num = new_num_unique()
    junk = [(b"k", b"not avro"), (junk_num.encode(), codec.encode("FeedRecord",
                                                                   _record(junk_num)))]  # fmt: skip
    db = tmp_path / "audit.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    group = f"audit-test-{suffix}"
    pattern = rf"^hub\.feed\.audreg-[ab]-{suffix}$"

    async def setup() -> dict[TopicPartition, int]:
        await ensure_topics(confluent, [*core_topics(confluent), feed_spec(framed_actor),
                                        feed_spec(junk_actor)])  # fmt: skip
        before = await _dlq_end(confluent)
        await _write(confluent, framed_topic,
                     [(first.encode(), read_now), *((n.encode(), v) for n, v in
                                                    zip(later, framed, strict=True))])  # fmt: skip
        await _write(confluent, junk_topic, junk)
        return before

    dlq_before = asyncio.run(setup())

    # 1. a real `hub audit record --once`: the other feed to its end, then one line, exit 1
    env = {
        **hub_env,
        "HUB_DATABASE__URL": f"sqlite:///{db}",
        "HUB_REGISTRY__URL": registry.api_url,
        "HUB_REGISTRY__WIRE_FORMAT": "confluent",
    }
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "audit",
                           "record", "--once", "--group", group, "--pattern", pattern,
                           "--timeout", "60"],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    line = f"audit of {framed_topic} stopped at offset 1 (unknown schema id 1)"
    assert line in done.stderr, done.stderr
    assert f"the registry at {registry.api_url} (HUB_REGISTRY__URL)" in done.stderr
    assert f"{junk_topic}: offset 0 does not decode (undecodable)" in done.stderr
    assert _nums(engine, framed_actor) == [first]  # before the stop: recorded
    assert _nums(engine, junk_actor) == [junk_num]  # the other feed: to its end
    framed_tp = TopicPartition(framed_topic, 0)
    assert asyncio.run(_committed(confluent, group, framed_tp)) == 1  # never past the stop
    letters = asyncio.run(_letters_since(confluent, dlq_before, "hub.feed.audreg-"))
    mine = [(x["sourceTopic"], x["sourceOffset"], x["reason"]) for x in letters
            if x["sourceTopic"] in (framed_topic, junk_topic)]  # fmt: skip
    assert mine == [(junk_topic, 0, "undecodable")]  # the unknown id is no dead letter

    # 2. the long-running recorder: stopped, tries again, resumes once the id resolves
    caplog.set_level(logging.INFO, logger="hub.stores.audit.recorder")

    async def follow() -> tuple[list[str], list[str], int | None]:
        recorder = AuditRecorder(confluent, engine, group=group, pattern=pattern,
                                 stop_backoff=Backoff(0.3, 0.6, jitter=(1.0, 1.0)))  # fmt: skip
        await recorder.start()
        task = asyncio.create_task(recorder.run())
        try:
            deadline = time.monotonic() + 60
            while framed_tp not in recorder.stops and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert framed_tp in recorder.stops, "the feed did not stop"
            await asyncio.sleep(3)  # several tries, each answered 404
            stopped = _nums(engine, framed_actor)
            schema_id = await asyncio.to_thread(register_feed_schema, confluent)
            assert schema_id == 1, "a fresh registry gives its first schema id 1"
            IDS.forget()  # learn it from the registry, as a process that did not register
            install_resolver(confluent)
            while len(_nums(engine, framed_actor)) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            after = _nums(engine, framed_actor)
            while (await _committed(confluent, group, framed_tp) != 3
                   and time.monotonic() < deadline):  # fmt: skip
                await asyncio.sleep(0.2)
            assert not task.done()
            return stopped, after, await _committed(confluent, group, framed_tp)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await recorder.stop()

    stopped, after, committed = asyncio.run(follow())
    assert stopped == [first]  # tried again and again: still nothing skipped, nothing past
    assert after == sorted([first, *later]) and committed == 3
    said = [r.getMessage() for r in caplog.records if r.name == "hub.stores.audit.recorder"]
    assert sum(line in m for m in said) == 1, said  # said once, not at every try
    assert any(m.startswith(f"audit of {framed_topic} resumes at offset 1") for m in said), said
    letters = asyncio.run(_letters_since(confluent, dlq_before, "hub.feed.audreg-"))
    assert [x["sourceTopic"] for x in letters if x["sourceTopic"] == framed_topic] == []


def test_once_without_registry_url_names_the_setting(
        settings: HubSettings, hub_env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    """A recorder deployed without ``HUB_REGISTRY__URL`` beside a worker writing the
    Confluent wire format: it stops with a line naming the setting (before, every record
    of every feed went to hub.dlq)."""
    actor = f"audreg-c-{uuid.uuid4().hex[:8]}"
    codec = get_codec()
    num = new_num_unique()
    value = frame(7, codec.encode("FeedRecord", _record(num))[10:])

    async def setup() -> None:
        await ensure_topics(settings, [feed_spec(actor)])
        await _write(settings, topics.feed_topic(actor), [(num.encode(), value)])

    asyncio.run(setup())
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    IDS.forget()
    install_resolver(settings)  # HUB_REGISTRY__URL empty

    async def once() -> None:
        recorder = AuditRecorder(settings, engine, group=f"audit-test-{actor}",
                                 pattern=rf"^hub\.feed\.{actor}$")  # fmt: skip
        await recorder.start()
        try:
            await recorder.run(once=True, timeout_s=60)
        finally:
            await recorder.stop()
            IDS.forget()

    with pytest.raises(ConfigError) as err:
        asyncio.run(once())
    assert err.value.message.startswith(
        f"audit of {topics.feed_topic(actor)} stopped at offset 0 (unknown schema id 7)"
    )
    assert "HUB_REGISTRY__URL is empty" in err.value.message
    assert AuditStore(engine).query(actor_id=actor) == []
