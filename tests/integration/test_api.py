"""The REST API against the real database (SQLite here, PostgreSQL in test_api_postgres)
and the real broker: auth, problem+json errors, demand events, gestion partagée, CAL
decisions, timelines (right to information), feed by cursor, audit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from hub.core.db import make_engine, migrate
from hub.core.settings import HubSettings
from schemas import get_codec
from tests.integration.api_support import Caller, gp_event, register
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
DAY = date(2025, 6, 10)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'api.db'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def client(settings: HubSettings, engine: Engine) -> Iterator[TestClient]:
    from hub.api.app import create_app

    with TestClient(create_app(settings, engine)) as c:
        yield c


def create_demand(client: TestClient, who: Caller, **kw: Any) -> str:
    num = new_num_unique()
    r = client.post("/demandes/evenements", headers=who.headers,
                    json=[demande_event(num, ["76540"], **kw)])
    assert r.status_code == 202, r.text
    return num


def assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = dict(r.json())
    assert body["type"] == f"urn:passerelle:problem:{code}" and body["status"] == status
    assert body["detail"]
    return body


def test_health_and_openapi_are_served(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
    spec = client.get("/openapi.json").json()
    assert {"/demandes/evenements", "/demandes/{num_unique}/evenements-gp", "/cal/decisions",
            "/demandes/{num_unique}/timeline", "/feed", "/health"} <= set(spec["paths"])


def test_every_call_is_authenticated(client: TestClient, engine: Engine) -> None:
    assert_problem(client.get("/feed"), 401, "unauthenticated")
    assert_problem(client.get("/feed", headers={"Authorization": "Bearer hk_00.x"}), 401,
                   "unauthenticated")
    who = register(engine)
    forged = who.headers["Authorization"][:-2] + "xx"
    assert_problem(client.get("/catalogue", headers={"Authorization": forged}), 401,
                   "unauthenticated")
    assert client.get("/catalogue", headers=who.headers).status_code == 200
    with engine.connect() as conn:  # stored hashed: the secret appears nowhere
        rows = conn.execute(text("SELECT hash FROM api_keys")).all()
    secret = who.headers["Authorization"].split(".", 1)[1].encode()
    assert rows and all(secret not in bytes(r[0]) for r in rows)


def test_bad_input_is_a_precise_problem_never_a_500(client: TestClient, engine: Engine) -> None:
    who = register(engine)
    r = client.post("/demandes/evenements", headers={**who.headers,
                    "content-type": "application/json"}, content=b"{not json")
    assert_problem(r, 400, "malformed_json")
    # the body's schema (derived from the Avro DemandeEvent) names what does not fit
    missing = assert_problem(client.post("/demandes/evenements", headers=who.headers,
                                         json=[{}]), 422, "invalid_request")
    assert {"numUnique", "operation"} <= {e["loc"][-1] for e in missing["errors"]}
    bad_num = demande_event("12", ["76540"])
    assert_problem(client.post("/demandes/evenements", headers=who.headers, json=[bad_num]),
                   422, "invalid_num_unique")
    weird = demande_event(new_num_unique(), ["76540"])
    weird["demande"] = ["not", "an", "object"]
    assert_problem(client.post("/demandes/evenements", headers=who.headers, json=[weird]),
                   422, "invalid_request")
    unknown = demande_event(new_num_unique(), ["99999"])
    assert_problem(client.post("/demandes/evenements", headers=who.headers, json=[unknown]),
                   422, "unknown_commune")
    num = create_demand(client, who)
    body = assert_problem(client.post(f"/demandes/{num}/evenements-gp", headers=who.headers,
                                      json={"codeTypeEvenement": "REFUSDEM",
                                            "dateSurvenance": "2025-06-01"}),
                          422, "missing_field")
    assert "MOTIF" in body["detail"]
    assert_problem(client.get("/nowhere", headers=who.headers), 404, "not_found")


def test_demand_events_are_published_to_hub_demandes(client: TestClient, engine: Engine,
                                                     settings: HubSettings) -> None:
    from aiokafka import AIOKafkaConsumer

    from hub.core.kafka.client import client_options

    who = register(engine)
    num = create_demand(client, who)

    async def find() -> dict[str, Any] | None:
        consumer = AIOKafkaConsumer("hub.demandes", **client_options(settings), group_id=None,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            # keyed by numéro unique: read only the end of each partition
            await consumer.getmany(timeout_ms=1000)
            for tp in consumer.assignment():
                end = (await consumer.end_offsets([tp]))[tp]
                consumer.seek(tp, max(0, end - 200))
            for _ in range(20):
                for msgs in (await consumer.getmany(timeout_ms=500)).values():
                    for m in msgs:
                        if m.key == num.encode():
                            return get_codec().decode_as(m.value, "DemandeEvent")
            return None
        finally:
            await consumer.stop()

    event = asyncio.run(find())
    assert event is not None and event["source"] == f"api:{who.actor.id}"


def test_another_actor_can_neither_read_nor_act_on_a_demand_it_does_not_hold(
        client: TestClient, engine: Engine) -> None:
    owner, other = register(engine), register(engine, communes=("76451",))
    num = create_demand(client, owner)
    gp_event(client, owner, num, "VISPROP", {"DATEVIS": "2025-06-05"})
    assert_problem(client.get(f"/demandes/{num}/timeline", headers=other.headers), 403,
                   "forbidden")
    assert_problem(client.post(f"/demandes/{num}/evenements-gp", headers=other.headers,
                               json={"codeTypeEvenement": "VISEFF",
                                     "dateSurvenance": "2025-06-06",
                                     "caracteristiques": {"DATEVIS": "2025-06-06"}}),
                   403, "forbidden")
    mod = demande_event(num, ["76540"], operation="MOD")
    assert_problem(client.post("/demandes/evenements", headers=other.headers, json=[mod]),
                   403, "forbidden")
    assert client.get(f"/demandes/{num}/timeline", headers=owner.headers).status_code == 200


def test_gp_events_are_append_only_and_idempotent_by_event_id(client: TestClient,
                                                              engine: Engine) -> None:
    who = register(engine)
    num = create_demand(client, who)
    body = {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
            "caracteristiques": {"DATEVIS": "2025-06-05"}, "eventId": "evt-" + num}
    url = f"/demandes/{num}/evenements-gp"
    first = client.post(url, headers=who.headers, json=body)
    assert first.status_code == 201 and first.json()["created"]
    assert client.post(url, headers=who.headers, json=body).status_code == 200
    changed = {**body, "caracteristiques": {"DATEVIS": "2025-06-06"}}
    assert_problem(client.post(url, headers=who.headers, json=changed), 409, "conflict")
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE gp_events SET code = 'X'"))
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM gp_events"))


def test_timeline_applicant_view_shows_only_published_events_in_order(
        client: TestClient, engine: Engine) -> None:
    who = register(engine)
    num = create_demand(client, who)
    gp_event(client, who, num, "VISEFF", {"DATEVIS": "2025-06-07"}, date(2025, 6, 7))
    gp_event(client, who, num, "CONTINGENT", {"RESERV": "PPRIOR"}, date(2025, 6, 2))
    gp_event(client, who, num, "DEMPIECES", {"PIECES": "avis d'imposition"}, date(2025, 6, 1))
    actor_view = client.get(f"/demandes/{num}/timeline", headers=who.headers).json()
    assert [e["codeTypeEvenement"] for e in actor_view["evenements"]] == [
        "DEMPIECES", "CONTINGENT", "VISEFF"]
    applicant = client.get(f"/demandes/{num}/timeline?vue=demandeur", headers=who.headers).json()
    assert [e["codeTypeEvenement"] for e in applicant["evenements"]] == ["DEMPIECES", "VISEFF"]
    for e in applicant["evenements"]:
        assert e["auteur"] is None and e["eventId"] is None and e["commentaire"] is None


def designate(client: TestClient, who: Caller, nums: list[str], pref: bool = False) -> None:
    for n in nums:
        fields = {"CODECAL": "CAL-R", "LOGEMENT": "LGT-1"}
        if pref:
            fields["DESIGPREF"] = "true"
        gp_event(client, who, n, "DESIGCAL", fields)
        gp_event(client, who, n, "EXAMCAL", {"CODECAL": "CAL-R", "DATECAL": DAY.isoformat()}, DAY)


def test_cal_decision_breaking_a_rule_is_refused_with_the_rule_named(
        client: TestClient, engine: Engine) -> None:
    landlord = register(engine)
    nums = [create_demand(client, landlord) for _ in range(2)]
    designate(client, landlord, nums)
    body = {"codeCal": "CAL-R", "logement": "LGT-1", "dateDecision": DAY.isoformat(),
            "candidats": [{"numUnique": nums[0], "decision": "ATTR"},
                          {"numUnique": nums[1], "decision": "NONATTR", "motif": "x"}]}
    r = client.post("/cal/decisions", headers=landlord.headers, json=body)
    problem = assert_problem(r, 422, "cal_rule")
    assert problem["rule"] == "R441-3/trois-candidats" and "three candidates" in problem["detail"]
    guichet = register(engine, kind="guichet")
    assert_problem(client.post("/cal/decisions", headers=guichet.headers, json=body), 403,
                   "forbidden")


def test_cal_decision_answer_and_applicant_view_hold_no_other_applicant_data(
        client: TestClient, engine: Engine) -> None:
    landlord = register(engine)
    nums = [create_demand(client, landlord) for _ in range(3)]
    designate(client, landlord, nums)
    body = {"decisionId": "dec-" + nums[0], "codeCal": "CAL-R", "logement": "LGT-1",
            "dateDecision": DAY.isoformat(),
            "candidats": [{"numUnique": nums[0], "decision": "ATTR"},
                          {"numUnique": nums[1], "decision": "ATTRRANG", "rang": 2},
                          {"numUnique": nums[2], "decision": "IRREC", "motif": "IRRRES"}]}
    r = client.post("/cal/decisions", headers=landlord.headers, json=body)
    assert r.status_code == 201, r.text
    assert [e["numUnique"] for e in r.json()["evenements"]] == nums
    again = client.post("/cal/decisions", headers=landlord.headers, json=body)
    assert again.status_code == 201  # idempotent: same event ids, nothing added
    late = {"numUnique": nums[0], "accepte": True, "dateReponse": "2025-06-21"}
    url = f"/cal/decisions/dec-{nums[0]}/reponses"
    assert assert_problem(client.post(url, headers=landlord.headers, json=late), 422,
                          "cal_rule")["rule"] == "R441-3/reponse-delai"
    refusal = {"numUnique": nums[0], "accepte": False, "motif": "trop loin",
               "dateReponse": "2025-06-15"}
    assert client.post(url, headers=landlord.headers, json=refusal).status_code == 201
    view = client.get(f"/demandes/{nums[0]}/timeline?vue=demandeur", headers=landlord.headers)
    text_of_view = view.text
    assert "REFUSDEM" in text_of_view and "DECISCAL" in text_of_view
    assert nums[1] not in text_of_view and nums[2] not in text_of_view
    assert "dec-" not in text_of_view and "LGT-1" not in text_of_view
    full = client.get(f"/demandes/{nums[0]}/timeline", headers=landlord.headers).json()
    assert sum(e["codeTypeEvenement"] == "DECISCAL" for e in full["evenements"]) == 1
