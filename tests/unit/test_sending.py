"""Outputs are acknowledged before a demand's state is stored (dispatch.sending).

The sender here hands back acknowledgement futures the test resolves itself: a processor
that stored state on enqueue (not on acknowledgement) would lose feed records on a crash,
because the replayed input would be recognised as already done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatch.processor import InputRecord, Processor
from dispatch.sending import DeliveryError, send_all, until_acknowledged
from hub.core import topics
from hub.core.errors import HubError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemoryStore

ROUEN = "76540"


class HeldSender:
    """Every send returns a future the test resolves (ack) or fails (broker error)."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []
        self.topics: list[str] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        self.topics.append(topic)
        return fut


def _world(geography: Any, codec: Any) -> tuple[Processor, MemoryStore, HeldSender]:
    index = TerritoryIndex(geography, [
        Actor(id=a, name=a, kind="bailleur", version=1, profile="consultant_simple",
              filters=ActorFilters(communes=[ROUEN])) for a in ("a1", "a2")])
    store, sender = MemoryStore(1), HeldSender()
    return Processor(index, codec, store, sender), store, sender


def _record(codec: Any) -> tuple[bytes, InputRecord]:
    num = new_num_unique()
    value = codec.encode("DemandeEvent", demande_event(num, [ROUEN]))
    return num.encode(), InputRecord(topics.DEMANDES, 0, 0, num.encode(), value)


def test_state_is_stored_only_after_every_ack(geography: Any, codec: Any) -> None:
    proc, store, sender = _world(geography, codec)
    key, record = _record(codec)

    async def scenario() -> None:
        task = asyncio.create_task(proc.process([record]))
        while len(sender.acks) < 2:
            await asyncio.sleep(0)
        sender.acks[0].set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not task.done() and store.get(key, 0) is None  # one ack still missing
        sender.acks[1].set_result(None)
        stats = await task
        assert stats.events == 1 and store.get(key, 0) is not None

    asyncio.run(scenario())
    assert sender.topics == [topics.feed_topic("a1"), topics.feed_topic("a2")]


def test_a_failed_delivery_stores_nothing_and_is_retriable(geography: Any, codec: Any) -> None:
    proc, store, sender = _world(geography, codec)
    key, record = _record(codec)

    async def scenario() -> None:
        task = asyncio.create_task(proc.process([record]))
        while len(sender.acks) < 2:
            await asyncio.sleep(0)
        sender.acks[0].set_result(None)
        sender.acks[1].set_exception(TimeoutError("broker gone"))
        with pytest.raises(DeliveryError) as err:
            await task
        assert err.value.retriable and "broker gone" in err.value.message

    asyncio.run(scenario())
    assert store.get(key, 0) is None  # replayed as new: the same records again


def test_send_all_of_nothing_sends_nothing() -> None:
    asyncio.run(send_all(HeldSender(), []))


def test_a_failed_batch_is_run_again_until_acknowledged(geography: Any, codec: Any) -> None:
    proc, store, sender = _world(geography, codec)
    key, record = _record(codec)
    slept: list[float] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)

    async def broker() -> None:  # fails the first two deliveries, acks the rest
        seen = 0
        while store.get(key, 0) is None:
            while seen < len(sender.acks):
                fut = sender.acks[seen]
                if seen < 2:
                    fut.set_exception(ConnectionError("down"))
                else:
                    fut.set_result(None)
                seen += 1
            await asyncio.sleep(0)

    async def scenario() -> None:
        b = asyncio.create_task(broker())
        await until_acknowledged(lambda: proc.process([record]), sleep=fake_sleep)
        await b

    asyncio.run(scenario())
    assert slept == [0.5]  # first attempt failed (both of its acks), second went through
    assert store.get(key, 0) is not None and len(sender.acks) == 4


def test_a_non_retriable_error_is_not_retried() -> None:
    async def bad() -> None:
        raise HubError("bad input")

    with pytest.raises(HubError):
        asyncio.run(until_acknowledged(bad, sleep=lambda s: asyncio.sleep(0)))
