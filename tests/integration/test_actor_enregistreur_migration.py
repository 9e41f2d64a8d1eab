"""Migration 0013 over a registry written at 0012 (SQLite and the real PostgreSQL): the
rows already there read ``enregistreur`` NULL, the default of their kind (a bailleur and
a guichet write demands, a commune does not), removed ones included, and stay published;
a registration sets it; the downgrade drops the column and leaves every actor, its
version and its history as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from hub.core.db import alembic_config, migrate, write_transaction
from hub.domain.actors import Actor, ActorFilters
from hub.stores.registry.store import ActorStore
from tests.support.postgres import unmigrated_engine

BEFORE = "0012_gp_purge"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_0013_over_a_0012_registry(kind: str, tmp_path: Path) -> None:
    with unmigrated_engine(kind, tmp_path, "enregistreur") as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), BEFORE)
        now = datetime(2026, 12, 1, tzinfo=UTC)
        with engine.begin() as conn:  # rows as the code of 0012 wrote them
            for actor_id, actor_kind, deleted in (("bail", "bailleur", None),
                                                  ("guich", "guichet", None),
                                                  ("ville", "commune", None),
                                                  ("gone", "commune", now)):  # fmt: skip
                conn.execute(text(
                    "INSERT INTO actors (id, name, kind, profile, filters, delivery_channel,"
                    " delivery_options, version, created_at, updated_at, deleted_at,"
                    " published_version) VALUES (:id, :id, :kind, 'consultant_simple', :f,"
                    " 'kafka', '{}', 2, :now, :now, :d, 2)"),
                    {"id": actor_id, "kind": actor_kind, "now": now, "d": deleted,
                     "f": '{"communes": ["76540"]}'})  # fmt: skip
        migrate(engine)
        store = ActorStore(engine)
        got = {a.id: (a.enregistreur, a.writes_demands, a.version)
               for a in store.list(include_deleted=True)}  # fmt: skip
        assert got == {"bail": (None, True, 2), "guich": (None, True, 2),
                       "ville": (None, False, 2), "gone": (None, False, 2)}  # fmt: skip
        assert store.unpublished() == []  # nothing to send again for the new column
        ville = store.get("ville")
        saved = store.save(ville.model_copy(update={"enregistreur": True})).actor
        assert (saved.version, saved.writes_demands) == (3, True)
        store.save(Actor(id="new", name="N", kind="etat", enregistreur=False,
                         filters=ActorFilters(departements=["76"])))  # fmt: skip

        with write_transaction(engine) as conn:
            command.downgrade(alembic_config(conn), BEFORE)
        columns = {c["name"] for c in inspect(engine).get_columns("actors")}
        assert "enregistreur" not in columns and "published_version" in columns
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, version FROM actors")).all())
            changes = conn.execute(text("SELECT count(*) FROM actor_changes")).scalar_one()
        assert rows == {"bail": 2, "guich": 2, "ville": 3, "gone": 2, "new": 1}
        assert changes == 2  # ville's update and new's add, kept
        migrate(engine)  # and up again: the column is back, NULL for all
        assert {a.id: a.enregistreur for a in ActorStore(engine).list()} == {
            "bail": None, "guich": None, "ville": None, "new": None}
