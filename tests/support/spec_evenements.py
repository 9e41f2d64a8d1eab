"""Gestion partagée events made from the specification, not from the hub's own code.

The record is the smallest the EvenementGP Avro schema (``schemas/avro/``) allows, every
default filled in by fastavro (an independent Avro implementation); its type code and its
mandatory specific fields come from the event-type catalogue as docs/api.md publishes it
(the table under "Event-type catalogue"), each given a value of its declared type.
:func:`spec_bytes` writes the record as a producer of ``hub.evenements`` must: Avro
single-object encoding (marker, CRC-64-AVRO fingerprint of the schema, body), by fastavro.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from functools import cache
from typing import Any

import fastavro
import fastavro.schema

from tests.support.spec_events import AVRO, ROOT

_ROW = re.compile(r"^\| `(?P<code>[A-Z0-9_]+)` \|.*\| (?P<champs>[^|]*) \|$")
_FIELD = re.compile(
    r"(?P<code>[A-Z0-9_]+):(?P<type>[A-Z]{3})(?P<req>\*?)(?: \(v\))?"
    r"(?: \[(?P<values>[^\]]*)\])?"
)


@cache
def evenement_schema() -> Any:
    raw = json.loads((AVRO / "fr.passerelle.hub.EvenementGP.avsc").read_text())
    return fastavro.parse_schema(raw)


@cache
def catalogue() -> dict[str, dict[str, tuple[str, bool, tuple[str, ...]]]]:
    """code -> {field: (type, mandatory, values)} of the catalogue table of docs/api.md."""
    out: dict[str, dict[str, tuple[str, bool, tuple[str, ...]]]] = {}
    for line in (ROOT / "docs" / "api.md").read_text().splitlines():
        row = _ROW.match(line.strip())
        if row is None or "|" in row["champs"]:
            continue
        fields = {}
        for f in _FIELD.finditer(row["champs"]):
            values = tuple((f["values"] or "").split("/")) if f["values"] else ()
            fields[f["code"]] = (f["type"], f["req"] == "*", values)
        out[row["code"]] = fields
    assert {"VISPROP", "DESIGCAL", "DECISCAL", "BAILSIGNE"} <= set(out), "catalogue not found"
    return out


def _value(kind: str, values: tuple[str, ...]) -> str:
    return {"DAT": "2025-06-02", "INT": "1", "BOO": "true"}.get(kind) or (
        values[0] if values else "texte"
    )


def spec_evenement(
    num_unique: str, code: str = "VISPROP", *, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """A complete EvenementGP dict of type ``code``: its mandatory fields, then ``fields``."""
    wanted = {
        name: _value(kind, values)
        for name, (kind, required, values) in catalogue()[code].items()
        if required
    }
    minimal = {
        "eventId": str(uuid.uuid4()),
        "numUnique": num_unique,
        "codeTypeEvenement": code,
        "dateSurvenance": "2025-06-01",
        "auteur": "spec-author",
        "caracteristiques": {**wanted, **(fields or {})},
        "occurredAt": int(time.time() * 1000),
        "source": "test-spec",
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, evenement_schema(), minimal)
    buf.seek(0)
    full = fastavro.schemaless_reader(buf, evenement_schema())
    assert isinstance(full, dict)
    full["occurredAt"] = minimal["occurredAt"]  # fastavro reads timestamp-millis as datetime
    return full


def spec_bytes(evenement: dict[str, Any]) -> bytes:
    """``evenement`` in Avro single-object encoding, written by fastavro."""
    schema = evenement_schema()
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, evenement)
    return b"\xc3\x01" + fingerprint + buf.getvalue()
