"""The applicant's view through the REST API, with the real broker and worker, on SQLite and
PostgreSQL: docs/cotation.md's example demand (Darnétal, Métropole Rouen Normandie) is
dispatched to a landlord; while the statistics know fewer than 11 applicants of the EPCI
the population criterion stays ``indetermine`` and the similar demands are withheld; once
the stock is folded (12 applicants whose resources put q1 = 900 and q2 = 1,200, the
docs' illustrative thresholds) ``RESSOURCES_Q2`` is ``rempli`` (the docs' 140 without the
declaration) and the similar demands' low / median / high scores are served, equal to the
nearest-rank quartiles of the applicants' scores. Holders only; the territorial figures
for any authenticated actor."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from hub.domain.cotation import score, shipped_grids
from hub.domain.statistics_facts import event_date
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from schemas import get_codec
from tests.integration.conftest import collect_feed
from tests.integration.test_api_cotation import _caller, _met, example_event
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

DARNETAL, LE_HAVRE, ROUEN_COMMUNE = "76212", "76351", "76540"
ROUEN = "200023414"
AT = "2025-09-01"
#: monthly salaries of single applicants (1 consumption unit each): q1 = 900, q2 = 1,200
SALARIES = [800, 850, 900, 950, 1000, 1200, 1250, 1300, 1400, 1500, 1600, 1700]


@pytest.fixture
def api(migrated_db: tuple[str, Engine], settings: HubSettings) -> Iterator[
        tuple[TestClient, Engine]]:
    from hub.api.app import create_app

    _url, engine = migrated_db
    with TestClient(create_app(settings, engine)) as client:
        yield client, engine


def _applicant(salary: int) -> dict[str, Any]:
    event = demande_event(new_num_unique(), [ROUEN_COMMUNE], typologies=["T3"])
    event["demande"]["demandeLogement"]["personnePhysique"]["demandeur"][
        "listeRessourceRecue"] = [{"ressource": "SAL", "montant": salary}]
    return event


def _rank(values: list[float], share: float) -> int:
    return round(sorted(values)[math.ceil(share * len(values)) - 1])


def test_the_population_criterion_and_similar_demands_once_the_stock_is_known(
        api: tuple[TestClient, Engine], worker: Any, actor_service: Any,
        settings: HubSettings) -> None:
    client, engine = api
    landlord = _caller(engine, actor_service, "bailleur", [DARNETAL])
    stranger = _caller(engine, actor_service, "guichet", [LE_HAVRE])
    num = new_num_unique()
    event = example_event(num, DARNETAL)
    event["demande"]["demandeLogement"]["logementRecherche"]["listeTypeLogement"] = ["T3"]
    r = client.post("/demandes/evenements", headers=landlord.headers, json=[event])
    assert r.status_code == 202, r.text
    collect_feed(settings, landlord.actor.id, worker=worker, timeout=180,
                 until=lambda rs: any(x["numUnique"] == num for x in rs))

    def cotation() -> dict[str, Any]:
        r = client.get(f"/demandes/{num}/cotation?date={AT}", headers=landlord.headers)
        assert r.status_code == 200, r.text
        return dict(r.json()["cotations"][0])

    def similar() -> dict[str, Any]:
        r = client.get(f"/demandes/{num}/cotation/similaires?date={AT}",
                       headers=landlord.headers)
        assert r.status_code == 200, r.text
        (entry,) = r.json()["epcis"]
        return dict(entry)

    before = cotation()
    assert {c["code"]: c["statut"] for c in before["criteres"]}["RESSOURCES_Q2"] == "indetermine"
    (typo,) = similar()["similaires"]
    assert typo["typologie"] == "T3"
    assert all(typo[k] == {"valeur": None, "secret": True}
               for k in ("bas", "median", "haut", "delaiMoyenAttributionJours"))

    # the stock of the EPCI, folded as hub.demandes records
    codec = get_codec()
    applicants = [_applicant(s) for s in SALARIES]
    Folder(StatisticsStore(engine), DeclarationStore(engine)).fold(
        [Record(0, i, e["numUnique"].encode(), codec.encode("DemandeEvent", e))
         for i, e in enumerate(applicants)])

    after = cotation()
    assert _met(after)["RESSOURCES_Q2"] == 20 and after["total"] == 140
    entry = similar()
    assert entry["cotation"]["total"] == 140  # the applicant's own score and detail
    assert {c["code"] for c in entry["cotation"]["criteres"]} >= {"RESSOURCES_Q1"}
    grid = shipped_grids().en_vigueur(ROUEN, date.fromisoformat(AT))
    assert grid is not None
    scores = [float(score(e["demande"], grid, {}, event_date(e)).total) for e in applicants]
    (typo,) = entry["similaires"]
    assert (typo["bas"]["valeur"], typo["median"]["valeur"], typo["haut"]["valeur"]) == (
        _rank(scores, 0.25), _rank(scores, 0.5), _rank(scores, 0.75))
    assert not typo["median"]["secret"] and typo["delaiMoyenAttributionJours"]["secret"]

    # holders only for the demand; the territory's figures for any actor
    r = client.get(f"/demandes/{num}/cotation/similaires", headers=stranger.headers)
    assert r.status_code == 403, r.text
    # the département's stock: the EPCI's own would say that the département's other
    # EPCIs hold no demand, withheld between territories (docs/statistics.md)
    r = client.get(f"/statistiques/departement/76?date={AT}", headers=stranger.headers)
    assert r.status_code == 200 and r.json()["stockActif"] == {"valeur": 12, "secret": False}
    r = client.get(f"/statistiques/epci/{ROUEN}?date={AT}", headers=stranger.headers)
    assert r.status_code == 200 and r.json()["stockActif"] == {"valeur": None, "secret": True}
    assert client.get(f"/statistiques/epci/{ROUEN}").status_code == 401
    assert client.get("/statistiques/departement/00", headers=stranger.headers).status_code == 404
