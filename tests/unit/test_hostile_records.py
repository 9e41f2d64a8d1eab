"""Issue 19: whatever the Kafka record model allows reaches the dispatch processor and the
gestion partagée fan-out without costing a valid event.

Inputs are drawn from the record model itself (Kafka: value null or bytes of any size,
key null or any bytes, any headers), not from the hub's producers: tombstones, keyless
records, random bytes, oversize values, messages of another schema, truncated messages, a
key that is not the numéro unique, hostile replay headers. Properties:

* the batch never raises (below the dead-letter cap);
* every bad record gives exactly one letter on ``hub.dlq``, naming its offset and reason;
* the valid events produce exactly the feed records they produce alone (one bad record
  never costs a good one).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import evenements
from dispatch.processor import InputRecord, Processor
from hub.core import topics
from hub.domain.actors import Actor, ActorFilters
from hub.domain.matching import TerritoryIndex
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore

ROUEN = "76540"
MAX = 4096  # the processor's max_record_bytes in these tests

#: bad record shapes and the DLQ reason each must get
SHAPES = {
    "tombstone": "tombstone",
    "keyless": "missing_key",
    "random": None,  # undecodable or unknown_schema, by the bytes drawn
    "oversize": "oversize",
    "other_schema": "wrong_schema",
    "truncated": None,
    "key_mismatch": "key_mismatch",
}


def _index(geography: Any) -> TerritoryIndex:
    return TerritoryIndex(geography, [Actor(id="rouen", name="r", kind="bailleur",
                                            filters=ActorFilters(communes=[ROUEN]))])  # fmt: skip


def _processor(geography: Any, codec: Any) -> tuple[Processor, MemoryStore, MemorySender]:
    store, sender = MemoryStore(1), MemorySender()
    proc = Processor(_index(geography), codec, store, sender, max_record_bytes=MAX,
                     max_consecutive_dead_letters=10_000, clock=lambda: 1.7e9)  # fmt: skip
    return proc, store, sender


def _gp(num: str) -> dict[str, Any]:
    return {"eventId": f"g-{num}", "numUnique": num, "operation": "AJO", "idEvenement": 1,
            "codeTypeEvenement": "VISITE", "catalogueVersion": None,
            "dateSurvenance": "2024-01-01", "auteur": "a1", "commentaire": None,
            "reglementaire": False, "aPublierSurPGP": False, "caracteristiques": {},
            "occurredAt": 1_700_000_000_000, "source": "test"}  # fmt: skip


def _bad(shape: str, codec: Any, rnd: random.Random,
         schema: str = "DemandeEvent") -> tuple[bytes | None, bytes | None]:  # fmt: skip
    """(key, value) of one bad record of ``shape`` (the valid base: a ``schema``)."""
    n = new_num_unique()
    valid = codec.encode(schema, demande_event(n, [ROUEN]) if schema == "DemandeEvent" else _gp(n))
    num = n.encode()
    if shape == "tombstone":
        return num, None
    if shape == "keyless":
        return None, valid
    if shape == "random":
        return num, rnd.randbytes(rnd.randint(0, 300))
    if shape == "oversize":
        return num, valid + rnd.randbytes(MAX)
    if shape == "other_schema":
        return num, codec.encode("ActorFilters", {})
    if shape == "truncated":
        return num, valid[: rnd.randint(10, len(valid) - 1)]
    return b"not-" + num, valid  # key_mismatch: the record's key is not its numUnique


@pytest.fixture(scope="module")
def valid_events(codec: Any) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(6):
        num = new_num_unique()
        op = "CRE"
        for _ in range(2):
            out.append((num.encode(), codec.encode("DemandeEvent", demande_event(
                num, [ROUEN], operation=op, event_id=f"e-{num}-{op}-{i}"))))  # fmt: skip
            op = "MOD"
    return out


def _feed(sender: MemorySender) -> list[bytes]:
    return [v for _, v in sender.sent.get(topics.feed_topic("rouen"), [])]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(st.sampled_from(sorted(SHAPES)), min_size=1, max_size=12),
    seed=st.integers(0, 2**32),
    headers=st.lists(st.tuples(st.sampled_from(["passerelle-dlq-replay", "x", ""]),
                               st.binary(max_size=40)), max_size=3),
)
def test_bad_records_never_cost_a_valid_event(
        geography: Any, codec: Any, valid_events: list[tuple[bytes, bytes]],
        shapes: list[str], seed: int, headers: list[tuple[str, bytes]]) -> None:  # fmt: skip
    rnd = random.Random(seed)
    alone, _, alone_sender = _processor(geography, codec)
    asyncio.run(alone.process([InputRecord(topics.DEMANDES, 0, i, k, v)
                               for i, (k, v) in enumerate(valid_events)]))  # fmt: skip
    # interleave: the valid events keep their order, the bad ones fall anywhere
    stream: list[tuple[str | None, bytes | None, bytes | None]] = [
        (None, k, v) for k, v in valid_events]
    for shape in shapes:
        stream.insert(rnd.randint(0, len(stream)), (shape, *_bad(shape, codec, rnd)))
    records = [InputRecord(topics.DEMANDES, 0, i, k, v, tuple(headers))
               for i, (_, k, v) in enumerate(stream)]  # fmt: skip
    proc, _, sender = _processor(geography, codec)
    half = rnd.randint(0, len(records))  # two batches, cut anywhere
    asyncio.run(proc.process(records[:half]))
    asyncio.run(proc.process(records[half:]))

    assert _feed(sender) == _feed(alone_sender)
    letters = [codec.decode_as(v, "DeadLetter") for _, v in sender.sent.get(topics.DLQ, [])]
    bad = {i: shape for i, (shape, _, _) in enumerate(stream) if shape is not None}
    assert sorted(letter["sourceOffset"] for letter in letters) == sorted(bad)
    for letter in letters:
        shape = bad[letter["sourceOffset"]]
        expected = SHAPES[shape]
        if expected is not None:
            assert letter["reason"] == expected, (shape, letter["message"])
        else:
            assert letter["reason"] in {"undecodable", "unknown_schema", "too_large"}
        original = stream[letter["sourceOffset"]][2]
        assert letter["payload"] == original  # kept whole for the replay (null: tombstone)


def test_a_letter_too_large_for_the_dlq_keeps_everything_but_the_payload(
        geography: Any, codec: Any) -> None:  # fmt: skip
    proc, _, sender = _processor(geography, codec)
    proc.max_record_bytes = 10 << 20
    huge = b"\xc3\x01" + bytes(1_100_000)
    asyncio.run(proc.process([InputRecord(topics.DEMANDES, 3, 42, b"k", huge)]))
    (key, value), = sender.sent[topics.DLQ]
    letter = codec.decode_as(value, "DeadLetter")
    assert key == b"k" and letter["payload"] is None and letter["payloadSize"] == len(huge)
    assert "hub.demandes:3:42" in letter["message"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_gestion_partagee_bad_records_are_dead_lettered(geography: Any, codec: Any,
                                                        shape: str) -> None:  # fmt: skip
    """hub.evenements used to crash its agent on a tombstone (issue 19, point 1)."""
    key, value = _bad(shape, codec, random.Random(1), "EvenementGP")
    sender = MemorySender()
    sent = asyncio.run(evenements.handle(value, key, MemoryStore(1), _index(geography), codec,
                                         sender, partition=0, offset=7,
                                         max_record_bytes=MAX))  # fmt: skip
    assert sent == 0
    (_, letter_bytes), = sender.sent[topics.DLQ]
    letter = codec.decode_as(letter_bytes, "DeadLetter")
    assert letter["sourceTopic"] == topics.EVENEMENTS and letter["sourceOffset"] == 7
    if SHAPES[shape] is not None:
        assert letter["reason"] == SHAPES[shape]
