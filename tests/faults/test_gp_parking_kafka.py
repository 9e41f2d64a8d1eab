"""A gestion partagée event published before its demand, through a real broker and a real
``hub worker`` (private broker): the actor's feed has the demand, then the event, once;
also when the worker is killed (``kill -9``) between the two publications and another one
takes over from the changelog (dispatch/parking.py).

The events are made from the specification (tests.support.spec_events and
tests.support.spec_evenements) and written by fastavro, as an independent producer would.
The demand is published only once the dispatch group has committed the GP event: the
worker read it first (the case that used to reach nobody), and the restarted worker does
not read it again.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from dispatch.ports import partition_of
from hub.core import topics
from hub.core.kafka.client import producer_options
from hub.domain.actors import Actor, ActorFilters
from reliability.checker import read_feeds
from reliability.cluster import PrivateHub, Worker
from tests.support.demandes import new_num_unique
from tests.support.spec_evenements import spec_bytes, spec_evenement
from tests.support.spec_events import spec_event, wished_communes

pytestmark = [pytest.mark.kafka, pytest.mark.faults]
HERE = wished_communes()[0]


async def _publish_gp(hub: PrivateHub, evenement: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(**producer_options(hub.settings))
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.EVENEMENTS, spec_bytes(evenement), key=evenement["numUnique"].encode()
        )
    finally:
        await producer.stop()


def _committed(hub: PrivateHub, worker: Worker, num: str, timeout: float = 180) -> None:
    """Wait until the dispatch group committed everything on ``num``'s hub.evenements
    partition (the worker decided the event and stored what it left)."""
    partition = partition_of(num.encode(), hub.settings.kafka.partitions)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.alive(), f"worker died: {worker.log}"
        try:
            end, done = asyncio.run(hub.partition_offsets(topics.EVENEMENTS))[partition]
        except Exception:  # a new broker's group coordinator, not elected yet
            end, done = 0, 0
        if end > 0 and done >= end:
            return
        time.sleep(0.5)
    raise AssertionError(f"hub.evenements/{partition} not committed; log: {worker.log}")


def _feed_of(
    hub: PrivateHub, actor: str, num: str, worker: Worker, timeout: float = 180
) -> list[tuple[str, str]]:
    """(kind, eventId) of ``num``'s records on ``actor``'s feed, once both kinds are there."""
    deadline = time.monotonic() + timeout
    mine: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        assert worker.alive(), f"worker died: {worker.log}"
        feed = asyncio.run(read_feeds(hub.settings, [actor]))[actor]
        mine = [(r["kind"], r["eventId"]) for r in feed if r["numUnique"] == num]
        if {"DEMANDE", "EVENEMENT"} <= {kind for kind, _ in mine}:
            time.sleep(2)  # a duplicate would come right behind
            feed = asyncio.run(read_feeds(hub.settings, [actor]))[actor]
            return [(r["kind"], r["eventId"]) for r in feed if r["numUnique"] == num]
        time.sleep(1)
    return mine


def _actor(hub: PrivateHub, tag: str) -> str:
    actor = Actor(
        id=f"park-{tag}-{uuid.uuid4().hex[:6]}",
        name=tag,
        kind="bailleur",
        filters=ActorFilters(communes=[HERE]),
    )
    hub.register([actor])
    return actor.id


@pytest.mark.timeout(600)
def test_an_event_published_before_its_demand_reaches_the_holder_after_it(
    private_hub: PrivateHub,
) -> None:
    hub = private_hub
    actor = _actor(hub, "order")
    worker = hub.start_worker()
    try:
        num = new_num_unique()
        evenement = spec_evenement(num, "DESIGCAL")
        asyncio.run(_publish_gp(hub, evenement))
        _committed(hub, worker, num)  # read and decided before the demand exists
        creation = spec_event(num, [HERE])
        asyncio.run(hub.publish([creation]))
        got = _feed_of(hub, actor, num, worker)
    finally:
        worker.signal(signal.SIGTERM)
    assert got == [("DEMANDE", creation["eventId"]), ("EVENEMENT", evenement["eventId"])]


@pytest.mark.timeout(600)
def test_a_kill9_between_the_event_and_its_demand_still_delivers_it(
    private_hub: PrivateHub,
) -> None:
    hub = private_hub
    actor = _actor(hub, "kill9")
    first = hub.start_worker()
    num = new_num_unique()
    evenement = spec_evenement(num, "VISPROP")
    try:
        asyncio.run(_publish_gp(hub, evenement))
        _committed(hub, first, num)  # parked, stored, its offset committed
    finally:
        first.signal(signal.SIGKILL)
    creation = spec_event(num, [HERE])
    asyncio.run(hub.publish([creation]))
    # another web port: another local store, rebuilt from the changelog
    second = hub.start_worker()
    try:
        got = _feed_of(hub, actor, num, second)
    finally:
        second.signal(signal.SIGTERM)
    assert got == [("DEMANDE", creation["eventId"]), ("EVENEMENT", evenement["eventId"])]
