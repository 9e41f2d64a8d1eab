"""Reading feed records cheaply, and the per-actor delivery ledger.

The harness must read every delivery without becoming the bottleneck it measures, so it
decodes only the head of a ``FeedRecord`` (kind, eventId, numUnique, operation,
demandeVersion, occurredAt, dispatchedAt: the first fields of the current schema) instead
of the whole snapshot. A record written with another schema version falls back to the
full codec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas import Codec
from schemas.codec import HEADER_SIZE
from schemas.compiled import read_long


class FeedHead(NamedTuple):
    kind: str
    event_id: str
    num_unique: str
    operation: str
    version: int
    occurred_at: int
    dispatched_at: int


def _str(buf: bytes, pos: int) -> tuple[str, int]:
    n, pos = read_long(buf, pos)
    return buf[pos : pos + n].decode(), pos + n


class HeadReader:
    """Decode the head of FeedRecord messages (see module doc)."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.current = codec.registry.current("FeedRecord")

    def read(self, data: bytes) -> FeedHead:
        if self.codec.writer_of(data) is not self.current:
            rec = self.codec.decode_as(data, "FeedRecord")
            return FeedHead(
                rec["kind"],
                rec["eventId"],
                rec["numUnique"],
                rec["operation"],
                rec["demandeVersion"],
                rec["occurredAt"],
                rec["dispatchedAt"],
            )
        kind, pos = _str(data, HEADER_SIZE)
        event_id, pos = _str(data, pos)
        num, pos = _str(data, pos)
        op, pos = _str(data, pos)
        version, pos = read_long(data, pos)
        occurred, pos = read_long(data, pos)
        dispatched, _ = read_long(data, pos)
        return FeedHead(kind, event_id, num, op, version, occurred, dispatched)


@dataclass(slots=True)
class Ledger:
    """Expected versus received deliveries, per actor.

    ``expect(actor, event_id, num_unique)`` in input order; ``receive(actor, head)`` in
    feed order. Lost: expected, never received. Duplicated: the same (event id, kind)
    received twice. Out of order: a demand's version going backwards (or repeating) in an
    actor's feed. Unexpected: received but not expected (a matching error).
    """

    expected: dict[str, set[str]] = field(default_factory=dict)
    seen: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    last_version: dict[tuple[str, str], int] = field(default_factory=dict)
    received: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    #: the first few unexpected records (actor, event id, kind, numéro, version): a
    #: matching error is found from them, not from a count
    unexpected_samples: list[tuple[str, str, str, str, int]] = field(default_factory=list)

    def expect(self, actor: str, event_id: str) -> None:
        self.expected.setdefault(actor, set()).add(event_id)

    def receive(self, actor: str, head: FeedHead) -> None:
        self.received += 1
        seen = self.seen.setdefault(actor, set())
        key = (head.event_id, head.kind)
        if key in seen:
            self.duplicated += 1
        seen.add(key)
        if head.event_id not in self.expected.get(actor, ()):
            self.unexpected += 1
            if len(self.unexpected_samples) < 5:
                self.unexpected_samples.append(
                    (actor, head.event_id, head.kind, head.num_unique, head.version)
                )
        demand = (actor, head.num_unique)
        if self.last_version.get(demand, -1) >= head.version:
            self.out_of_order += 1
        self.last_version[demand] = head.version

    def summary(self) -> dict[str, Any]:
        lost = 0
        lost_samples: list[tuple[str, str]] = []
        for actor, ids in self.expected.items():
            got = {e for e, _ in self.seen.get(actor, ())}
            missing = ids - got
            lost += len(missing)
            lost_samples += [(actor, e) for e in sorted(missing)[: 5 - len(lost_samples)]]
        return {
            "actors": len(self.expected),
            "expected": sum(len(v) for v in self.expected.values()),
            "received": self.received,
            "lost": lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "unexpected": self.unexpected,
            "lost_samples": lost_samples,
            "unexpected_samples": self.unexpected_samples,
        }
