"""The applicant's timeline carries the demand's current score (issue 20 point 4), on
SQLite and PostgreSQL with the real broker and worker: docs/cotation.md's example demand
submitted by a landlord, dispatched to its feed; ``GET /demandes/{num}/timeline`` gives
today's score (expected here from the page's reading of the grid and today's date), a
declaration shows with its author in the actors' view and without it in the applicant's;
a holder whose feed has no snapshot gets a timeline without a score."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from tests.integration.conftest import collect_feed
from tests.integration.test_api_cotation import (
    DARNETAL,
    LE_HAVRE,
    ROUEN,
    _caller,
    api,
    example_event,
)
from tests.support.demandes import new_num_unique

pytestmark = pytest.mark.kafka
__all__ = ["api"]  # the fixture, shared with test_api_cotation


def _expected_met(today: dt.date) -> dict[str, int]:
    """docs/cotation.md's example on ``today``, no quartile thresholds (no statistics
    folded), no declaration: the child (born 2015-03-10) is a minor until 2033, 18
    months passed on 2025-07-15, the applicant (born 1997-05-20) is 30 on 2027-05-20."""
    met = {"MINEUR_LOGEMENT_INDECENT": 40, "ANCIENNETE_18_MOIS": 20, "DIVORCE_SEPARATION": 20,
           "EMPLOI_PRECAIRE": 20}  # fmt: skip
    if today < dt.date(2027, 5, 20):
        met["MOINS_30_ANS"] = 20
    return met


def _timeline(client: TestClient, headers: dict[str, str], num: str, vue: str) -> Any:
    r = client.get(f"/demandes/{num}/timeline?vue={vue}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_timeline_carries_todays_score(
    api: tuple[TestClient, Engine], worker: Any, actor_service: Any, settings: HubSettings
) -> None:
    client, engine = api
    landlord = _caller(engine, actor_service, "bailleur", [DARNETAL])
    num = new_num_unique()
    r = client.post("/demandes/evenements", headers=landlord.headers,
                    json=[example_event(num, DARNETAL)])  # fmt: skip
    assert r.status_code == 202, r.text
    got = collect_feed(settings, landlord.actor.id, worker=worker, timeout=300,
                       until=lambda rs: any(x["numUnique"] == num for x in rs))  # fmt: skip
    assert any(x["numUnique"] == num for x in got), "not dispatched to the landlord"

    # the API's view of the feed carries what the worker computed (event of today)
    page = client.get("/feed?cursor=0&limit=1000", headers=landlord.headers)
    assert page.status_code == 200, page.text
    (rec,) = [r for r in page.json()["records"] if r["numUnique"] == num]
    assert rec["delaiAnormalementLong"] is None and rec["delaiAnormalementLongSource"] is None
    (fed,) = rec["cotations"]
    event_day = dt.date.fromisoformat(fed["dateReference"])
    assert fed["epci"] == ROUEN and fed["total"] == sum(_expected_met(event_day).values())

    actors_view = _timeline(client, landlord.headers, num, "acteur")
    assert actors_view["cotation"] is None  # actors read GET …/cotation and their feed
    body = _timeline(client, landlord.headers, num, "demandeur")
    today = dt.date.fromisoformat(body["cotation"]["date"])
    assert abs((today - dt.datetime.now(dt.UTC).date()).days) <= 1
    (cot,) = body["cotation"]["cotations"]
    met = {c["code"]: c["points"] for c in cot["criteres"] if c["statut"] == "rempli"}
    assert cot["epci"] == ROUEN and met == _expected_met(today)
    assert cot["total"] == sum(met.values())

    declared = {"epci": ROUEN, "critere": "REPRISE_ACTIVITE", "valeur": True}
    r = client.post(f"/demandes/{num}/cotation/declarations", headers=landlord.headers,
                    json=declared)  # fmt: skip
    assert r.status_code == 201, r.text
    applicant = _timeline(client, landlord.headers, num, "demandeur")
    (cot,) = applicant["cotation"]["cotations"]
    reprise = next(c for c in cot["criteres"] if c["code"] == "REPRISE_ACTIVITE")
    assert reprise["statut"] == "rempli" and reprise["declaration"] is None
    assert "by a partner" in reprise["explication"]
    assert landlord.actor.id not in json.dumps(applicant)  # no author in the applicant's view
    assert cot["total"] == sum(_expected_met(today).values()) + 40


def test_a_holder_without_a_snapshot_gets_no_score(api: tuple[TestClient, Engine], worker: Any,
                                                   actor_service: Any) -> None:  # fmt: skip
    client, engine = api
    elsewhere = _caller(engine, actor_service, "guichet", [LE_HAVRE])
    num = new_num_unique()
    r = client.post(
        "/demandes/evenements", headers=elsewhere.headers, json=[example_event(num, DARNETAL)]
    )  # holder, not a recipient
    assert r.status_code == 202, r.text
    body = _timeline(client, elsewhere.headers, num, "demandeur")
    assert body["cotation"] is None and body["evenements"] == []
    stranger = _caller(engine, actor_service, "guichet", [LE_HAVRE])
    r = client.get(f"/demandes/{num}/timeline", headers=stranger.headers)
    assert r.status_code == 403
