"""The start of hub.demandes' log moved past the dispatch group's committed offsets while
no worker ran, on a private broker.

hub.demandes keeps the broker's default retention (7 days): a worker stopped for longer
over a partition, or an operator's DeleteRecords, removes records the group never read.
Legal in the Kafka record model; those records are lost to the hub whatever it does (the
SNE still holds the demands), but nothing after them may be: the worker must read on from
the new start, commit, and say what was lost.

Each test uses a département no other test on the session's shared hub publishes to.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from hub.core import topics
from hub.core.kafka.client import client_options, producer_options
from hub.domain.geo import get_geography
from monitoring.offsets import GroupOffsets, Probed
from reliability.checker import check, read_feeds
from reliability.cluster import APP_ID, PrivateHub, Worker, health, hold_healthy
from reliability.ledger import generate
from schemas import get_codec

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

Event = dict[str, Any]


def _tps(hub: PrivateHub) -> list[TopicPartition]:
    return [TopicPartition(topics.DEMANDES, p) for p in range(hub.settings.kafka.partitions)]


async def _ends(hub: PrivateHub) -> list[int]:
    consumer = AIOKafkaConsumer(**client_options(hub.settings), group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(_tps(hub))
        return [ends[tp] for tp in _tps(hub)]
    finally:
        await consumer.stop()


async def _committed(hub: PrivateHub, group: str) -> list[int | None]:
    admin = AIOKafkaAdminClient(**client_options(hub.settings))
    await admin.start()
    try:
        done = await admin.list_consumer_group_offsets(group)
        return [done[tp].offset if tp in done else None for tp in _tps(hub)]
    finally:
        await admin.close()


async def _probe_all(hub: PrivateHub, committed: list[int]) -> list[Probed]:
    """The sensor's probe of each partition of hub.demandes from ``committed``."""
    offsets = GroupOffsets(hub.settings, APP_ID, timeout_s=10)
    try:
        ends = await _ends(hub)
        found = [await offsets.first_record((topics.DEMANDES, p), c, e)
                 for p, (c, e) in enumerate(zip(committed, ends, strict=True))]  # fmt: skip
    finally:
        await offsets.close()
    assert all(f is not None for f in found), found
    return [f for f in found if f is not None]


async def _delete_up_to_the_end(hub: PrivateHub) -> list[int]:
    """DeleteRecords of everything hub.demandes holds now (what retention does to records
    older than ``retention.ms``); the new log start offsets."""
    ends = await _ends(hub)
    admin = AIOKafkaAdminClient(**client_options(hub.settings))
    await admin.start()
    try:
        done = await admin.delete_records(
            {TopicPartition(topics.DEMANDES, p): RecordsToDelete(end) for p, end in enumerate(ends)}
        )
        return [done[TopicPartition(topics.DEMANDES, p)] for p in range(len(ends))]
    finally:
        await admin.close()


@pytest.mark.timeout(600)
def test_records_removed_before_the_worker_read_them_cost_no_later_event(
        private_hub: PrivateHub) -> None:  # fmt: skip
    hub, geo = private_hub, get_geography()
    prefix = f"gone-{uuid.uuid4().hex[:6]}"
    ledger = generate(geo, events=600, seed=44, departement="44", actors=3, prefix=prefix)
    owned = {e["numUnique"] for e in ledger.events}
    other = generate(geo, events=200, seed=45, departement="44", actors=1, prefix=f"{prefix}-x")
    removed = [e for e in other.events if e["numUnique"] not in owned]
    hub.register(ledger.actors)
    stall_after_s = 6
    env = {**hub.env, "HUB_MONITORING__STALL_AFTER_S": str(stall_after_s)}

    def worker(name: str) -> Worker:
        w = Worker(env, hub.home / f"worker-{name}-{uuid.uuid4().hex[:4]}.log")
        w.start()
        hub.workers.append(w)
        return w

    half = len(ledger.events) // 2
    first = worker("before")
    try:
        asyncio.run(hub.publish(ledger.events[:half]))
        hub.wait_drained(180)
    finally:
        first.signal(signal.SIGTERM)
    # the worker is down: records come, then leave the log before any worker reads them
    asyncio.run(hub.publish(removed))
    starts = asyncio.run(_delete_up_to_the_end(hub))
    committed = [done for _, done in asyncio.run(hub.partition_offsets(topics.DEMANDES))]
    assert all(s > c for s, c in zip(starts, committed, strict=True)), (starts, committed)
    asyncio.run(hub.publish(ledger.events[half:]))
    # the sensor's probe reads from the log's start, below it nothing: never an error
    probed = asyncio.run(_probe_all(hub, committed))
    assert [p.log_start for p in probed] == starts, (probed, starts)
    assert all(p.first == s for p, s in zip(probed, starts, strict=True)), (probed, starts)

    second = worker("after")
    try:
        hub.wait_drained(180)
        assert second.alive(), f"worker died: {second.log}"
        hold_healthy(second, stall_after_s + 4)  # past a stall's delay
    finally:
        second.signal(signal.SIGTERM)
    feeds = asyncio.run(read_feeds(hub.settings, [a.id for a in ledger.actors]))
    figures = check(ledger, feeds)
    assert figures.owed > 0 and figures.ok, figures.as_dict()
    offsets = asyncio.run(hub.partition_offsets(topics.DEMANDES))
    assert all(end == done for end, done in offsets), offsets
    # what was lost is said, and exactly: every removed record counted once
    log = second.log.read_text()
    said = r"read them \(retention.ms or DeleteRecords\): (\d+) record\(s\) lost"
    lost = [int(n) for n in re.findall(said, log)]
    assert sum(lost) == len(removed) and len(lost) <= len(starts), (lost, len(removed))


