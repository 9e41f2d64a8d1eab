"""Feed partitions a reader stopped at a record whose writer schema it cannot resolve.

A feed record names its writer schema: a CRC-64 fingerprint (single-object encoding) or a
schema registry id (the Confluent wire format, docs/consumers.md). When this process cannot
resolve that name (``DecodeError`` code ``unknown_schema``: the registry answers 404 for
the id, holds something else under it, ``HUB_REGISTRY__URL`` is empty, or the record was
written by a newer release), the record is not bad input, the reader is misdeployed: only
the hub writes the feeds, and an actor may well read that record with the schema it
cached. So every reader of the feeds (the audit recorder, ``hub deliver``'s feed pump,
the DIS file outboxes) stops that feed partition at the record instead of dead-lettering
or skipping it, and tries it again (:mod:`hub.core.kafka.feed_holds`).

Contracts:

* :func:`is_unresolved` tells such an error from a record that truly does not decode
  (each reader keeps its own rule for those);
* :func:`stop_line` is the one line said when a feed stops (who stops, the topic, the
  offset, why, what to fix), never the record's content; :class:`Reader` holds the words
  of one reader ("audit of", the command to upgrade, what is no longer done);
* :class:`Stops` keeps one :class:`Stop` per partition with its next try (the hub's
  back-off, :data:`STOP_BACKOFF`, from a few seconds up to a minute) and when it was
  last said (again every :data:`REMIND_S` while it lasts), and gives the count of stopped
  partitions to its ``gauge`` at its creation and at each change; :meth:`Stops.probes`
  groups the stops by the bytes naming their writer schema, so one registry question per
  round answers every feed stopped on the same id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import TopicPartition

from hub.core.backoff import Backoff
from hub.core.errors import DecodeError
from hub.core.settings import HubSettings
from schemas.codec import HEADER_SIZE
from schemas.confluent import MAGIC, PREFIX_SIZE

#: first and largest pause before a stopped feed is tried again
STOP_BACKOFF = Backoff(initial_s=5.0, max_s=60.0)
#: a feed still stopped is said again this often (an error line each time)
REMIND_S = 300.0
#: the code of the codec's error for a writer schema it cannot resolve
UNRESOLVED = "unknown_schema"


@dataclass(frozen=True)
class Reader:
    """The words of one reader's lines: ``what`` precedes the topic ("audit of"),
    ``command`` is the one to upgrade, ``done`` what no record after the stop is
    ("recorded")."""

    what: str
    command: str
    done: str


def is_unresolved(exc: DecodeError) -> bool:
    """Whether ``exc`` says the record's writer schema could not be resolved (stop and
    retry) rather than that the record does not decode."""
    return exc.code == UNRESOLVED


def schema_header(value: bytes) -> bytes:
    """The bytes of ``value`` naming its writer schema: ``00`` + the registry id, or
    ``C3 01`` + the fingerprint."""
    return bytes(value[:PREFIX_SIZE] if value[:1] == MAGIC else value[:HEADER_SIZE])


def stop_line(
    settings: HubSettings,
    reader: Reader,
    topic: str,
    offset: int,
    value: bytes,
    exc: DecodeError,
) -> str:
    """What ``reader`` says when it stops ``topic`` at ``offset`` (see the module doc)."""
    where = f"{reader.what} {topic} stopped at offset {offset} ({exc.message})"
    after = f"nothing after it on this feed is {reader.done}"
    if value[:1] != MAGIC:
        return (f"{where}: a FeedRecord version this release does not know (written by a "
                f"newer release?): upgrade '{reader.command}'; {after} until then")  # fmt: skip
    url = settings.registry.url.strip()
    if not url:
        return (f"{where}: the record is in the schema registry's (Confluent) wire format "
                "and HUB_REGISTRY__URL is empty: set it to the registry's "
                f"Confluent-compatible API; {after} until then")  # fmt: skip
    return (f"{where}: the registry at {url} (HUB_REGISTRY__URL) does not hold that id as a "
            "FeedRecord schema (restored, replaced, or not the registry the feed was written "
            f"with?); {after} until it does")  # fmt: skip


def _no_gauge(count: int) -> None:
    """A reader that exports no gauge."""


@dataclass
class Stop:
    """One feed partition stopped: read again from ``offset``; ``value`` is the record
    whose writer schema is asked for."""

    tp: TopicPartition
    offset: int
    value: bytes
    line: str
    since: float
    said: float
    attempt: int = 0
    next_try: float = 0.0


@dataclass
class Stops:
    """The stopped partitions of one reader (see the module doc)."""

    backoff: Backoff = STOP_BACKOFF
    remind_s: float = REMIND_S
    clock: Callable[[], float] = time.monotonic
    by_tp: dict[TopicPartition, Stop] = field(default_factory=dict)
    #: told the number of stopped partitions (a metric), at creation and at each change
    gauge: Callable[[int], None] = _no_gauge

    def __post_init__(self) -> None:
        self.gauge(len(self.by_tp))  # the series exists (at 0) from the reader's start

    def __bool__(self) -> bool:
        return bool(self.by_tp)

    def __contains__(self, tp: object) -> bool:
        return tp in self.by_tp

    def stop(self, tp: TopicPartition, offset: int, value: bytes, line: str) -> bool:
        """Record that ``tp`` stops at ``offset``; True when this is news (to be said),
        False when it was already stopped there (read again after a rebalance)."""
        now = self.clock()
        old = self.by_tp.get(tp)
        if old is not None and old.offset == offset:
            return False
        self.by_tp[tp] = Stop(tp, offset, value, line, since=now, said=now,
                              next_try=now + self.backoff.delay(0))  # fmt: skip
        self.gauge(len(self.by_tp))
        return True

    def drop(self, tp: TopicPartition) -> Stop | None:
        dropped = self.by_tp.pop(tp, None)
        self.gauge(len(self.by_tp))
        return dropped

    def due(self) -> list[Stop]:
        now = self.clock()
        return [s for s in self.by_tp.values() if s.next_try <= now]

    def probes(self, due: list[Stop]) -> dict[bytes, list[Stop]]:
        """Every stop sharing the writer schema of one in ``due``, grouped by the bytes
        naming that schema: one answer settles the whole group, due or not yet (their
        jittered tries would otherwise each ask the same question)."""
        wanted = {schema_header(s.value) for s in due}
        groups: dict[bytes, list[Stop]] = {}
        for s in self.by_tp.values():
            header = schema_header(s.value)
            if header in wanted:
                groups.setdefault(header, []).append(s)
        return groups

    def again(self, s: Stop) -> bool:
        """``s`` is still unresolved: schedule its next try; True when it is time to say
        it again."""
        now = self.clock()
        s.attempt += 1
        s.next_try = now + self.backoff.delay(s.attempt)
        if now - s.said < self.remind_s:
            return False
        s.said = now
        return True

    def summary(self) -> str:
        """One line for ``--once``: the first stop's line, and how many more feeds."""
        stops = sorted(self.by_tp.values(), key=lambda s: (s.tp.topic, s.tp.partition))
        more = len(stops) - 1
        return stops[0].line + (f" ({more} more feed(s) stopped too: see the log)" if more else "")
