"""Per-profile protection, property-based: over generated demands, what each channel
carries (Kafka FeedRecord bytes, API feed page JSON, webhook body) never holds a field
declared sensitive for a profile without the right — and does hold it for
consultant_sensible (so the check can fail)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.feed import feed_record
from dispatch.profiles import PROFILES, SENSITIVE_PATHS
from dispatch.state import DemandeState
from hub.api.models import FeedPage
from hub.generate import generate_demandes
from hub.geo import get_geography
from schemas import get_codec


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def _channels(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    codec = get_codec()
    kafka = codec.decode_as(codec.encode("FeedRecord", record), "FeedRecord")
    page = FeedPage(records=[{**kafka, "offset": 0}], nextCursor=1, endCursor=1)
    api = json.loads(page.model_dump_json())["records"][0]
    webhook = json.loads(json.dumps(kafka, ensure_ascii=False, sort_keys=True).encode())
    return {"kafka": kafka, "api": api, "webhook": webhook}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(min_value=0, max_value=2**32), handicap=st.booleans(),
       motif=st.booleans())
def test_sensitive_fields_never_reach_a_profile_without_the_right(
        seed: int, handicap: bool, motif: bool) -> None:
    (event,) = generate_demandes(1, seed, geography=get_geography(), departements=["76"])
    demande = event["demande"]
    inner = demande["demandeLogement"]
    if handicap:  # make sure the sensitive data is there often enough
        inner["listeHandicap"] = inner.get("listeHandicap") or [{"handicapMoteur": True}]
    if motif:
        motifs = inner.get("principauxMotifDemande") or {}
        motifs["compAutreMotif"] = motifs.get("compAutreMotif") or "detail confidentiel"
        inner["principauxMotifDemande"] = motifs
    present = [p for p in SENSITIVE_PATHS if _at(demande, p) not in (None, [], "")]
    state = DemandeState(num_unique=event["numUnique"], version=1, active=True,
                         recipients=frozenset({"a"}), last_event_id=event["eventId"],
                         last_operation="CRE", occurred_at=event["occurredAt"],
                         demande=demande)
    for profile in PROFILES:
        record = feed_record(kind="DEMANDE", state=state, event_id=event["eventId"],
                             operation="CRE", occurred_at=event["occurredAt"],
                             changed_fields=[], profile=profile, reason=None, now_ms=0)
        for channel, carried in _channels(record).items():
            for path in present:
                value = _at(carried["demande"], path)
                if profile == "consultant_sensible":
                    assert value not in (None, [], ""), (channel, path)
                else:
                    assert value in (None, []), (profile, channel, path)
    assert demande["demandeLogement"] is inner  # the source snapshot is never cut in place
    for path in present:
        assert _at(demande, path) not in (None, [], "")
