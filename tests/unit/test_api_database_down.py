"""A database outage answers 503 with a fixed detail, never the driver's text (independent
audit H, F-3: the detail named the PostgreSQL host, port and server message to any API
client). The error is psycopg's own, from a real connection attempt to a port where no
server listens; the app, its authentication and its error handler are the real ones."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from hub.api.problems import DATABASE_UNAVAILABLE
from hub.core.db import make_engine, migrate
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access.keys import KeyStore
from hub.stores.registry.store import ActorStore


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
