"""Property-test material for per-profile protection: generated demands with sensitive
fields and documents, the FeedRecord bytes every profile gets, and what each profile
must (and must not) receive — derived from the category table, not from the cut itself."""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from hypothesis import strategies as st

from dispatch.feed import feed_record
from dispatch.feedbytes import FeedBytes
from hub.dev.generate import generate_demandes
from hub.domain.geo import get_geography
from hub.domain.pieces import categories
from hub.domain.profiles import PROFILES, SENSITIVE_PATHS
from hub.domain.state import DemandeState
from schemas import get_codec

#: Markers written into the sensitive free-text fields, searched in the raw channel bytes.
SECRET_MOTIF = "secret-motif-7d1e"
SECRET_BESOIN = "secret-besoin-42c9"
CATEGORY_CODES = sorted(categories())


def _piece(rng: random.Random, cat: str) -> dict[str, Any]:
    types = sorted(categories()[cat].types)
    return {"categorie": cat, "type": rng.choice(types),
            "dateDepot": f"2026-03-0{rng.randint(1, 9)}",
            "reference": f"urn:test:piece:{uuid.UUID(int=rng.getrandbits(128))}"}


@st.composite
def demand_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A generated CRE event, sometimes with the sensitive fields forced and documents of
    drawn categories added (so that every category, sensitive or not, occurs often)."""
    seed = draw(st.integers(min_value=0, max_value=2**32))
    (event,) = generate_demandes(1, seed, geography=get_geography(), departements=["76"])
    demande = event["demande"]
    inner = demande["demandeLogement"]
    if draw(st.booleans()):
        inner["listeHandicap"] = [{"handicapMoteur": True, "besoinParticulier": SECRET_BESOIN}]
    if draw(st.booleans()):
        motifs = inner.get("principauxMotifDemande") or {}
        motifs["compAutreMotif"] = SECRET_MOTIF
        motifs["compDateJugement"] = "2025-02-03"
        inner["principauxMotifDemande"] = motifs
    extra = draw(st.lists(st.sampled_from(CATEGORY_CODES), max_size=5))
    if extra:
        rng = random.Random(seed)
        demande["piecesJustificatives"] = (demande.get("piecesJustificatives") or []) + [
            _piece(rng, c) for c in extra]
    elif draw(st.booleans()):
        demande["piecesJustificatives"] = None  # a demand without a document index
    return event


def full_case(seed: int = 1) -> dict[str, Any]:
    """A generated event with every sensitive field set and one document of each category."""
    (event,) = generate_demandes(1, seed, geography=get_geography(), departements=["76"])
    inner = event["demande"]["demandeLogement"]
    inner["listeHandicap"] = [{"handicapMoteur": True, "besoinParticulier": SECRET_BESOIN}]
    inner["principauxMotifDemande"] = {"motifDemande": ["23"], "compAutreMotif": SECRET_MOTIF,
                                       "compDateJugement": "2025-02-03"}
    rng = random.Random(seed)
    event["demande"]["piecesJustificatives"] = [_piece(rng, c) for c in CATEGORY_CODES]
    return event


def state_of(event: dict[str, Any]) -> DemandeState:
    return DemandeState(num_unique=event["numUnique"], version=1, active=True,
                        recipients=frozenset({"a"}), last_event_id=event["eventId"],
                        last_operation="CRE", occurred_at=event["occurredAt"],
                        demande=event["demande"])


def feed_bytes(event: dict[str, Any]) -> dict[str, bytes]:
    """profile -> the FeedRecord bytes the dispatcher writes to that profile's feeds (one
    :class:`FeedBytes` per emission, as the processor does: spliced when possible)."""
    codec = get_codec()
    fb = FeedBytes(codec)
    state = state_of(event)
    out: dict[str, bytes] = {}
    for profile in PROFILES:
        record = feed_record(kind="DEMANDE", state=state, event_id=event["eventId"],
                             operation="CRE", occurred_at=event["occurredAt"],
                             changed_fields=[], profile=profile, reason=None, now_ms=1)
        out[profile] = fb.encode(record)
        assert out[profile] == codec.encode("FeedRecord", record)  # splice == full encode
    return out


def at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def sensitive_present(demande: dict[str, Any]) -> list[tuple[str, ...]]:
    return [p for p in SENSITIVE_PATHS if at(demande, p) not in (None, [], "")]


def expected_pieces(demande: dict[str, Any], profile: str
                    ) -> list[tuple[str, str, str, str | None]] | None:
    """(categorie, type, dateDepot, reference) a profile must receive, from the table."""
    pieces = demande.get("piecesJustificatives")
    if pieces is None:
        return None
    table = categories()
    return [
        (p["categorie"], p["type"], p["dateDepot"],
         p["reference"] if profile != "consultant_simple" else None)
        for p in pieces
        if profile == "consultant_sensible" or not table[p["categorie"]].sensible
    ]


def forbidden_strings(demande: dict[str, Any], profile: str) -> list[str]:
    """Strings that must not appear anywhere in the bytes ``profile`` receives: the
    references it has no right to, and the markers of the sensitive free-text fields."""
    if profile == "consultant_sensible":
        return []
    table = categories()
    out = [p["reference"] for p in demande.get("piecesJustificatives") or ()
           if p.get("reference") and (profile == "consultant_simple"
                                      or table[p["categorie"]].sensible)]
    text = repr(demande)
    return out + [m for m in (SECRET_MOTIF, SECRET_BESOIN) if m in text]


def allowed_strings(demande: dict[str, Any], profile: str) -> list[str]:
    """Positive control: strings that must appear in what ``profile`` receives."""
    table = categories()
    out = [p["reference"] for p in demande.get("piecesJustificatives") or ()
           if p.get("reference") and profile != "consultant_simple"
           and (profile == "consultant_sensible" or not table[p["categorie"]].sensible)]
    text = repr(demande)
    if profile == "consultant_sensible":
        out += [m for m in (SECRET_MOTIF, SECRET_BESOIN) if m in text]
    return out


def source_copy(event: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(event["demande"])
