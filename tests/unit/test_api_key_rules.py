"""API keys and the Authorization header (independent audit K, F11):

* a request carrying two ``Authorization`` headers is a 400 ``bad_request``, whichever
  comes first and whether either is valid (RFC 9110: a singleton field; a proxy appending
  its own header must not decide which credentials count); one header works as before;
* removing an actor revokes its API keys, in the registry's transaction: registering the
  id again does not bring them back (not even from the in-memory cache), another actor's
  keys are untouched;
* an unknown or revoked key id costs the same scrypt as a known one (the refusal's time
  does not tell whether a key id exists); a malformed key costs none.

The REST API runs on a real SQLite database, without Kafka (no route here needs it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, select

from hub.core.db import make_engine, migrate
from hub.core.errors import AuthenticationError
from hub.core.settings import DatabaseSettings, HubSettings
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access import keys as keys_module
from hub.stores.access.keys import KeyStore
from hub.stores.access.tables import api_keys
from hub.stores.registry.store import ActorStore


def _actor(actor_id: str) -> Actor:
    return Actor(id=actor_id, name=actor_id, kind="bailleur",
                 filters=ActorFilters(communes=["76540"]))  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    from hub.api.app import create_app

    url = str(engine.url)
    settings = HubSettings(home=tmp_path, database=DatabaseSettings(url=SecretStr(url)))
    with TestClient(create_app(settings, engine)) as client:
        yield client


def test_two_authorization_headers_are_a_400_whatever_their_order(
        engine: Engine, client: TestClient) -> None:  # fmt: skip
    ActorStore(engine).save(_actor("b1"))
    good = f"Bearer {KeyStore(engine).create('b1').key}"
    assert client.get("/catalogue", headers={"Authorization": good}).status_code == 200
    for pair in ((good, "Bearer hk_0000.forged"), ("Bearer hk_0000.forged", good), (good, good),
                 (good, "Basic eDp5")):  # fmt: skip
        r = client.get("/catalogue", headers=[("Authorization", pair[0]),
                                              ("Authorization", pair[1])])  # fmt: skip
        assert r.status_code == 400, (pair, r.text)
        body = r.json()
        assert body["type"] == "urn:passerelle:problem:bad_request"
        assert "Authorization" in body["detail"] and "hk_" not in body["detail"]
    # a route with a body is refused before its body is read, as for a missing key
    r = client.post("/demandes/evenements", content=b"[not json",
                    headers=[("Authorization", good), ("Authorization", good),
                             ("Content-Type", "application/json")])  # fmt: skip
    assert r.status_code == 400 and r.json()["type"].endswith("bad_request")


def test_removing_an_actor_revokes_its_keys_for_good(engine: Engine) -> None:
    actors, keys = ActorStore(engine), KeyStore(engine)
    actors.save(_actor("gone"))
    actors.save(_actor("kept"))
    old = [keys.create("gone").key for _ in range(2)]
    other = keys.create("kept").key
    assert keys.authenticate(old[0]).id == "gone"  # verified: now in the cache
    actors.remove("gone")
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys.c.actor_id, api_keys.c.revoked_at)).all()
    assert {(a, r is not None) for a, r in rows} == {("gone", True), ("kept", False)}
    for key in old:
        with pytest.raises(AuthenticationError):
            keys.authenticate(key)
    actors.save(_actor("gone"))  # the id registered again (the same or another organisation)
    for key in old:
        with pytest.raises(AuthenticationError, match="invalid API key"):
            keys.authenticate(key)
    assert keys.authenticate(other).id == "kept"
    assert keys.authenticate(keys.create("gone").key).id == "gone"  # new keys work


def test_an_unknown_key_id_costs_the_same_scrypt(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    ActorStore(engine).save(_actor("b1"))
    keys = KeyStore(engine)
    good = keys.create("b1")
    revoked = keys.create("b1")
    keys.revoke(revoked.key_id)
    calls: list[int] = []
    real = keys_module._hash

    def counted(secret: str, salt: bytes) -> bytes:
        calls.append(1)
        return real(secret, salt)

    monkeypatch.setattr(keys_module, "_hash", counted)
    secret = good.key.partition(".")[2]
    for key in (good.key, f"hk_{'0' * 16}.{secret}", revoked.key, f"{good.key[:-2]}xx"):
        calls.clear()
        keys._cache.clear()
        with contextlib.suppress(AuthenticationError):
            keys.authenticate(key)
        assert len(calls) == 1, key[:20]
    calls.clear()
    with pytest.raises(AuthenticationError):
        keys.authenticate("not-a-key")  # malformed: refused before any lookup
    assert calls == []
