"""The hub follows the corrected outline (issue 17 point 1): optional locality choices,
``anomalie/complement/@nom`` kept through XML → Avro → XML (records written before it
still decode), and a coded item without its code refused with a message naming it."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from lxml import etree

from connectors.ingress.publishing import prepare_event
from connectors.interfacenuu.mapping import XSD_PATH, parse_demande_xml, render_demande_xml
from hub.core.errors import InputError
from schemas import MARKER, get_codec

DATA = Path(__file__).resolve().parents[1] / "data" / "interfacenuu"
COMPLETE = (DATA / "demande_complete.xml").read_bytes()


def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _drop_locality(doc: bytes, parent: str) -> bytes:
    """``doc`` without the locality choice (codePostal/commune or the foreign group) of
    every ``parent`` element."""
    root = etree.fromstring(doc)
    ns = {"n": "http://nuu.application.i2/"}
    parents = root.findall(f".//n:{parent}", ns)
    assert parents
    for el in parents:
        for name in ("codePostal", "commune", "codePostalEtranger", "communeEtranger", "pays"):
            for child in el.findall(f"n:{name}", ns):
                el.remove(child)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@pytest.mark.parametrize("parent", ["situationProfessionnelle", "logementActuel"])
def test_locality_is_optional_where_the_outline_says_so(parent: str) -> None:
    doc = _drop_locality(COMPLETE, parent)
    assert _xsd().validate(etree.fromstring(doc))
    prepared = prepare_event(doc)  # what hub publish --dry-run does for one file
    rendered = render_demande_xml(prepared.event)
    assert _xsd().validate(etree.fromstring(rendered))


def test_locality_stays_required_in_an_address() -> None:
    doc = _drop_locality(COMPLETE, "adressePostale")
    assert not _xsd().validate(etree.fromstring(doc))
    with pytest.raises(InputError, match="adressePostale"):
        parse_demande_xml(doc)


def _complements(xml: bytes) -> list[tuple[str | None, str]]:
    root = etree.fromstring(xml)
    return [(c.get("nom"), c.text or "")
            for c in root.iter("{http://nuu.application.i2/}complement")]


def test_complement_nom_survives_xml_avro_xml() -> None:
    assert _complements(COMPLETE) == [("champ", "precision"), (None, "255")]
    ev = parse_demande_xml(COMPLETE)
    codec = get_codec()
    back = codec.decode_as(codec.encode("DemandeEvent", ev), "DemandeEvent")
    xml = render_demande_xml(back)
    assert _xsd().validate(etree.fromstring(xml))
    assert _complements(xml) == [("champ", "precision"), (None, "255")]


def test_complement_nom_is_checked_by_the_xsd() -> None:
    long = COMPLETE.replace(b'nom="champ"', b'nom="' + b"x" * 101 + b'"')
    with pytest.raises(InputError, match="nom"):
        parse_demande_xml(long)


def _old_complements(value: Any) -> Any:
    """The snapshot as the previous writer held it: complement items were plain strings."""
    if isinstance(value, dict):
        return {k: ([c["valeur"] for c in v] if k == "complement" and v else _old_complements(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_old_complements(v) for v in value]
    return value


def test_events_written_before_complement_records_still_decode_and_render() -> None:
    codec = get_codec()
    ev = parse_demande_xml(COMPLETE)
    old = codec.registry.version("DemandeEvent", "v3")
    body = io.BytesIO()
    schemaless_writer(body, old.parsed, {**ev, "demande": _old_complements(ev["demande"])})
    got = codec.decode_as(MARKER + old.fingerprint + body.getvalue(), "DemandeEvent")
    anomalie = got["demande"]["demandeLogement"]["listeAnomalie"][0]
    assert anomalie["complement"] == ["precision", "255"]  # a bare string: no attribute
    xml = render_demande_xml(got)
    assert _xsd().validate(etree.fromstring(xml))
    assert _complements(xml) == [(None, "precision"), (None, "255")]
    # and the current writer accepts such a value too (JSON lines written the old way)
    assert codec.decode_as(codec.encode("DemandeEvent", got), "DemandeEvent") == got


@pytest.mark.parametrize(("old", "path"), [
    (b'<typeLogement code="T4" n:modifie="true"/>',
     ("demandeLogement", "logementRecherche", "listeTypeLogement", 1)),
    (b'<civilite code="2"/>', ("demandeLogement", "personnePhysique", "demandeur", "civilite")),
    (b'<statutDalo code="ACTIF" n:modifie="true"/>', ("informationDalo", "statutDalo")),
])
def test_coded_element_without_code_is_the_empty_code(old: bytes, path: tuple[Any, ...]) -> None:
    """@code is optional in the outline (audit J, F2): the element without it is the empty
    code "" (required, list item or optional alike), rendered back without the attribute."""
    assert old in COMPLETE
    doc = COMPLETE.replace(old, re.sub(rb' code="[^"]*"', b"", old), 1)
    assert _xsd().validate(etree.fromstring(doc))  # the XSD leaves @code optional
    node: Any = prepare_event(doc).event["demande"]
    for step in path:
        node = node[step]
    assert node == ""
    xml = render_demande_xml(prepare_event(doc).event)
    assert _xsd().validate(etree.fromstring(xml)) and b'code=""' not in xml


#: Writer fingerprints current before complement became a record: still known, archived.
BEFORE_COMPLEMENT = {
    "8c31c4cf98ed9408": "Demande",
    "b2fc6db17fe9afad": "DemandeEvent",
    "13da6e8932906aca": "DemandeState",
    "661ca334574b9c06": "FeedRecord",
}


def test_writer_schemas_before_complement_records_are_archived() -> None:
    registry = get_codec().registry
    for fp, name in BEFORE_COMPLEMENT.items():
        ws = registry.by_fingerprint(bytes.fromhex(fp))
        assert ws is not None and ws.name == name and ws.version != "current", fp


def test_date_fichier_at_24_00_is_the_next_midnight() -> None:
    """xs:dateTime allows 24:00:00 (the end of the day): the hub reads it, as the XSD does."""
    old = b"2024-03-05T14:30:12.250"
    assert old in COMPLETE
    at_24 = parse_demande_xml(COMPLETE.replace(old, b"2024-03-05T24:00:00"))
    next_day = parse_demande_xml(COMPLETE.replace(old, b"2024-03-06T00:00:00"))
    assert at_24["occurredAt"] == next_day["occurredAt"]
