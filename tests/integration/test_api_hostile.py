"""Hostile requests to the REST API (issue 19 points 5, 6, 7), on SQLite and PostgreSQL:
control characters refused the same way on both stores, the CAL rules applied to CAL
events whatever the route, bounded fields, and bodies refused before they are read."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from tests.integration.api_support import register, serve
from tests.integration.test_api import assert_problem, create_demand, designate
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
DAY = date(2025, 6, 10)


@pytest.fixture
def engine(migrated_db: tuple[str, Engine]) -> Engine:
    return migrated_db[1]


@pytest.fixture
def client(settings: HubSettings, engine: Engine) -> Iterator[TestClient]:
    from hub.api.app import create_app

    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as c:
        yield c


def gp_body(code: str, fields: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"codeTypeEvenement": code, "dateSurvenance": DAY.isoformat(),
            "caracteristiques": fields, **extra}


# --- point 5: text validated the same way on SQLite and PostgreSQL -----------------------

@pytest.mark.parametrize("where", ["eventId", "commentaire", "value", "key", "code"])
def test_control_characters_are_a_422_on_both_stores(client: TestClient, engine: Engine,
                                                     where: str) -> None:
    who = register(engine)
    num = create_demand(client, who)
    fields = {"DATEVIS": "2025-06-05"}
    body = gp_body("VISPROP", fields, eventId="evt-ok")
    if where == "eventId":
        body["eventId"] = "evt-\x00-" + num  # a 500 on PostgreSQL before the fix
    elif where == "commentaire":
        body["commentaire"] = "visite\x00"
    elif where == "value":
        body["caracteristiques"] = {"DATEVIS": "2025-06-05", "LOGEMENT": "L\x1b1"}
    elif where == "key":
        body["caracteristiques"] = {"DATEVIS": "2025-06-05", "LOG\x00": "x"}
    else:
        body["codeTypeEvenement"] = "VIS\x7fPROP"
    r = client.post(f"/demandes/{num}/evenements-gp", headers=who.headers, json=body)
    problem = assert_problem(r, 422, "invalid_request")
    assert "control character" in problem["detail"]
    timeline = client.get(f"/demandes/{num}/timeline", headers=who.headers).json()
    assert timeline["evenements"] == []


def test_free_text_keeps_tab_and_newlines_and_demand_events_refuse_controls(
        client: TestClient, engine: Engine) -> None:
    who = register(engine)
    num = create_demand(client, who)
    ok = gp_body("VISPROP", {"DATEVIS": "2025-06-05"}, commentaire="ligne 1\r\n\tligne 2")
    r = client.post(f"/demandes/{num}/evenements-gp", headers=who.headers, json=ok)
    assert r.status_code == 201, r.text
    for path, value in ((("eventId",), "e\x00"), (("numUnique",), num[:-1] + "\x00"),
                        (("demande", "demandeLogement", "precision"), "x\x00y")):
        event = demande_event(new_num_unique(), ["76540"])
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        r = client.post("/demandes/evenements", headers=who.headers, json=[event])
        assert_problem(r, 422, "invalid_request")


# --- point 6: one set of CAL rules whatever the route --------------------------------------

def _forged_decision(num: str, decision_id: str) -> dict[str, Any]:
    return gp_body("DECISCAL", {"CODECAL": "CAL-R", "LOGEMENT": "LGT-1",
                                "DECISIONID": decision_id, "DECISION": "ATTR", "RANG": "1",
                                "DATEDEC": DAY.isoformat()})


def test_a_decision_forged_through_the_gp_route_meets_the_cal_rules(
        client: TestClient, engine: Engine) -> None:
    landlord = register(engine)
    num = create_demand(client, landlord)
    url = f"/demandes/{num}/evenements-gp"
    # one candidate, neither designated nor examined: accepted with 201 before the fix
    r = client.post(url, headers=landlord.headers, json=_forged_decision(num, "forged-1"))
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/designation"
    designate(client, landlord, [num])
    r = client.post(url, headers=landlord.headers, json=_forged_decision(num, "forged-1"))
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/trois-candidats"
    # an answer to the forged decision: recorded with 201 before the fix
    answer = gp_body("ACCEPTDEM", {"DECISIONID": "forged-1"})
    answer["dateSurvenance"] = "2025-06-12"
    r = client.post(url, headers=landlord.headers, json=answer)
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/reponse-decision"
    refusal = gp_body("REFUSDEM", {"DECISIONID": "forged-1", "MOTIF": "trop loin"})
    r = client.post(url, headers=landlord.headers, json=refusal)
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/reponse-decision"
    timeline = client.get(f"/demandes/{num}/timeline", headers=landlord.headers).json()
    assert {e["codeTypeEvenement"] for e in timeline["evenements"]} == {"DESIGCAL", "EXAMCAL"}


def test_a_recorded_decision_cannot_be_extended_nor_answered_twice_through_the_gp_route(
        client: TestClient, engine: Engine) -> None:
    landlord = register(engine)
    nums = [create_demand(client, landlord) for _ in range(4)]
    designate(client, landlord, nums)
    decision_id = "dec-" + nums[0]
    body = {"decisionId": decision_id, "codeCal": "CAL-R", "logement": "LGT-1",
            "dateDecision": DAY.isoformat(),
            "candidats": [{"numUnique": nums[0], "decision": "ATTR"},
                          {"numUnique": nums[1], "decision": "ATTRRANG", "rang": 2},
                          {"numUnique": nums[2], "decision": "NONATTR", "motif": "x"}]}
    assert client.post("/cal/decisions", headers=landlord.headers, json=body).status_code == 201
    # a fourth candidate slipped into the recorded decision as a second rang 1
    extra = _forged_decision(nums[3], decision_id)
    r = client.post(f"/demandes/{nums[3]}/evenements-gp", headers=landlord.headers, json=extra)
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/decision-entiere"
    # the applicant's answer through the GP route: the same rules as /cal/.../reponses
    url = f"/demandes/{nums[0]}/evenements-gp"
    late = gp_body("ACCEPTDEM", {"DECISIONID": decision_id})
    late["dateSurvenance"] = "2025-06-30"
    r = client.post(url, headers=landlord.headers, json=late)
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/reponse-delai"
    ok = gp_body("ACCEPTDEM", {"DECISIONID": decision_id, "LOGEMENT": "LGT-1"},
                 eventId="answer-" + nums[0])
    ok["dateSurvenance"] = "2025-06-12"
    assert client.post(url, headers=landlord.headers, json=ok).status_code == 201
    assert client.post(url, headers=landlord.headers, json=ok).status_code == 200  # retry
    again = {**ok, "eventId": "answer-2-" + nums[0]}
    r = client.post(url, headers=landlord.headers, json=again)
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/reponse-unique"
    r = client.post(f"/cal/decisions/{decision_id}/reponses", headers=landlord.headers,
                    json={"numUnique": nums[0], "accepte": False, "motif": "x",
                          "dateReponse": "2025-06-13"})
    assert assert_problem(r, 422, "cal_rule")["rule"] == "R441-3/reponse-unique"
    # a decision by /cal is still checked as a whole (re-sending it is idempotent)
    assert client.post("/cal/decisions", headers=landlord.headers, json=body).status_code == 201


def test_a_prefect_designated_decision_alone_passes_through_either_route(
        client: TestClient, engine: Engine) -> None:
    landlord = register(engine)
    num = create_demand(client, landlord)
    designate(client, landlord, [num], pref=True)
    forged = _forged_decision(num, "pref-" + num)
    r = client.post(f"/demandes/{num}/evenements-gp", headers=landlord.headers, json=forged)
    assert r.status_code == 201, r.text


# --- point 7: bounded fields -----------------------------------------------------------------

def test_field_lengths_are_bounded(client: TestClient, engine: Engine) -> None:
    who = register(engine)
    num = create_demand(client, who)
    long_id = gp_body("VISPROP", {"DATEVIS": "2025-06-05"}, eventId="e" * 100_000)
    assert_problem(client.post(f"/demandes/{num}/evenements-gp", headers=who.headers,
                               json=long_id), 422, "invalid_request")
    event = demande_event(new_num_unique(), ["76540"], event_id="e" * 100_000)
    r = client.post("/demandes/evenements", headers=who.headers, json=[event])
    assert assert_problem(r, 422, "invalid_request")["errors"][0]["loc"][-1] == "eventId"
    many = demande_event(new_num_unique(), ["76540"] * 20_000)
    r = client.post("/demandes/evenements", headers=who.headers, json=[many])
    problem = assert_problem(r, 422, "invalid_request")
    assert problem["errors"][0]["loc"][-1] == "listeLocalisationSouhaite"
    long_num = demande_event(num + "0", ["76540"])
    assert_problem(client.post("/demandes/evenements", headers=who.headers, json=[long_num]),
                   422, "invalid_request")
    assert client.get(f"/demandes/{num}0/timeline", headers=who.headers).status_code == 422


def test_wished_communes_bound_is_a_setting(settings: HubSettings, engine: Engine) -> None:
    from hub.api.app import create_app

    tight = settings.model_copy(update={"api": settings.api.model_copy(
        update={"max_wished_communes": 2})})
    who = register(engine)
    with TestClient(create_app(tight, engine)) as c:
        three = demande_event(new_num_unique(), ["76540", "76451", "76540"])
        assert_problem(c.post("/demandes/evenements", headers=who.headers, json=[three]),
                       422, "invalid_request")
        spec = c.get("/openapi.json").json()
    assert spec["components"]["schemas"]["LogementRecherche"]["properties"][
        "listeLocalisationSouhaite"]["anyOf"][0]["maxItems"] == 2


def test_json_nested_too_deep_is_refused_before_parsing(client: TestClient,
                                                        engine: Engine) -> None:
    who = register(engine)
    deep = b"[" * 100_000 + b"]" * 100_000
    r = client.post("/demandes/evenements", content=deep,
                    headers={**who.headers, "content-type": "application/json"})
    assert_problem(r, 422, "too_deep")
    # brackets inside strings do not count
    event = demande_event(new_num_unique(), ["76540"])
    event["demande"]["demandeLogement"]["precision"] = "[" * 40
    r = client.post("/demandes/evenements", headers=who.headers, json=[event])
    assert r.status_code == 202, r.text



# --- point 7: bodies refused before they are read --------------------------------------------

LIMIT = 64 * 1024


def _raw(port: int, head: str, body_chunks: Iterable[bytes] = ()) -> tuple[int, bytes]:
    """Send ``head`` then as many ``body_chunks`` as the server takes; (status, answer).
    A socket timeout means the server waited for more body (the guard did not act)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head.encode("latin-1"))
        for chunk in body_chunks:
            try:
                s.sendall(chunk)
            except OSError:  # the server answered and closed: it stopped reading
                break
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = s.recv(65536)
            if not data:
                break
            answer += data
        head_part, _, body = answer.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head_part.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:  # the problem body
            data = s.recv(65536)
            if not data:
                break
            body += data
        answer = head_part + b"\r\n\r\n" + body
    return int(answer.split(b" ", 2)[1]), answer


