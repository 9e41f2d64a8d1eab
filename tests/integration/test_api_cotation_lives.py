"""The cotation through the REST API against the real broker and worker, on SQLite and
PostgreSQL (independent audit N):

* N9 — a declaration belongs to the demand it was made for: after a ``SUP`` and a new
  ``CRE`` on the numéro (a new demand, README §Lifecycle), neither the new demand's feed
  record nor ``GET …/cotation`` counts the deleted demand's declaration;
* N10 — ``GET …/cotation?date=<a past day>`` counts only the declarations in force that
  day, not one recorded since;
* N4 — a radiated demand has no score (its feed ``RADIATION`` record carries none):
  ``etat`` ``radiee`` and ``cotations`` empty; nor in ``GET …/cotation/similaires``
  (review O, O5): ``etat`` ``radiee`` and ``epcis`` empty;
* N5 — the default day is the Europe/Paris day the feed scores on: at 23:30 UTC on
  14 March 2026 (00:30 on the 15th in Paris) the score is the 15th's, and a declaration
  made then is dated the 15th.

Demands: docs/cotation.md's example (Darnétal, Métropole Rouen Normandie, grid of
README §Cotation: REPRISE_ACTIVITE "resuming work after long-term unemployment" is a
statutory criterion worth 40 points, declared by a partner)."""

from __future__ import annotations

import datetime as real_dt
import time
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import hub.api.routes_cotation as routes_cotation
from hub.core.settings import HubSettings
from tests.integration.api_support import Caller
from tests.integration.conftest import collect_feed
from tests.integration.test_api_cotation import DARNETAL, ROUEN, _caller, example_event
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

DECLARED = "REPRISE_ACTIVITE"


@pytest.fixture
def api(migrated_db: tuple[str, Engine], settings: HubSettings) -> Iterator[
        tuple[TestClient, Engine]]:
    from hub.api.app import create_app

    _url, engine = migrated_db
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine


def _submit(client: TestClient, who: Caller, *events: dict[str, Any]) -> None:
    r = client.post("/demandes/evenements", headers=who.headers, json=list(events))
    assert r.status_code == 202, r.text


