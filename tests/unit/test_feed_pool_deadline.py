"""Review Q, F-pool-2: FeedPages.read promises TransientError "when the broker fails or
does not answer within timeout_s, the whole read included". The wait for a slot is not
included, nor the consumer's start (a second timeout_s): with a broker that does not
answer, concurrent requests queue behind each other and the n-th answers after about
n/size x timeout_s (a consumer per page answered each within its own timeout). No broker
needed: the bootstrap address is a socket that never answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from hub.core.errors import TransientError
from hub.core.kafka.feed_pool import FeedPages
from hub.core.settings import HubSettings


def test_each_read_answers_within_its_timeout_when_the_broker_is_silent(monkeypatch) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(100)  # connections complete, nothing is ever answered
    monkeypatch.setenv("HUB_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{silent.getsockname()[1]}")
    settings = HubSettings()
    pool = FeedPages(settings, size=1, timeout_s=1.0)

    async def one() -> float:
        t0 = time.monotonic()
        with contextlib.suppress(TransientError):
            await pool.read("someone", 0, 10)
        return time.monotonic() - t0

    async def run() -> list[float]:
        try:
            return list(await asyncio.gather(*(one() for _ in range(4))))
        finally:
            await pool.close()

    took = asyncio.run(run())
    print(took)
    assert max(took) < 2.0, f"answers after {sorted(round(t, 1) for t in took)} s, timeout 1 s"
