"""Depth-1 pipelining (dispatch.pipeline): batch k+1 is decided and sent while batch k
waits for its acknowledgements, without weakening any guarantee."""

from __future__ import annotations

import asyncio
from typing import Any

from dispatch.pipeline import Pipeline
from dispatch.processor import BatchStats, InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemoryStore

ROUEN = "76540"


class HeldSender:
    """Acknowledgements resolved by the test: ``acks[i]`` belongs to ``sent[i]``."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        self.sent.append((topic, value))
        return fut


def _setup(geography: Any, codec: Any, actors: tuple[str, ...] = ("a1",),
           ) -> tuple[Processor, MemoryStore, HeldSender, list[Any]]:  # fmt: skip
    index = TerritoryIndex(geography, [
        Actor(id=a, name=a, kind="bailleur", version=1, profile="consultant_simple",
              filters=ActorFilters(communes=[ROUEN])) for a in actors])  # fmt: skip
    store, sender = MemoryStore(1), HeldSender()
    return Processor(index, codec, store, sender), store, sender, []


def _rec(codec: Any, num: str, operation: str, offset: int) -> InputRecord:
    value = codec.encode("DemandeEvent", demande_event(num, [ROUEN], operation=operation))
    return InputRecord(topics.DEMANDES, 0, offset, num.encode(), value)


async def _spin(n: int = 30) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_next_batch_is_sent_before_previous_is_acknowledged(geography: Any, codec: Any) -> None:
    proc, store, sender, settled = _setup(geography, codec)
    num = new_num_unique()

    def on_settled(stats: BatchStats, token: Any) -> None:
        settled.append((token, store.get(num.encode(), 0) is not None))

    async def scenario() -> None:
        pipe = Pipeline(proc, on_settled)
        await pipe.push([_rec(codec, num, "CRE", 0)], "b1")
        assert len(sender.sent) == 1 and settled == [] and store.get(num.encode(), 0) is None
        push2 = asyncio.create_task(pipe.push([_rec(codec, num, "MOD", 1)], "b2"))
        await _spin()
        # b2 is decided on b1's unsettled state and already sent; it waits for b1's ack
        assert len(sender.sent) == 2 and not push2.done()
        sender.acks[0].set_result(None)
        await push2
        assert settled == [("b1", True)]
        sender.acks[1].set_result(None)
        await pipe.drain()
        assert settled == [("b1", True), ("b2", True)]

    asyncio.run(scenario())
    versions = [codec.decode_as(v, "FeedRecord")["demandeVersion"] for _, v in sender.sent]
    assert versions == [1, 2]


def test_a_failed_batch_is_sent_again_and_the_next_one_after_it(
        geography: Any, codec: Any) -> None:
    proc, store, sender, settled = _setup(geography, codec)
    num = new_num_unique()

    async def scenario() -> None:
        pipe = Pipeline(proc, lambda stats, token: settled.append(token))
        await pipe.push([_rec(codec, num, "CRE", 0)], "b1")
        push2 = asyncio.create_task(pipe.push([_rec(codec, num, "MOD", 1)], "b2"))
        await _spin()
        sender.acks[0].set_exception(ConnectionError("broker gone"))
        sender.acks[1].set_result(None)  # b2 went through, but before b1's resend
        while len(sender.acks) < 3:
            await asyncio.sleep(0)
        assert settled == []  # b1 not settled before its resend is acknowledged
        sender.acks[2].set_result(None)
        await push2
        while len(sender.acks) < 4:  # b2 is sent again after b1's resend
            await asyncio.sleep(0)
        sender.acks[3].set_result(None)
        await pipe.drain()

    asyncio.run(scenario())
    assert settled == ["b1", "b2"]
    versions = [codec.decode_as(v, "FeedRecord")["demandeVersion"] for _, v in sender.sent]
    assert versions == [1, 2, 1, 2]  # the feed ends with the newest version
    assert store.get(num.encode(), 0) is not None


def test_close_gives_up_a_batch_never_acknowledged(geography: Any, codec: Any) -> None:
    """A stopping worker whose broker is gone: ``close`` returns within its limit, the
    batch's state is not stored and its inputs are not released for commit (so they are
    dispatched again at restart); a batch acknowledged in time is settled as usual."""
    proc, store, sender, settled = _setup(geography, codec)
    num, other = new_num_unique(), new_num_unique()

    async def scenario() -> None:
        pipe = Pipeline(proc, lambda stats, token: settled.append(token))
        await pipe.push([_rec(codec, num, "CRE", 0)], "held")
        await _spin()
        assert await pipe.close(0.05) is False  # its acknowledgement never comes
        await pipe.push([_rec(codec, other, "CRE", 1)], "acked")
        await _spin()
        for fut in sender.acks[1:]:
            fut.set_result(None)
        assert await pipe.close(5) is True

    asyncio.run(scenario())
    assert settled == ["acked"]
    assert store.get(num.encode(), 0) is None
    assert store.get(other.encode(), 0) is not None


def test_after_a_refusal_by_one_feed_only_that_feed_gets_both_batches_again(
        geography: Any, codec: Any) -> None:  # fmt: skip
    """Audit S, S-F2: b1 refused by a1's feed only; b2 (sent meanwhile) acknowledged by
    both. b1's a1 record is sent again, then b2's a1 record after it (a1's feed ends with
    the newest version); a2's feed gets nothing twice."""
    proc, _store, sender, settled = _setup(geography, codec, ("a1", "a2"))
    num = new_num_unique()

    async def scenario() -> None:
        pipe = Pipeline(proc, lambda stats, token: settled.append(token))
        await pipe.push([_rec(codec, num, "CRE", 0)], "b1")
        push2 = asyncio.create_task(pipe.push([_rec(codec, num, "MOD", 1)], "b2"))
        await _spin()
        sender.acks[0].set_exception(ConnectionError("MESSAGE_TOO_LARGE"))  # b1 -> a1
        for ack in sender.acks[1:4]:
            ack.set_result(None)
        while len(sender.acks) < 5:
            await asyncio.sleep(0)
        sender.acks[4].set_result(None)
        await push2
        while len(sender.acks) < 6:
            await asyncio.sleep(0)
        sender.acks[5].set_result(None)
        await pipe.drain()

    asyncio.run(asyncio.wait_for(scenario(), 10))  # a resend of the wrong records: stuck
    assert settled == ["b1", "b2"]
    sent = [(topic, codec.decode_as(v, "FeedRecord")["demandeVersion"]) for topic, v in sender.sent]
    a1, a2 = topics.feed_topic("a1"), topics.feed_topic("a2")
    assert sent == [(a1, 1), (a2, 1), (a1, 2), (a2, 2), (a1, 1), (a1, 2)]
