"""One reader's feed partitions held at a record whose writer schema cannot be resolved.

The audit recorder, ``hub deliver``'s feed pump and the DIS file outboxes each read feeds
with one consumer; when a record's writer schema cannot be resolved
(:func:`hub.core.kafka.feed_stops.is_unresolved`) they hold its partition there through a
:class:`FeedHolds`, and each round of their loop calls :meth:`FeedHolds.retry`.

Contracts:

* :meth:`FeedHolds.hold` rewinds the partition to the offset given and pauses it, so the
  consumer reads nothing past it and the same record comes first again; the stop's line
  (:func:`~hub.core.kafka.feed_stops.stop_line`) is logged at error level once, not at
  each re-read (said again every ``REMIND_S`` by :meth:`FeedHolds.retry`);
* :meth:`FeedHolds.retry` asks, for the stops due (their back-off elapsed), whether the
  writer schema resolves now: one question per schema id or fingerprint, in a worker
  thread (the registry client blocks). Those that resolve are dropped, rewound to their
  offset and resumed, with a warning line ``<what> <topic> resumes at offset N``; a
  partition the consumer no longer holds (a rebalance) is forgotten: its new owner reads
  it from the stop. A registry that does not answer counts as "not yet".
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError

from hub.core.errors import DecodeError, TransientError
from hub.core.kafka.feed_stops import Reader, Stops, is_unresolved, stop_line
from hub.core.settings import HubSettings
from schemas import get_codec


class FeedHolds:
    """The stops of one reader (see the module doc); ``log`` is the reader's logger, so
    its lines carry the reader's name."""

    def __init__(
        self, settings: HubSettings, reader: Reader, log: logging.Logger, stops: Stops
    ) -> None:
        self.settings, self.reader, self.log, self.stops = settings, reader, log, stops
        self.codec = get_codec()

    def hold(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        offset: int,
        value: bytes,
        exc: DecodeError,
    ) -> None:
        """Stop ``tp`` at ``offset`` (read again from there once ``value``'s writer schema
        resolves)."""
        try:
            consumer.seek(tp, offset)
            consumer.pause(tp)
        except IllegalStateError:  # revoked meanwhile: its new owner reads it from offset
            return
        line = stop_line(self.settings, self.reader, tp.topic, offset, value, exc)
        if self.stops.stop(tp, offset, value, line):
            self.log.error("%s", line)

    async def retry(self, consumer: Any) -> None:
        """Ask again for the schema of each stop due for a try; resume those that resolve
        (see the module doc). ``consumer``: an :class:`AIOKafkaConsumer` (or what offers
        its ``assignment``, ``seek`` and ``resume``)."""
        due = self.stops.due()
        if not due:
            return
        assigned = consumer.assignment()
        for group in self.stops.probes(due).values():
            mine = [s for s in group if s.tp in assigned]
            for s in group:
                if s.tp not in assigned:  # another member of the group owns it now
                    self.stops.drop(s.tp)
            if not mine:
                continue
            if await asyncio.to_thread(self.unresolvable, mine[0].value):
                for s in mine:
                    if self.stops.again(s):
                        since = self.stops.clock() - s.since
                        self.log.error("%s (stopped for %.0f s)", s.line, since)
                continue
            for s in mine:
                self.stops.drop(s.tp)
                try:
                    consumer.seek(s.tp, s.offset)
                    consumer.resume(s.tp)
                except IllegalStateError:
                    continue
                self.log.warning("%s %s resumes at offset %d: its writer schema resolves now "
                                 "(stopped for %.0f s)", self.reader.what, s.tp.topic,
                                 s.offset, self.stops.clock() - s.since)  # fmt: skip

    def unresolvable(self, value: bytes) -> bool:
        """Whether ``value``'s writer schema still cannot be resolved (a registry that does
        not answer counts as not yet)."""
        try:
            self.codec.decode_as(value, "FeedRecord")
        except DecodeError as exc:
            return is_unresolved(exc)  # another error: the reader's regular path meets it
        except TransientError as exc:
            self.log.info("%s: stopped feeds not tried again: %s", self.reader.command,
                          exc.message)  # fmt: skip
            return True
        return False
