"""Per-profile protection, property-based: over generated demands, what the Kafka feed
(FeedRecord bytes as the dispatcher writes them, splice included), the API feed page
(JSON) and the webhook body carry never holds a field or a document category declared
sensitive for a profile without the right, nor a document reference below
consultant_demande — and consultant_sensible does receive all of it (so the checks can
fail). The DIS file and SOAP channels: tests/unit/test_profile_files_soap.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from hub.api.models import FeedPage
from hub.domain.pieces import categories, check_piece, sensitive_categories
from hub.domain.profiles import (
    PROFILES,
    SENSITIVE_CATEGORIES,
    cut_for_profile,
    visible_pieces,
)
from schemas import get_codec
from tests.support.profile_cases import (
    CATEGORY_CODES,
    allowed_strings,
    at,
    demand_cases,
    expected_pieces,
    feed_bytes,
    forbidden_strings,
    full_case,
    sensitive_present,
    source_copy,
)


def _channels(data: bytes) -> dict[str, tuple[dict[str, Any], bytes]]:
    """channel -> (the record it carries, the raw bytes it sends)."""
    kafka = get_codec().decode_as(data, "FeedRecord")
    page = FeedPage(records=[{**kafka, "offset": 0}], nextCursor=1, endCursor=1)
    api_raw = page.model_dump_json().encode()
    # the webhook body, as connectors.outbound.webhook.WebhookDelivery.pump writes it
    hook_raw = json.dumps(kafka, ensure_ascii=False, sort_keys=True).encode()
    return {"kafka": (kafka, data), "api": (json.loads(api_raw)["records"][0], api_raw),
            "webhook": (json.loads(hook_raw), hook_raw)}


def _pieces_of(demande: dict[str, Any]) -> list[tuple[Any, ...]] | None:
    pieces = demande.get("piecesJustificatives")
    if pieces is None:
        return None
    return [(p["categorie"], p["type"], p["dateDepot"], p.get("reference")) for p in pieces]


def check_channels(event: dict[str, Any]) -> None:
    source = event["demande"]
    before = source_copy(event)
    for profile, data in feed_bytes(event).items():
        for channel, (record, raw) in _channels(data).items():
            where = (profile, channel)
            carried = record["demande"]
            for path in sensitive_present(source):
                if profile == "consultant_sensible":
                    assert at(carried, path) not in (None, [], ""), (*where, path)
                else:
                    assert at(carried, path) in (None, []), (*where, path)
            assert _pieces_of(carried) == expected_pieces(source, profile), where
            for text in forbidden_strings(source, profile):
                assert text.encode() not in raw, (*where, "forbidden value in the bytes")
            for text in allowed_strings(source, profile):
                assert text.encode() in raw, (*where, "allowed reference missing")
    assert source == before  # the dispatcher's snapshot is never cut in place


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=demand_cases())
def test_sensitive_fields_and_documents_never_reach_a_profile_without_the_right(
        event: dict[str, Any]) -> None:
    check_channels(event)


def test_the_checks_are_not_vacuous(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control on a demand with every sensitive field and one document of each
    category: consultant_sensible gets everything, consultant_demande the references of
    the non-sensitive ones, consultant_simple their list only; and ``check_channels``
    fails when the cut leaks (no cut at all, or references given to consultant_simple)."""
    event = full_case()
    check_channels(event)
    got = {p: _pieces_of(get_codec().decode_as(b, "FeedRecord")["demande"]) or []
           for p, b in feed_bytes(event).items()}
    simple, demande, sensible = (got[p] for p in PROFILES)
    assert [c for c, *_ in sensible] == CATEGORY_CODES
    assert len(sensible) > len(demande) == len(simple) > 0
    assert all(r is None for *_, r in simple) and all(r for *_, r in demande)
    assert all(r for *_, r in sensible)
    real = cut_for_profile
    for leak in (lambda d, p: d, lambda d, p: real(d, "consultant_demande")):
        monkeypatch.setattr("dispatch.feed.cut_for_profile", leak)
        with pytest.raises(AssertionError):
            check_channels(full_case())


def test_declared_categories_come_from_the_versioned_table() -> None:
    assert sensitive_categories() == SENSITIVE_CATEGORIES
    assert {"HAND", "MOTIF", "INT"} <= SENSITIVE_CATEGORIES  # see hub.domain.pieces' doc
    assert {"IDD", "LOGACT", "RFI", "IDC"}.isdisjoint(SENSITIVE_CATEGORIES)
    assert {"CID", "PASS"} <= categories()["IDD"].types and "JUSTL" in categories()["LOGACT"].types


