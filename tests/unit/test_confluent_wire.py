"""The feeds' optional Confluent wire format (issue 21.7), against the format's definition:
byte 0 is the magic byte 0, bytes 1-4 the schema id as a big-endian 32-bit integer, the
rest the Avro binary body (Confluent Schema Registry documentation, "Wire format"). The
expected bytes are built here with ``struct`` from that definition, not with the code
under test. Also: the hub's own readers read both framings, the worker's FeedBytes writes
every kind in the chosen one, and a registry that never answers is a retriable error
after the configured time, never a fallback."""

from __future__ import annotations

import io
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastavro import schemaless_reader
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import feedbytes
from dispatch.feedbytes import FeedBytes
from hub.core.backoff import Backoff
from hub.core.errors import DecodeError
from hub.core.schema_registry import RegistryClient, RegistryUnavailable, register_with_retries
from schemas import get_codec
from schemas.confluent import IDS, MAX_ID, SchemaIds, frame, schema_fingerprint, unframe

ids = st.integers(min_value=0, max_value=MAX_ID)
bodies = st.binary(max_size=64)


@settings(deadline=None)  # a loaded machine: the first example may be slow
@given(ids, bodies)
def test_frame_is_magic_then_big_endian_id_then_body(schema_id: int, body: bytes) -> None:
    data = frame(schema_id, body)
    assert data == struct.pack(">bI", 0, schema_id) + body
    assert data[0] == 0 and len(data) == 5 + len(body)
    assert unframe(data) == (schema_id, body)


@given(st.integers().filter(lambda i: not 0 <= i <= MAX_ID))
def test_ids_outside_the_signed_32_bit_range_are_refused(schema_id: int) -> None:
    with pytest.raises(ValueError):
        frame(schema_id, b"")


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00\x01", b"\x01\x00\x00\x00\x01\x02",
                                  b"\xc3\x01" + bytes(8)])  # fmt: skip
def test_unframe_refuses_short_or_foreign_values(data: bytes) -> None:
    with pytest.raises(DecodeError):
        unframe(data)


@pytest.fixture()
def ids_table() -> Iterator[SchemaIds]:
    """The process's table, left as found (empty, no resolver)."""
    IDS.forget()
    yield IDS
    IDS.forget()
    feedbytes.use_wire(None)


def _record(kind: str = "RETRAIT", profile: str = "consultant_simple") -> dict[str, Any]:
    return {"kind": kind, "eventId": "e-1", "numUnique": "0761234567890AB12",
            "operation": "MOD", "demandeVersion": 3, "occurredAt": 1_700_000_000_000,
            "dispatchedAt": 1_700_000_000_500, "profile": profile,
            "reason": "hors_territoire", "changedFields": [], "demande": None,
            "evenement": None}  # fmt: skip


@settings(deadline=None)
@given(ids)
def test_reframing_keeps_the_avro_body_and_reads_back(schema_id: int) -> None:
    codec, table = get_codec(), SchemaIds()
    single = codec.encode("FeedRecord", _record())
    fp = codec.registry.current("FeedRecord").fingerprint
    table.learn(schema_id, fp)
    conf = table.to_confluent(single)
    assert conf == struct.pack(">bI", 0, schema_id) + single[10:]
    assert table.to_single_object(conf) == single
    # what an independent consumer does with the registry's schema: read the body
    body = schemaless_reader(io.BytesIO(conf[5:]), codec.registry.current("FeedRecord").parsed)
    assert isinstance(body, dict)
    assert body["kind"] == "RETRAIT" and body["demandeVersion"] == 3


def test_hub_readers_accept_both_framings(ids_table: SchemaIds) -> None:
    codec = get_codec()
    single = codec.encode("FeedRecord", _record())
    conf = b"\x00" + (7).to_bytes(4, "big") + single[10:]
    with pytest.raises(DecodeError, match="unknown schema id 7") as err:
        codec.decode_as(conf, "FeedRecord")  # no id learned, no resolver
    assert err.value.code == "unknown_schema"
    asked: list[int] = []
    fp = codec.registry.current("FeedRecord").fingerprint

    def resolve(i: int) -> bytes | None:
        asked.append(i)
        return fp if i == 7 else None

    ids_table.resolver = resolve
    assert codec.decode_as(conf, "FeedRecord") == codec.decode_as(single, "FeedRecord")
    assert codec.decode_as(conf, "FeedRecord")["reason"] == "hors_territoire"
    assert asked == [7]  # learned: asked once
    with pytest.raises(DecodeError, match="unknown schema id 8"):
        codec.decode_as(b"\x00" + (8).to_bytes(4, "big") + single[10:], "FeedRecord")


def test_feed_bytes_write_the_chosen_framing(ids_table: SchemaIds) -> None:
    codec = get_codec()
    fp = codec.registry.current("FeedRecord").fingerprint
    ids_table.learn(42, fp)
    records = [_record(), _record(profile="consultant_sensible"), _record(kind="RADIATION")]
    plain = [FeedBytes(codec).encode(r) for r in records]
    assert all(v[:2] == b"\xc3\x01" for v in plain)
    feedbytes.use_wire(ids_table.to_confluent)
    fb = FeedBytes(codec)  # the second record is spliced from the first (profile only)
    framed = [fb.encode(r) for r in records]
    for v, p, r in zip(framed, plain, records, strict=True):
        assert v[:5] == b"\x00\x00\x00\x00\x2a" and v[5:] == p[10:]
        assert codec.decode_as(v, "FeedRecord")["profile"] == r["profile"]
    feedbytes.use_wire(None)
    assert FeedBytes(codec).encode(records[0]) == plain[0]


def test_schema_fingerprint_matches_the_hubs_own() -> None:
    import json

    ws = get_codec().registry.current("FeedRecord")
    assert schema_fingerprint(json.dumps(ws.schema)) == ws.fingerprint


def test_unreachable_registry_is_retriable_after_the_deadline() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RegistryClient(f"http://127.0.0.1:{port}/apis/ccompat/v7", timeout_s=0.5)
    waits: list[float] = []

    def sleep(w: float) -> None:
        waits.append(w)
        time.sleep(w)

    t0 = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="gave up registering") as err:
        exact = Backoff(0.1, 0.4, jitter=(1.0, 1.0))
        register_with_retries(client, "s", {"type": "string"}, timeout_s=1.0, backoff=exact,
                              sleep=sleep)  # fmt: skip
    assert err.value.retriable and f"127.0.0.1:{port}" in str(err.value)
    assert waits[:3] == [0.1, 0.2, 0.4] and sum(waits) <= 1.0  # the house back-off, bounded
    assert time.monotonic() - t0 < 5


def test_wire_format_setting(ids_table: SchemaIds) -> None:
    from dispatch.feedwire import configure_feed_wire
    from hub.core.errors import ConfigError
    from hub.core.settings import HubSettings, RegistrySettings

    record = _record()
    feedbytes.use_wire(ids_table.to_confluent)  # left over: the default setting resets it
    assert configure_feed_wire(HubSettings()) is None
    assert FeedBytes(get_codec()).encode(record)[:2] == b"\xc3\x01"
    unset = HubSettings(registry=RegistrySettings(wire_format="confluent"))
    with pytest.raises(ConfigError, match="needs HUB_REGISTRY__URL") as err:
        configure_feed_wire(unset)
    assert not err.value.retriable
    assert FeedBytes(get_codec()).encode(record)[:2] == b"\xc3\x01"  # never half-switched
