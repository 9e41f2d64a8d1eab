"""The checker: read every feed in full and hold it against the ledger.

Figures (per run, summed over actors):

* ``lost``: owed (event id, kind) never delivered;
* ``duplicated_raw``: records delivered beyond the first copy of their (event id, kind);
* ``duplicated_after_dedup``: after a consumer drops repeated (event id, kind) pairs, two
  different records still describing the same demand version (must be 0: a duplicate
  that does not carry the same ids could not be dropped);
* ``reordered``: after dedup, a demand's records arriving out of the ledger's order;
* ``out_of_scope``: a record the actor is not owed (another territory, or a snapshot it
  has no right to): a personal-data breach.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.core import topics
from hub.core.errors import TransientError
from hub.core.kafka.client import client_options
from hub.core.settings import HubSettings
from reliability.ledger import Expected, Ledger
from schemas import get_codec


@dataclass(slots=True)
class Figures:
    owed: int = 0
    delivered_raw: int = 0
    lost: int = 0
    duplicated_raw: int = 0
    duplicated_after_dedup: int = 0
    reordered: int = 0
    out_of_scope: int = 0
    #: a few examples per problem, ids only (no personal data)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, problem: str, text: str) -> None:
        self.examples.setdefault(problem, [])
        if len(self.examples[problem]) < 5:
            self.examples[problem].append(text)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated_after_dedup or self.reordered
                    or self.out_of_scope)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def read_feeds(
    settings: HubSettings, actor_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Every record of each actor's feed, decoded, in feed order (single-partition feeds)."""
    codec = get_codec()
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = {TopicPartition(topics.feed_topic(a), 0): a for a in actor_ids}
        ends = await consumer.end_offsets(list(tps))
        out: dict[str, list[dict[str, Any]]] = {a: [] for a in actor_ids}
        todo = {tp for tp, end in ends.items() if end > 0}
        if not todo:
            return out
        consumer.assign(list(todo))
        await consumer.seek_to_beginning(*todo)
        deadline = time.monotonic() + 300
        while todo:
            if time.monotonic() > deadline:
                left = sorted(t.topic for t in todo)
                raise TransientError(f"feeds not read to their end: {left}")
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
            for tp, messages in batch.items():
                for m in messages:
                    out[tps[tp]].append(codec.decode_as(m.value, "FeedRecord"))
                    if m.offset + 1 >= ends[tp]:
                        todo.discard(tp)
        return out
    finally:
        await consumer.stop()


async def wait_for_record(
    settings: HubSettings,
    actor_ids: list[str],
    accept: Callable[[dict[str, Any]], bool],
    timeout: float,
    alive: Callable[[], bool] = lambda: True,
) -> bool:
    """Tail the actors' feeds from their start until one record ``accept`` takes arrives;
    False after ``timeout`` seconds or once ``alive()`` turns false.

    A feed's end offset is no sign that a test's own records arrived: on a broker shared by
    several tests a new actor's feed first fills with copies of the demands other tests left
    in its territory (an actor change re-dispatches them)."""
    codec = get_codec()
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topics.feed_topic(a), 0) for a in actor_ids]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive():
            batch = await consumer.getmany(timeout_ms=50, max_records=5000)
            for messages in batch.values():
                if any(accept(codec.decode_as(m.value, "FeedRecord")) for m in messages):
                    return True
        return False
    finally:
        await consumer.stop()


def check(ledger: Ledger, feeds: dict[str, list[dict[str, Any]]]) -> Figures:
    """Compare what each actor received with what it was owed (see module doc)."""
    fig = Figures()
    for actor_id, owed in ledger.owed.items():
        records = feeds.get(actor_id, [])
        fig.owed += len(owed)
        fig.delivered_raw += len(records)
        by_entry: dict[tuple[str, str], Expected] = {(e.event_id, e.kind): e for e in owed}
        seen: set[tuple[str, str]] = set()
        versions: set[tuple[str, int, str]] = set()
        last_seq: dict[str, int] = {}
        for rec in records:
            entry = (rec["eventId"], rec["kind"])
            if entry in seen:
                fig.duplicated_raw += 1
                continue
            seen.add(entry)
            expected = by_entry.get(entry)
            if expected is None:
                fig.out_of_scope += 1
                fig.note("out_of_scope", f"{actor_id}: {rec['numUnique']} {rec['kind']}")
                continue
            version = (rec["numUnique"], rec["demandeVersion"], rec["kind"])
            if version in versions:
                fig.duplicated_after_dedup += 1
                fig.note("duplicated_after_dedup", f"{actor_id}: {version}")
            versions.add(version)
            if expected.seq < last_seq.get(expected.num_unique, -1):
                fig.reordered += 1
                fig.note("reordered", f"{actor_id}: {expected.num_unique} #{expected.seq}")
            last_seq[expected.num_unique] = max(expected.seq,
                                                last_seq.get(expected.num_unique, -1))  # fmt: skip
        for e in owed:
            if (e.event_id, e.kind) not in seen:
                fig.lost += 1
                fig.note("lost", f"{actor_id}: {e.num_unique} #{e.seq} {e.kind}")
    return fig


def check_feeds(settings: HubSettings, ledger: Ledger) -> Figures:
    feeds = asyncio.run(read_feeds(settings, [a.id for a in ledger.actors]))
    return check(ledger, feeds)


async def dead_lettered(settings: HubSettings, event_ids: set[str]) -> set[str]:
    """Which of ``event_ids`` are on hub.dlq (bad input never disappears)."""
    codec = get_codec()
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=None,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    found: set[str] = set()
    try:
        tp = TopicPartition(topics.DLQ, 0)
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        deadline = time.monotonic() + 120
        while end and await consumer.position(tp) < end and time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
            for m in batch.get(tp, []):
                letter = codec.decode_as(m.value, "DeadLetter")
                try:
                    _, event = codec.decode(letter["payload"] or b"")
                except Exception:
                    continue
                if event.get("eventId") in event_ids:
                    found.add(event["eventId"])
        return found
    finally:
        await consumer.stop()
