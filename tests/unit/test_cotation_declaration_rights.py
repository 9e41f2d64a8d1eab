"""``POST …/cotation/declarations`` per profile (independent audit K, F5): a profile
declares or withdraws only the cotation criteria it reads (docs/profiles.md, "Scores").

* below ``consultant_sensible``, a withheld criterion (``VIOL_AGRESSION_DOMICILE``,
  ``JEUNE_ASE`` …), a computed one and a code no grid has all get the same 403
  ``forbidden`` (word for word but the code): the answer does not tell which
  criteria the grid holds beyond those the profile reads; nothing is recorded;
* the public declared criteria (``REPRISE_ACTIVITE``, ``HABITAT_INSALUBRE``) are declared
  by every profile;
* ``consultant_sensible`` declares any declared criterion, and meets the grid's 422s.

The API runs on a real SQLite database; only the holder check, which reads the actor's
Kafka feed, is replaced (each actor holds every demand)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.domain.profiles import PROFILES
from hub.stores.access.keys import KeyStore
from hub.stores.cotation.tables import cotation_declarations
from hub.stores.registry.store import ActorStore

NUM = "076112500012310691"
PATH = f"/demandes/{NUM}/cotation/declarations"
EPCI = "200023414"  # the Métropole Rouen Normandie: its grid has no validity dates
WITHHELD = ("VIOL_AGRESSION_DOMICILE", "JEUNE_ASE", "SORTIE_PROSTITUTION",
            "LOGEMENT_INADAPTE_HANDICAP")  # fmt: skip


@dataclass
class Api:
    client: TestClient
    engine: Engine
    headers: dict[str, dict[str, str]]  # profile -> its actor's headers


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from hub.api.app import create_app

    home: Path = tmp_path_factory.mktemp("declaration-rights")
    url = f"sqlite:///{home / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    headers = {}
    for profile in PROFILES:
        actor = Actor(id=f"b-{profile.split('_')[1]}", name="B", kind="bailleur",
                      profile=profile,  # type: ignore[arg-type]
                      filters=ActorFilters(departements=["76"]))  # fmt: skip
        ActorStore(engine).save(actor)
        headers[profile] = {"Authorization": f"Bearer {KeyStore(engine).create(actor.id).key}"}
    app = create_app(HubSettings(home=home, database=DatabaseSettings(url=SecretStr(url))),
                     engine)  # fmt: skip

    async def holds(actor_id: str, num_unique: str) -> bool:
        return True

    app.state.hub.holders.holds = holds  # the feed is not what is under test
    with TestClient(app) as client:
        yield Api(client, engine, headers)
    engine.dispose()


def _recorded(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cotation_declarations))
                   .scalar_one())  # fmt: skip


@pytest.mark.parametrize("profile", ["consultant_simple", "consultant_demande"])
def test_a_criterion_withheld_from_the_profile_is_neither_declared_nor_withdrawn(
        api: Api, profile: str) -> None:  # fmt: skip
    before = _recorded(api.engine)
    details = set()
    for code in (*WITHHELD, "HANDICAP", "ASTROLOGIE", "ZZ"):
        for valeur in (True, False):
            r = api.client.post(PATH, headers=api.headers[profile],
                                json={"epci": EPCI, "critere": code, "valeur": valeur})
            assert r.status_code == 403, (code, r.text)
            body = r.json()
            assert body["type"] == "urn:passerelle:problem:forbidden"
            assert "declares only the criteria it reads" in body["detail"]
            details.add(body["detail"].replace(code, "<code>"))
    assert len(details) == 1, details  # one answer whatever the code: nothing to probe
    assert profile in details.pop()
    assert _recorded(api.engine) == before


@pytest.mark.parametrize("profile", PROFILES)
def test_a_criterion_every_profile_reads_is_declared_by_any(api: Api, profile: str) -> None:
    for code in ("REPRISE_ACTIVITE", "HABITAT_INSALUBRE"):
        r = api.client.post(PATH, headers=api.headers[profile],
                            json={"epci": EPCI, "critere": code, "valeur": True})
        assert r.status_code == 201, r.text


def test_the_full_profile_declares_any_declared_criterion_and_meets_the_grid(api: Api) -> None:
    headers = api.headers["consultant_sensible"]
    for code in WITHHELD:
        r = api.client.post(PATH, headers=headers,
                            json={"epci": EPCI, "critere": code, "valeur": True})
        assert r.status_code == 201, r.text
    for code, problem in (("HANDICAP", "critere_not_declared"), ("ASTROLOGIE", "unknown_critere")):
        r = api.client.post(PATH, headers=headers,
                            json={"epci": EPCI, "critere": code, "valeur": True})
        assert r.status_code == 422, r.text
        assert r.json()["type"] == f"urn:passerelle:problem:{problem}"
