"""SOAP push carries what the Kafka feed carries for a gestion partagée event and for a
renewal notice (independent audit F4): an EVENEMENT's envelope holds ``<p:evenement>``
with every field of the ``EvenementGP`` (generated here from the Avro schema's field
types, with odd but legal text), an AVIS's header its due time (``occurredAt``). Read back
with lxml, as a receiver would."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connectors.outbound.soap_envelope import NS, envelope
from hub.core.errors import UnrenderableError

#: XML 1.0 characters (no surrogates, no U+FFFE/U+FFFF), odd ones included
XML_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\ufffe\uffff")
    .filter(lambda c: c in "\t\n\r" or ord(c) >= 0x20),
    max_size=40,
) | st.sampled_from(["]]>", "<&>\"'", "a\u2028b", "é\u0301", "\U0001f600", " lead ", "a\r\nb"])
MS = st.integers(min_value=0, max_value=253370764800000)  # 1970 to 9998-12-31


@st.composite
def evenements(draw: Any) -> dict[str, Any]:
    """An EvenementGP from its schema's types (fr.passerelle.hub.EvenementGP.avsc)."""
    return {
        "eventId": draw(XML_TEXT), "numUnique": "076112500000001234",
        "operation": draw(st.sampled_from(["AJO", "MOD", "SUP"])),
        "idEvenement": draw(st.none() | st.integers(0, 2**63 - 1)),
        "codeTypeEvenement": draw(st.sampled_from(["DECISCAL", "VISPROP", "BAILSIGNE"])),
        "catalogueVersion": draw(st.none() | XML_TEXT),
        "dateSurvenance": draw(XML_TEXT), "auteur": draw(XML_TEXT),
        "commentaire": draw(st.none() | XML_TEXT),
        "reglementaire": draw(st.booleans()), "aPublierSurPGP": draw(st.booleans()),
        "caracteristiques": draw(st.dictionaries(st.from_regex(r"[A-Z]{1,12}", fullmatch=True),
                                                 XML_TEXT, max_size=6)),
        "occurredAt": draw(MS), "source": draw(XML_TEXT),
    }  # fmt: skip


def _record(kind: str, evenement: dict[str, Any] | None, occurred: int) -> bytes:
    return json.dumps({
        "kind": kind, "eventId": "e-1", "numUnique": "076112500000001234", "operation": "AJO",
        "demandeVersion": 3, "occurredAt": occurred, "dispatchedAt": 1_760_000_000_000,
        "profile": "consultant_demande", "reason": None, "changedFields": None,
        "delaiAnormalementLong": None, "delaiAnormalementLongSource": None,
        "cotations": None, "demande": None, "evenement": evenement,
    }).encode()  # fmt: skip


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@given(ev=evenements())
def test_an_evenement_travels_whole(ev: dict[str, Any]) -> None:
    root = etree.fromstring(envelope(_record("EVENEMENT", ev, ev["occurredAt"]), 7))
    (node,) = root.iter(f"{{{NS}}}evenement")
    a = node.attrib
    assert a["codeTypeEvenement"] == ev["codeTypeEvenement"]
    assert a["operation"] == ev["operation"]
    for k in ("dateSurvenance", "auteur", "source"):  # tab, CR, LF escaped: kept as sent
        assert a[k] == ev[k], k
    assert a["reglementaire"] == str(ev["reglementaire"]).lower()
    assert a["aPublierSurPGP"] == str(ev["aPublierSurPGP"]).lower()
    assert a.get("idEvenement") == (None if ev["idEvenement"] is None else str(ev["idEvenement"]))
    assert a["occurredAt"] == _iso(ev["occurredAt"])
    comment = node.find(f"{{{NS}}}commentaire")
    if ev["commentaire"] is None:
        assert comment is None
    else:
        assert comment is not None
        assert (comment.text or "") == ev["commentaire"]
    got = {c.get("code"): (c.text or "") for c in node.iter(f"{{{NS}}}caracteristique")}
    assert got == ev["caracteristiques"]


@given(due=MS)
def test_a_notice_says_its_due_time(due: int) -> None:
    root = etree.fromstring(envelope(_record("RETRAIT", None, due), 1))
    (diffusion,) = root.iter(f"{{{NS}}}diffusion")
    assert diffusion.get("occurredAt") == _iso(due)


def test_an_evenement_xml_cannot_carry_is_refused_not_cut() -> None:
    ev = {"codeTypeEvenement": "VISPROP", "operation": "AJO", "dateSurvenance": "2026-01-01",
          "auteur": "x", "commentaire": "bell\x07", "reglementaire": False,
          "aPublierSurPGP": True, "caracteristiques": {}, "occurredAt": 0,
          "source": "api"}  # fmt: skip
    with pytest.raises(UnrenderableError, match="evenement"):
        envelope(_record("EVENEMENT", ev, 0), 1)