def test_unknown_category_is_withheld_below_consultant_sensible() -> None:
    future = {"categorie": "NEWCAT", "type": "X", "dateDepot": "2026-01-01",
              "reference": "urn:x:1"}
    known = {"categorie": "IDD", "type": "CID", "dateDepot": "2026-01-01", "reference": "urn:x:2"}
    assert visible_pieces([future, known], "consultant_demande") == [known]
    assert visible_pieces([future, known], "consultant_simple") == [{**known, "reference": None}]
    assert visible_pieces([future, known], "consultant_sensible") == [future, known]


def test_cut_shares_untouched_parts_and_returns_the_input_when_nothing_is_cut() -> None:
    bare: dict[str, Any] = {"demandeLogement": {"numUnique": "x", "listeHandicap": None},
            "piecesJustificatives": [{"categorie": "IDD", "type": "CID",
                                      "dateDepot": "2026-01-01", "reference": None}]}
    assert cut_for_profile(bare, "consultant_simple") is bare
    with_ref: dict[str, Any] = {**bare, "piecesJustificatives": [{**bare["piecesJustificatives"][0],
                                                  "reference": "urn:x"}]}
    cut = cut_for_profile(with_ref, "consultant_simple")
    assert cut is not None and cut["demandeLogement"] is with_ref["demandeLogement"]
    assert with_ref["piecesJustificatives"][0]["reference"] == "urn:x"  # input untouched
    with pytest.raises(ValueError):
        cut_for_profile(bare, "admin")


@pytest.mark.parametrize(("piece", "code"), [
    ({"categorie": "NEWCAT", "type": "CID", "dateDepot": "2026-01-01"}, "bad_categoriePiece"),
    ({"categorie": "IDD", "type": "JUSTL", "dateDepot": "2026-01-01"}, "bad_typePiece"),
    ({"categorie": "IDD", "type": "CID", "dateDepot": "01/01/2026"}, "bad_piece"),
    ({"categorie": "IDD", "type": "CID", "dateDepot": "2026-01-01",
      "reference": "javascript:alert(1)"}, "bad_piece"),
    ({"categorie": "IDD", "type": "CID", "dateDepot": "2026-01-01",
      "reference": "https://x/\x01"}, "bad_piece"),
])
def test_pieces_are_checked_against_the_table(piece: dict[str, Any], code: str) -> None:
    """Codes, date and reference of an incoming piece are checked (hub.domain.decisions refuses
    the event, to hub.dlq with this code)."""
    from hub.core.errors import InputError

    with pytest.raises(InputError) as err:
        check_piece(piece)
    assert err.value.code == code


def test_an_event_with_a_bad_piece_is_refused_by_the_dispatcher() -> None:
    from hub.core.errors import InputError
    from hub.domain.decisions import validate_event

    event = full_case(2)
    validate_event(event)  # every category of the table, valid codes
    event["demande"]["piecesJustificatives"].append(
        {"categorie": "IDD", "type": "AVIS", "dateDepot": "2026-01-01", "reference": None})
    with pytest.raises(InputError) as err:
        validate_event(event)
    assert err.value.code == "bad_typePiece"


def test_feed_bytes_splices_the_cut_index_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profiles whose snapshots differ only by the document index get the bytes of a full
    encode without one (dispatch.feedbytes' index splice), each with its own cut index."""
    from dispatch.feed import feed_record
    from dispatch.feedbytes import FeedBytes
    from schemas import Codec
    from tests.support.profile_cases import state_of

    codec = Codec(get_codec().registry)
    full_encodes = 0
    encode = codec.encode

    def counting(name: str, record: dict[str, Any]) -> bytes:
        nonlocal full_encodes
        full_encodes += 1
        return encode(name, record)

    event = full_case(11)
    inner = event["demande"]["demandeLogement"]
    inner["listeHandicap"] = None
    inner["principauxMotifDemande"] = {"motifDemande": ["09"]}
    records = [feed_record(kind="DEMANDE", state=state_of(event), event_id=event["eventId"],
                           operation="CRE", occurred_at=event["occurredAt"], changed_fields=[],
                           profile=p, reason=None, now_ms=5) for p in PROFILES]
    monkeypatch.setattr(codec, "encode", counting)
    fb = FeedBytes(codec)
    got = [fb.encode(r) for r in records]
    assert full_encodes == 1  # one Avro write for the three profiles
    monkeypatch.setattr(codec, "encode", encode)
    assert got == [codec.encode("FeedRecord", r) for r in records]
    assert len(set(got)) == 3
    pieces = [_pieces_of(codec.decode_as(b, "FeedRecord")["demande"]) for b in got]
    assert pieces == [expected_pieces(event["demande"], p) for p in PROFILES]
