"""Audit D, F1 on the real broker, the real worker (RocksDB store) and ``hub clock tick``:
a partition whose due index an earlier version poisoned — the 14-digit key of a demand
dated 2287 or later, read back from the changelog by a restarted worker — heals at its
next tick and its other demand gets its three notices; a demand dated 2300 written to
hub.demandes now is dead-lettered naming the field (docs/lifecycle.md, "The due-time
index", "Dates the clock computes with").

Dates: the good demand is created 2000-11-12, so its notices fall on 2001-09-12, 10-12
and 11-12 and the tick is on 2001-11-13: before every threshold of the other demands of
the shared broker (created 2001-01-15 at the earliest: tests/integration/
test_feed_consumers.py), so the tick sends nothing to anyone else. The poisoned key
(due 2286-11-21 on 14 digits) sorts as 2001-09-09, just before the good demand's keys:
without the fix the scan stops there and nothing is sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core import topics
from hub.core.kafka.client import client_options
from hub.domain.actors import Actor, ActorFilters
from schemas import get_codec
from tests.integration.conftest import collect_feed
from tests.integration.test_dlq import letters_of
from tests.support.demandes import demande_event, new_num_unique
from tests.support.worker_metrics import partition_of

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
ROUEN = "76540"
CREATED, TICK = "2000-11-12", "2001-11-13"


def _paris_ms(day: str) -> int:
    d = dt.date.fromisoformat(day)
    return int(dt.datetime(d.year, d.month, d.day, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
               * 1000)  # fmt: skip


#: 00:00 Europe/Paris of 2286-11-21, the first day whose due time has 14 digits
POISON_DUE = _paris_ms("2286-11-21")


async def _send(settings: Any, topic: str, key: bytes, value: bytes,
                partition: int | None = None) -> None:  # fmt: skip
    producer = AIOKafkaProducer(**client_options(settings))
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


async def _changelog_values(settings: Any, topic: str, partition: int,
                            key: bytes) -> list[bytes | None]:  # fmt: skip
    """The values of ``key`` in a changelog partition, in order (None: a tombstone)."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        out: list[bytes | None] = []
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=2000)).values():
                out += [r.value for r in records if r.key == key]
        return out
    finally:
        await consumer.stop()


def _tick(env: dict[str, str], now: str) -> None:
    done = subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "clock",
                           "tick", "--now", now], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and "ticked" in done.stdout, done.stderr[-3000:]


def test_a_poisoned_partition_heals_and_a_far_future_demand_is_refused(  # type: ignore[no-untyped-def]
        settings, worker, actor_service, hub_env) -> None:  # fmt: skip
    aid = f"clk-far-{uuid.uuid4().hex[:8]}"
    actor_service.add_or_update(Actor(id=aid, name=aid, kind="bailleur",
                                      filters=ActorFilters(communes=[ROUEN])))  # fmt: skip
    parts = settings.kafka.partitions
    good = new_num_unique()
    p = partition_of(good, parts)
    far = next(n for n in iter(new_num_unique, None) if partition_of(n, parts) == p)
    event = demande_event(good, [ROUEN])
    event["demande"]["demandeLogement"]["dateCreationDemande"] = CREATED
    asyncio.run(publish_events(settings, [prepare_event(event)]))
    # a producer past the door writes a demand dated 2300: the worker refuses it
    bad = demande_event(far, [ROUEN])
    bad["demande"]["demandeLogement"]["dateCreationDemande"] = "2300-01-01"
    asyncio.run(_send(settings, topics.DEMANDES, far.encode(),
                      get_codec().encode("DemandeEvent", bad)))  # fmt: skip
    (letter,) = letters_of(settings, far, 1)
    assert letter.reason == "date_out_of_range"
    assert "demande.demandeLogement.dateCreationDemande" in letter.body["message"]
    collect_feed(settings, aid, worker=worker,
                 until=lambda rs: any(r["numUnique"] == good for r in rs))  # fmt: skip

    # what an earlier version stored for such a demand: its due entry on 14 digits
    poison = b"\x00d:%013d\x00renouvellement_m-2\x00%s" % (POISON_DUE, far.encode())
    assert len(poison.split(b"\x00")[1]) == len(b"d:") + 14
    changelog = f"{settings.worker.app_id}-demande-state-changelog"
    worker.stop()
    asyncio.run(_send(settings, changelog, poison, b"", partition=p))
    worker.start()  # restores it into its RocksDB from the changelog
    _tick(hub_env, TICK)

    def notices(rs: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        seen: set[str] = set()
        out = []
        for r in rs:
            if r["numUnique"] == good and r["kind"] == "AVIS" and r["eventId"] not in seen:
                seen.add(r["eventId"])
                out.append((r["eventId"], r["reason"], r["occurredAt"]))
        return out

    got = collect_feed(settings, aid, worker=worker, timeout=120,
                       until=lambda rs: len(notices(rs)) >= 3)  # fmt: skip
    assert [(reason, at) for _, reason, at in notices(got)] == [
        ("renouvellement_m-2", _paris_ms("2001-09-12")),
        ("renouvellement_m-1", _paris_ms("2001-10-12")),
        ("echeance_depassee", _paris_ms("2001-11-13"))]  # fmt: skip  # the day after
    values = asyncio.run(_changelog_values(settings, changelog, p, poison))
    assert values[0] == b"" and values[-1] is None  # removed by the tick that healed it