def _feed(settings: HubSettings, who: Caller, num: str, worker: Any,
          kinds: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """The demand's records in the caller's feed once their kinds are ``kinds``."""

    def mine(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [x for x in rs if x["numUnique"] == num and x["kind"] != "AVIS"]

    got = collect_feed(settings, who.actor.id, worker=worker, timeout=180,
                       until=lambda rs: [x["kind"] for x in mine(rs)] == kinds)  # fmt: skip
    assert [x["kind"] for x in mine(got)] == kinds
    return mine(got)


def _cotation(client: TestClient, who: Caller, num: str, on: str | None = None) -> Any:
    query = f"?date={on}" if on else ""
    r = client.get(f"/demandes/{num}/cotation{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _similaires(client: TestClient, who: Caller, num: str, on: str | None = None) -> Any:
    query = f"?date={on}" if on else ""
    r = client.get(f"/demandes/{num}/cotation/similaires{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _met(cotations: list[dict[str, Any]]) -> set[str]:
    return {c["code"] for s in cotations for c in s["criteres"] if c["statut"] == "rempli"}


def _declare(client: TestClient, who: Caller, num: str) -> dict[str, Any]:
    r = client.post(f"/demandes/{num}/cotation/declarations", headers=who.headers,
                    json={"epci": ROUEN, "critere": DECLARED, "valeur": True})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json()["declaration"])


@pytest.fixture
def shared_api(worker: Any, settings: HubSettings) -> Iterator[tuple[TestClient, Engine]]:
    """The API on the worker's own database (SQLite under the test hub's home): the
    declarations it records reach the worker's port, hence the feed."""
    from hub.api.app import create_app
    from hub.core.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine
    engine.dispose()



def _a_held_demand(client: TestClient, engine: Engine, actor_service: Any,
                   settings: HubSettings, worker: Any) -> tuple[Caller, str]:  # fmt: skip
    """A landlord over Darnétal and a new demand of its territory, delivered to it."""
    landlord = _caller(engine, actor_service, "bailleur", [DARNETAL])
    num = new_num_unique()
    _submit(client, landlord, example_event(num, DARNETAL))
    _feed(settings, landlord, num, worker, ["DEMANDE"])
    return landlord, num

def test_a_new_demand_after_a_deletion_inherits_no_declaration(
        api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:  # fmt: skip
    _new_demand_after_a_deletion(api, worker, actor_service, settings, feed=False)


def test_the_feed_of_a_new_demand_counts_no_declaration_of_the_deleted_one(
        shared_api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:  # fmt: skip
    _new_demand_after_a_deletion(shared_api, worker, actor_service, settings, feed=True)


def _new_demand_after_a_deletion(api: tuple[TestClient, Engine], worker: Any,
                                 actor_service: Any, settings: HubSettings,
                                 feed: bool) -> None:  # fmt: skip
    client, engine = api
    landlord = _caller(engine, actor_service, "bailleur", [DARNETAL])
    num = new_num_unique()
    _submit(client, landlord, example_event(num, DARNETAL))  # created 2024-01-15
    _feed(settings, landlord, num, worker, ["DEMANDE"])
    declared = _declare(client, landlord, num)
    assert DECLARED in _met(_cotation(client, landlord, num)["cotations"])
    if feed:  # a record of the first demand now carries it
        time.sleep(4)  # the worker's port reads the table at most once a second (+2 s margin)
        modified = example_event(num, DARNETAL)
        modified["operation"] = "MOD"
        _submit(client, landlord, modified)
        _feed(settings, landlord, num, worker, ["DEMANDE", "DEMANDE"])

    again = example_event(num, DARNETAL)  # the same household applies again: a new demand
    again["demande"]["demandeLogement"]["dateCreationDemande"] = "2026-11-30"
    _submit(client, landlord, demande_event(num, [DARNETAL], operation="SUP"))
    _submit(client, landlord, again)
    kinds = ["DEMANDE", "DEMANDE"] if feed else ["DEMANDE"]
    records = _feed(settings, landlord, num, worker, [*kinds, "RETRAIT", "DEMANDE"])
    if feed:
        assert DECLARED in _met(records[1]["cotations"])  # the first demand's MOD had it
        assert records[-1]["cotations"] and DECLARED not in _met(records[-1]["cotations"])
    body = _cotation(client, landlord, num)
    assert body["cotations"] and DECLARED not in _met(body["cotations"])
    assert body["etat"] == "active"
    statut = {c["code"]: c for c in body["cotations"][0]["criteres"]}[DECLARED]
    assert (statut["statut"], statut["declaration"]) == ("non_rempli", None)
    # declared again for the new demand, it counts; each declaration names its demand
    assert _declare(client, landlord, num)["dateCreationDemande"] == "2026-11-30"
    assert DECLARED in _met(_cotation(client, landlord, num)["cotations"])
    assert declared["dateCreationDemande"] == "2024-01-15"


def test_a_past_date_counts_no_declaration_recorded_since(
        api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:  # fmt: skip
    client, engine = api
    landlord, num = _a_held_demand(client, engine, actor_service, settings, worker)
    day = _declare(client, landlord, num)["dateDeclaration"]
    past = (real_dt.date.fromisoformat(day) - real_dt.timedelta(days=1)).isoformat()
    assert DECLARED in _met(_cotation(client, landlord, num, day)["cotations"])
    before = _cotation(client, landlord, num, past)
    assert before["date"] == past and before["cotations"]
    assert DECLARED not in _met(before["cotations"])
    assert DECLARED not in _met(_cotation(client, landlord, num, "2025-09-01")["cotations"])


def test_a_radiated_demand_has_no_score(
        api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:  # fmt: skip
    client, engine = api
    landlord, num = _a_held_demand(client, engine, actor_service, settings, worker)
    assert _cotation(client, landlord, num)["cotations"]  # scored while active
    active = _similaires(client, landlord, num)
    assert [e["cotation"]["total"] for e in active["epcis"]]  # and compared while active
    radiated = example_event(num, DARNETAL)
    radiated["operation"] = "RAD"
    radiated["eventId"] = str(uuid.uuid4())
    radiated["demande"]["demandeLogement"]["radiation"] = {
        "dateRadiation": "2026-11-20", "motifRadiation": "RADATT"}  # fmt: skip
    _submit(client, landlord, radiated)
    records = _feed(settings, landlord, num, worker, ["DEMANDE", "RADIATION"])
    assert records[1]["cotations"] == [] and records[1]["demande"] is not None
    body = _cotation(client, landlord, num)
    assert body["cotations"] == []
    assert (body["etat"], body["demandeVersion"]) == ("radiee", records[1]["demandeVersion"])
    assert _cotation(client, landlord, num, "2025-09-01")["cotations"] == []
    # nor its comparison with the similar demands (review O, O5)
    for on in (None, "2025-09-01"):
        alike = _similaires(client, landlord, num, on)
        assert alike["epcis"] == [], "the applicant's own score for a radiated demand"
        assert alike["etat"] == "radiee"
        assert alike["demandeVersion"] == records[1]["demandeVersion"]
    assert active["etat"] == "active"
    # the applicant's timeline shows no score either (same code path)
    r = client.get(f"/demandes/{num}/timeline?vue=demandeur", headers=landlord.headers)
    assert r.status_code == 200, r.text
    assert r.json()["cotation"]["cotations"] == []


class _Frozen(real_dt.datetime):
    #: 00:30 on 15 March 2026 in Paris
    INSTANT = real_dt.datetime(2026, 3, 14, 23, 30, tzinfo=real_dt.UTC)

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return cls.INSTANT.astimezone(tz) if tz is not None else cls.INSTANT.replace(tzinfo=None)


def test_the_default_day_is_the_paris_day(
        api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:  # fmt: skip
    client, engine = api
    landlord = _caller(engine, actor_service, "bailleur", [DARNETAL])
    num = new_num_unique()
    event = example_event(num, DARNETAL)
    event["demande"]["demandeLogement"]["dateCreationDemande"] = "2024-09-15"
    _submit(client, landlord, event)
    _feed(settings, landlord, num, worker, ["DEMANDE"])
    with mock.patch.object(routes_cotation, "datetime", _Frozen):
        body = _cotation(client, landlord, num)
        declared = _declare(client, landlord, num)
    # 18 months since 2024-09-15 on the Paris day, as the feed's clock says that night
    assert body["date"] == "2026-03-15"
    assert "ANCIENNETE_18_MOIS" in _met(body["cotations"])
    assert declared["dateDeclaration"] == "2026-03-15"
