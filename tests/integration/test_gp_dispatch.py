"""Gestion partagée events reach every holder of the demand through the real worker; a
holder that got the demand by dispatch may act on it (holders projection from its feed);
a rejection for irrecevabilité radiates the demand."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from tests.integration.api_support import Caller, gp_event
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka


def _has(num: str, kind: str, code: str | None = None) -> Any:
    def check(records: list[dict[str, Any]]) -> bool:
        return any(r["numUnique"] == num and r["kind"] == kind and (
            code is None or (r["evenement"] or {}).get("codeTypeEvenement") == code)
            for r in records)
    return check


def test_gp_events_fan_out_to_holders_and_irrecevabilite_radiates(
        worker: Any, actor_service: Any, settings: HubSettings) -> None:
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    suffix = uuid.uuid4().hex[:8]
    callers = []
    for kind in ("guichet", "bailleur"):
        actor = Actor(id=f"gp-{kind}-{suffix}", name=kind, kind=kind,  # type: ignore[arg-type]
                      profile="consultant_simple", filters=ActorFilters(communes=["76540"]))
        actor_service.add_or_update(actor)
        key = KeyStore(engine).create(actor.id).key
        callers.append(Caller(actor, {"Authorization": f"Bearer {key}"}))
    guichet, landlord = callers
    num = new_num_unique()
    with TestClient(create_app(settings, engine)) as client:
        # the landlord may not act before it holds the demand
        r = client.post(f"/demandes/{num}/evenements-gp", headers=landlord.headers,
                        json={"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
                              "caracteristiques": {"DATEVIS": "2025-06-02"}})
        assert r.status_code == 403
        r = client.post("/demandes/evenements", headers=guichet.headers,
                        json=[demande_event(num, ["76540"])])
        assert r.status_code == 202, r.text
        got = collect_feed(settings, landlord.actor.id, until=_has(num, "DEMANDE"), worker=worker)
        assert _has(num, "DEMANDE")(got), "the demand was not dispatched to the landlord"
        # now it holds it (read from its own feed by the API)
        gp_event(client, landlord, num, "DESIGCAL",
                 {"CODECAL": "CAL-G", "LOGEMENT": "L9", "DESIGPREF": "true"})
        gp_event(client, landlord, num, "EXAMCAL", {"CODECAL": "CAL-G", "DATECAL": "2025-06-10"})
        r = client.post("/cal/decisions", headers=landlord.headers, json={
            "codeCal": "CAL-G", "logement": "L9", "dateDecision": "2025-06-10",
            "candidats": [{"numUnique": num, "decision": "IRREC", "motif": "IRRSEJ"}]})
        assert r.status_code == 201, r.text
        # feed by cursor, for systems that cannot consume Kafka; reads are audited
        page = client.get("/feed?cursor=0&limit=1", headers=landlord.headers).json()
        assert len(page["records"]) == 1 and page["nextCursor"] == 1
        assert page["records"][0]["offset"] == 0 and page["endCursor"] >= 1
        seen, cursor = list(page["records"]), page["nextCursor"]
        while cursor < page["endCursor"]:  # the whole feed, page by page, no gap
            nxt = client.get(f"/feed?cursor={cursor}&limit=1000", headers=landlord.headers)
            seen += nxt.json()["records"]
            cursor = nxt.json()["nextCursor"]
        assert [r["offset"] for r in seen] == list(range(cursor))
        mine = [r for r in seen if r["numUnique"] == num]
        assert mine and mine[0]["kind"] == "DEMANDE"
        audit = client.get(f"/audit?numUnique={num}", headers=landlord.headers).json()
        assert {(d["actorId"], d["channel"]) for d in audit["deliveries"]} == {
            (landlord.actor.id, "api")}
        other = client.get(f"/audit?actorId={landlord.actor.id}", headers=guichet.headers)
        assert other.status_code == 403
    for who in (guichet, landlord):
        records = collect_feed(settings, who.actor.id, until=_has(num, "RADIATION"),
                               worker=worker)
        for code in ("DESIGCAL", "EXAMCAL", "DECISCAL"):
            assert _has(num, "EVENEMENT", code)(records), (who.actor.id, code)
        assert _has(num, "RADIATION")(records), who.actor.id
        # other tests' demands of the same commune are in this feed too: keep ours
        records = [r for r in records if r["numUnique"] == num]
        evenements = [r for r in records if r["kind"] == "EVENEMENT"]
        assert all(r["demande"] is None and r["profile"] == "consultant_simple"
                   for r in evenements)
        radiation = next(r for r in records if r["kind"] == "RADIATION")
        rad = radiation["demande"]["demandeLogement"]["radiation"]
        assert rad["motifRadiation"] == "RADIRR" and rad["sousMotifIrrecevabilite"] == "IRRSEJ"