def _head(path: str, headers: dict[str, str]) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def small_limit_server(settings: HubSettings, engine: Engine) -> Iterator[int]:
    from hub.api.app import create_app

    tight = settings.model_copy(update={"api": settings.api.model_copy(
        update={"max_body_bytes": LIMIT})})
    with serve(create_app(tight, engine)) as (_host, port):
        yield port


def test_a_declared_body_above_the_limit_is_413_before_any_byte_is_read(
        small_limit_server: int, engine: Engine) -> None:
    who = register(engine)
    for headers in ({**who.headers, "Content-Length": str(50_000_000)},
                    {"Content-Length": str(50_000_000)}):  # no key: refused all the same
        started = time.monotonic()
        status, answer = _raw(small_limit_server, _head("/demandes/evenements", headers))
        assert status == 413, answer[:300]
        assert b"application/problem+json" in answer and b"too_large" in answer
        assert time.monotonic() - started < 5  # answered without the 50 MB ever sent


def test_without_a_valid_key_the_body_is_never_read(small_limit_server: int,
                                                    engine: Engine) -> None:
    # a body within the limit, announced but never sent: the 401 comes without it
    for headers in ({"Content-Length": "60000"},
                    {"Content-Length": "60000", "Authorization": "Bearer hk_00.forged"}):
        status, answer = _raw(small_limit_server, _head("/demandes/evenements", headers))
        assert status == 401, answer[:300]
        assert b"application/problem+json" in answer and b"unauthenticated" in answer
    num = new_num_unique()
    status, answer = _raw(small_limit_server, _head(f"/demandes/{num}/evenements-gp",
                                                    {"Content-Length": "100"}))
    assert status == 401, answer[:300]


