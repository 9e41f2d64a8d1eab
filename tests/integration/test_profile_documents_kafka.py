"""Per-profile protection end to end on the real broker: the real `hub worker` cuts one
demand (sensitive fields, one document of each category) for three actors of the same
territory, one per access profile, and each feed holds exactly what its profile allows.
A demand with a document of an unknown category never reaches a feed (hub.dlq)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.errors import InputError
from hub.domain.actors import Actor, ActorFilters
from hub.domain.pieces import categories
from hub.domain.profiles import PROFILES
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

SOTTEVILLE = "76681"
SECRET = "motif-confidentiel-e2e"


def publish(settings: Any, *events: dict[str, Any]) -> None:
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))


def _pieces() -> list[dict[str, Any]]:
    return [{"categorie": code, "type": sorted(cat.types)[0], "dateDepot": "2026-02-01",
             "reference": f"urn:e2e:piece:{code}:{uuid.uuid4().hex}"}
            for code, cat in sorted(categories().items())]


def test_each_profile_feed_holds_what_its_profile_allows(  # type: ignore[no-untyped-def]
        settings, worker, actor_service) -> None:
    suffix = uuid.uuid4().hex[:8]
    actors = {profile: f"{profile.split('_')[1]}-{suffix}" for profile in PROFILES}
    for profile, aid in actors.items():
        actor_service.add_or_update(Actor.model_validate({
            "id": aid, "name": aid, "kind": "bailleur", "profile": profile,
            "filters": ActorFilters(communes=[SOTTEVILLE])}))
    num = new_num_unique()
    event = demande_event(num, [SOTTEVILLE], handicap=True)
    event["demande"]["demandeLogement"]["principauxMotifDemande"] = {
        "motifDemande": ["23"], "compAutreMotif": SECRET}
    pieces = _pieces()
    event["demande"]["piecesJustificatives"] = pieces
    publish(settings, event)
    table = categories()
    for profile, aid in actors.items():
        records = collect_feed(settings, aid, worker=worker, until=lambda rs: any(
            r["numUnique"] == num for r in rs))
        (rec,) = [r for r in records if r["numUnique"] == num]
        assert rec["profile"] == profile
        inner = rec["demande"]["demandeLogement"]
        got = [(p["categorie"], p["reference"]) for p in rec["demande"]["piecesJustificatives"]]
        if profile == "consultant_sensible":
            assert got == [(p["categorie"], p["reference"]) for p in pieces]
            assert inner["listeHandicap"] and inner["principauxMotifDemande"][
                "compAutreMotif"] == SECRET
            continue
        public = [p for p in pieces if not table[p["categorie"]].sensible]
        keep = profile == "consultant_demande"
        assert got == [(p["categorie"], p["reference"] if keep else None) for p in public]
        assert inner["listeHandicap"] is None
        assert inner["principauxMotifDemande"]["compAutreMotif"] is None


def test_unknown_document_category_is_refused_at_publication() -> None:
    event = demande_event(new_num_unique(), [SOTTEVILLE])
    event["demande"]["piecesJustificatives"] = [
        {"categorie": "NOUVEAU", "type": "X", "dateDepot": "2026-02-01", "reference": None}]
    with pytest.raises(InputError) as err:
        prepare_event(event)
    assert err.value.code == "bad_categoriePiece"
