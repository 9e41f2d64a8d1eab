"""Dead-letter operations: read hub.dlq, pick letters, replay them (``hub dlq``).

A replay republishes the letter's original bytes to its source topic **with the same
key**, so the default partitioner puts it on the demand's partition, behind everything
already there and before anything published later: per-demand order from the replay on
is the topic's order. Letters are replayed in DLQ order (the order they failed in).

Each replayed record carries :data:`dispatch.letters.REPLAY_HEADER` (attempts and
earlier failures): if it fails again, the worker dead-letters it with ``attempts + 1``
and its history. Each replay is also recorded in the compacted ledger topic
:data:`REPLAYS_TOPIC` (key ``<dlq partition>:<dlq offset>``) so a letter is not replayed
twice by accident (``--again`` forces it). The entry names the letter it marks (its source
position and ``failedAt``), so a letter written at the same position of a ``hub.dlq``
deleted and created again (offsets start over) is not taken for the one replayed.

Anything Kafka allows may sit on ``hub.dlq``. A record that is not a readable
``DeadLetter`` (a tombstone, garbage, a schema this version does not know) is listed as
*unreadable* at its position, with why; it never hides the letters around it. Letters that
can never be replayed (unreadable, a tombstone's letter, a record whose key was refused,
a source that is not an input topic) are counted apart, never as pending, and bulk
replays pass over them. A letter from an actor's feed (``hub.feed.*``, written by a
reader of the feeds) is one of them, named as such: writing it back would hand that
record to the actor a second time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from dispatch.letters import REPLAY_HEADER
from hub.core import topics
from hub.core.errors import HubError, InputError, NotFoundError
from hub.core.kafka.admin import TopicSpec, ensure_topics
from hub.core.kafka.client import new_producer
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.core.settings import HubSettings
from schemas import get_codec

REPLAYS_TOPIC = "hub.dlq.replays"
#: a letter can only go back to an input topic of the hub, whatever its sourceTopic says
REPLAYABLE_TOPICS = frozenset({topics.DEMANDES, topics.EVENEMENTS})
#: refusals of a record's key (dispatch.letters): its replay, same bytes and same key, is
#: refused again whatever is fixed in the hub (audit S, S-F10)
KEY_REFUSALS = frozenset({"missing_key", "key_mismatch"})


#: the reason a record that is no readable letter is listed under
UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Letter:
    """One record of hub.dlq: a ``DeadLetter`` (``body``), or, when ``unreadable`` says why
    it is none, a record whose ``body`` holds only its Kafka ``key``."""

    partition: int
    offset: int
    body: dict[str, Any]
    #: ledger entry when already replayed: {"replayedAt", "topic", "partition", "offset"}
    replayed: dict[str, Any] | None = None
    #: ref of an earlier letter for the same source record (a worker restarted or
    #: rebalanced before committing dead-letters it again: at-least-once)
    duplicate_of: str | None = None
    #: why the record is not a readable DeadLetter (None: it is one)
    unreadable: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def source(self) -> tuple[str, int, int]:
        b = self.body
        return (str(b["sourceTopic"]), int(b["sourcePartition"]), int(b["sourceOffset"]))

    @property
    def reason(self) -> str:
        return UNREADABLE if self.unreadable is not None else str(self.body["reason"])

    @property
    def key(self) -> bytes | None:
        key = self.body.get("key")
        return None if key is None else bytes(key)

    @property
    def unreplayable(self) -> str | None:
        """Why this letter can never be replayed, whatever is fixed (None: it can be)."""
        if self.unreadable is not None:
            return f"is not a readable dead letter ({self.unreadable}): nothing to replay"
        b = self.body
        if b["payload"] is None and b.get("payloadSize") is None:
            return "is a tombstone (a record without value): nothing to replay"
        if b["reason"] in KEY_REFUSALS:  # a replay sends the same key: refused again
            return (f"is a record whose key was refused ({b['reason']}): a replay sends the "
                    "same key and is refused again; its sender must publish it again "
                    "keyed by its numéro unique")  # fmt: skip
        source = str(b["sourceTopic"])
        if source.startswith(topics.FEED_PREFIX):  # a reader of the feeds dead-lettered it
            return (f"comes from the actor feed {source!r}: replaying it would hand "
                    "the record to that actor again; not replayed (it is still on the "
                    "feed)")  # fmt: skip
        if source not in REPLAYABLE_TOPICS:
            return (f"comes from {source!r}, not an input topic of the hub: "
                    "not replayed")  # fmt: skip
        return None

    @property
    def pending(self) -> bool:
        """Still to replay: not replayed, not a duplicate, and replayable."""
        return self.replayed is None and self.duplicate_of is None and self.unreplayable is None


def identity(letter: Letter) -> dict[str, Any]:
    """What tells a letter from another one written later at the same position (a
    recreated hub.dlq starts its offsets over): its source record and when it failed."""
    topic, partition, offset = letter.source
    return {"sourceTopic": topic, "sourcePartition": partition, "sourceOffset": offset,
            "failedAt": int(letter.body["failedAt"])}  # fmt: skip


def marks(entry: dict[str, Any], letter: Letter) -> bool:
    """Whether ledger ``entry``, kept under ``letter``'s position, records a replay of this
    very letter. An entry written before entries named their letter is trusted unless it
    predates the letter's failure (no replay comes before the failure it replays)."""
    if "letter" in entry:
        return bool(entry["letter"] == identity(letter))
    replayed_at = entry.get("replayedAt")
    return isinstance(replayed_at, int) and int(letter.body["failedAt"]) <= replayed_at


