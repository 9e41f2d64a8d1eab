"""The snapshot's bytes as read, copied into states and feed records (schemas.splice,
dispatch.snapshotbytes): the same bytes as a full encode, and no full encode left."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dispatch.feed import feed_record
from dispatch.processor import Processor
from dispatch.snapshotbytes import SnapshotBytes
from hub.core import topics
from hub.core.errors import InputError
from hub.dev.generate import generate_demandes
from hub.domain.decisions import decide
from hub.domain.matching import TerritoryIndex
from schemas.codec import HEADER_SIZE, MARKER
from schemas.compiled import compile_schema
from schemas.registry import strip_logical
from schemas.splice import FieldSplice, same_type
from tests.support.demandes import demande_event, new_num_unique
from tests.support.memory import MemorySender, MemoryStore
from tests.unit.test_processor import ROUEN, actor, rec


def _snapshot_writer(codec: Any) -> Any:
    fields = strip_logical(codec.registry.current("DemandeEvent").schema)["fields"]
    return compile_schema(next(f for f in fields if f["name"] == "demande")["type"])[0]


def test_read_span_and_spliced_writes_equal_full_encodes(codec, geography) -> None:  # type: ignore[no-untyped-def]
    snaps = SnapshotBytes(codec)
    assert snaps.state is not None and snaps.feed is not None
    write_snapshot = _snapshot_writer(codec)
    index = TerritoryIndex(geography, [actor("sensible", profile="consultant_sensible",
                                             departements=["76", "75", "13", "69", "59"])])
    for event in generate_demandes(40, 7, geography=geography):
        data = codec.encode("DemandeEvent", event)
        name, record, raw = snaps.event_span(data)
        assert name == "DemandeEvent" and record == codec.decode(data)[1]
        assert raw == write_snapshot(record["demande"])
        state = decide(record, None, index, partition=1, offset=5, demande_bytes=raw).state
        assert state is not None and state.demande_bytes == raw
        assert snaps.encode_state(state) == codec.encode("DemandeState", state.to_avro())
        feed = feed_record(kind="DEMANDE", state=state, event_id=record["eventId"],
                           operation="CRE", occurred_at=record["occurredAt"],
                           changed_fields=[], profile="consultant_sensible", reason=None,
                           now_ms=1)
        assert snaps.encode_feed(feed, raw) == codec.encode("FeedRecord", feed)


def test_older_writer_and_other_schemas_give_no_bytes(codec) -> None:  # type: ignore[no-untyped-def]
    snaps = SnapshotBytes(codec)
    event = demande_event(new_num_unique(), [ROUEN])
    v2 = codec.registry.version("DemandeEvent", "v2")
    old = MARKER + v2.fingerprint + v2.write({k: v for k, v in event.items()
                                             if k in {f["name"] for f in v2.schema["fields"]}})
    name, record, raw = snaps.event_span(old)
    assert name == "DemandeEvent" and raw is None and record == codec.decode(old)[1]
    control = codec.encode("DispatchPurge", {"purgeId": "p", "issuedAt": 1,
                                             "numUnique": event["numUnique"],
                                             "radiatedBefore": 1})
    assert snaps.event_span(control)[2] is None


def test_a_record_that_does_not_fit_raises_the_codecs_error(codec, geography) -> None:  # type: ignore[no-untyped-def]
    snaps = SnapshotBytes(codec)
    data = codec.encode("DemandeEvent", demande_event(new_num_unique(), [ROUEN]))
    _, record, raw = snaps.event_span(data)
    state = decide(record, None, TerritoryIndex(geography), demande_bytes=raw).state
    assert state is not None
    good = feed_record(kind="DEMANDE", state=state, event_id="e", operation="CRE",
                       occurred_at=1, changed_fields=[], profile="consultant_sensible",
                       reason=None, now_ms=1)
    bad = {**good, "profile": 5}
    with pytest.raises(InputError, match="FeedRecord"):
        snaps.encode_feed(bad, raw)
    with pytest.raises(InputError, match="unknown fields"):
        snaps.encode_feed({**bad, "profile": "x", "extra": 1}, raw)


def test_the_splice_declines_a_field_of_another_type(codec) -> None:  # type: ignore[no-untyped-def]
    reg = codec.registry
    assert same_type(reg.current("DemandeEvent"), "demande", reg.current("FeedRecord"), "demande")
    assert not same_type(reg.current("DemandeEvent"), "demande", reg.current("FeedRecord"),
                         "evenement")
    assert not FieldSplice(reg.current("FeedRecord"), "nope").usable


def test_processor_copies_the_snapshot_instead_of_encoding_it(codec, geography,  # type: ignore[no-untyped-def]
                                                              monkeypatch) -> None:
    index = TerritoryIndex(geography, [
        actor("sensible", profile="consultant_sensible", departements=["76"]),
        actor("simple", communes=[ROUEN]),
    ])
    store, sender = MemoryStore(4), MemorySender()
    proc = Processor(index, codec, store, sender)
    events = [demande_event(new_num_unique(), [ROUEN], handicap=i % 2 == 0) for i in range(6)]
    records = [rec(codec, "DemandeEvent", e, i) for i, e in enumerate(events)]
    full: list[str] = []
    encode = codec.encode

    def counting(name: str, record: dict[str, Any]) -> bytes:
        full.append(name)
        return encode(name, record)

    monkeypatch.setattr(codec, "encode", counting)
    asyncio.run(proc.process(records))
    # states: never encoded in full; feeds: only the cut snapshots of consultant_simple
    # (a withheld sensitive field), half of the demands
    assert full.count("DemandeState") == 0
    assert full.count("FeedRecord") == 3
    monkeypatch.undo()
    for e in events:  # what was stored and sent is what full encodes give
        key = e["numUnique"].encode()
        stored = store.get(key)
        assert stored is not None
        assert stored == codec.encode("DemandeState", codec.decode_as(stored, "DemandeState"))
    for t in (topics.feed_topic("sensible"), topics.feed_topic("simple")):
        values = [v for _, v in sender.sent[t]]
        assert len(values) == 6
        for v in values:
            assert v == codec.encode("FeedRecord", codec.decode_as(v, "FeedRecord"))
    sensible = [codec.decode_as(v, "FeedRecord") for _, v in
                sender.sent[topics.feed_topic("sensible")]]
    assert [r["demande"] for r in sensible] == [codec.decode(r.value)[1]["demande"]
                                                for r in records]
    assert stored[:HEADER_SIZE] == MARKER + codec.registry.current("DemandeState").fingerprint


def test_a_state_with_another_snapshot_never_carries_stale_bytes(codec, geography) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    snaps = SnapshotBytes(codec)
    data = codec.encode("DemandeEvent", demande_event(new_num_unique(), [ROUEN]))
    _, record, raw = snaps.event_span(data)
    state = decide(record, None, TerritoryIndex(geography), demande_bytes=raw).state
    assert state is not None and state.demande_bytes == raw
    assert replace(state, recipients=frozenset({"x"})).demande_bytes == raw  # same snapshot
    other = replace(state, demande={**state.demande, "piecesJustificatives": None})
    assert other.demande_bytes is None  # a new snapshot: encoded in full, never the old bytes
    assert snaps.encode_state(other) == codec.encode("DemandeState", other.to_avro())
