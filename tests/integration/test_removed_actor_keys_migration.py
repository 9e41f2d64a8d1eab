"""Migration 0014 over a database written at 0013 (SQLite and the real PostgreSQL): the
API keys of an actor removed before it are revoked — registered again, the actor is not
let in by them — and the keys of registered actors still authenticate; the downgrade
undoes no revocation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from hub.core.db import alembic_config, migrate, write_transaction
from hub.core.errors import AuthenticationError
from hub.domain.actors import Actor, ActorFilters
from hub.stores.access import keys as keys_module
from hub.stores.access.keys import KeyStore
from hub.stores.registry.store import ActorStore
from tests.support.postgres import unmigrated_engine

BEFORE = "0013_actor_enregistreur"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_0014_revokes_the_keys_of_actors_removed_before_it(kind: str, tmp_path: Path) -> None:
    with unmigrated_engine(kind, tmp_path, "removedkeys") as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), BEFORE)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        secret, salt = "s3cret", b"0123456789abcdef"
        with engine.begin() as conn:  # as 0013's code left them: removed, keys alive
            for actor_id, deleted in (("gone", now), ("kept", None)):
                conn.execute(text(
                    "INSERT INTO actors (id, name, kind, profile, filters, delivery_channel,"
                    " delivery_options, version, created_at, updated_at, deleted_at,"
                    " published_version) VALUES (:id, :id, 'bailleur', 'consultant_simple',"
                    " :f, 'kafka', '{}', 2, :now, :now, :d, 2)"),
                    {"id": actor_id, "now": now, "d": deleted, "f": '{"communes": ["76540"]}'})
                conn.execute(text(
                    "INSERT INTO api_keys (key_id, actor_id, salt, hash, created_at) VALUES"
                    " (:k, :id, :salt, :hash, :now)"),
                    {"k": f"{actor_id:0>16}", "id": actor_id, "salt": salt, "now": now,
                     "hash": keys_module._hash(secret, salt)})  # fmt: skip
        migrate(engine)
        with engine.connect() as conn:
            revoked = dict(conn.execute(text(
                "SELECT actor_id, revoked_at IS NOT NULL FROM api_keys")).all())  # fmt: skip
        assert {a: bool(r) for a, r in revoked.items()} == {"gone": True, "kept": False}
        ActorStore(engine).save(Actor(id="gone", name="again", kind="bailleur",
                                      filters=ActorFilters(communes=["76540"])))  # fmt: skip
        keys = KeyStore(engine)
        with pytest.raises(AuthenticationError, match="invalid API key"):
            keys.authenticate(f"hk_{'gone':0>16}.{secret}")
        assert keys.authenticate(f"hk_{'kept':0>16}.{secret}").id == "kept"
        with write_transaction(engine) as conn:
            command.downgrade(alembic_config(conn), BEFORE)
        with pytest.raises(AuthenticationError):
            KeyStore(engine).authenticate(f"hk_{'gone':0>16}.{secret}")
