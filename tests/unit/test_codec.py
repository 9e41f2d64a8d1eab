"""Single-object Avro codec: round trips, interop, evolution, hostile input."""

from __future__ import annotations

import contextlib
import io
import json
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, load_schema, to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.interfacenuu import parse_demande_xml
from hub.core.errors import ConfigError, DecodeError, InputError
from schemas import AVRO_DIR, HEADER_SIZE, MARKER, Codec, SchemaRegistry, get_codec
from schemas.compiled import write_long
from tests.unit.test_interfacenuu import DATA, snapshots

T0 = 1_709_645_412_250


def event(demande: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    base = {
        "eventId": "e-1",
        "numUnique": "057121507390310691",
        "operation": "MOD",
        "occurredAt": T0,
        "source": "test",
        "changedFields": ["demandeLogement.precision"],
        "versionInterface": "02.01",
        "demande": demande,
        "profile": "consultant_simple",
    }
    return base | over


@pytest.fixture(scope="module")
def codec() -> Codec:
    return get_codec()


@pytest.fixture(scope="module")
def rich() -> dict[str, Any]:
    return parse_demande_xml((DATA / "demande_complete.xml").read_bytes())


def samples(rich: dict[str, Any]) -> dict[str, dict[str, Any]]:
    actor = {
        "id": "a1",
        "name": "Bailleur",
        "kind": "bailleur",
        "profile": "consultant_simple",
        "filters": {
            "communes": ["57463"],
            "epcis": [],
            "departements": ["57"],
            "typologies": ["T3"],
            "premierChoixSeulement": True,
        },
        "deliveryChannel": "kafka",
        "deliveryOptions": {"topic": "x"},
        "version": 3,
        "updatedAt": T0,
        "deleted": False,
        "enregistreur": True,
    }
    gp = {
        "eventId": "g1",
        "numUnique": "n",
        "operation": "AJO",
        "idEvenement": 2**40,
        "codeTypeEvenement": "VISITE",
        "catalogueVersion": None,
        "dateSurvenance": "2024-01-01",
        "auteur": "a1",
        "commentaire": "é",
        "reglementaire": True,
        "aPublierSurPGP": False,
        "caracteristiques": {"k": "v"},
        "occurredAt": T0,
        "source": "s",
    }
    return {
        "DemandeEvent": rich,
        "ActorRegistration": actor,
        "DispatchControl": {"controlId": "c", "issuedAt": T0, "actor": actor},
        "EvenementGP": gp,
        "DeadLetter": {
            "reason": "undecodable",
            "message": "m",
            "sourceTopic": "t",
            "sourcePartition": 0,
            "sourceOffset": 2**40,
            "key": b"\x00k",
            "payload": b"\xc3\x01junk",
            "payloadSize": 6,
            "failedAt": T0,
            "attempts": 2,
            "history": [{"reason": "r", "message": "m", "failedAt": 1}],
        },
        "FeedRecord": {
            "kind": "DEMANDE",
            "eventId": "e",
            "numUnique": "n",
            "operation": "MOD",
            "demandeVersion": 7,
            "occurredAt": T0,
            "dispatchedAt": T0 + 1,
            "profile": "consultant_simple",
            "reason": None,
            "changedFields": [],
            "delaiAnormalementLong": True,
            "delaiAnormalementLongSource": "sne",
            "cotations": [
                {
                    "epci": "200023414",
                    "versionGrille": "1",
                    "dateReference": "2025-09-01",
                    "total": 60,
                    "horsCotation": False,
                    "maximum": 860,
                    "criteres": [
                        {
                            "code": "REPRISE_ACTIVITE",
                            "statut": "rempli",
                            "points": 40,
                            "declarePar": "rouen-habitat",
                        },
                        {
                            "code": "RESSOURCES_Q1",
                            "statut": "indetermine",
                            "points": 0,
                            "declarePar": None,
                        },
                    ],
                }
            ],
            "demande": rich["demande"],
            "evenement": gp,
        },
    }


def test_round_trip_every_schema(codec: Codec, rich: dict[str, Any]) -> None:
    for name, record in samples(rich).items():
        data = codec.encode(name, record)
        assert data[:2] == MARKER
        assert codec.decode(data) == (name, record)
        assert codec.decode_as(data, name) == record


def test_timestamps_are_plain_ints(codec: Codec) -> None:
    _, rec = codec.decode(codec.encode("DemandeEvent", event()))
    assert rec["occurredAt"] == T0 and type(rec["occurredAt"]) is int


def test_missing_fields_take_defaults(codec: Codec) -> None:
    rec = {k: v for k, v in event().items() if k not in ("changedFields", "demande")}
    assert codec.decode_as(codec.encode("DemandeEvent", rec), "DemandeEvent")["changedFields"] == []


def _plain(v: Any) -> Any:  # other implementations return datetimes for timestamp-millis
    if isinstance(v, datetime):
        return int(v.replace(tzinfo=v.tzinfo or UTC).timestamp() * 1000)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def test_interop_fastavro_reads_our_bytes_from_the_avsc_files(codec: Codec, rich: dict) -> None:
    for name, record in samples(rich).items():
        data = codec.encode(name, record)
        path = next(AVRO_DIR.glob(f"*.{name}.avsc"))
        schema = load_schema(str(path))  # resolves the other files on its own
        fp = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
        assert data[2:HEADER_SIZE] == bytes.fromhex(fp), name
        assert _plain(schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), schema)) == record
        out = io.BytesIO()
        schemaless_writer(out, schema, record)  # and we write exactly what fastavro writes
        assert out.getvalue() == data[HEADER_SIZE:], name


