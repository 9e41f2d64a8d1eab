"""`hub dlq list|show|replay` against the real broker and the real worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hub.core import topics
from hub.core.kafka.client import client_options
from hub.domain.actors import Actor, ActorFilters
from hub.services.dlq import Letter, read_letters
from schemas import get_codec
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique
from tests.support.worker_metrics import partition_of

pytestmark = pytest.mark.kafka

SOTTEVILLE = "76681"


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _produce(settings: Any, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def letters_of(settings: Any, num: str, count: int, timeout: float = 60.0) -> list[Letter]:
    """The letters of ``num``, one per source record: a worker of the shared group may
    dead-letter a record twice around a rebalance (at-least-once); ``hub dlq`` marks the
    later ones as duplicates and never replays them."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [
            x
            for x in asyncio.run(read_letters(settings))
            if x.key == num.encode() and x.duplicate_of is None
        ]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(0.5)


def test_replayed_letter_failing_again_returns_with_its_history(settings, worker, hub_env) -> None:  # type: ignore[no-untyped-def]
    num = new_num_unique()
    bad = get_codec().encode("DemandeEvent", demande_event(num, [SOTTEVILLE], operation="BAD"))
    asyncio.run(_produce(settings, topics.DEMANDES, num.encode(), bad))
    (first,) = letters_of(settings, num, 1)
    assert first.reason == "bad_operation" and first.body["attempts"] == 1
    assert first.body["sourcePartition"] == partition_of(num, settings.kafka.partitions)

    listed = hub(hub_env, "dlq", "list", "--reason", "bad_operation")
    assert listed.returncode == 0, listed.stderr
    assert any(
        line.split()[:2] == [first.ref, "bad_operation"] for line in listed.stdout.splitlines()
    )
    assert "bad_operation" in listed.stdout.splitlines()[1] or "bad_operation" in listed.stdout
    shown = hub(hub_env, "dlq", "show", first.ref)
    assert shown.returncode == 0 and "unknown operation code" in shown.stdout, shown
    assert "DUPONT" not in shown.stdout  # no payload (personal data) unless --payload
    assert "DUPONT" in hub(hub_env, "dlq", "show", first.ref, "--payload").stdout

    replayed = hub(hub_env, "dlq", "replay", first.ref)
    assert replayed.returncode == 0, replayed.stderr
    assert "1 letters replayed" in replayed.stdout
    letters = letters_of(settings, num, 2)
    assert len(letters) == 2, "the replayed record did not come back to the DLQ"
    again = letters[1]
    assert again.body["attempts"] == 2
    assert [(h["reason"], h["failedAt"]) for h in again.body["history"]] == [
        ("bad_operation", first.body["failedAt"])
    ]
    assert letters[0].replayed is not None and letters[0].replayed["topic"] == topics.DEMANDES
    assert again.replayed is None
    twice = hub(hub_env, "dlq", "replay", first.ref)
    assert twice.returncode == 1 and "already replayed" in twice.stderr


def test_replay_restores_a_dead_lettered_demand_in_order(
    settings, worker, actor_service, hub_env
) -> None:  # type: ignore[no-untyped-def]
    """A demand whose CRE and MOD were dead-lettered (as by an earlier worker version with
    a bug, reason internal_error) is restored by replaying its letters, in order, and
    later events follow them."""
    aid = f"dlq-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(
        Actor(id=aid, name=aid, kind="bailleur", filters=ActorFilters(communes=[SOTTEVILLE]))
    )
    codec = get_codec()
    num = new_num_unique()
    cre, mod = demande_event(num, [SOTTEVILLE]), demande_event(num, [SOTTEVILLE], operation="MOD")
    part = partition_of(num, settings.kafka.partitions)
    for i, event in enumerate((cre, mod)):
        letter = {
            "reason": "internal_error",
            "message": "KeyError: 'x' (bug fixed in 1.2)",
            "sourceTopic": topics.DEMANDES,
            "sourcePartition": part,
            "sourceOffset": 1000 + i,
            "key": num.encode(),
            "payload": codec.encode("DemandeEvent", event),
            "failedAt": int(time.time() * 1000),
            "attempts": 1,
            "history": [],
        }
        asyncio.run(
            _produce(settings, topics.DLQ, num.encode(), codec.encode("DeadLetter", letter))
        )
    assert len(letters_of(settings, num, 2)) == 2

    dry = hub(hub_env, "dlq", "replay", "--reason", "internal_error", "--key", num, "--dry-run")
    assert "2 letters would be replayed" in dry.stdout, dry
    out = hub(hub_env, "dlq", "replay", "--reason", "internal_error", "--key", num)
    assert out.returncode == 0, out.stderr
    assert "2 letters replayed" in out.stdout
    # same key, so the demand's own partition
    assert out.stdout.count(f"-> {topics.DEMANDES}/{part}@") == 2
    live = demande_event(num, [SOTTEVILLE], operation="MOD")
    asyncio.run(
        _produce(settings, topics.DEMANDES, num.encode(), codec.encode("DemandeEvent", live))
    )

    records = collect_feed(
        settings, aid, worker=worker, until=lambda rs: sum(r["numUnique"] == num for r in rs) >= 3
    )
    got = [(r["eventId"], r["kind"], r["demandeVersion"]) for r in records if r["numUnique"] == num]
    assert got == [
        (cre["eventId"], "DEMANDE", 1),
        (mod["eventId"], "DEMANDE", 2),
        (live["eventId"], "DEMANDE", 3),
    ]
    # nothing left to replay for this demand
    assert "0 letters replayed" in hub(hub_env, "dlq", "replay", "--key", num).stdout


def test_an_oversized_letter_is_replayed_from_its_source_record(settings) -> None:  # type: ignore[no-untyped-def]
    """A letter without its payload (too large to keep) is read again at its source
    position; once the source is gone (here: an offset past the end) it is refused."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from hub.core.errors import InputError
    from hub.services.dlq import _payload

    async def scenario() -> None:
        topic = f"test.dlq.source.{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(**client_options(settings))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 2, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(**client_options(settings))
        await producer.start()
        try:
            for i in range(3):
                await producer.send_and_wait(topic, f"other{i}".encode(), partition=1)
            await producer.send_and_wait(topic, b"before", key=b"k", partition=1)
            md = await producer.send_and_wait(topic, b"the original", key=b"k", partition=1)
            await producer.send_and_wait(topic, b"after", key=b"k", partition=1)
        finally:
            await producer.stop()

        def letter(offset: int) -> Letter:
            return Letter(0, 7, {"payload": None, "sourceTopic": topic,
                                 "sourcePartition": 1, "sourceOffset": offset})  # fmt: skip

        assert await _payload(settings, letter(md.offset)) == b"the original"
        with pytest.raises(InputError) as gone:
            await _payload(settings, letter(md.offset + 50))
        assert gone.value.code == "not_replayable"

    asyncio.run(scenario())
