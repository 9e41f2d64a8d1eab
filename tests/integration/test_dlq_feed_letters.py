"""``hub dlq replay`` of a letter whose source is an actor's feed (independent audit H,
F-4): ``hub audit record`` dead-letters a feed record that does not decode, and such a
letter must never be written back to the feed (that would hand the record to the actor a
second time). Real broker, the recorder's real letter, the real ``hub dlq`` command."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import core_topics, ensure_topics, feed_spec
from hub.core.kafka.client import client_options, new_producer
from hub.core.settings import HubSettings
from hub.services.dlq import read_letters
from hub.stores.audit.recorder import AuditRecorder

pytestmark = pytest.mark.kafka


def _hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", *args],
                          env=env, capture_output=True, text=True, timeout=180)  # fmt: skip


async def _feed_end(settings: HubSettings, topic: str) -> int:
    probe = AIOKafkaConsumer(**client_options(settings), group_id=None)
    await probe.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await probe.end_offsets([tp]))[tp])
    finally:
        await probe.stop()


def test_a_letter_from_a_feed_is_never_written_back(
        settings: HubSettings, hub_env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    actor = f"dlqfeed-{uuid.uuid4().hex[:8]}"
    feed = topics.feed_topic(actor)
    key = f"junk-{uuid.uuid4().hex}"
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)

    async def dead_letter() -> None:
        await ensure_topics(settings, [*core_topics(settings), feed_spec(actor)])
        producer = new_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(feed, b"not avro", key=key.encode())
        finally:
            await producer.stop()
        recorder = AuditRecorder(settings, engine, group=f"audit-test-{actor}",
                                 pattern=rf"^hub\.feed\.{actor}$")  # fmt: skip
        await recorder.start()
        try:
            stats = await recorder.run(once=True, timeout_s=60)
        finally:
            await recorder.stop()
        assert stats.dead_lettered == 1

    asyncio.run(dead_letter())
    (letter,) = [x for x in asyncio.run(read_letters(settings)) if x.key == key.encode()]
    assert letter.body["sourceTopic"] == feed and letter.reason == "undecodable"
    assert not letter.pending  # never counted as a letter to replay
    end = asyncio.run(_feed_end(settings, feed))

    alone = _hub(hub_env, "dlq", "replay", letter.ref)
    assert alone.returncode == 1 and "Traceback" not in alone.stderr
    assert f"comes from the actor feed '{feed}'" in alone.stderr, alone.stderr
    assert "hand the record to that actor again; not replayed" in alone.stderr
    bulk = _hub(hub_env, "dlq", "replay", "--key", key)
    assert bulk.returncode == 0, bulk.stderr
    assert f"skipped {letter.ref} (undecodable): comes from the actor feed" in bulk.stdout
    assert "0 letters replayed, 1 skipped (never replayable)" in bulk.stdout
    assert asyncio.run(_feed_end(settings, feed)) == end  # nothing written to the feed
