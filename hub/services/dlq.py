"""Dead-letter operations: read hub.dlq, pick letters, replay them (``hub dlq``).

A replay republishes the letter's original bytes to its source topic **with the same
key**, so the default partitioner puts it on the demand's partition, behind everything
already there and before anything published later: per-demand order from the replay on
is the topic's order. Letters are replayed in DLQ order (the order they failed in).

Each replayed record carries :data:`dispatch.letters.REPLAY_HEADER` (attempts and
earlier failures): if it fails again, the worker dead-letters it with ``attempts + 1``
and its history. Each replay is also recorded in the compacted ledger topic
:data:`REPLAYS_TOPIC` (key ``<dlq partition>:<dlq offset>``) so a letter is not replayed
twice by accident (``--again`` forces it).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from dispatch.letters import REPLAY_HEADER
from hub.core import topics
from hub.core.errors import InputError, NotFoundError
from hub.core.kafka.admin import TopicSpec, ensure_topics
from hub.core.kafka.client import new_producer
from hub.core.kafka.reader import read_to_end, standalone_consumer
from hub.core.settings import HubSettings
from schemas import get_codec

REPLAYS_TOPIC = "hub.dlq.replays"
#: a letter can only go back to an input topic of the hub, whatever its sourceTopic says
REPLAYABLE_TOPICS = frozenset({topics.DEMANDES, topics.EVENEMENTS})


@dataclass(frozen=True, slots=True)
class Letter:
    partition: int
    offset: int
    body: dict[str, Any]
    #: ledger entry when already replayed: {"replayedAt", "topic", "partition", "offset"}
    replayed: dict[str, Any] | None = None
    #: ref of an earlier letter for the same source record (a worker restarted or
    #: rebalanced before committing dead-letters it again: at-least-once)
    duplicate_of: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def source(self) -> tuple[str, int, int]:
        b = self.body
        return (str(b["sourceTopic"]), int(b["sourcePartition"]), int(b["sourceOffset"]))

    @property
    def reason(self) -> str:
        return str(self.body["reason"])

    @property
    def key(self) -> bytes | None:
        key = self.body.get("key")
        return None if key is None else bytes(key)


async def _read_all(settings: HubSettings, topic: str, timeout_s: float) -> list[Any]:
    """Every record of ``topic`` up to its end offsets at call time ([] if no topic)."""
    async with standalone_consumer(settings, "dlq") as consumer:
        out = [m async for m in read_to_end(consumer, topic, timeout_s=timeout_s)]
    return sorted(out, key=lambda m: (m.partition, m.offset))


async def read_letters(settings: HubSettings, timeout_s: float = 30.0) -> list[Letter]:
    """All letters of hub.dlq in order, each with its replay ledger entry if any."""
    codec = get_codec()
    ledger: dict[str, dict[str, Any]] = {}
    for m in await _read_all(settings, REPLAYS_TOPIC, timeout_s):
        if m.key is not None and m.value is not None:
            ledger[m.key.decode()] = json.loads(m.value)
    letters: list[Letter] = []
    first: dict[tuple[str, int, int, bytes], Letter] = {}
    for m in await _read_all(settings, topics.DLQ, timeout_s):
        body = codec.decode_as(m.value, "DeadLetter")
        letter = Letter(m.partition, m.offset, body, ledger.get(f"{m.partition}:{m.offset}"))
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
    after a newer one."""
    if ref is not None:
        found = [x for x in letters if x.ref == ref]
        if not found:
            raise NotFoundError(f"no dead letter at {ref} in {topics.DLQ}")
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
    """Republish ``letters`` in order; returns each with where it went (``topic/p@o``)."""
    for letter in letters:
        if letter.body["payload"] is None and letter.body.get("payloadSize") is None:
            raise InputError(f"letter {letter.ref} is a tombstone (a record without value): "
                             "nothing to replay", code="not_replayable")  # fmt: skip
        if letter.body["sourceTopic"] not in REPLAYABLE_TOPICS:
            raise InputError(
                f"letter {letter.ref} comes from {letter.body['sourceTopic']!r}, "
                "not an input topic of the hub: not replayed",
                code="not_replayable",
            )
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
            }
            await producer.send_and_wait(
                REPLAYS_TOPIC, json.dumps(mark).encode(), key=letter.ref.encode()
            )
            done.append((letter, f"{meta.topic}/{meta.partition}@{meta.offset}"))
    finally:
        await producer.stop()
    return done
