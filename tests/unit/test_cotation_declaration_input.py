"""``POST …/cotation/declarations`` takes ``valeur`` as a JSON boolean only (audit D, S3):
over JSON values (hypothesis), ``true`` and ``false`` are recorded (201) and everything
else — ``"true"``, ``"false"``, ``0``, ``1``, ``1.0``, ``null``, ``[]``, ``{}`` … — is a
422 ``invalid_request`` problem (docs/api.md, "Errors") naming ``body.valeur``, with
nothing recorded.

The API runs on a real SQLite database; only the holder check, which reads the actor's
Kafka feed, is replaced (the actor holds every demand): the body is validated before the
route runs, so the check plays no part in a 422."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.cotation.tables import cotation_declarations
from hub.stores.registry.store import ActorStore

NUM = "076112500012310691"
PATH = f"/demandes/{NUM}/cotation/declarations"
#: a declared criterion of the Métropole's grid (no validity dates: in force today)
BODY = {"epci": "200023414", "critere": "REPRISE_ACTIVITE"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


@dataclass
class Api:
    client: TestClient
    engine: Engine
    headers: dict[str, str]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from hub.api.app import create_app

    home: Path = tmp_path_factory.mktemp("declaration-input")
    url = f"sqlite:///{home / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    hub_settings = HubSettings(home=home, database=DatabaseSettings(url=SecretStr(url)))
    actor = Actor(id="bailleur-s3", name="Bailleur", kind="bailleur",
                  profile="consultant_simple",
                  filters=ActorFilters(departements=["76"]))  # fmt: skip
    ActorStore(engine).save(actor)
    key = KeyStore(engine).create(actor.id).key
    app = create_app(hub_settings, engine)

    async def holds(actor_id: str, num_unique: str) -> bool:
        return True

    app.state.hub.holders.holds = holds  # the feed is not what is under test
    with TestClient(app) as client:
        yield Api(client, engine, {"Authorization": f"Bearer {key}"})
    engine.dispose()


def _recorded(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cotation_declarations))
                   .scalar_one())  # fmt: skip


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(valeur=st.one_of(
    st.sampled_from(["true", "false", "True", "1", "0", "yes", "on", 0, 1, 1.0, 0.0,
                     None, [], {}, True, False]),
    json_values))  # fmt: skip
@example(valeur="true")
@example(valeur=1)
@example(valeur=True)
@example(valeur=False)
def test_only_a_json_boolean_is_a_valeur(api: Api, valeur: Any) -> None:
    before = _recorded(api.engine)
    r = api.client.post(PATH, json={**BODY, "valeur": valeur}, headers=api.headers)
    if type(valeur) is bool:  # not `isinstance(…, int)`: 1 == True in Python, not in JSON
        assert r.status_code == 201, r.text
        assert r.json()["declaration"]["valeur"] is valeur
        assert _recorded(api.engine) == before + 1
        return
    assert r.status_code == 422, (valeur, r.text)
    problem = r.json()
    assert problem["type"] == "urn:passerelle:problem:invalid_request"
    assert problem["status"] == 422
    assert problem["detail"].startswith("body.valeur: "), problem
    assert [e["loc"] for e in problem["errors"]] == [["body", "valeur"]]
    assert _recorded(api.engine) == before


def test_the_other_fields_are_unchanged(api: Api) -> None:
    """The string fields keep their rules: a number is no EPCI, a pattern still binds."""
    for bad, field in (({"epci": 200023414}, "epci"), ({"critere": "reprise"}, "critere"),
                       ({"declarationId": "a b"}, "declarationId")):  # fmt: skip
        r = api.client.post(PATH, json={**BODY, "valeur": True, **bad}, headers=api.headers)
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["errors"]] == [["body", field]]
    ok = {**BODY, "valeur": False, "commentaire": "reprise\ten CDI", "declarationId": "s3-ok"}
    assert api.client.post(PATH, json=ok, headers=api.headers).status_code == 201
    assert api.client.post(PATH, json=ok, headers=api.headers).status_code == 200


def test_openapi_says_boolean(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["DeclarationIn"]
    assert schema["properties"]["valeur"]["type"] == "boolean"
    assert "valeur" in schema["required"]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(accepte=st.sampled_from(["true", "false", "non", "1", 0, 1, 1.0, None, [], {}]))
def test_a_cal_answer_takes_a_json_boolean_only(api: Api, accepte: Any) -> None:
    """The same rule for a candidate's answer to a CAL decision (``accepte``): the body is
    refused before any decision is looked up."""
    body = {"numUnique": NUM, "accepte": accepte, "dateReponse": "2025-06-21"}
    r = api.client.post("/cal/decisions/d-1/reponses", json=body, headers=api.headers)
    assert r.status_code == 422, (accepte, r.text)
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "accepte"]]
