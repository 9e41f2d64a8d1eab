"""Property: whatever JSON arrives at any REST route that takes a body — any value, any
depth, any size, valid bodies with any field replaced by any value, keys never seen — the
API answers with a status below 500 and a problem+json for every error, never a
traceback; with a valid key and without one, on SQLite and on PostgreSQL (issue 19,
"Done when"). The routes without a body get any query parameters and path values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from hub.core.settings import HubSettings
from tests.integration.api_support import Caller, register
from tests.integration.test_api import create_demand
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
           | st.sampled_from(["", "\x00", "\ud800x", "2025-06-10", "076112500000112345",
                              "CRE", "DECISCAL", "ATTR", "x" * 5000, "[" * 40, "76540"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=30)


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _replaced(base: Any, paths: list[tuple[Any, ...]]) -> st.SearchStrategy[Any]:
    """``base`` with the value at one of ``paths`` replaced by any JSON (or removed)."""
    def put(path: tuple[Any, ...], value: Any, drop: bool) -> Any:
        doc = json.loads(json.dumps(base))
        target = doc
        for key in path[:-1]:
            target = target[key]
        if drop:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
        return doc

    return st.builds(put, st.sampled_from(paths), JSON, st.booleans())


@pytest.fixture
def world(settings: HubSettings, migrated_db: tuple[str, Engine]
          ) -> Iterator[tuple[TestClient, Caller, str]]:
    from hub.api.app import create_app

    engine = migrated_db[1]
    with TestClient(create_app(settings, engine), raise_server_exceptions=True) as client:
        who = register(engine)
        yield client, who, create_demand(client, who)


def _bodies(num: str) -> st.SearchStrategy[tuple[str, Any]]:
    event = demande_event(new_num_unique(), ["76540"])
    gp = {"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-10",
          "caracteristiques": {"DATEVIS": "2025-06-05"}, "commentaire": "c", "eventId": "e1"}
    decision = {"decisionId": "d1", "codeCal": "C", "logement": "L",
                "dateDecision": "2025-06-10",
                "candidats": [{"numUnique": num, "decision": "ATTR", "rang": 1}]}
    answer = {"numUnique": num, "accepte": False, "motif": "m", "dateReponse": "2025-06-12"}
    dl = ("demande", "demandeLogement")
    routes = {
        "/demandes/evenements": _replaced([event], [
            (0, "eventId"), (0, "numUnique"), (0, "operation"), (0, "demande"),
            (0, "occurredAt"), (0, "changedFields"), (0, *dl), (0, *dl, "logementRecherche"),
            (0, *dl, "logementRecherche", "listeLocalisationSouhaite"),
            (0, *dl, "personnePhysique", "demandeur"), (0, "unknown")]),
        f"/demandes/{num}/evenements-gp": _replaced(gp, [
            ("codeTypeEvenement",), ("dateSurvenance",), ("caracteristiques",),
            ("caracteristiques", "DATEVIS"), ("caracteristiques", "X"), ("commentaire",),
            ("eventId",), ("other",)]),
        "/cal/decisions": _replaced(decision, [
            ("decisionId",), ("codeCal",), ("dateDecision",), ("candidats",),
            ("candidats", 0, "decision"), ("candidats", 0, "rang"),
            ("candidats", 0, "dateLimite"), ("candidats", 0, "numUnique")]),
        "/cal/decisions/d1/reponses": _replaced(answer, [
            ("numUnique",), ("accepte",), ("motif",), ("dateReponse",), ("x",)]),
    }
    arbitrary = st.one_of(
        JSON.map(lambda v: json.dumps(v).encode()),
        st.integers(min_value=1, max_value=3000).map(_nested),
        st.integers(min_value=0, max_value=3).map(lambda n: json.dumps([{}] * 10**n).encode()),
        st.binary(max_size=50))
    per_route = [st.tuples(st.just(path), st.one_of(valid.map(lambda v: json.dumps(v).encode()),
                                                    arbitrary))
                 for path, valid in routes.items()]
    return st.one_of(per_route)


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_any_json_at_any_route_is_never_a_5xx(world: tuple[TestClient, Caller, str],
                                              with_key: bool,
                                              caplog: pytest.LogCaptureFixture) -> None:
    client, who, num = world
    headers = {"content-type": "application/json", **(who.headers if with_key else {})}
    seen: set[int] = set()

    @given(request=_bodies(num))
    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(request: tuple[str, bytes]) -> None:
        path, body = request
        with caplog.at_level(logging.ERROR):
            r = client.post(path, content=body, headers=headers)
        seen.add(r.status_code)
        assert r.status_code < 500, (path, body[:200], r.text[:300])
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", r.text[:200]
        assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]

    run()
    if with_key:
        assert {400, 422} <= seen, seen  # the bodies reached the parser and the models
    else:
        assert seen == {401}, seen  # nothing is parsed without a key


def test_deep_and_large_json_is_refused_cleanly(world: tuple[TestClient, Caller, str]) -> None:
    client, who, num = world
    headers = {"content-type": "application/json", **who.headers}
    for body, status in ((_nested(200_000), 422), (b"[" * 500_000, 422),
                         (json.dumps([[]] * 400_000).encode(), 422),
                         (b"[" + b" " * (3 << 20) + b"]", 413)):
        r = client.post(f"/demandes/{num}/evenements-gp", content=body, headers=headers)
        assert r.status_code == status, r.text[:200]
        assert r.headers["content-type"] == "application/problem+json"


TEXT = st.text(max_size=40) | st.sampled_from(["\x00", "0", "-1", "2" * 30, "etat", "a" * 70])


@given(data=st.data())
@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_any_query_and_path_at_any_get_route_is_never_a_5xx(
        world: tuple[TestClient, Caller, str], data: st.DataObject) -> None:
    client, who, num = world
    path = data.draw(st.sampled_from(["/feed", "/audit", "/catalogue", "/health",
                                      f"/demandes/{num}/timeline", "/demandes/{x}/timeline"]))
    path = path.replace("{x}", quote(data.draw(TEXT), safe="") or "x")
    names = st.sampled_from(["cursor", "limit", "numUnique", "actorId", "vue", "other"])
    query = data.draw(st.lists(st.tuples(names, TEXT), max_size=4))
    headers = who.headers if data.draw(st.booleans()) else {}
    r = client.get(path, params=query, headers=headers)
    assert r.status_code < 500, (path, query, r.text[:300])
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json", r.text[:200]
