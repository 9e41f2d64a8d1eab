"""Upstream producers other than the hub's own writing hub.demandes, on a private broker:
in Kafka transactions, and with every compression codec.

Legal in the Kafka record model and written by no hub producer: each transaction ends
with a control record (the commit or abort marker) that takes an offset of every
partition it wrote to and that no consumer receives, and an aborted transaction's records
stay in the log, for a committed read (``read_committed``) to skip.

* Input partitions full of commit markers, read as a backlog: every event delivered to
  exactly its recipients, committed offsets = end offsets.
* Aborted transactions among committed ones, and partitions whose log **ends** on
  aborted records and markers: no record of an aborted transaction reaches any feed (the
  worker read uncommitted records and dispatched them), the committed offsets reach the
  end of every partition (they stopped before the last marker for ever: the guard finds
  a hole only when a record follows it) and ``/health`` stays 200 (it said "stalled").

* Batches compressed with each codec a producer may choose (gzip, snappy, lz4, zstd: a
  Java producer's ``compression.type``), written by producers that batch: every event
  delivered exactly (the codecs come with ``aiokafka[lz4]``'s cramjam; without it the
  worker cannot read such a batch at all).

Each test uses a département no other test on the session's shared hub publishes to: a
new actor first receives copies of the demands earlier tests left in its territory.
"""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from hub.core import topics
from hub.core.kafka.client import producer_options
from hub.domain.geo import get_geography
from reliability.checker import check, read_feeds
from reliability.cluster import PrivateHub, Worker, hold_healthy
from reliability.ledger import generate
from schemas import get_codec

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

Event = dict[str, Any]


async def _publish_in_transactions(hub: PrivateHub, events: list[Event], rng: random.Random,
                                   *, plain_tail: int = 0, aborted: list[Event] | None = None,
                                   aborted_last: int = 0) -> int:  # fmt: skip
    """Publish ``events`` with a transactional producer, in transactions of 1 to 20 events
    (each commit writes a marker: holes in the log). ``aborted`` events go in aborted
    transactions of 1 to 5 between the committed ones, the last ``aborted_last`` of them in
    one final aborted transaction (the log then ends on aborted records and their marker).
    The last ``plain_tail`` events go without a transaction, after everything else.
    Returns the number of committed transactions."""
    codec = get_codec()

    async def send(producer: AIOKafkaProducer, batch: list[Event]) -> None:
        for ev in batch:
            await producer.send(topics.DEMANDES, codec.encode("DemandeEvent", ev),
                                key=str(ev["numUnique"]).encode())  # fmt: skip

    phantoms = list(aborted or [])
    final = phantoms[len(phantoms) - aborted_last:] if aborted_last else []
    phantoms = phantoms[: len(phantoms) - len(final)]
    producer = AIOKafkaProducer(**{**producer_options(hub.settings), "enable_idempotence": True},
                                transactional_id=f"upstream-{uuid.uuid4().hex[:6]}")  # fmt: skip
    await producer.start()
    txns, i, cut = 0, 0, len(events) - plain_tail
    try:
        while i < cut:
            if phantoms and rng.random() < 0.3:
                n = min(rng.randint(1, 5), len(phantoms))
                await producer.begin_transaction()
                await send(producer, phantoms[:n])
                await producer.abort_transaction()
                phantoms = phantoms[n:]
            n = min(rng.randint(1, 20), cut - i)
            async with producer.transaction():
                await send(producer, events[i : i + n])
            txns, i = txns + 1, i + n
        if final:
            await producer.begin_transaction()
            await send(producer, final)
            await producer.abort_transaction()
    finally:
        await producer.stop()
    plain = AIOKafkaProducer(**producer_options(hub.settings))
    await plain.start()
    try:
        await send(plain, events[cut:])
        await plain.flush()
    finally:
        await plain.stop()
    return txns


def _drain_and_check(hub: PrivateHub, ledger: Any) -> None:
    """A worker reads the backlog to its end; every actor got exactly what it is owed."""
    worker = hub.start_worker()
    try:
        hub.wait_drained(300)
        assert worker.alive(), f"worker died: {worker.log}"
    finally:
        worker.signal(signal.SIGTERM)
    figures = check(ledger, asyncio.run(read_feeds(hub.settings, [a.id for a in ledger.actors])))
    assert figures.owed > 0 and figures.ok, figures.as_dict()


