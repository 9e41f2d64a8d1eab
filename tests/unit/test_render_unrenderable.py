"""The XML renderings of a feed record (the SOAP push's envelope, a DIS file) with any
text in it: either well-formed XML carrying the text as it is, or — when the text holds a
character outside XML 1.0's ``Char`` production (written here from the specification) —
a refusal naming the field and the code point (SOAP: nothing sent; DIS file: the record
without its document, ``nonRendu`` saying why). Never an exception that would stop the
actor, never silently ill-formed XML."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connectors.files.disfile import NS as DIS_NS
from connectors.files.disfile import render_batch
from connectors.outbound.push import record_body
from connectors.outbound.soap_envelope import SOAP12, envelope
from hub.core import xmlsafe
from hub.core.errors import UnrenderableError

NUU = "http://nuu.application.i2/"
CHAR = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
        (0x10000, 0x10FFFF))  # fmt: skip
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)


def xml_can_carry(text: str) -> bool:
    return all(any(lo <= ord(ch) <= hi for lo, hi in CHAR) for ch in text)


def feed_record(nom: str = "Association", *, event_id: str = "ev-1") -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "kind": "DEMANDE", "eventId": event_id, "numUnique": "076112500012310691",
        "operation": "MOD", "demandeVersion": 3, "occurredAt": now, "dispatchedAt": now,
        "profile": "consultant_demande", "reason": None, "changedFields": [],
        "demande": {"demandeLogement": {"numUnique": "076112500012310691",
                                        "association": {"nom": nom}}},
        "evenement": None,
    }  # fmt: skip


def _nom(root: Any) -> str | None:
    el = root.find(f".//{{{NUU}}}association/{{{NUU}}}nom")
    return None if el is None else el.text or ""


@given(any_text)
@example("Asso\ufffeciation")
@example("Asso\x01ciation")
@example("tab\tnl\ncr\r <&> \x85 \ufdd0 \U0001fffe")
def test_the_soap_envelope_carries_the_text_or_names_what_xml_cannot(text: str) -> None:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return  # no UTF-8 for a surrogate: no feed record (Avro) nor outbox body holds one
    body = record_body(feed_record(text))
    if xml_can_carry(text):
        root = xmlsafe.parse(envelope(body, 7))
        assert root.tag == f"{{{SOAP12}}}Envelope" and _nom(root) == text
        return
    with pytest.raises(UnrenderableError) as caught:
        envelope(body, 7)
    bad = next(ch for ch in text if not xml_can_carry(ch))
    assert caught.value.message == (
        f"demande.demandeLogement.association.nom: character U+{ord(bad):04X} is not "
        "allowed (XML 1.0 cannot carry it)"
    )


@given(any_text, any_text)
@example("Asso\ufffeciation", "ev-\x01")
def test_a_dis_file_stays_well_formed_and_says_which_records_it_could_not_render(
        nom: str, event_id: str) -> None:  # fmt: skip
    records = [(10, feed_record()), (11, feed_record(nom, event_id=event_id)),
               (12, feed_record("Suivante"))]  # fmt: skip
    root = xmlsafe.parse(render_batch("bailleur-x", 0, records))
    found = root.findall(f"{{{DIS_NS}}}enregistrement")
    assert [int(e.get("offset")) for e in found] == [10, 11, 12]
    assert _nom(found[0]) == "Association" and _nom(found[2]) == "Suivante"
    middle = found[1]
    if xml_can_carry(nom) and xml_can_carry(event_id):
        assert _nom(middle) == nom and middle.get("eventId") == event_id
        assert middle.get("nonRendu") is None
        return
    reason = middle.get("nonRendu")
    assert reason is not None and len(middle) == 0  # no document: no personal data
    field = "eventId" if not xml_can_carry(event_id) else (
        "demande.demandeLogement.association.nom")  # fmt: skip
    assert reason.startswith(f"{field}: character U+") and "XML 1.0 cannot carry it" in reason
    assert xml_can_carry(middle.get("eventId"))  # made writable (U+FFFD), never ill-formed


def test_a_piece_reference_or_a_date_xml_cannot_hold_is_refused_not_written_ill_formed() -> None:
    rec = feed_record()
    rec["demande"]["piecesJustificatives"] = [
        {"categorie": "IDD", "type": "CID", "dateDepot": "2026-03-02",
         "reference": "https://ged.example/\x1bpiece"}]  # fmt: skip
    with pytest.raises(UnrenderableError, match=r"piecesJustificatives\.reference: .*U\+001B"):
        envelope(record_body(rec), 1)
    late = feed_record()
    late["dispatchedAt"] = 2**62
    with pytest.raises(UnrenderableError, match=r"dispatchedAt: .*\(years 0001-9999\)"):
        envelope(record_body(late), 1)
    root = xmlsafe.parse(render_batch("bailleur-x", 0, [(1, rec), (2, late)]))
    assert all(e.get("nonRendu") for e in root.findall(f"{{{DIS_NS}}}enregistrement"))
