"""Per-profile protection on the XML channels, property-based: over generated demands,
the legacy DIS file (:func:`connectors.files.disfile.render_batch`, fed the decoded feed
records as the file outbox does) and the SOAP push envelope
(:func:`connectors.outbound.soap_envelope.envelope`, fed the outbox JSON body as the SOAP sender
does) never carry a sensitive field or document category to a profile without the
right, nor a document reference below consultant_demande; consultant_sensible does get
them (positive control). The document index travels beside the InterfaceNuu document
(``urn:passerelle:pieces:1``), which stays valid against the 02.01 XSD."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from connectors.files.disfile import NS as DIS_NS
from connectors.files.disfile import record_document, render_batch
from connectors.files.pieces_xml import NS as PIECES_NS
from connectors.interfacenuu.mapping import XSD_PATH, parse_demande_xml
from connectors.interfacenuu.snapshot import NS, q
from connectors.outbound.soap_envelope import SOAP12, envelope
from hub.core import xmlsafe
from hub.domain.profiles import PROFILES, cut_for_profile
from schemas import get_codec
from tests.support.profile_cases import (
    CATEGORY_CODES,
    allowed_strings,
    demand_cases,
    expected_pieces,
    feed_bytes,
    forbidden_strings,
    full_case,
    sensitive_present,
    source_copy,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "interfacenuu"
Extract = tuple[bytes, Any, Any]  # raw bytes, interfaceNuu element, piecesJustificatives element


@cache
def _xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def dis_file(record: dict[str, Any]) -> Extract:
    raw = render_batch("acteur-test", 0, [(7, record)])
    (item,) = xmlsafe.parse(raw).findall(f"{{{DIS_NS}}}enregistrement")
    return raw, item.find(q("interfaceNuu")), item.find(f"{{{PIECES_NS}}}piecesJustificatives")


def soap_push(record: dict[str, Any]) -> Extract:
    body = json.dumps(record, ensure_ascii=False, sort_keys=True).encode()  # the outbox row
    raw = envelope(body, 7)
    root = xmlsafe.parse(raw)
    header = root.find(f"{{{SOAP12}}}Header")
    doc = root.find(f"{{{SOAP12}}}Body/{q('interfaceNuu')}")
    return raw, doc, header.find(f"{{{PIECES_NS}}}piecesJustificatives")


CHANNELS: dict[str, Callable[[dict[str, Any]], Extract]] = {"dis": dis_file, "soap": soap_push}


def _xml_pieces(el: Any) -> list[tuple[Any, ...]] | None:
    if el is None:
        return None
    assert all(p.tag == f"{{{PIECES_NS}}}piece" for p in el)
    return [(p.get("categorie"), p.get("type"), p.get("dateDepot"), p.get("reference"))
            for p in el]


def _xml_at(doc: Any, path: tuple[str, ...]) -> Any:
    return doc.find("/".join(q(p) for p in ("demande", *path)))


def _tree(el: Any) -> tuple[Any, ...]:
    """Tags, attributes, texts and children: equal trees whatever the namespace prefixes."""
    return (el.tag, sorted(el.attrib.items()), (el.text or "").strip(),
            [_tree(child) for child in el])


def _no_index(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "demande": {**record["demande"], "piecesJustificatives": None}}


def check_xml_channels(event: dict[str, Any]) -> None:
    source = event["demande"]
    before = source_copy(event)
    codec = get_codec()
    for profile, data in feed_bytes(event).items():
        record = codec.decode_as(data, "FeedRecord")
        for channel, extract in CHANNELS.items():
            where = (profile, channel)
            raw, doc, pieces = extract(record)
            assert doc is not None, where
            # the index is beside the InterfaceNuu document, never in it: the document is
            # the one rendered without any index
            assert doc.find(f".//{{{NS}}}piecesJustificatives") is None, where
            assert _tree(doc) == _tree(etree.fromstring(record_document(_no_index(record))
                                                        or b"")), where
            for path in sensitive_present(source):
                if profile == "consultant_sensible":
                    assert _xml_at(doc, path) is not None, (*where, path)
                else:
                    assert _xml_at(doc, path) is None, (*where, path)
            assert _xml_pieces(pieces) == expected_pieces(source, profile), where
            for text in forbidden_strings(source, profile):
                assert text.encode() not in raw, (*where, "forbidden value in the bytes")
            for text in allowed_strings(source, profile):
                assert text.encode() in raw, (*where, "allowed value missing")
    assert source == before


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=demand_cases())
def test_dis_file_and_soap_push_are_cut_to_the_profile(event: dict[str, Any]) -> None:
    check_xml_channels(event)


def test_positive_control_and_a_leak_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    event = full_case(3)
    check_xml_channels(event)
    codec = get_codec()
    for profile, data in feed_bytes(event).items():
        _, _, pieces = soap_push(codec.decode_as(data, "FeedRecord"))
        got = _xml_pieces(pieces) or []
        if profile == "consultant_sensible":
            assert [c for c, *_ in got] == CATEGORY_CODES and all(r for *_, r in got)
        else:
            assert {c for c, *_ in got} == {"IDD", "RFI", "IDC", "SPRO", "RESS", "LOGACT", "PACH"}
            assert all((r is None) == (profile == "consultant_simple") for *_, r in got)
    real = cut_for_profile
    for leak in (lambda d, p: d, lambda d, p: real(d, "consultant_demande")):
        monkeypatch.setattr("dispatch.feed.cut_for_profile", leak)
        with pytest.raises(AssertionError):
            check_xml_channels(full_case(3))


def test_interfacenuu_document_of_a_demand_with_documents_stays_xsd_valid() -> None:
    """The complete InterfaceNuu sample, given a document index, still renders (DIS file
    and SOAP body alike) as a document valid against the 02.01 XSD."""
    demande = parse_demande_xml((DATA / "demande_complete.xml").read_bytes())["demande"]
    demande["piecesJustificatives"] = full_case(5)["demande"]["piecesJustificatives"]
    record = {"kind": "DEMANDE", "eventId": "e", "numUnique": demande["demandeLogement"][
        "numUnique"], "operation": "MOD", "demandeVersion": 1, "occurredAt": 1,
        "dispatchedAt": 1, "profile": "consultant_sensible", "reason": None,
        "changedFields": [], "demande": demande, "evenement": None}
    for extract in CHANNELS.values():
        _, doc, pieces = extract(record)
        assert _xsd().validate(etree.fromstring(etree.tostring(doc))), _xsd().error_log
        assert len(_xml_pieces(pieces) or []) == len(CATEGORY_CODES)


def test_record_without_snapshot_or_index_carries_no_document() -> None:
    event = full_case(4)
    codec = get_codec()
    record = codec.decode_as(feed_bytes(event)["consultant_sensible"], "FeedRecord")
    for extract in CHANNELS.values():
        raw, _, pieces = extract({**record, "demande": {**record["demande"],
                                                        "piecesJustificatives": None}})
        assert pieces is None and PIECES_NS.encode() not in raw
    bare = {**record, "kind": "RETRAIT", "reason": "hors_territoire", "demande": None}
    assert PIECES_NS.encode() not in render_batch("a", 0, [(1, bare)])
    assert PIECES_NS.encode() not in envelope(json.dumps(bare).encode(), 1)
    assert PROFILES[-1] == "consultant_sensible"
