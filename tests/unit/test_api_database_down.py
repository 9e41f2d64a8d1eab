"""A database outage answers 503 with a fixed detail, never the driver's text (independent
audit H, F-3: the detail named the PostgreSQL host, port and server message to any API
client). The error is psycopg's own, from a real connection attempt to a port where no
server listens; the app, its authentication and its error handler are the real ones.

Audit M, F2: the same 503 when the database goes away during the holders' catch-up (it was
a 500), and when it goes away while a stored gestion partagée event is being published
(the publication's 503 keeps its ``eventIds`` but its detail named the driver's error
class)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from hub.api.problems import DATABASE_UNAVAILABLE
from hub.core.db import make_engine, migrate
from hub.core.errors import NotFoundError
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.gp.store import GPStore
from hub.stores.registry.store import ActorStore

NUM = "0761125000001ABCDE"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_503_of_the_database_tells_no_host_nor_driver_text(tmp_path: Path) -> None:
    from hub.api.app import create_app

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    ActorStore(engine).save(Actor(id="erp", name="E", kind="bailleur",
                                  filters=ActorFilters(communes=["76540"])))  # fmt: skip
    key = KeyStore(engine).create("erp").key
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    port = _dead_port()
    with TestClient(create_app(settings, engine)) as client:
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/catalogue", headers=auth).status_code == 200
        # the registry's database goes away (the key stays cached: the actor is read again)
        dead = make_engine(f"postgresql+psycopg://hub:secret@127.0.0.1:{port}/hub")
        client.app.state.hub.keys.actors = ActorStore(dead)  # type: ignore[attr-defined]
        r = client.get("/catalogue", headers=auth)
        dead.dispose()
    engine.dispose()
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["detail"] == DATABASE_UNAVAILABLE
    assert str(port) not in r.text and "127.0.0.1" not in r.text
    assert "psycopg" not in r.text and "connection" not in r.text.lower()


def _no_leak(r: Any, port: int) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["detail"] == DATABASE_UNAVAILABLE
    assert str(port) not in r.text and "127.0.0.1" not in r.text
    assert "psycopg" not in r.text and "OperationalError" not in r.text


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, str]]:
    """The app on SQLite, an actor holding :data:`NUM`, its feed not created yet (no broker
    read: the holders' catch-up finds no feed)."""
    from hub.api.app import create_app

    async def no_feed(*_a: Any, **_k: Any) -> Any:
        raise NotFoundError("no feed yet")

    monkeypatch.setattr("hub.stores.access.fold.read_feed_page", no_feed)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    ActorStore(engine).save(Actor(id="erp", name="E", kind="bailleur",
                                  filters=ActorFilters(communes=["76540"])))  # fmt: skip
    key = KeyStore(engine).create("erp").key
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    app = create_app(settings, engine)
    app.state.hub.holders.add("erp", NUM)
    with TestClient(app) as client:
        yield client, key
    engine.dispose()


def test_the_database_gone_during_the_holders_catch_up_is_a_503(
        served: tuple[TestClient, str]) -> None:  # fmt: skip
    client, key = served
    auth = {"Authorization": f"Bearer {key}"}
    assert client.get(f"/demandes/{NUM}/timeline", headers=auth).status_code == 200
    port = _dead_port()
    dead = make_engine(f"postgresql+psycopg://hub:secret@127.0.0.1:{port}/hub")
    client.app.state.hub.holders.engine = dead  # type: ignore[attr-defined]
    r = client.get(f"/demandes/{NUM}/timeline", headers=auth)
    dead.dispose()
    _no_leak(r, port)


def test_the_database_gone_while_publishing_a_stored_event_is_the_documented_503(
        served: tuple[TestClient, str]) -> None:  # fmt: skip
    client, key = served
    port = _dead_port()
    dead = make_engine(f"postgresql+psycopg://hub:secret@127.0.0.1:{port}/hub")
    # stored on the live database; what is owed to Kafka is then read from a dead one
    client.app.state.hub.gp.publication.store = GPStore(dead)  # type: ignore[attr-defined]
    r = client.post(f"/demandes/{NUM}/evenements-gp", headers={"Authorization": f"Bearer {key}"},
                    json={"codeTypeEvenement": "VISPROP", "dateSurvenance": "2025-06-01",
                          "caracteristiques": {"DATEVIS": "2025-06-05"}, "eventId": "gp-owed-1"})
    dead.dispose()
    _no_leak(r, port)
    assert r.json()["eventIds"] == ["gp-owed-1"]
