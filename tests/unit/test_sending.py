"""Outputs are acknowledged before a demand's state is stored (dispatch.sending).

The sender here hands back acknowledgement futures the test resolves itself: a processor
that stored state on enqueue (not on acknowledgement) would lose feed records on a crash,
because the replayed input would be recognised as already done."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatch.processor import InputRecord, Processor
from dispatch.sending import (
    DeliveryError,
    send_all,
    to_send_again,
    until_acknowledged,
    wait_acks,
)
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


# -- audit S, S-F2 / S-F7: what is sent again after a refusal, and the sender recovered ------


def test_only_what_a_topic_did_not_acknowledge_is_sent_again() -> None:
    outs = [("t1", b"1", b"a"), ("t2", b"1", b"b"), ("t1", b"2", b"c"), ("t2", b"2", b"d"),
            ("t3", b"3", b"e")]  # fmt: skip
    # t1 failed at its first output: all of t1 from there (the acked "c" too, in order)
    assert to_send_again(outs, [0]) == [outs[0], outs[2]]
    # t2 failed at its second only: its first was written, in order; t1, t3 untouched
    assert to_send_again(outs, [3]) == [outs[3]]
    # a topic an earlier batch was sent again to: all of its outputs follow it again
    assert to_send_again(outs, [3], {"t3"}) == [outs[3], outs[4]]
    assert to_send_again(outs, (), {"t1"}) == [outs[0], outs[2]]
    assert to_send_again(outs, None) == outs  # failures unknown: everything


class RecoveringSender(HeldSender):
    """A HeldSender that must be recovered after a failure (as the idempotent producer)."""

    def __init__(self) -> None:
        super().__init__()
        self.recovered_at: list[int] = []  # how many records were sent by then

    async def recover(self) -> None:
        self.recovered_at.append(len(self.acks))


def test_a_refused_feed_gets_its_records_again_and_the_others_not(
        geography: Any, codec: Any, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    index = TerritoryIndex(geography, [
        Actor(id=a, name=a, kind="bailleur", version=1, profile="consultant_simple",
              filters=ActorFilters(communes=[ROUEN])) for a in ("a1", "a2")])  # fmt: skip
    store, sender = MemoryStore(1), RecoveringSender()
    proc = Processor(index, codec, store, sender)
    key, record = _record(codec)

    async def scenario() -> frozenset[str]:
        sub = await proc.submit([record])
        sender.acks[0].set_exception(RuntimeError("MessageSizeTooLargeError"))  # a1 refuses
        sender.acks[1].set_result(None)  # a2 acknowledges
        settle = asyncio.create_task(proc.settle(sub))
        while len(sender.acks) < 3:
            await asyncio.sleep(0)
        sender.acks[2].set_result(None)
        return await settle

    with caplog.at_level("WARNING", logger="dispatch.processor"):
        resent = asyncio.run(scenario())
    assert resent == {topics.feed_topic("a1")}
    assert sender.topics == [topics.feed_topic("a1"), topics.feed_topic("a2"),
                             topics.feed_topic("a1")]  # fmt: skip
    assert sender.recovered_at == [2]  # recovered after the failure, before the resend
    assert store.get(key, 0) is not None
    line = next(r.getMessage() for r in caplog.records if "not acknowledged" in r.getMessage())
    assert "hub.feed.a1 (actor a1)" in line and "a2" not in line, line


def test_the_message_names_every_refusing_topic_and_the_positions() -> None:
    async def scenario() -> DeliveryError:
        loop = asyncio.get_running_loop()
        acks = [loop.create_future() for _ in range(3)]
        acks[0].set_result(None)
        acks[1].set_exception(ConnectionError("refused"))
        acks[2].set_exception(ConnectionError("refused"))
        outs = [("hub.feed.x", None, b""), ("hub.feed.y", None, b""), (topics.DLQ, None, b"")]
        with pytest.raises(DeliveryError) as err:
            await wait_acks(acks, outs)
        return err.value

    err = asyncio.run(scenario())
    assert err.failed == (1, 2) and err.retriable
    assert "2 of 3 outputs" in err.message and "hub.feed.y (actor y)" in err.message
    assert topics.DLQ in err.message and "hub.feed.x" not in err.message
