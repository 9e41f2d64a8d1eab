"""Independent audit E1 end to end, on the real broker: the real ``hub worker`` scores a
demand with partners' declarations read from its database and cuts the score and
``changedFields`` of each actor's records to its profile; the REST reads of the score
(``/cotation``, ``/cotation/similaires``, the applicant's timeline) answer per the
caller's profile. What each profile may receive: docs/profiles.md (read by
tests/support/profile_scores.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.ingress.publishing import prepare_event, publish_events
from hub.core.db import make_engine
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.cotation.store import DeclarationStore, NewDeclaration
from hub.stores.registry.store import ActorStore
from schemas import get_codec
from tests.integration.api_support import Caller
from tests.integration.conftest import collect_feed
from tests.integration.test_api_cotation import DARNETAL, example_event
from tests.support.demandes import demande_event, new_num_unique
from tests.support.profile_scores import (
    METROPOLE,
    PROFILES,
    SENSIBLE,
    allowed_criteria,
    auteur,
    check_record,
    criteria_table,
    declared_codes,
)

pytestmark = pytest.mark.kafka

CHANGED = ["demandeLogement.listeHandicap", "demandeLogement.principauxMotifDemande",
           "demandeLogement.principauxMotifDemande.compAutreMotif", "piecesJustificatives",
           "demandeLogement.principauxMotifDemande.motifDemande",
           "demandeLogement.logementRecherche.listeTypeLogement"]  # fmt: skip


def _event(num: str, op: str, occurred_at: int) -> dict[str, Any]:
    ev = demande_event(num, [DARNETAL], operation=op, handicap=True, occurred_at=occurred_at)
    ev["demande"]["demandeLogement"]["principauxMotifDemande"] = {
        "motifDemande": ["07", "11"], "compAutreMotif": "texte libre"}  # fmt: skip
    ev["changedFields"] = CHANGED if op == "MOD" else []
    return ev


def test_the_worker_cuts_scores_and_changed_fields_to_each_profile(  # type: ignore[no-untyped-def]
    settings, worker, actor_service
) -> None:
    suffix = uuid.uuid4().hex[:8]
    actors = {p: f"sc-{p.split('_')[1]}-{suffix}" for p in PROFILES}
    for profile, aid in actors.items():
        actor_service.add_or_update(Actor.model_validate({
            "id": aid, "name": aid, "kind": "bailleur", "profile": profile,
            "filters": ActorFilters(communes=[DARNETAL])}))  # fmt: skip
    num = new_num_unique()
    store = DeclarationStore(make_engine(settings.database_url))  # the worker's database
    for code in declared_codes():
        store.declare(
            NewDeclaration(
                num_unique=num,
                epci=METROPOLE,
                critere=code,
                valeur=True,
                auteur=auteur(code),
                date_declaration=dt.date(2026, 1, 5),
            )
        )
    # recorded more than the worker's min_interval_s + margin_s (1 + 2 s) before the
    # events: both records count them whatever the worker's last refresh (a worker busy
    # with other demands of the EPCI may have read the table just before these rows:
    # dispatch/declarations.py, the one non-determinism)
    time.sleep(3.5)
    now = int(time.time() * 1000)
    events = [_event(num, "CRE", now), _event(num, "MOD", now + 1)]
    asyncio.run(publish_events(settings, [prepare_event(e) for e in events]))
    met: dict[str, set[str]] = {}
    for profile, aid in actors.items():
        records = collect_feed(settings, aid, worker=worker, timeout=120, until=lambda rs: len(
            [r for r in rs if r["numUnique"] == num]) >= 2)  # fmt: skip
        mine = [r for r in records if r["numUnique"] == num]
        assert [r["kind"] for r in mine] == ["DEMANDE", "DEMANDE"], (profile, mine)
        for ev, rec in zip(events, mine, strict=True):
            check_record(get_codec(), profile, rec, ev["changedFields"])
        (cot,) = mine[1]["cotations"]
        met[profile] = {c["code"] for c in cot["criteres"]}
    assert met[SENSIBLE] >= set(declared_codes())  # the worker did read the declarations
    for profile in PROFILES:
        assert met[profile] == met[SENSIBLE] & allowed_criteria(profile), profile


@pytest.fixture
def api(migrated_db: tuple[str, Engine], settings: HubSettings) -> Iterator[
        tuple[TestClient, Engine]]:  # fmt: skip
    from hub.api.app import create_app

    _url, engine = migrated_db
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine


def _caller(engine: Engine, actor_service: Any, profile: str) -> Caller:
    actor = Actor(id=f"scp-{profile.split('_')[1]}-{uuid.uuid4().hex[:8]}", name=profile,
                  kind="bailleur", profile=profile,  # type: ignore[arg-type]
                  filters=ActorFilters(communes=[DARNETAL]))  # fmt: skip
    actor_service.add_or_update(actor)
    ActorStore(engine).save(actor)
    return Caller(actor, {"Authorization": f"Bearer {KeyStore(engine).create(actor.id).key}"})


def test_the_api_answers_the_score_per_the_callers_profile(  # type: ignore[no-untyped-def]
    api, worker, actor_service, settings
) -> None:
    client, engine = api
    callers = {p: _caller(engine, actor_service, p) for p in PROFILES}
    partner = _caller(engine, actor_service, SENSIBLE)  # declares the sensitive ones
    num = new_num_unique()
    r = client.post("/demandes/evenements", headers=partner.headers,
                    json=[example_event(num, DARNETAL)])  # fmt: skip
    assert r.status_code == 202, r.text
    for who in (*callers.values(), partner):
        collect_feed(settings, who.actor.id, worker=worker, timeout=180,
                     until=lambda rs: any(x["numUnique"] == num for x in rs))  # fmt: skip
    url = f"/demandes/{num}/cotation/declarations"
    withheld = set(criteria_table()) - allowed_criteria("consultant_simple")
    for code in declared_codes():  # LOGEMENT_INADAPTE_HANDICAP: declared, then withdrawn
        who = partner if code in withheld else callers[SENSIBLE]
        for valeur in (True, False) if code == "LOGEMENT_INADAPTE_HANDICAP" else (True,):
            r = client.post(
                url,
                headers=who.headers,
                json={"epci": METROPOLE, "critere": code, "valeur": valeur},
            )
            assert r.status_code == 201, r.text
    # scored on the declarations' day: a declaration counts from the day it is made, not
    # on an earlier date (audit N, N10)
    on = r.json()["declaration"]["dateDeclaration"]
    scores: dict[str, dict[str, Any]] = {}
    for profile, who in callers.items():
        reads = {
            "cotation": f"/demandes/{num}/cotation?date={on}",
            "similaires": f"/demandes/{num}/cotation/similaires?date={on}",
            "timeline": f"/demandes/{num}/timeline?vue=demandeur",
        }
        for name, path in reads.items():
            r = client.get(path, headers=who.headers)
            assert r.status_code == 200, (profile, name, r.text)
            if profile != SENSIBLE:
                leaked = sorted(c for c in withheld if c in r.text)
                assert not leaked, (profile, name, leaked)
                assert partner.actor.id not in r.text, (profile, name)
        (cot,) = client.get(reads["cotation"], headers=who.headers).json()["cotations"]
        codes = {c["code"] for c in cot["criteres"]}
        assert codes == allowed_criteria(profile), profile  # every criterion it may see
        assert cot["total"] == sum(c["points"] for c in cot["criteres"]), profile
        scores[profile] = cot
    full = scores[SENSIBLE]
    hidden = sum(c["points"] for c in full["criteres"] if c["code"] in withheld)
    assert hidden == 5 * 40  # met: 5 withheld criteria of 40 points (one withdrawn)
    for profile in PROFILES:
        assert scores[profile]["total"] == full["total"] - (0 if profile == SENSIBLE else hidden)
