"""The audit's suspicion "too many dead letters in a row", on the faults lane's private
broker: a worker that stops on ``worker.max_consecutive_dead_letters`` commits nothing of
the run; restarted, it reads the same records and stops at the same one (the documented
restart loop, the signal), but it used to write the whole run to ``hub.dlq`` again at every
restart. Now each refused record has one letter however many times the worker restarts,
and a worker with a cap above the run dead-letters the rest and goes on.

The bad records are shapes of the Kafka record model no hub producer writes (null value,
no key, random bytes, an unknown schema fingerprint, a value above the size limit).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaProducer

from dispatch.ports import partition_of
from hub.core import topics
from hub.core.kafka.client import producer_options
from hub.services.dlq import read_letters
from reliability.cluster import PrivateHub, Worker, health
from schemas import get_codec
from tests.support.demandes import demande_event, new_num_unique

pytestmark = [pytest.mark.kafka, pytest.mark.faults]

CAP = 3


def _bad_records(rng: random.Random) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of five records every worker refuses, one of each shape."""
    return [
        (b"k-tombstone", None),
        (None, rng.randbytes(40)),
        (b"k-random", rng.randbytes(rng.randint(1, 300))),
        (b"k-fingerprint", b"\xc3\x01" + rng.randbytes(8) + rng.randbytes(30)),
        (b"k-oversize", rng.randbytes(300_000)),
    ]


async def _publish(hub: PrivateHub, records: list[tuple[bytes | None, bytes | None]]) -> list[int]:
    producer = AIOKafkaProducer(**producer_options(hub.settings), max_request_size=1 << 20)
    await producer.start()
    try:
        return [(await producer.send_and_wait(topics.DEMANDES, value, key=key,
                                              partition=0)).offset
                for key, value in records]  # fmt: skip
    finally:
        await producer.stop()


def _letters_of(hub: PrivateHub, offsets: list[int]) -> Counter[int]:
    letters = asyncio.run(read_letters(hub.settings))
    return Counter(x.body["sourceOffset"] for x in letters
                   if x.unreadable is None and x.source[:2] == (topics.DEMANDES, 0)
                   and x.body["sourceOffset"] in offsets)  # fmt: skip


def _capped(hub: PrivateHub, name: str) -> Worker:
    # (a short shutdown: a stopping worker gives up the batch that stopped it sooner)
    worker = Worker({**hub.env, "HUB_WORKER__MAX_CONSECUTIVE_DEAD_LETTERS": str(CAP),
                     "HUB_WORKER__SHUTDOWN_TIMEOUT_S": "3"},
                    hub.home / f"worker-{name}-{uuid.uuid4().hex[:4]}.log")  # fmt: skip
    worker.start()
    hub.workers.append(worker)
    return worker


@pytest.mark.timeout(600)
def test_a_worker_restarted_on_the_cap_stops_again_without_writing_its_letters_twice(
        private_hub: PrivateHub) -> None:  # fmt: skip
    hub = private_hub
    first = _capped(hub, "cap-1")
    try:
        port, deadline = int(first.env["HUB_WORKER__WEB_PORT"]), time.monotonic() + 180
        while not ((h := health(port))[0] == 200 and h[1].get("partitions")):  # joined
            assert first.alive() and time.monotonic() < deadline, first.log.read_text()[-3000:]
            time.sleep(1)
        # a valid event first: the count of refusals in a row starts at the bad records
        num = next(n for n in iter(new_num_unique, None) if partition_of(n.encode(), 4) == 0)
        good = (num.encode(), get_codec().encode("DemandeEvent", demande_event(num, ["76540"])))
        offsets = asyncio.run(_publish(hub, [good, *_bad_records(random.Random(11))]))[1:]
        assert first.proc is not None and first.proc.wait(timeout=180) != 0
    finally:
        first.signal(signal.SIGKILL)
    once = _letters_of(hub, offsets)
    assert once == Counter(offsets[:CAP]), once  # the run up to the cap, then the stop
    for n in (2, 3):  # the restart loop: the same stop each time, no letter written again
        again = _capped(hub, f"cap-{n}")
        try:
            assert again.proc is not None and again.proc.wait(timeout=180) != 0
            log = again.log.read_text(errors="replace")
            assert f"{topics.DEMANDES}/0@{offsets[CAP - 1]}" in log, log[-3000:]
        finally:
            again.signal(signal.SIGKILL)
        assert _letters_of(hub, offsets) == once
    # a cap above the run: the rest is dead-lettered, each record once, and it goes on
    normal = hub.start_worker()
    try:
        hub.wait_drained(180)
        deadline = time.monotonic() + 60
        while _letters_of(hub, offsets) != Counter(offsets) and time.monotonic() < deadline:
            time.sleep(1)
        assert _letters_of(hub, offsets) == Counter(offsets)
        assert normal.alive()
    finally:
        normal.signal(signal.SIGTERM)