def test_interop_apache_avro(codec: Codec, rich: dict[str, Any]) -> None:
    avro_schema = pytest.importorskip("avro.schema")  # test dependency: pip install avro
    avro_io = pytest.importorskip("avro.io")
    names = avro_schema.Names()
    parsed = {}
    order = [
        "sne.Demande",
        "hub.ActorFilters",
        "hub.ActorRegistration",
        "hub.EvenementGP",
        "hub.DemandeEvent",
        "hub.DispatchControl",
        "hub.DeadLetter",
        "hub.FeedRecord",
    ]
    for name in order:  # dependencies first, one shared name table: only the .avsc files
        raw = json.loads((AVRO_DIR / f"fr.passerelle.{name}.avsc").read_text("utf-8"))
        parsed[raw["name"]] = avro_schema.make_avsc_object(raw, names)
    for name, record in samples(rich).items():
        data = codec.encode(name, record)
        reader = avro_io.DatumReader(parsed[name])
        got = reader.read(avro_io.BinaryDecoder(io.BytesIO(data[HEADER_SIZE:])))
        assert _plain(got) == record, name


def test_schema_evolution_v1_message_decodes_with_current_reader(codec: Codec) -> None:
    v1 = json.loads((AVRO_DIR / "history" / "DemandeEvent.v1.avsc").read_text())
    assert {f["name"] for f in v1["fields"]}.isdisjoint({"changedFields", "versionInterface"})
    ws = codec.registry.version("DemandeEvent", "v1")
    old = {
        k: v
        for k, v in event({"demandeLogement": {"numGuichet": "10691"}}).items()
        if k not in ("changedFields", "versionInterface")
    }
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, old)
    data = MARKER + ws.fingerprint + body.getvalue()
    name, rec = codec.decode(data)
    assert name == "DemandeEvent"
    assert rec["changedFields"] == [] and rec["versionInterface"] == "02.01"  # defaults
    assert rec["demande"]["demandeLogement"]["numGuichet"] == "10691"
    assert codec.decode_as(data, "DemandeEvent") == rec


@pytest.mark.parametrize("name", ["ActorRegistration", "DispatchControl"])
def test_actor_registration_v1_decodes_without_a_write_right(
        codec: Codec, rich: dict[str, Any], name: str) -> None:  # fmt: skip
    """Registrations written before ``enregistreur`` (on hub.actors, in the controls of
    hub.demandes) still decode: null, the default of the actor's kind."""
    from hub.domain.actors import Actor

    ws = codec.registry.version(name, "v1")
    actor = {k: v for k, v in samples(rich)["ActorRegistration"].items() if k != "enregistreur"}
    old = actor if name == "ActorRegistration" else {"controlId": "c", "issuedAt": T0,
                                                     "actor": actor}  # fmt: skip
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, old)
    got_name, rec = codec.decode(MARKER + ws.fingerprint + body.getvalue())
    registration = rec if name == "ActorRegistration" else rec["actor"]
    assert got_name == name and registration == {**actor, "enregistreur": None}
    assert Actor.from_avro(registration).writes_demands  # a bailleur: by its kind


