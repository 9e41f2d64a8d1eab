"""One partition of hub.demandes played in memory with the processor's real code, for the
re-dispatch chain tests (tests/unit/test_redispatch_chains*.py): the records the
producers wrote, then every ``DispatchResume`` a worker writes, appended at the end as
the topic would serve them; a worker that crashes after sending some batches it never
stored; the next owner reading again from a committed position.

Work is counted in input records handed to a processor, never in seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from tests.support.demandes import demande_event
from tests.support.memory import MemorySender, MemoryStore

#: communes of Seine-Maritime, in index key order
COMMUNES = ["76008", "76040", "76217", "76351", "76540", "76575", "76681"]


@dataclass
class Log:
    """The partition (records in offset order) and the feeds every worker sent to."""

    codec: Any
    records: list[InputRecord] = field(default_factory=list)
    sender: MemorySender = field(default_factory=MemorySender)
    store: MemoryStore = field(default_factory=lambda: MemoryStore(1))

    def append(self, key: bytes | None, value: bytes) -> None:
        self.records.append(InputRecord(topics.DEMANDES, 0, len(self.records), key, value))

    def control(self, actor_id: str, filters: ActorFilters, version: int = 1) -> int:
        """A ``DispatchControl`` registering ``actor_id``; its position."""
        reg = Actor(id=actor_id, name=actor_id, kind="etat", version=version,
                    filters=filters).to_avro(deleted=False)  # fmt: skip
        self.append(actor_id.encode(), self.codec.encode("DispatchControl", {
            "controlId": str(uuid.uuid4()), "issuedAt": 0, "actor": reg}))  # fmt: skip
        return len(self.records) - 1

    def event(self, ev: dict[str, Any]) -> None:
        self.append(ev["numUnique"].encode(), self.codec.encode("DemandeEvent", ev))

    def stock(self, count: int) -> list[str]:
        """``count`` demands over :data:`COMMUNES`; their numéros."""
        nums = [f"0761128{i:06d}{uuid.uuid4().int % 100000:05d}" for i in range(count)]
        for i, num in enumerate(nums):
            self.event(demande_event(num, [COMMUNES[i % len(COMMUNES)]]))
        return nums

    def feed(self, actor_id: str) -> list[dict[str, Any]]:
        return [self.codec.decode_as(v, "FeedRecord")
                for _, v in self.sender.sent.get(topics.feed_topic(actor_id), [])]  # fmt: skip

    def resumes(self) -> int:
        return sum(1 for r in self.records if r.key is not None and r.key.startswith(b"resume"))


async def read(log: Log, proc: Processor, start: int, *, size: Callable[[], int] = lambda: 1,
               stored: int | None = None, sent: int = 0) -> tuple[int, int]:  # fmt: skip
    """``proc`` reads ``log`` from position ``start`` in batches of ``size()`` records,
    its own ``DispatchResume`` records appended to the log as it sends them. With
    ``stored`` it crashes: after ``stored`` batches sent and stored, ``sent`` more sent
    (pipelined: each submitted before the previous is stored) and never stored. Returns
    (records handed to it, position of the first record of a batch not stored)."""
    pos, handed, batches, unsettled = start, 0, 0, []
    while pos < len(log.records) and (stored is None or batches < stored + sent):
        batch = log.records[pos : pos + size()]
        seen = len(log.sender.sent.get(topics.DEMANDES, []))
        sub = await proc.submit(batch)
        for key, value in log.sender.sent.get(topics.DEMANDES, [])[seen:]:
            log.append(key, value)
        pos, handed, batches = pos + len(batch), handed + len(batch), batches + 1
        if stored is not None and batches > stored:
            unsettled.append((sub, pos - len(batch)))
            continue
        await proc.settle(sub)
    return handed, unsettled[0][1] if unsettled else pos


def deduped(records: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(eventId, kind, demandeVersion) of ``records`` with duplicates dropped, in order:
    what a consumer applying the rule of docs/consumers keeps."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        if (r["eventId"], r["kind"]) not in seen:
            seen.add((r["eventId"], r["kind"]))
            out.append((r["eventId"], r["kind"], r["demandeVersion"]))
    return out
