"""The document index on the wire: the hub extension field of the Demande snapshot.

Adding ``piecesJustificatives`` changed the canonical form of Demande and of every schema
embedding it (DemandeEvent, DemandeState, FeedRecord): the previous writer versions are
archived in ``schemas/avro/history`` so records already on the topics still decode, with
the new field at its default (null). The compiled writer/reader handle the new record
like fastavro does, and the InterfaceNuu XML mapping ignores the extension."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer

from connectors.interfacenuu import parse_demande_xml, render_demande_xml
from hub.core.errors import InputError
from schemas import HEADER_SIZE, MARKER, get_codec
from tests.support.profile_cases import full_case

#: Writer fingerprints in use before the document index: each must still be known, under
#: the same name, or records already on the topics would stop decoding.
BEFORE = {
    "90fbe27f81047ea6": "Demande",
    "9317711457479e26": "DemandeEvent",
    "ff4b520bb5930f1f": "DemandeEvent",
    "846a56fb5ebf298e": "DemandeState",
    "3cb3d50017f63c36": "DemandeState",
    "06c95cd32442203e": "DemandeState",
    "fc0440e71647edb1": "FeedRecord",
}


def test_every_earlier_writer_schema_is_still_known() -> None:
    registry = get_codec().registry
    for fp, name in BEFORE.items():
        ws = registry.by_fingerprint(bytes.fromhex(fp))
        assert ws is not None and ws.name == name, fp
        assert ws.version != "current", fp  # the extension made a new current version


def _without_index(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_index(v) for k, v in value.items() if k != "piecesJustificatives"}
    if isinstance(value, list):
        return [_without_index(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "version"), [
    ("DemandeEvent", "v2"), ("FeedRecord", "v1"), ("DemandeState", "v3")])
def test_records_written_before_the_index_decode_with_a_null_index(
        name: str, version: str) -> None:
    codec = get_codec()
    event = full_case(6)
    old_demande = _without_index(event["demande"])
    records: dict[str, dict[str, Any]] = {
        "DemandeEvent": {**event, "demande": old_demande},
        "FeedRecord": {"kind": "DEMANDE", "eventId": "e", "numUnique": event["numUnique"],
                       "operation": "CRE", "demandeVersion": 1, "occurredAt": 1,
                       "dispatchedAt": 2, "profile": "consultant_simple", "reason": None,
                       "changedFields": [], "demande": old_demande, "evenement": None},
        "DemandeState": {"numUnique": event["numUnique"], "version": 1, "active": True,
                         "recipients": ["a"], "lastEventId": "e", "lastOperation": "CRE",
                         "occurredAt": 1, "partition": 0, "offset": 3, "demande": old_demande,
                         "former": []},
    }
    ws = codec.registry.version(name, version)
    body = io.BytesIO()
    schemaless_writer(body, ws.parsed, records[name])
    got = codec.decode_as(MARKER + ws.fingerprint + body.getvalue(), name)
    assert got["demande"]["piecesJustificatives"] is None
    assert got["demande"]["demandeLogement"]["numUnique"] == event["numUnique"]


def test_index_round_trips_and_compiled_writer_matches_fastavro() -> None:
    codec = get_codec()
    event = full_case(7)
    data = codec.encode("DemandeEvent", event)
    back = codec.decode_as(data, "DemandeEvent")
    assert back["demande"]["piecesJustificatives"] == event["demande"]["piecesJustificatives"]
    ws = codec.registry.current("DemandeEvent")
    ref = io.BytesIO()
    schemaless_writer(ref, ws.parsed, back)
    assert data[HEADER_SIZE:] == ref.getvalue()  # compiled writer == fastavro, byte for byte
    fo = io.BytesIO(data[HEADER_SIZE:])
    assert schemaless_reader(fo, ws.parsed, ws.parsed) == back


def test_a_piece_missing_a_required_field_is_refused_by_the_codec() -> None:
    event = full_case(8)
    del event["demande"]["piecesJustificatives"][0]["dateDepot"]
    with pytest.raises(InputError):
        get_codec().encode("DemandeEvent", event)


def test_interfacenuu_xml_neither_carries_nor_accepts_the_index() -> None:
    event = full_case(9)
    event["operation"] = "MOD"
    xml = render_demande_xml(event)
    assert b"piecesJustificatives" not in xml and b"urn:test:piece" not in xml
    assert parse_demande_xml(xml, validate=False)["demande"]["piecesJustificatives"] is None
    forged = xml.replace(b"</demande>", b"<piecesJustificatives/></demande>")
    with pytest.raises(InputError, match="unexpected element piecesJustificatives"):
        parse_demande_xml(forged, validate=False)