def test_decode_as_refuses_another_schema(codec: Codec, rich: dict) -> None:
    data = codec.encode("EvenementGP", samples(rich)["EvenementGP"])
    with pytest.raises(DecodeError, match="expected a DemandeEvent message, got EvenementGP"):
        codec.decode_as(data, "DemandeEvent")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "shorter than the 10-byte header"),
        (b"\xc3\x01\x00", "shorter than the 10-byte header"),
        (b"\x00\x01" + bytes(20), "bad marker"),
        (b"\xc3\x01" + bytes(8) + b"\x00", "unknown writer schema fingerprint"),
        ("text", "expected bytes"),
    ],
)
def test_malformed_headers(codec: Codec, data: Any, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        codec.decode(data)


def test_truncated_and_trailing(codec: Codec, rich: dict[str, Any]) -> None:
    data = codec.encode("DemandeEvent", rich)
    for cut in range(HEADER_SIZE, len(data)):
        with pytest.raises(DecodeError):
            codec.decode(data[:cut])
    with pytest.raises(DecodeError, match="1 trailing bytes"):
        codec.decode(data + b"\x00")


def test_oversize_refused_both_ways(rich: dict[str, Any]) -> None:
    small = Codec(get_codec().registry, max_bytes=200)
    with pytest.raises(InputError, match="above the 200 cap"):
        small.encode("DemandeEvent", rich)
    data = get_codec().encode("DemandeEvent", rich)
    with pytest.raises(DecodeError, match="above the 200 cap") as err:
        small.decode(data)
    assert err.value.code == "too_large"


def test_huge_declared_array_fails_fast_with_bounded_memory(codec: Codec) -> None:
    head = bytearray(MARKER + codec.registry.current("DemandeEvent").fingerprint)
    for text in (b"e-1", b"057121507390310691", b"MOD"):  # eventId, numUnique, operation
        write_long(len(text), head)
        head += text
    write_long(T0, head)  # occurredAt
    write_long(4, head)
    head += b"test"  # source
    write_long(50_000_000, head)  # changedFields: 50 million items announced...
    payload = bytes(head) + b"\x02a"  # ...one present
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(DecodeError, match="DemandeEvent"):
        codec.decode(payload)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.05 and peak < 1_000_000, (elapsed, peak)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    codec = get_codec()
    for payload in (data, MARKER + codec.registry.current("DemandeEvent").fingerprint + data):
        with contextlib.suppress(DecodeError):
            codec.decode(payload)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupted_messages_only_raise_decode_error(data: st.DataObject) -> None:
    codec = get_codec()
    msg = bytearray(codec.encode("DemandeEvent", event({"demandeLogement": {"numGuichet": "1"}})))
    pos = data.draw(st.integers(HEADER_SIZE, len(msg) - 1))
    msg[pos] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        codec.decode(bytes(msg))


@pytest.mark.parametrize(
    ("record", "where"),
    [
        (event(occurredAt="yesterday"), "DemandeEvent.occurredAt: expected long, got str"),
        (event(eventId=None), "DemandeEvent.eventId"),
        (event(extra=1), "unknown fields extra"),
        ({k: v for k, v in event().items() if k != "source"}, "source: missing"),
        (event({"demandeLogement": {"numGuichet": 10691}}), "DemandeLogement.numGuichet"),
        (event({"demandeLogement": {"nope": "Dupont"}}), "unknown fields nope"),
        (event(occurredAt=True), "expected long, got bool"),
        (event(occurredAt=2**64), "occurredAt"),
        (event(eventId="\ud800"), "not encodable"),
        (event(changedFields="abc"), "changedFields: expected a array"),
    ],
)
def test_encode_errors_name_the_field_not_the_value(
    codec: Codec, record: dict[str, Any], where: str
) -> None:
    with pytest.raises(InputError) as err:
        codec.encode("DemandeEvent", record)
    assert where in str(err.value)
    assert "Dupont" not in str(err.value) and "yesterday" not in str(err.value)
    assert not isinstance(err.value, DecodeError)


def test_encode_unknown_schema_and_non_dict(codec: Codec) -> None:
    with pytest.raises(InputError, match="unknown schema name"):
        codec.encode("Nope", {})
    with pytest.raises(InputError, match="expected a dict"):
        codec.encode("DemandeEvent", [])  # type: ignore[arg-type]


def test_registry_refuses_zero_size_array_items(tmp_path: Path) -> None:
    (tmp_path / "x.Bad.avsc").write_text(
        json.dumps(
            {
                "type": "record",
                "name": "Bad",
                "namespace": "x",
                "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}],
            }
        )
    )
    with pytest.raises(ConfigError, match="0 bytes"):
        SchemaRegistry(tmp_path)


def test_registry_names_and_fingerprints(codec: Codec) -> None:
    names = codec.registry.names()
    for n in (
        "DemandeEvent",
        "FeedRecord",
        "ActorRegistration",
        "DispatchControl",
        "DeadLetter",
        "EvenementGP",
        "Demande",
    ):
        assert n in names
        ws = codec.registry.current(n)
        pcf = to_parsing_canonical_form(parse_schema(ws.schema))
        assert ws.fingerprint == bytes.fromhex(fingerprint(pcf, "CRC-64-AVRO"))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(snapshots(for_xml=False))
def test_generated_snapshots_round_trip_and_match_fastavro(demande: dict[str, Any]) -> None:
    codec = get_codec()
    data = codec.encode("DemandeEvent", event(demande))
    assert codec.decode_as(data, "DemandeEvent")["demande"] == demande
    ws = codec.registry.current("DemandeEvent")
    out = io.BytesIO()
    schemaless_writer(out, ws.parsed, event(demande))
    assert out.getvalue() == data[HEADER_SIZE:]


def test_throughput_report(codec: Codec, rich: dict[str, Any]) -> None:
    """Not a benchmark gate: prints the per-message cost (see ``pytest -s``)."""
    small = event(
        {
            "demandeLogement": {
                "numGuichet": "10691",
                "logementRecherche": {
                    "listeLocalisationSouhaite": [{"commune": "57463"}],
                    "listeTypeLogement": ["T3"],
                },
            }
        }
    )
    for label, rec in (("small", small), ("full", rich)):
        data = codec.encode("DemandeEvent", rec)
        n = 300
        t0 = time.perf_counter()
        for _ in range(n):
            codec.encode("DemandeEvent", rec)
        t1 = time.perf_counter()
        for _ in range(n):
            codec.decode(data)
        t2 = time.perf_counter()
        print(f"{label}: encode {(t1 - t0) / n * 1e6:.0f} us, decode {(t2 - t1) / n * 1e6:.0f} us")
        assert (t2 - t1) / n < 0.05  # generous: catches a per-call schema parse


def test_the_fingerprint_table_is_complete_and_true(tmp_path: Any) -> None:
    """schemas/avro/fingerprints.json (fingerprints read instead of computed in every
    process) holds every schema's, current and historical, each equal to fastavro's own
    (a schema changed without ``write_fingerprints`` fails here); a schema absent from the
    table is fingerprinted as before, and a wrong entry is never what a table-less
    registry computes (the table is checked, not trusted, here)."""
    import json
    import shutil

    from fastavro.schema import fingerprint, to_parsing_canonical_form

    from schemas.registry import AVRO_DIR, FINGERPRINTS, SchemaRegistry

    table = json.loads((AVRO_DIR / FINGERPRINTS).read_text())
    copy = tmp_path / "avro"
    shutil.copytree(AVRO_DIR, copy)
    (copy / FINGERPRINTS).unlink()
    alone = SchemaRegistry(copy)  # every fingerprint computed by fastavro
    assert table == alone.computed
    for ws in SchemaRegistry()._by_fp.values():
        computed = fingerprint(to_parsing_canonical_form(ws.schema), "CRC-64-AVRO")
        assert ws.fingerprint.hex() == computed, ws.fullname
