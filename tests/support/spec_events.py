"""Valid demand events made from the specification, not from the hub's own code.

The record is the smallest the DemandeEvent Avro schema (``schemas/avro/``) allows plus a
numéro unique and wished communes; fastavro (an independent Avro implementation) writes
and reads it back with the schema, so every field the schema defaults comes from the
``.avsc`` files. The communes are the wished ones of the SNE documents under
``tests/data/interfacenuu*``, read with a plain XPath. :func:`read_spec_event` decodes a
record of ``hub.demandes`` the same independent way.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
AVRO = ROOT / "schemas" / "avro"
DATA = ROOT / "tests" / "data" / "interfacenuu"
_HEADER = 10  # single-object encoding: C3 01 marker + 8-byte schema fingerprint


@cache
def demande_event_schema() -> Any:
    named: dict[str, Any] = {}
    fastavro.parse_schema(json.loads((AVRO / "fr.passerelle.sne.Demande.avsc").read_text()),
                          named_schemas=named)  # fmt: skip
    return fastavro.parse_schema(
        json.loads((AVRO / "fr.passerelle.hub.DemandeEvent.avsc").read_text()),
        named_schemas=named,
    )


@cache
def wished_communes() -> tuple[str, ...]:
    """INSEE codes wished by the SNE sample documents (listeLocalisationSouhaite)."""
    codes: list[str] = []
    for path in sorted(DATA.parent.glob("interfacenuu*/*.xml"), key=str):  # -refused/ too
        tree = etree.parse(str(path))
        found = tree.xpath(
            "//*[local-name()='listeLocalisationSouhaite']//*[local-name()='commune']/@code"
        )
        codes += [str(c) for c in found if str(c) not in codes]
    assert codes, "no wished commune in tests/data/interfacenuu"
    return tuple(codes)


def spec_event(num_unique: str, communes: list[str], *, operation: str = "CRE") -> dict[str, Any]:
    """A complete DemandeEvent dict (every schema default filled in by fastavro)."""
    minimal = {
        "eventId": str(uuid.uuid4()),
        "numUnique": num_unique,
        "operation": operation,
        "occurredAt": int(time.time() * 1000),
        "source": "test-spec",
        "demande": {
            "demandeLogement": {
                "numUnique": num_unique,
                "logementRecherche": {
                    "listeLocalisationSouhaite": [{"commune": c} for c in communes],
                },
            },
        },
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, demande_event_schema(), minimal)
    buf.seek(0)
    full = fastavro.schemaless_reader(buf, demande_event_schema())
    assert isinstance(full, dict)
    full["occurredAt"] = minimal["occurredAt"]  # fastavro reads timestamp-millis as datetime
    return full


def read_spec_event(value: bytes) -> dict[str, Any]:
    """A DemandeEvent record as published (single-object encoding), read with fastavro."""
    assert value[:2] == b"\xc3\x01", "not Avro single-object encoding"
    record = fastavro.schemaless_reader(io.BytesIO(value[_HEADER:]), demande_event_schema())
    assert isinstance(record, dict)
    return record
