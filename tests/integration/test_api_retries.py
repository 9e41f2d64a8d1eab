"""Audit findings 2, 3 and 7 through the REST API, on the real broker and the real SQLite
and PostgreSQL. The gestion partagée events go to a topic of the test's own that the
broker refuses for a while (``max.message.bytes`` lowered, as the audit did); the demand
events to a broker that does not answer.

* an applicant's answer whose publication failed (503) is published by ``hub api``'s
  republisher with no client action; its 503 names its event id; the identical answer
  re-sent is the same answer (503 again while Kafka refuses, then 200 and published
  again), a different one is refused by R441-3;
* a decision sent without ``decisionId`` and answered 503 carries the id the hub derived
  from its content, and the same body re-sent (candidates in another order) is the same
  decision: one DECISCAL per candidate, never a second decision on the dwelling;
* a demand event answered 503 names the ``eventId`` the hub drew, to be re-sent with it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.core.kafka.publisher import KafkaPublisher
from hub.core.settings import HubSettings
from hub.stores.cal.service import CALService
from hub.stores.gp.service import GPService
from hub.stores.gp.store import GPStore
from monitoring.metrics import REGISTRY
from tests.integration.api_support import Caller, gp_event, register
from tests.support.demandes import demande_event, new_num_unique
from tests.support.refusing_topic import RefusingTopic

pytestmark = pytest.mark.kafka
DAY = "2025-06-10"


@pytest.fixture
def topic(settings: HubSettings) -> Iterator[RefusingTopic]:
    found = asyncio.run(RefusingTopic.create(settings))
    try:
        yield found
    finally:
        asyncio.run(found.delete())


@pytest.fixture
def api(settings: HubSettings, migrated_db: tuple[str, Engine],
        topic: RefusingTopic) -> Iterator[TestClient]:  # fmt: skip
    """The API whose gestion partagée events go to ``topic``; republisher every 0.3 s."""
    from hub.api.app import create_app

    fast = settings.model_copy(update={
        "api": settings.api.model_copy(update={"republish_interval_s": 0.3})})  # fmt: skip
    app = create_app(fast, migrated_db[1])
    ctx = app.state.hub
    # the app's own publisher (closed by the app), towards the test's topic
    ctx.gp = GPService(ctx.gp.store, ctx.publisher, topic=topic.name)
    ctx.cal = CALService(ctx.gp)
    with TestClient(app) as client:
        yield client


def _demands(client: TestClient, who: Caller, n: int = 3) -> list[str]:
    nums = [new_num_unique() for _ in range(n)]
    r = client.post("/demandes/evenements", headers=who.headers,
                    json=[demande_event(num, ["76540"]) for num in nums])
    assert r.status_code == 202, r.text
    for num in nums:
        gp_event(client, who, num, "DESIGCAL", {"CODECAL": "CAL-R", "LOGEMENT": "LGT-9"})
        gp_event(client, who, num, "EXAMCAL", {"CODECAL": "CAL-R", "DATECAL": DAY})
    return nums


def _decision(nums: list[str], **extra: Any) -> dict[str, Any]:
    return {"codeCal": "CAL-R", "logement": "LGT-9", "dateDecision": DAY, **extra,
            "candidats": [{"numUnique": nums[0], "decision": "ATTR"},
                          {"numUnique": nums[1], "decision": "ATTRRANG", "rang": 2},
                          {"numUnique": nums[2], "decision": "NONATTR", "motif": "ressources"}]}


def _unavailable(r: Any) -> dict[str, Any]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = dict(r.json())
    assert body["type"] in ("urn:passerelle:problem:transient",
                            "urn:passerelle:problem:kafka_unavailable"), body  # fmt: skip
    assert body["eventIds"], body
    return body


def _owed(engine: Engine) -> list[str]:
    return [r["eventId"] for r in GPStore(engine).unpublished()]


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("passerelle_gp_unpublished_events")


def _until(check: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def test_a_refused_answer_is_published_by_the_hub_and_its_retry_is_the_same_answer(
        api: TestClient, topic: RefusingTopic,
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    engine = migrated_db[1]
    landlord = register(engine)
    nums = _demands(api, landlord)
    decision_id = f"dec-{uuid.uuid4().hex[:8]}"
    assert api.post("/cal/decisions", headers=landlord.headers,
                    json=_decision(nums, decisionId=decision_id)).status_code == 201
    url = f"/cal/decisions/{decision_id}/reponses"
    refusal = {"numUnique": nums[0], "accepte": False, "motif": "trop loin",
               "dateReponse": "2025-06-15"}  # fmt: skip
    asyncio.run(topic.refuse())
    first = _unavailable(api.post(url, headers=landlord.headers, json=refusal))
    assert _owed(engine) == first["eventIds"]
    # the client's retry while Kafka still refuses: the same answer, not a second one
    assert _unavailable(api.post(url, headers=landlord.headers, json=refusal)) == first
    _until(lambda: _gauge() == 1)  # the republisher tried, and counts what is owed
    asyncio.run(topic.accept())
    _until(lambda: _owed(engine) == [] and _gauge() == 0)  # no client action
    sent = asyncio.run(topic.records(7))
    assert [r["eventId"] for r in sent if r["codeTypeEvenement"] == "REFUSDEM"] == \
        first["eventIds"]  # fmt: skip
    again = api.post(url, headers=landlord.headers, json=refusal)
    assert again.status_code == 200 and not again.json()["created"], again.text
    assert again.json()["evenement"]["eventId"] == first["eventIds"][0]
    sent = asyncio.run(topic.records(8))
    assert sum(r["codeTypeEvenement"] == "REFUSDEM" for r in sent) == 2  # published again
    other = api.post(url, headers=landlord.headers,
                     json={"numUnique": nums[0], "accepte": True, "dateReponse": "2025-06-15"})
    assert other.status_code == 422 and other.json()["rule"] == "R441-3/reponse-unique"
    timeline = api.get(f"/demandes/{nums[0]}/timeline", headers=landlord.headers).json()
    assert [e["codeTypeEvenement"] for e in timeline["evenements"]].count("REFUSDEM") == 1


def test_a_decision_without_id_answered_503_is_the_same_decision_when_resent(
        api: TestClient, topic: RefusingTopic,
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    landlord = register(migrated_db[1])
    nums = _demands(api, landlord)
    body = _decision(nums)
    asyncio.run(topic.refuse())
    failed = _unavailable(api.post("/cal/decisions", headers=landlord.headers, json=body))
    assert failed["decisionId"] and len(failed["eventIds"]) == 3
    reordered = {**body, "candidats": body["candidats"][::-1]}
    again = _unavailable(api.post("/cal/decisions", headers=landlord.headers, json=reordered))
    assert again["decisionId"] == failed["decisionId"]
    assert again["eventIds"] == failed["eventIds"][::-1]  # the request's order
    asyncio.run(topic.accept())
    done = api.post("/cal/decisions", headers=landlord.headers, json=body)
    assert done.status_code == 201, done.text
    assert done.json()["decisionId"] == failed["decisionId"]
    assert sorted(e["eventId"] for e in done.json()["evenements"]) == sorted(failed["eventIds"])
    named = api.post("/cal/decisions", headers=landlord.headers,
                     json={**body, "decisionId": failed["decisionId"]})
    assert named.status_code == 201 and named.json()["decisionId"] == failed["decisionId"]
    for num in nums:
        events = api.get(f"/demandes/{num}/timeline", headers=landlord.headers).json()
        decided = [e for e in events["evenements"] if e["codeTypeEvenement"] == "DECISCAL"]
        assert [e["caracteristiques"]["DECISIONID"] for e in decided] == [failed["decisionId"]]
    sent = asyncio.run(topic.records(9))
    assert {r["eventId"] for r in sent if r["codeTypeEvenement"] == "DECISCAL"} == \
        set(failed["eventIds"])  # fmt: skip
    assert _owed(migrated_db[1]) == []


def test_a_demand_event_answered_503_names_the_event_id_the_hub_drew(
        api: TestClient, settings: HubSettings,
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    who = register(migrated_db[1])
    ctx = api.app.state.hub  # type: ignore[attr-defined]
    working = ctx.publisher
    dead = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"bootstrap_servers": "127.0.0.1:1"})})  # fmt: skip
    ctx.publisher = KafkaPublisher(dead, timeout_s=3)
    event = demande_event(new_num_unique(), ["76540"])
    del event["eventId"]  # the hub draws it
    try:
        failed = _unavailable(api.post("/demandes/evenements", headers=who.headers,
                                       json=[event]))  # fmt: skip
    finally:
        ctx.publisher = working
    (drawn,) = failed["eventIds"]
    assert uuid.UUID(drawn) and "eventIds" in failed["detail"]
    retry = api.post("/demandes/evenements", headers=who.headers,
                     json=[{**event, "eventId": drawn}])
    assert retry.status_code == 202 and retry.json()["eventIds"] == [drawn], retry.text


def test_the_openapi_document_declares_the_ids_of_a_503(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["PublishProblem"]
    assert {"eventIds", "decisionId", "type", "detail"} <= set(schema["properties"])
    for path in ("/cal/decisions", "/cal/decisions/{decision_id}/reponses",
                 "/demandes/{num_unique}/evenements-gp", "/demandes/evenements"):
        answer = spec["paths"][path]["post"]["responses"]["503"]
        assert answer["content"]["application/problem+json"]["schema"]["$ref"].endswith(
            "/PublishProblem")


def test_a_gp_event_answered_503_names_its_event_id_and_its_retry_is_200(
        api: TestClient, topic: RefusingTopic,
        migrated_db: tuple[str, Engine]) -> None:  # fmt: skip
    who = register(migrated_db[1])
    num = new_num_unique()
    assert api.post("/demandes/evenements", headers=who.headers,
                    json=[demande_event(num, ["76540"])]).status_code == 202  # fmt: skip
    visit = {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
             "caracteristiques": {"DATEVIS": "2025-06-05"}}  # fmt: skip
    asyncio.run(topic.refuse())
    url = f"/demandes/{num}/evenements-gp"
    (drawn,) = _unavailable(api.post(url, headers=who.headers, json=visit))["eventIds"]
    assert _owed(migrated_db[1]) == [drawn]
    asyncio.run(topic.accept())
    again = api.post(url, headers=who.headers, json={**visit, "eventId": drawn})
    assert again.status_code == 200 and again.json()["evenement"]["eventId"] == drawn
    assert _owed(migrated_db[1]) == []
    assert drawn in [r["eventId"] for r in asyncio.run(topic.records(1))]