def test_a_chunked_body_is_counted_as_it_comes_and_refused_past_the_limit(
        small_limit_server: int, engine: Engine) -> None:
    who = register(engine)
    chunk = b"[" + b" " * 8190 + b"]"

    def chunks() -> Iterator[bytes]:  # twice the limit, never terminated
        for _ in range(2 * LIMIT // len(chunk) + 1):
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    head = _head("/demandes/evenements", {**who.headers, "Transfer-Encoding": "chunked"})
    status, answer = _raw(small_limit_server, head, chunks())
    assert status == 413, answer[:300]
    assert b"application/problem+json" in answer
    # within the limit, a chunked body is read and parsed as usual
    event = json.dumps([demande_event(new_num_unique(), ["76540"])]).encode()

    def small() -> Iterator[bytes]:
        yield f"{len(event):x}\r\n".encode() + event + b"\r\n0\r\n\r\n"

    status, answer = _raw(small_limit_server, head, small())
    assert status == 202, answer[-300:]


# --- point 11: the OpenAPI document declares what the API answers ---------------------------

def test_openapi_declares_error_statuses_as_problems_and_the_real_bodies(
        client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    post = spec["paths"]["/demandes/evenements"]["post"]
    assert {"202", "400", "401", "403", "413", "422", "503"} <= set(post["responses"])
    for status, answer in post["responses"].items():
        if status.startswith(("4", "5")):
            # a 503 of a publication is a Problem with the ids to re-send (PublishProblem)
            ref = {"$ref": "#/components/schemas/PublishProblem"} if status == "503" \
                else problem_ref  # fmt: skip
            assert answer["content"] == {"application/problem+json": {"schema": ref}}
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array" and body["maxItems"] == 100
    assert body["items"] == {"$ref": "#/components/schemas/DemandeEventIn"}
    schemas = spec["components"]["schemas"]
    event = schemas["DemandeEventIn"]
    assert event["additionalProperties"] is False
    assert set(event["required"]) == {"numUnique", "operation"}
    assert {"type", "title", "status", "detail"} <= set(schemas["Problem"]["required"])
    assert "HTTPValidationError" not in schemas
    gp = spec["paths"]["/demandes/{num_unique}/evenements-gp"]["post"]["responses"]
    assert {"200", "201", "401", "403", "409", "413", "422", "503"} <= set(gp)
    assert spec["paths"]["/feed"]["get"]["responses"]["404"]["content"] == {
        "application/problem+json": {"schema": problem_ref}}


def test_unknown_query_parameters_are_refused(client: TestClient, engine: Engine) -> None:
    who = register(engine)
    r = client.get("/feed?cursr=5", headers=who.headers)
    assert "cursr" in assert_problem(r, 422, "unknown_parameter")["detail"]
    assert_problem(client.get("/feed?cursr=5"), 401, "unauthenticated")  # the key first


def test_a_refused_key_is_not_echoed_whole(client: TestClient, engine: Engine) -> None:
    who = register(engine)
    num = create_demand(client, who)
    body = gp_body("VISPROP", {"DATEVIS": "2025-06-05", "K" * 10_000 + "\x00": "x"})
    r = client.post(f"/demandes/{num}/evenements-gp", headers=who.headers, json=body)
    assert len(assert_problem(r, 422, "invalid_request")["errors"][0]["loc"][2]) <= 64
    assert len(r.content) < 2000
