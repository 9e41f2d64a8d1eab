"""Publishing what the gestion partagée store owes to ``hub.evenements``, in store order per
demand, recording each acknowledgement (``gp_unpublished``, :mod:`hub.stores.gp.store`).

Contracts:

* :meth:`Publication.flush` publishes, for the demands ``nums``, every event the store
  owes, in store order, then the records ``also`` that are not owed (re-sent events Kafka
  acknowledged before: published again); each after the previous one's acknowledgement.
  It stops at the first failure, so a demand's later event never overtakes an earlier one
  owed, records the acknowledgements it got, and raises
  :class:`~hub.core.errors.TransientError`.
* :meth:`Publication.republish` flushes the demands that owe events longest (up to
  ``demands`` of them); it is what ``hub api`` runs at startup and periodically
  (:mod:`hub.services.gp_republish`), so nothing stored stays unpublished for want of a
  client's retry.
* In one process, one flush at a time per demand (an asyncio lock per demand and event
  loop), reading what is owed under that lock: a request and the background republisher
  neither send one event twice nor out of order. Two processes on one database (two
  ``hub api``) may both send an event: at least once; consumers deduplicate by
  ``eventId``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Protocol

from hub.stores.gp.store import GPStore
from schemas import get_codec


class Publisher(Protocol):
    """Produces one message and waits for the broker's acknowledgement."""

    def publish(self, topic: str, key: bytes, value: bytes) -> Awaitable[None]: ...


class DemandLocks:
    """asyncio locks per (event loop, demand), forgotten when nobody holds nor awaits one."""

    def __init__(self) -> None:
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._users: Counter[tuple[int, str]] = Counter()

    @asynccontextmanager
    async def hold(self, nums: Iterable[str]) -> AsyncIterator[None]:
        # keyed by loop too: an asyncio lock serves one loop, and tests or callers may run
        # one service from several threads, each with its own loop
        loop = id(asyncio.get_running_loop())
        async with AsyncExitStack() as stack:
            for num in sorted(set(nums)):  # one order for every holder: no deadlock
                key = (loop, num)
                self._users[key] += 1
                stack.callback(self._leave, key)
                await stack.enter_async_context(self._locks.setdefault(key, asyncio.Lock()))
            yield

    def _leave(self, key: tuple[int, str]) -> None:
        self._users[key] -= 1
        if self._users[key] <= 0:
            del self._users[key]
            self._locks.pop(key, None)


class Publication:
    def __init__(self, store: GPStore, publisher: Publisher, topic: str) -> None:
        self.store = store
        self.publisher = publisher
        self.topic = topic
        self.locks = DemandLocks()

    async def flush(self, nums: Iterable[str], also: Sequence[dict[str, Any]] = ()) -> int:
        """Publish what ``nums`` owe, then ``also`` (module doc); how many were sent."""
        wanted = sorted(set(nums))
        async with self.locks.hold(wanted):
            owed = await asyncio.to_thread(self.store.unpublished, wanted)
            known = {r["eventId"] for r in owed}
            todo = owed + [r for r in also if r["eventId"] not in known]
            await self._send(todo)
        return len(todo)

    async def republish(self, demands: int = 100) -> int:
        """Flush the ``demands`` demands owing events longest (module doc); how many
        events were sent (0: nothing was owed)."""
        sent = 0
        for num in await asyncio.to_thread(self.store.unpublished_demands, demands):
            sent += await self.flush([num])
        return sent

    async def _send(self, records: list[dict[str, Any]]) -> None:
        codec = get_codec()
        acknowledged: list[str] = []
        try:
            for r in records:
                value = codec.encode("EvenementGP", r)
                await self.publisher.publish(self.topic, r["numUnique"].encode(), value)
                acknowledged.append(r["eventId"])
        finally:
            # what Kafka acknowledged is recorded even when a later send failed; a crash
            # before this line publishes those again later (at least once)
            if acknowledged:
                await asyncio.to_thread(self.store.mark_published, acknowledged)