async def _aborted_everywhere(hub: PrivateHub, events: list[Event]) -> None:
    """One transaction over ``events`` (keys spread over every partition), aborted."""
    producer = AIOKafkaProducer(**{**producer_options(hub.settings), "enable_idempotence": True},
                                transactional_id=f"upstream-{uuid.uuid4().hex[:6]}")  # fmt: skip
    await producer.start()
    try:
        await producer.begin_transaction()
        for ev in events:
            await producer.send(topics.DEMANDES, get_codec().encode("DemandeEvent", ev),
                                key=str(ev["numUnique"]).encode())  # fmt: skip
        await producer.abort_transaction()
    finally:
        await producer.stop()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("then", ["nothing", "an aborted transaction"])
def test_a_new_worker_group_over_a_log_emptied_by_retention_is_healthy(
        private_hub: PrivateHub, then: str) -> None:  # fmt: skip
    """A worker group that never committed (a new group id, or the group deleted by an
    operator) over partitions whose records all left the log: nothing waits, so the lag
    is 0 and ``/health`` stays 200 (a lag counted from offset 0 said "stalled" for ever).
    Then the same over a log that holds, from its first offset, only an aborted
    transaction: the probe reads from the log's first offset when nothing is committed
    (it probed from a committed offset only) and the group commits to the end."""
    hub = private_hub
    demands = generate(get_geography(), events=40, seed=47, departement="44", actors=1,
                       prefix=f"empty-{uuid.uuid4().hex[:6]}").events  # fmt: skip
    asyncio.run(hub.publish(demands))
    starts = asyncio.run(_delete_up_to_the_end(hub))
    assert all(s > 0 for s in starts), starts
    if then != "nothing":
        asyncio.run(_aborted_everywhere(hub, demands))
    stall_after_s = 6
    env = {**hub.env, "HUB_MONITORING__STALL_AFTER_S": str(stall_after_s),
           "HUB_WORKER__APP_ID": f"fresh-{uuid.uuid4().hex[:6]}"}  # fmt: skip
    worker = Worker(env, hub.home / f"worker-fresh-{uuid.uuid4().hex[:4]}.log")
    worker.start()
    hub.workers.append(worker)
    port = int(worker.env["HUB_WORKER__WEB_PORT"])
    try:
        deadline = time.monotonic() + 90
        while health(port)[0] == 0:  # until it listens
            assert time.monotonic() < deadline and worker.alive(), worker.log.read_text()[-3000:]
            time.sleep(0.5)
        if then != "nothing":
            # committed to the end, not only healthy. Waited for before the health is held:
            # the probe reads a partition after probe_after_s (stall_after_s / 3), which on
            # a loaded machine (CI) can end after stall_after_s counted from the
            # assignment, and until then input does wait (a 503 is the truth then)
            ends = asyncio.run(_ends(hub))
            deadline = time.monotonic() + 90
            while (done := asyncio.run(_committed(hub, env["HUB_WORKER__APP_ID"]))) != ends:
                assert time.monotonic() < deadline and worker.alive(), (done, ends)
                time.sleep(0.5)
        hold_healthy(worker, stall_after_s + 6)  # past a stall's delay
    finally:
        worker.signal(signal.SIGTERM)
