"""The consumer group's committed offsets and the inputs' end offsets, read from the broker.

The one reader behind the lag gauges and ``/health`` (monitoring/health.py): what the
broker holds for the group, not what this worker believes it read. Two small requests per
reading (OffsetFetch to the group coordinator, ListOffsets), each bounded by a timeout; a
reading that fails or times out returns None (the broker is then counted as silent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from hub.core.kafka.admin import known_partitions
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from monitoring.health import Partition

log = logging.getLogger(__name__)


#: (committed offset or None, end offset, log start offset when nothing is committed else 0)
Offsets = tuple[int | None, int, int]


class Probed(NamedTuple):
    """What :meth:`GroupOffsets.first_record` found."""

    #: the first record's offset (or where the read stopped: see the method)
    first: int
    #: the log's first offset then
    log_start: int


class GroupOffsets:
    """Reads (committed, end, log start) per partition for ``group`` (:data:`Offsets`);
    clients start on first use."""

    def __init__(self, settings: HubSettings, group: str, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.group = group
        self.timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._known: set[str] = set()
        #: a committed read of one input partition at a time (:meth:`first_record`)
        self._probe: AIOKafkaConsumer | None = None
        #: set by :meth:`stop`: no client is opened any more
        self._stopped = False

    async def read(self, partitions: Collection[Partition]
                   ) -> dict[Partition, Offsets] | None:  # fmt: skip
        """(committed or None, end, log start) for each of ``partitions``; None when the
        broker did not answer within the timeout. The log start is read only for the
        partitions the group never committed (else it is the committed offset's floor, 0):
        records below it are gone, so nothing waits there (retention, DeleteRecords)."""
        if not partitions:
            return {}
        if self._stopped:
            return None
        try:
            return await asyncio.wait_for(self._read(partitions), self.timeout_s)
        except Exception as exc:  # unreachable, timed out, coordinator moving: silent
            log.info("consumer group offsets not read (%s: %s)", type(exc).__name__, exc)
            await self.close()  # connect afresh next time
            return None
        finally:
            if self._stopped:  # stopped while this reading opened a client
                await self.close()

    async def _read(self, partitions: Collection[Partition]
                    ) -> dict[Partition, Offsets]:  # fmt: skip
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                **client_options(self.settings), request_timeout_ms=int(self.timeout_s * 1000)
            )
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **client_options(self.settings),
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=int(self.timeout_s * 1000),
            )
            await consumer.start()
            self._consumer = consumer
        names = {t for t, _ in partitions}
        if not names <= self._known:  # its metadata must know them before ListOffsets
            await known_partitions(self._consumer, sorted(names))
            self._known |= names
        tps = [TopicPartition(t, p) for t, p in partitions]
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=tps)
        ends = await self._consumer.end_offsets(tps)
        offsets: dict[TopicPartition, int | None] = {}
        for tp in tps:
            meta = committed.get(tp)
            offsets[tp] = None if meta is None or meta.offset < 0 else int(meta.offset)
        never = [tp for tp, offset in offsets.items() if offset is None]
        starts = await self._consumer.beginning_offsets(never) if never else {}
        return {
            (tp.topic, tp.partition): (offsets[tp], int(ends[tp]), int(starts.get(tp, 0)))
            for tp in tps
        }

    async def first_record(self, partition: Partition, start: int, end: int) -> Probed | None:
        """Where the first record a committed read (``read_committed``) returns at or after
        ``start`` stands: its offset, or, when no record comes before ``end``, the
        position the read reached (up to ``end``: the offsets in between hold transaction
        markers, aborted or compacted records only), with the log's first offset. A
        ``start`` below the log's first offset reads from there: the offsets below it were
        removed (retention, DeleteRecords). None when the broker did not answer within the
        timeout. A read past the log's end is an error (None), never a jump: an offset
        reset would claim records absent."""
        if self._stopped:
            return None
        try:
            return await asyncio.wait_for(self._first_record(partition, start, end),
                                          self.timeout_s)  # fmt: skip
        except Exception as exc:
            log.info("input %s/%d not probed from %d (%s: %s)", *partition, start,
                     type(exc).__name__, exc)  # fmt: skip
            await self._close_probe()
            return None
        finally:
            if self._stopped:  # stopped while this probe opened its client
                await self._close_probe()

    async def _first_record(self, partition: Partition, start: int, end: int) -> Probed:
        if self._probe is None:
            probe = AIOKafkaConsumer(
                **client_options(self.settings),
                group_id=None,
                enable_auto_commit=False,
                isolation_level="read_committed",
                auto_offset_reset="none",
                max_partition_fetch_bytes=64 << 10,
                # a read over offsets that hold no committed record returns nothing: the
                # broker holds each such fetch this long (500 ms by default, per partition
                # probed one after the other: 2 s a refresh over 4 partitions)
                fetch_max_wait_ms=100,
                request_timeout_ms=int(self.timeout_s * 1000),
            )
            await probe.start()
            self._probe = probe
        tp = TopicPartition(*partition)
        self._probe.assign([tp])
        log_start = int((await self._probe.beginning_offsets([tp]))[tp])
        position, loop = max(start, log_start), asyncio.get_running_loop()
        self._probe.seek(tp, position)
        deadline = loop.time() + self.timeout_s / 2
        while position < end and loop.time() < deadline:
            batch = await self._probe.getmany(tp, timeout_ms=200, max_records=1)
            records = batch.get(tp, [])
            if records:
                return Probed(int(records[0].offset), log_start)
            position = await self._probe.position(tp)
        # end not reached within the time: an open transaction holds the read (or the
        # broker is slow); what was passed is absent all the same
        return Probed(min(position, end), log_start)

    async def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            try:
                await asyncio.wait_for(probe.stop(), self.timeout_s)
            except Exception as exc:
                log.debug("probe client not closed cleanly: %r", exc)

    async def stop(self) -> None:
        """Close the clients for good (the worker stopping): later readings answer None
        without connecting. A client left open keeps its tasks waiting on the loop, and
        faust's worker then waits a second for them before it exits."""
        self._stopped = True
        await self.close()

    async def close(self) -> None:
        await self._close_probe()
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        self._known = set()
        for client in (admin, consumer):
            if client is None:
                continue
            try:
                await asyncio.wait_for(
                    client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop(),
                    self.timeout_s)  # fmt: skip
            except Exception as exc:  # closing a client of a dead broker: nothing to do
                log.debug("offset reader client not closed cleanly: %r", exc)
