"""FeedRecord's fields of issue 20 (the délai flag, the cotations) evolve the schema
compatibly (schemas/avro/history/FeedRecord.v3.avsc archived): a record written before
decodes with the new fields at their defaults, a reader still on the previous schema
reads a current record (the new fields skipped), and the consumer guide's Python example
decodes both."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas import MARKER, get_codec
from tests.support.demandes import demande_event, new_num_unique

ROOT = Path(__file__).resolve().parents[2]
#: FeedRecord writer fingerprints in use before issue 20's fields
BEFORE = {"fc0440e71647edb1", "fbdb7bfc8135cc43"}
NEW: dict[str, Any] = {
    "delaiAnormalementLong": None,
    "delaiAnormalementLongSource": None,
    "cotations": [],
}


def _record() -> dict[str, Any]:
    """A record as the codec reads it back (the snapshot's optional fields filled)."""
    num = new_num_unique()
    codec = get_codec()
    rec = {"kind": "DEMANDE", "eventId": "e-1", "numUnique": num, "operation": "CRE",
           "demandeVersion": 1, "occurredAt": 1_750_000_000_000,
           "dispatchedAt": 1_750_000_000_001, "profile": "consultant_simple", "reason": None,
           "changedFields": [], "demande": demande_event(num, ["76540"])["demande"],
           "evenement": None}  # fmt: skip
    back: dict[str, Any] = codec.decode_as(codec.encode("FeedRecord", rec), "FeedRecord")
    return {k: v for k, v in back.items() if k not in NEW}


def _scored(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "delaiAnormalementLong": True, "delaiAnormalementLongSource": "hub",
            "cotations": [{"epci": "200023414", "versionGrille": "1",
                           "dateReference": "2026-01-31", "total": 40, "horsCotation": False,
                           "maximum": 860, "criteres": [
                               {"code": "DIVORCE_SEPARATION", "statut": "rempli",
                                "points": 20, "declarePar": None}]}]}  # fmt: skip


def test_earlier_writers_are_kept_and_decode_with_the_defaults() -> None:
    codec = get_codec()
    registry = codec.registry
    for fp in BEFORE:
        ws = registry.by_fingerprint(bytes.fromhex(fp))
        assert ws is not None and ws.name == "FeedRecord" and ws.version != "current"
    v3 = registry.version("FeedRecord", "v3")
    assert v3.fingerprint.hex() == "fbdb7bfc8135cc43"
    rec = _record()
    body = io.BytesIO()
    schemaless_writer(body, v3.parsed, rec)
    got = codec.decode_as(MARKER + v3.fingerprint + body.getvalue(), "FeedRecord")
    assert got == {**rec, **NEW}


def test_a_reader_on_the_previous_schema_reads_a_current_record() -> None:
    codec = get_codec()
    rec = _scored(_record())
    data = codec.encode("FeedRecord", rec)
    current = codec.registry.current("FeedRecord")
    assert data[2:10] == current.fingerprint
    old_reader = parse_schema(json.loads(
        (ROOT / "schemas/avro/history/FeedRecord.v3.avsc").read_text("utf-8")))  # fmt: skip
    got = schemaless_reader(io.BytesIO(data[10:]), current.parsed, old_reader)
    assert got == {k: v for k, v in rec.items() if k not in NEW}


def test_the_python_example_decodes_both_versions() -> None:
    spec = importlib.util.spec_from_file_location(
        "feed_consumer", ROOT / "examples/python-consumer/feed_consumer.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    reader, writers = example.feed_schemas(ROOT / "schemas/avro")
    codec = get_codec()
    rec = _scored(_record())
    got = example.decode(codec.encode("FeedRecord", rec), reader, writers)
    assert (got["delaiAnormalementLong"], got["cotations"][0]["total"]) == (True, 40)
    v3 = codec.registry.version("FeedRecord", "v3")
    body = io.BytesIO()
    schemaless_writer(body, v3.parsed, _record())
    old = example.decode(MARKER + v3.fingerprint + body.getvalue(), reader, writers)
    assert (old["delaiAnormalementLong"], old["cotations"]) == (None, [])
    assert example.summary(got)["delaiAnormalementLong"] is True
    assert example.summary(got)["cotations"] == {"200023414": 40}