def _ledger_entry(value: bytes) -> dict[str, Any] | None:
    """A replay ledger value, or None when it is not one (anyone may write to a topic)."""
    try:
        entry = json.loads(value)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict):
        return None
    wanted = {"topic": str, "partition": int, "offset": int}
    return entry if all(isinstance(entry.get(k), t) for k, t in wanted.items()) else None


def _why(exc: Exception) -> str:
    """One short line on why a record is no readable letter (never its bytes)."""
    text = exc.message if isinstance(exc, HubError) else f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:199] + "…"


async def _read_all(settings: HubSettings, topic: str, timeout_s: float) -> list[Any]:
    """Every record of ``topic`` up to its end offsets at call time ([] if no topic)."""
    async with standalone_consumer(settings, "dlq") as consumer:
        out = [m async for m in read_to_end(consumer, topic, timeout_s=timeout_s)]
    return sorted(out, key=lambda m: (m.partition, m.offset))


async def read_letters(settings: HubSettings, timeout_s: float = 30.0) -> list[Letter]:
    """Every record of hub.dlq in order, each with its replay ledger entry if any; a
    record that is no readable letter comes as one with ``unreadable`` set."""
    codec = get_codec()
    ledger: dict[str, dict[str, Any]] = {}
    for m in await _read_all(settings, REPLAYS_TOPIC, timeout_s):
        if m.key is None:
            continue
        ref = m.key.decode(errors="replace")
        entry = None if m.value is None else _ledger_entry(m.value)
        if entry is None:  # a tombstone deletes the entry (compaction); garbage marks nothing
            ledger.pop(ref, None)
        else:
            ledger[ref] = entry
    letters: list[Letter] = []
    first: dict[tuple[str, int, int, bytes], Letter] = {}
    for m in await _read_all(settings, topics.DLQ, timeout_s):
        try:
            if m.value is None:
                raise InputError("a tombstone (a record without value)")
            body = codec.decode_as(m.value, "DeadLetter")
        except Exception as exc:  # whatever landed there: one record never hides the others
            letters.append(Letter(m.partition, m.offset, {"key": m.key}, unreadable=_why(exc)))
            continue
        letter = Letter(m.partition, m.offset, body)
        entry = ledger.get(letter.ref)
        if entry is not None and marks(entry, letter):
            letter = Letter(m.partition, m.offset, body, entry)
        # same source position and same bytes: the same record dead-lettered twice
        same = (*letter.source, bytes(body["payload"] or b""))
        original = first.setdefault(same, letter)
        if original is not letter:
            letter = Letter(m.partition, m.offset, body, original.replayed, original.ref)
        letters.append(letter)
    return letters


async def _payload(settings: HubSettings, letter: Letter) -> bytes:
    """The letter's original bytes: its payload, or, when the letter was too large to keep
    it (``payloadSize`` set, payload null), the record read again at its source."""
    if letter.body["payload"] is not None:
        return bytes(letter.body["payload"])
    topic, partition, offset = letter.source
    async with standalone_consumer(settings, "dlq-payload") as consumer:
        async for m in read_to_end(consumer, topic, partitions=[partition],
                                   start={partition: offset}, timeout_s=10):  # fmt: skip
            if m.offset == offset and m.value is not None:
                return bytes(m.value)
            break
    raise InputError(
        f"letter {letter.ref}: the original record is no longer at "
        f"{topic}:{partition}:{offset} (retention)",
        code="not_replayable",
    )


