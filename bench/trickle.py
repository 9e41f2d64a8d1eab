"""A trickle of regular demand events during a W4 scenario, and its end-to-end latency.

New demands of one département are published at a fixed rate to ``hub.demandes``; the feed
of an actor over that département is read meanwhile. Latency of one event = the time the
harness read its feed record − the time the harness sent it (both on this host's clock).
Events are generated in small chunks ahead of their send time; a send behind schedule is
counted (``late_sends``) and measured from its real send time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition

from bench.data import demand_events
from bench.harness import consumer, producer
from bench.ledger import HeadReader
from bench.stock import Demand, Stock
from bench.workloads import _quantiles
from hub.core import topics
from hub.domain.geo import Geography
from schemas import get_codec


class Trickle:
    """Start with :meth:`start`, end with :meth:`stop` (which waits for the stragglers)."""

    def __init__(self, bootstrap: str, geo: Geography, departement: str, feed_actor: str,
                 rate: float, seed: int, stock: Stock) -> None:  # fmt: skip
        self.bootstrap, self.geo, self.departement = bootstrap, geo, departement
        self.feed = topics.feed_topic(feed_actor)
        self.rate, self.seed, self.stock = rate, seed, stock
        self.codec = get_codec()
        #: called with each demand sent (the scenario counts what it owes its actors)
        self.on_send: Callable[[Demand], None] = lambda d: None
        self.sent: dict[str, float] = {}  # numUnique -> monotonic send time
        self.latencies: list[float] = []
        self.late = 0
        self._chunks = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._stop.clear()
        self.sent, self.latencies, self.late = {}, [], 0
        self._cons = consumer(self.bootstrap)
        await self._cons.start()
        tp = TopicPartition(self.feed, 0)
        self._cons.assign([tp])
        await self._cons.seek_to_end(tp)
        await self._cons.position(tp)
        self._prod = producer(self.bootstrap)
        await self._prod.start()
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._read())]

    def _next_chunk(self) -> list[dict[str, Any]]:
        self._chunks += 1
        return list(demand_events(50, self.seed * 1000 + self._chunks, self.geo,
                                  [self.departement]))  # fmt: skip

    async def _send(self) -> None:
        pending: list[dict[str, Any]] = []
        futs = []
        t0, i = time.monotonic(), 0
        while not self._stop.is_set():
            if not pending:
                # a numéro unique already published would be a second event of that
                # demand (its copy and this delivery both owed, or either): never reused
                pending = [e for e in self._next_chunk() if e["numUnique"] not in self.sent
                           and e["numUnique"] not in self.stock.by_num]  # fmt: skip
                continue
            event = pending.pop()
            due = t0 + i / self.rate
            i += 1
            wait = due - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                    break
                except TimeoutError:
                    pass
            elif wait < -0.01:
                self.late += 1
            value = self.codec.encode("DemandeEvent", event)
            self.on_send(self.stock.add(event))
            self.sent[event["numUnique"]] = time.monotonic()
            futs.append(await self._prod.send(topics.DEMANDES, value,
                                              key=event["numUnique"].encode()))  # fmt: skip
        await asyncio.gather(*futs)

    async def _read(self) -> None:
        reader = HeadReader(self.codec)
        while True:
            batch = await self._cons.getmany(timeout_ms=100, max_records=500)
            now = time.monotonic()
            for msgs in batch.values():
                for m in msgs:
                    sent = self.sent.pop(reader.read(m.value).num_unique, None)
                    if sent is not None:
                        self.latencies.append((now - sent) * 1000)

    async def stop(self, drain_s: float = 120) -> dict[str, Any]:
        """Stop sending; wait (up to ``drain_s``) for every event sent; the figures."""
        self._stop.set()
        sender, reader = self._tasks
        await sender
        deadline = time.monotonic() + drain_s
        while self.sent and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await self._prod.stop()
        await self._cons.stop()
        lat = sorted(self.latencies)
        return {"rate": self.rate, "events": len(lat) + len(self.sent),
                "not_received": len(self.sent), "late_sends": self.late,
                "latency_ms": _quantiles(lat)}  # fmt: skip
