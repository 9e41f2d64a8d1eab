"""Audit K, F2 end to end (the real broker, the real worker, the API): a ``consultant_simple``
guichet takes the snapshot of a demand from its own ``GET /feed`` — cut to its profile: no
sensitive field, no sensitive document, every document ``reference`` null — changes one
field and posts it back as a ``MOD``, as any ERP does. The ``consultant_sensible`` actor
of the same territory reads the new version on its Kafka feed: the changed field applied,
and the sensitive fields, the sensitive documents and every reference still there (they
used to be erased for every actor) — even though the body claims a wider profile: the
hub sets the caller's registered one.

The write-back is the audit's reproduction (``repro/mod_wipes_sensitive.py``): the very
JSON the feed served, one field changed."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from tests.integration.conftest import collect_feed
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

#: a commune no other integration test uses
COMMUNE = "76259"
SECRET = "plainte deposee 02/11"
PIECES = [
    {"categorie": "IDD", "type": "CID", "dateDepot": "2026-03-01", "reference": "urn:ged:idd"},
    {"categorie": "RESS", "type": "BSAL", "dateDepot": "2026-03-02", "reference": "urn:ged:bs"},
    {"categorie": "MOTIF", "type": "JUGT", "dateDepot": "2026-03-03", "reference": "urn:ged:jugt"},
    {"categorie": "INT", "type": "NOTE", "dateDepot": "2026-03-04", "reference": "urn:ged:note"},
]


@pytest.fixture(scope="module")
def api(worker: Any, settings: HubSettings) -> Iterator[TestClient]:
    from hub.api.app import create_app

    engine = make_engine(settings.database_url)
    migrate(engine)
    with TestClient(create_app(settings, engine)) as client:
        yield client
    engine.dispose()


def _versions(records: list[dict[str, Any]], num: str) -> list[dict[str, Any]]:
    return [r for r in records if r["numUnique"] == num and r["kind"] == "DEMANDE"]


def test_a_simple_profile_s_write_back_keeps_the_sensitive_parts(
    api: TestClient, worker: Any, actor_service: Any, settings: HubSettings
) -> None:
    suffix = uuid.uuid4().hex[:8]
    territory = ActorFilters(communes=[COMMUNE])
    guichet = Actor(id=f"cut-ccas-{suffix}", name="ccas", kind="guichet",
                    profile="consultant_simple", filters=territory)  # fmt: skip
    etat = Actor(id=f"cut-ddets-{suffix}", name="ddets", kind="etat",
                 profile="consultant_sensible", filters=territory)  # fmt: skip
    actor_service.add_or_update(guichet)
    actor_service.add_or_update(etat)
    engine = make_engine(settings.database_url)
    key = {"Authorization": f"Bearer {KeyStore(engine).create(guichet.id).key}"}
    engine.dispose()

    num = new_num_unique()
    cre = demande_event(num, [COMMUNE], handicap=True)
    cre["demande"]["demandeLogement"]["principauxMotifDemande"] = {
        "motifDemande": ["06"],
        "compAutreMotif": SECRET,
        "compDateJugement": "2025-02-03",
    }
    cre["demande"]["piecesJustificatives"] = copy.deepcopy(PIECES)
    asyncio.run(publish_events(settings, [prepare_event(cre)]))
    first = collect_feed(settings, etat.id, worker=worker, timeout=120,
                         until=lambda rs: len(_versions(rs, num)) == 1)  # fmt: skip
    (v1,) = _versions(first, num)
    assert v1["demande"]["piecesJustificatives"] == PIECES

    # the guichet's own feed, by the API: its copy is cut
    deadline = 60
    rec = None
    while rec is None and deadline:
        page = api.get("/feed?cursor=0&limit=1000", headers=key)
        assert page.status_code == 200, page.text
        mine = [r for r in page.json()["records"] if r["numUnique"] == num and r.get("demande")]
        rec = mine[-1] if mine else None
        deadline -= 1
        if rec is None:
            asyncio.run(asyncio.sleep(1))
    assert rec is not None
    demande = rec["demande"]
    assert demande["demandeLogement"]["listeHandicap"] is None
    assert [p["categorie"] for p in demande["piecesJustificatives"]] == ["IDD", "RESS"]
    assert {p["reference"] for p in demande["piecesJustificatives"]} == {None}
    demande["demandeLogement"]["precision"] = "changement de téléphone"
    # a profile in the body is no say: the hub sets the caller's registered one
    body = [{"numUnique": num, "operation": "MOD", "demande": demande,
             "profile": "consultant_sensible"}]  # fmt: skip
    answer = api.post("/demandes/evenements", headers=key, json=body)
    assert answer.status_code == 202, answer.text

    after = collect_feed(settings, etat.id, worker=worker, timeout=120,
                         until=lambda rs: len(_versions(rs, num)) == 2)  # fmt: skip
    v2 = _versions(after, num)[-1]
    assert v2["operation"] == "MOD" and v2["demandeVersion"] == 2
    got = v2["demande"]
    assert got["demandeLogement"]["precision"] == "changement de téléphone"  # applied
    assert got["piecesJustificatives"] == PIECES  # sensitive documents, every reference
    motifs = got["demandeLogement"]["principauxMotifDemande"]
    assert (motifs["compAutreMotif"], motifs["compDateJugement"]) == (SECRET, "2025-02-03")
    assert (
        got["demandeLogement"]["listeHandicap"] == v1["demande"]["demandeLogement"]["listeHandicap"]
    )