@pytest.mark.timeout(600)
def test_commit_markers_of_a_transactional_upstream_stop_nothing(private_hub: PrivateHub,
                                                                 ) -> None:  # fmt: skip
    """Input partitions full of holes (commit markers), read as a backlog by a worker that
    starts, seeks to its committed offsets and back. Every event is delivered to exactly
    its recipients and the committed offsets reach the end of every partition (the
    guard's confirmed holes are committed past)."""
    hub = private_hub
    rng = random.Random(23)
    ledger = generate(get_geography(), events=800, seed=23, departement="56", actors=4,
                      prefix=f"txn-{uuid.uuid4().hex[:6]}")  # fmt: skip
    hub.register(ledger.actors)
    txns = asyncio.run(_publish_in_transactions(hub, ledger.events, rng, plain_tail=40))
    assert txns > 40
    _drain_and_check(hub, ledger)
    offsets = asyncio.run(hub.partition_offsets(topics.DEMANDES))
    assert all(end == committed for end, committed in offsets), offsets


@pytest.mark.timeout(600)
def test_aborted_transactions_never_reach_a_feed_and_a_log_ending_on_them_is_committed(
        private_hub: PrivateHub) -> None:  # fmt: skip
    hub, geo = private_hub, get_geography()
    rng = random.Random(31)
    prefix = f"abort-{uuid.uuid4().hex[:6]}"
    ledger = generate(geo, events=600, seed=31, departement="86", actors=4, prefix=prefix)
    owned = {e["numUnique"] for e in ledger.events}
    # demands of the same territory that upstream never commits
    other = generate(geo, events=160, seed=32, departement="86", actors=1, prefix=f"{prefix}-x")
    phantoms = [e for e in other.events if e["operation"] == "CRE" and e["numUnique"] not in owned]
    assert len(phantoms) >= 60
    hub.register(ledger.actors)
    stall_after_s = 6
    worker = Worker({**hub.env, "HUB_MONITORING__STALL_AFTER_S": str(stall_after_s)},
                    hub.home / f"worker-abort-{uuid.uuid4().hex[:4]}.log")  # fmt: skip
    worker.start()
    hub.workers.append(worker)
    try:
        # the final aborted transaction touches every partition (keys spread over them)
        asyncio.run(_publish_in_transactions(hub, ledger.events, rng, aborted=phantoms,
                                             aborted_last=24))  # fmt: skip
        hub.wait_drained(180)
        assert worker.alive(), f"worker died: {worker.log}"
        hold_healthy(worker, stall_after_s + 4)  # past a stall's delay
    finally:
        worker.signal(signal.SIGTERM)
    feeds = asyncio.run(read_feeds(hub.settings, [a.id for a in ledger.actors]))
    leaked = {r["numUnique"] for records in feeds.values() for r in records
              } & {e["numUnique"] for e in phantoms}  # fmt: skip
    assert not leaked, f"{len(leaked)} demands of aborted transactions reached a feed"
    figures = check(ledger, feeds)
    assert figures.owed > 0 and figures.ok, figures.as_dict()
    offsets = asyncio.run(hub.partition_offsets(topics.DEMANDES))
    assert all(end == committed for end, committed in offsets), offsets


@pytest.mark.timeout(600)
def test_batches_compressed_with_every_codec_are_read(private_hub: PrivateHub) -> None:
    hub = private_hub
    ledger = generate(get_geography(), events=400, seed=41, departement="87", actors=3,
                      prefix=f"codec-{uuid.uuid4().hex[:6]}")  # fmt: skip
    hub.register(ledger.actors)
    codecs = ("gzip", "snappy", "lz4", "zstd")
    codec = get_codec()

    async def publish() -> None:
        step = -(-len(ledger.events) // len(codecs))
        for i, compression in enumerate(codecs):  # in order: a demand's events stay ordered
            producer = AIOKafkaProducer(**{**producer_options(hub.settings),
                                           "compression_type": compression, "linger_ms": 50})
            await producer.start()
            try:
                sent = [await producer.send(topics.DEMANDES, codec.encode("DemandeEvent", ev),
                                            key=str(ev["numUnique"]).encode())
                        for ev in ledger.events[i * step:(i + 1) * step]]
                await producer.flush()
                assert all(f.done() and not f.exception() for f in sent)
            finally:
                await producer.stop()

    asyncio.run(publish())
    _drain_and_check(hub, ledger)
