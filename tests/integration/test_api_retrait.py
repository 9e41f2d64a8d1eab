"""A withdrawal revokes API access: actor A holds a demand (dispatched by the real worker)
and reads it; a MOD moves the demand out of A's territory; A's next read is refused (403)
although A's holding was already in the projection (no miss forces the re-read) and A
authored an event on the demand while it held it."""

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

#: communes no other test uses
HERE, ELSEWHERE = "76206", "76207"


def _has(num: str, kind: str) -> Any:
    return lambda rs: any(r["numUnique"] == num and r["kind"] == kind for r in rs)


def test_withdrawal_revokes_access_at_the_next_call(
        worker: Any, actor_service: Any, settings: HubSettings) -> None:
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    suffix = uuid.uuid4().hex[:8]
    callers = []
    for kind, communes in (("bailleur", [HERE]), ("guichet", [HERE, ELSEWHERE])):
        actor = Actor(id=f"ret-{kind}-{suffix}", name=kind, kind=kind,  # type: ignore[arg-type]
                      profile="consultant_simple", filters=ActorFilters(communes=communes))
        actor_service.add_or_update(actor)
        key = KeyStore(engine).create(actor.id).key
        callers.append(Caller(actor, {"Authorization": f"Bearer {key}"}))
    landlord, guichet = callers
    num = new_num_unique()
    with TestClient(create_app(settings, engine)) as client:
        r = client.post("/demandes/evenements", headers=guichet.headers,
                        json=[demande_event(num, [HERE])])
        assert r.status_code == 202, r.text
        got = collect_feed(settings, landlord.actor.id, until=_has(num, "DEMANDE"), worker=worker)
        assert _has(num, "DEMANDE")(got), "the demand was not dispatched to the landlord"
        assert client.get(f"/demandes/{num}/timeline",
                          headers=landlord.headers).status_code == 200
        # the landlord authors an event while it holds the demand: no lasting right by itself
        gp_event(client, landlord, num, "VISPROP", {"DATEVIS": "2025-06-02"})

        # moved out of the landlord's territory (still in the guichet's)
        r = client.post("/demandes/evenements", headers=guichet.headers,
                        json=[demande_event(num, [ELSEWHERE], operation="MOD")])
        assert r.status_code == 202, r.text
        got = collect_feed(settings, landlord.actor.id, until=_has(num, "RETRAIT"), worker=worker)
        assert _has(num, "RETRAIT")(got), "no withdrawal reached the landlord"

        r = client.get(f"/demandes/{num}/timeline", headers=landlord.headers)
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        # acting on it is refused too; the guichet still holds it
        r = client.post(f"/demandes/{num}/evenements-gp", headers=landlord.headers,
                        json={"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
                              "caracteristiques": {"DATEVIS": "2025-06-02"}})
        assert r.status_code == 403, r.text
        assert client.get(f"/demandes/{num}/timeline",
                          headers=guichet.headers).status_code == 200
