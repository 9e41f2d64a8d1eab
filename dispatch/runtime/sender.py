"""The dispatch worker's :class:`~dispatch.sending.Sender`: the aiokafka producer under the
faust app (the one faust's own producer wraps, so the same settings: acks=all,
idempotence, linger, compression) without faust's per-send coroutine and sensor hooks:
two awaits per record instead of four, and no task per record. Private names it reaches
are listed in :mod:`dispatch.runtime.private_names`.

After a failed delivery, :meth:`KafkaSender.recover` gives the producer a new producer id
(audit S, S-F2): aiokafka (0.14) numbers a partition's batches for idempotence when it
drains them and never takes a number back, so once the broker refused one batch
(``MESSAGE_TOO_LARGE``: a feed topic's ``max.message.bytes`` lowered, an authorization
denied...) every later batch of that partition is out of sequence for the broker
(``OutOfOrderSequenceNumber``) for as long as the producer lives, and aiokafka offers no
reset (aio-libs/aiokafka#1017). A new producer id starts every partition's sequence at 0
again, as the Java client's epoch bump does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from aiokafka.producer.transaction_manager import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, PidAndEpoch

from hub.core import topics

log = logging.getLogger(__name__)


class KafkaSender:
    """Sends through the faust app's underlying aiokafka producer (started with the app)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def warm(self, topics: Sequence[str]) -> None:
        """Fetch the metadata of ``topics`` in one request. Otherwise the first send to
        each feed topic waits for its own metadata request, one after the other: 2,000
        round trips, each listing every topic known so far, at the start of a backfill."""
        client = self.app.producer._ensure_producer().client
        known = client.cluster.topics()
        missing = [t for t in topics if t not in known]
        if not missing:
            return
        try:  # one update for all (add_topic would request one per topic)
            await asyncio.wait_for(client.set_topics([*client._topics, *missing]), timeout=30)
        except Exception as exc:  # the sends will ask again, topic by topic
            log.warning("feed topic metadata not fetched (%s): fetched on first send", exc)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        producer = self.app.producer._ensure_producer()  # aiokafka.AIOKafkaProducer
        # feeds and hub.dlq have one partition (hub.core.kafka.admin): naming it spares the
        # client's murmur2 partitioner, ~4 % of a worker's CPU at N = 10 (py-spy)
        partition = 0 if topic.startswith(topics.FEED_PREFIX) or topic == topics.DLQ else None
        fut: Awaitable[Any] = await producer.send(topic, value, key=key, partition=partition)
        return fut

    async def recover(self) -> None:
        """A delivery failed: return once the producer can deliver again.

        Contract: every record handed to the producer before the call is settled
        (acknowledged or failed: the caller sends again what failed) when it returns,
        and the next batch the producer drains gets a new producer id, every partition's
        sequence starting at 0 (module doc: why). Records handed over meanwhile are kept:
        a batch not yet drained is numbered when it is, with the new id. While the broker
        does not answer, it waits, as the delivery would."""
        producer = self.app.producer._ensure_producer()  # aiokafka.AIOKafkaProducer
        txn = producer._txn_manager
        if txn is None or txn.transactional_id is not None or not txn.has_pid():
            return  # not idempotent, or transactional (aborted by its own rules), or
            # already reset with nothing numbered since
        accumulator = producer._message_accumulator
        while True:  # a batch numbered with the old id, sent or waiting for a retry,
            # would be refused under the new one: none may be left
            await producer.flush()
            numbered = accumulator._pending_batches or any(
                batch.retry_count for queue in accumulator._batches.values() for batch in queue
            )
            if not numbered:
                break
        # the sender routine asks the broker for a new id before its next drain
        # (Sender._maybe_wait_for_pid), and sets it with the waiter replaced here
        txn._pid_and_epoch = PidAndEpoch(NO_PRODUCER_ID, NO_PRODUCER_EPOCH)
        txn._pid_waiter = asyncio.get_running_loop().create_future()
        txn._sequence_numbers.clear()
        log.info("producer given a new producer id after a failed delivery: the sequence "
                 "numbers of its partitions start again")  # fmt: skip
