"""Migration 0008 over a registry written before it (SQLite and the real PostgreSQL):
rows already there count as published at their version, removed ones included, so the
next identical registration sends nothing and nothing is listed as missing from Kafka;
an actor saved afterwards without a publisher is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from hub.core.db import alembic_config, migrate, write_transaction
from hub.domain.actors import Actor, ActorFilters
from hub.stores.registry.store import ActorStore
from tests.support.postgres import unmigrated_engine


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[Engine]:
    with unmigrated_engine(kind, tmp_path, "published") as engine:
        yield engine


def _actor(actor_id: str) -> Actor:
    return Actor(id=actor_id, name=actor_id, kind="bailleur",
                 filters=ActorFilters(communes=["76540"]))  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_rows_written_before_0008_count_as_published(kind: str, tmp_path: Path) -> None:
    with _database(kind, tmp_path) as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), "0007_statistics")
        now = datetime(2026, 12, 1, tzinfo=UTC)
        # rows as the code of 0007 wrote them: no published_version column yet
        with engine.begin() as conn:
            for actor_id, version, deleted in (("kept", 3, None), ("gone", 2, now)):
                conn.execute(text(
                    "INSERT INTO actors (id, name, kind, profile, filters, delivery_channel,"
                    " delivery_options, version, created_at, updated_at, deleted_at) VALUES"
                    " (:id, :id, 'bailleur', 'consultant_simple', :f, 'kafka', '{}', :v,"
                    " :now, :now, :d)"), {"id": actor_id, "v": version, "now": now, "d": deleted,
                                          "f": '{"communes": ["76540"]}'})  # fmt: skip
        migrate(engine)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, published_version FROM actors")).all())
        assert got == {"kept": 3, "gone": 2}
        store = ActorStore(engine)
        assert store.unpublished() == []
        with pytest.raises(Exception, match="no actor 'gone'"):
            store.remove_or_resend("gone")  # its removal counts as sent: nothing to resend
        new = store.save(_actor("new")).actor
        assert [a.id for a, _ in store.unpublished()] == ["new"]
        store.mark_published([new])
        assert store.unpublished() == []
