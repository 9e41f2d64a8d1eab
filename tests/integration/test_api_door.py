"""What the REST API refuses at the door (audit findings 5 and 8), on SQLite and
PostgreSQL with the real broker behind:

* a string holding a character XML 1.0 cannot carry (code points drawn over the whole
  range, surrogates included; the expectation is the XML grammar's ``Char`` production
  written here, plus the controls the API refuses on its own) is a 422 naming the field,
  whatever the route; one it can carry is accepted;
* a demand event dated outside the years XML dates carry is a 422 ``date_out_of_range``;
* a body that is not UTF-8, or holds a number of more than 4300 digits, is the documented
  400 ``malformed_json``, on a real HTTP server (bytes sent as they are).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from tests.integration.api_support import Caller, register, serve
from tests.integration.test_api import assert_problem, create_demand
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
CHAR = ((0x9, 0x9), (0xA, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
        (0x10000, 0x10FFFF))  # fmt: skip


def xml_char(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CHAR)


def api_text_takes(cp: int) -> bool:
    """A free text of the API: an XML character that is no C1 control nor DEL."""
    return xml_char(cp) and not 0x7F <= cp <= 0x9F


@pytest.fixture
def world(settings: HubSettings, migrated_db: tuple[str, Engine]
          ) -> Iterator[tuple[TestClient, Caller, str]]:  # fmt: skip
    from hub.api.app import create_app

    engine = migrated_db[1]
    with TestClient(create_app(settings, engine), raise_server_exceptions=True) as client:
        who = register(engine)
        yield client, who, create_demand(client, who)


def _post(client: TestClient, who: Caller, path: str, body: Any) -> httpx.Response:
    # ensure_ascii: a surrogate travels as its JSON escape, as a client would send it
    return client.post(path, content=json.dumps(body, ensure_ascii=True).encode(),
                       headers={**who.headers, "content-type": "application/json"})  # fmt: skip


CODE_POINTS = st.integers(min_value=0, max_value=0x10FFFF)


def test_any_code_point_in_a_demand_snapshot_or_a_gp_event(
        world: tuple[TestClient, Caller, str]) -> None:  # fmt: skip
    client, who, num = world

    @given(cp=CODE_POINTS, where=st.sampled_from(["precision", "association", "commentaire"]))
    @example(cp=0xFFFE, where="association")  # the audit's reproduction
    @example(cp=0xFFFF, where="commentaire")
    @example(cp=0x1, where="precision")
    @example(cp=0xD800, where="precision")
    @example(cp=0x85, where="commentaire")
    @example(cp=0xFDD0, where="association")
    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(cp: int, where: str) -> None:
        text = f"Asso{chr(cp)}ciation"
        if where == "commentaire":
            path, loc = f"/demandes/{num}/evenements-gp", "commentaire"
            body: Any = {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-10",
                         "caracteristiques": {"DATEVIS": "2025-06-05"}, "commentaire": text}
        else:
            event = demande_event(new_num_unique(), ["76540"])
            dl = event["demande"]["demandeLogement"]
            if where == "precision":
                dl["precision"], loc = text, "precision"
            else:
                dl["association"], loc = {"nom": text}, "association.nom"
            path, body = "/demandes/evenements", [event]
        r = _post(client, who, path, body)
        if api_text_takes(cp):
            assert r.status_code in (201, 202), (hex(cp), r.text)
            return
        problem = assert_problem(r, 422, "invalid_request")
        assert problem["detail"].split(":")[0].endswith(loc), (hex(cp), problem)
        assert text not in r.text

    run()


def test_a_code_refuses_u_fffe_and_a_date_outside_xml_years_is_refused(
        world: tuple[TestClient, Caller, str]) -> None:  # fmt: skip
    client, who, num = world
    r = _post(client, who, f"/demandes/{num}/evenements-gp",
              {"codeTypeEvenement": "VIS\ufffe", "dateSurvenance": "2025-06-10"})
    assert "codeTypeEvenement" in assert_problem(r, 422, "invalid_request")["detail"]
    event = demande_event(new_num_unique(), ["76540"], occurred_at=2**62)
    problem = assert_problem(_post(client, who, "/demandes/evenements", [event]), 422,
                             "date_out_of_range")  # fmt: skip
    assert "occurredAt" in problem["detail"]


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"codeTypeEvenement":"VIS\xff\xfe","dateSurvenance":"2025-06-01"}', "not UTF-8"),
    ('{"codeTypeEvenement":"VISPROP","dateSurvenance":"2025-06-01","commentaire":"d\xe9j\xe0"}'
     .encode("latin-1"), "not UTF-8"),
    (b'{"codeTypeEvenement":"VISPROP","dateSurvenance":' + b"9" * 5000 + b"}",
     "more than 4300 digits"),
    (b'[{"numUnique":"0761125000123","occurredAt":-' + b"1" * 4301 + b"}]",
     "more than 4300 digits"),
], ids=["invalid-utf8", "latin1", "5000-digits", "4301-digits-negative"])  # fmt: skip
def test_a_body_json_cannot_read_is_400_malformed_json_on_a_real_server(
        settings: HubSettings, migrated_db: tuple[str, Engine], body: bytes,
        reason: str) -> None:  # fmt: skip
    from hub.api.app import create_app

    engine = migrated_db[1]
    who = register(engine)
    num = new_num_unique()
    path = "/demandes/evenements" if body.startswith(b"[") else f"/demandes/{num}/evenements-gp"
    with serve(create_app(settings, engine)) as (host, port):
        r = httpx.post(f"http://{host}:{port}{path}", content=body, timeout=30,
                       headers={**who.headers, "content-type": "application/json"})
    problem = assert_problem(r, 400, "malformed_json")
    assert reason in problem["detail"] and "\n" not in problem["detail"]
