"""Depth-1 pipelining of dispatch batches: batch k+1 is read, decided and sent while the
broker still writes batch k.

Unpipelined, a worker alternates between its own CPU work and waiting for the broker's
acknowledgements, so on a small machine the two never run at the same time. Here
:meth:`Pipeline.push` submits a batch (``Processor.submit``) and leaves its settlement
(acknowledgements awaited, states stored, inputs acknowledged to faust) to a background
task; the next push first waits for that task, so at most one batch is unsettled while
the next is prepared. Guarantees are unchanged:

* a batch's states are stored, and its inputs released for commit (``on_settled``), only
  after every output of the batch was acknowledged;
* batches settle in order; when one had to be sent again (a failed acknowledgement) to
  some topics, the next one's outputs to those topics are sent again after it, so every
  actor's feed ends in the newest version (``Processor.settle``'s ``after``);
* :meth:`Pipeline.drain` settles what is in flight (rebalance, end of stream);
  :meth:`Pipeline.close` does it within a time limit (stop): a batch given up there was
  not stored nor committed, so it is dispatched again at restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dispatch.processor import BatchStats, InputRecord, Processor, Submitted
from dispatch.shutdown import bounded

#: called once a batch is settled, with its stats and the token given to ``push``
OnSettled = Callable[[BatchStats, Any], Awaitable[None] | None]


class Pipeline:
    def __init__(self, processor: Processor, on_settled: OnSettled) -> None:
        self.processor = processor
        self.on_settled = on_settled
        self._task: asyncio.Task[frozenset[str]] | None = None

    async def push(self, records: Sequence[InputRecord], token: Any = None) -> None:
        """Submit ``records``; settle the previous batch; settle this one in the
        background. Raises what submitting or settling the previous batch raised."""
        sub = await self.processor.submit(records)
        after = await self.drain()
        self._task = asyncio.create_task(self._settle(sub, token, after))

    async def drain(self) -> frozenset[str]:
        """Wait until the batch in flight (if any) is settled; the topics it was sent
        again to (empty: none)."""
        task, self._task = self._task, None
        return frozenset() if task is None else await task

    async def close(self, timeout: float) -> bool:
        """:meth:`drain` within ``timeout`` s; past it, cancel the settlement and return
        False (the batch's states are not stored, its inputs not released for commit)."""
        return await bounded("the batch in flight", self.drain(), timeout)

    async def _settle(self, sub: Submitted, token: Any, after: frozenset[str]) -> frozenset[str]:
        resent = await self.processor.settle(sub, after=after)
        done = self.on_settled(sub.stats, token)
        if done is not None:
            await done
        return resent
