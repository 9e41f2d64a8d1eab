"""Migration 0009 over a gestion partagée record written before it (SQLite and the real
PostgreSQL): the events already stored count as published (nothing owed, nothing sent
again); an event stored afterwards is owed to Kafka until its acknowledgement is
recorded, and the append-only triggers still hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from hub.core.db import alembic_config, migrate, write_transaction
from hub.stores.gp.store import GPStore
from tests.support.postgres import unmigrated_engine


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[Engine]:
    with unmigrated_engine(kind, tmp_path, "gpowed") as engine:
        yield engine


def _record(event_id: str, num: str) -> dict[str, object]:
    return {"eventId": event_id, "numUnique": num, "operation": "AJO", "idEvenement": None,
            "codeTypeEvenement": "VISPROP", "catalogueVersion": "2025.1",
            "dateSurvenance": "2025-06-01", "auteur": "bailleur-x", "commentaire": None,
            "reglementaire": True, "aPublierSurPGP": True,
            "caracteristiques": {"DATEVIS": "2025-06-05"}, "occurredAt": 0,
            "source": "api"}  # fmt: skip


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_events_stored_before_0009_count_as_published(kind: str, tmp_path: Path) -> None:
    num = "076112500000210691"
    with _database(kind, tmp_path) as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), "0008_actor_published")
        # rows as the code of 0008 wrote them: no gp_unpublished table yet
        with engine.begin() as conn:
            for event_id in ("old-1", "old-2"):
                conn.execute(text(
                    "INSERT INTO gp_events (event_id, num_unique, code, catalogue_version,"
                    " date_survenance, auteur, recorded_at, record, a_publier) VALUES"
                    " (:id, :num, 'VISPROP', '2025.1', '2025-06-01', 'bailleur-x', :at,"
                    " :record, true)"), {"id": event_id, "num": num,
                                         "at": datetime(2026, 12, 1, tzinfo=UTC),
                                         "record": json.dumps(_record(event_id, num))})  # fmt: skip
        migrate(engine)
        store = GPStore(engine)
        assert store.unpublished() == [] and store.unpublished_summary() == (0, None)
        assert store.unpublished_demands(10) == []
        # an old event re-sent (same id, same content) is found, not owed anew
        assert store.append(_record("old-1", num)) == (_record("old-1", num), False)
        assert store.unpublished() == []
        store.append(_record("new-1", num))
        store.append(_record("new-2", "076112500000310691"))
        assert [r["eventId"] for r in store.unpublished()] == ["new-1", "new-2"]
        assert [r["eventId"] for r in store.unpublished([num])] == ["new-1"]
        count, oldest = store.unpublished_summary()
        assert count == 2 and oldest is not None
        store.mark_published(["new-1", "unknown-id"])
        assert [r["eventId"] for r in store.unpublished()] == ["new-2"]
        assert [e["eventId"] for e in store.timeline(num)] == ["old-1", "old-2", "new-1"]
        with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM gp_events WHERE event_id = 'new-1'"))