def select(
    letters: list[Letter],
    *,
    ref: str | None = None,
    reason: str | None = None,
    key: str | None = None,
    every: bool = False,
    again: bool = False,
) -> list[Letter]:
    """The letters to replay: one by ``ref`` (``P:O``), or those matching ``reason`` and/or
    ``key`` (numéro unique), or ``every`` one. Already replayed ones only with ``again``;
    duplicates (same source record) never: replaying an old event twice could apply it
    after a newer one. Letters that can never be replayed are chosen too: the caller
    tells them apart with :func:`replayable`."""
    if ref is not None:
        found = [x for x in letters if x.ref == ref]
        if not found:
            raise NotFoundError(f"no dead letter at {ref} in {topics.DLQ}")
        # given with a position, a filter is a check the letter must pass (audit S, S-F9:
        # they were ignored, so "this letter, if it is the unknown_commune one" replayed
        # whatever letter sat there)
        if reason is not None and found[0].reason != reason:
            raise InputError(f"letter {ref} is {found[0].reason}, not {reason}: not replayed",
                             code="letter_mismatch")  # fmt: skip
        if key is not None and found[0].key != key.encode():
            raise InputError(f"letter {ref} is not keyed {key!r}: not replayed",
                             code="letter_mismatch")  # fmt: skip
        if found[0].duplicate_of is not None and not again:
            raise InputError(
                f"letter {ref} duplicates {found[0].duplicate_of}: replay that one",
                code="duplicate_letter",
            )
        if found[0].replayed is not None and not again:
            raise InputError(
                f"letter {ref} was already replayed (use --again to replay it again)",
                code="already_replayed",
            )
        return found
    if reason is None and key is None and not every:
        raise InputError("say which letters: P:O, --reason, --key or --all")
    wanted_key = None if key is None else key.encode()
    return [
        x
        for x in letters
        if (reason is None or x.reason == reason)
        and (wanted_key is None or x.key == wanted_key)
        and x.duplicate_of is None
        and (again or x.replayed is None)
    ]


def replayable(chosen: list[Letter]) -> tuple[list[Letter], list[Letter]]:
    """``chosen`` in two, order kept: the letters that can be replayed, and those that
    never can (each says why: :attr:`Letter.unreplayable`), which a bulk replay passes
    over and reports."""
    return ([x for x in chosen if x.unreplayable is None],
            [x for x in chosen if x.unreplayable is not None])  # fmt: skip


def replay_header(letter: Letter) -> bytes:
    """Attempts so far and every failure so far (earlier history + this letter)."""
    b = letter.body
    history = [
        *b.get("history", []),
        {"reason": b["reason"], "message": b["message"], "failedAt": int(b["failedAt"])},
    ]
    return json.dumps(
        {
            "attempts": int(b.get("attempts", 1)),
            "history": history,
            "from": f"{topics.DLQ}:{letter.ref}",
        }
    ).encode()


async def replay(settings: HubSettings, letters: list[Letter]) -> list[tuple[Letter, str]]:
    """Republish ``letters`` in order; returns each with where it went (``topic/p@o``).
    A letter that can never be replayed is refused before anything is sent (callers of
    a bulk replay leave those out first: :func:`replayable`)."""
    for letter in letters:
        if letter.unreplayable is not None:
            raise InputError(f"letter {letter.ref} {letter.unreplayable}",
                             code="not_replayable")  # fmt: skip
    await ensure_topics(settings, [TopicSpec(REPLAYS_TOPIC, 1, {"cleanup.policy": "compact"})])
    producer = new_producer(settings)
    await producer.start()
    done: list[tuple[Letter, str]] = []
    try:
        for letter in letters:
            # one at a time: the ledger entry is written only once the replay is acked
            meta = await producer.send_and_wait(
                letter.body["sourceTopic"],
                await _payload(settings, letter),
                key=letter.key,
                headers=[(REPLAY_HEADER, replay_header(letter))],
            )
            mark = {
                "replayedAt": int(time.time() * 1000),
                "topic": meta.topic,
                "partition": meta.partition,
                "offset": meta.offset,
                "letter": identity(letter),
            }
            await producer.send_and_wait(
                REPLAYS_TOPIC, json.dumps(mark).encode(), key=letter.ref.encode()
            )
            done.append((letter, f"{meta.topic}/{meta.partition}@{meta.offset}"))
    finally:
        await producer.stop()
    return done
