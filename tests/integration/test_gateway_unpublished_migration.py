"""Migration 0010 over a database written at 0009 (SQLite and the real PostgreSQL): the
SOAP gateway's owed records start empty, what 0009 owed (a gestion partagée event) is
still owed, and the new table keeps records byte for byte in store order; the downgrade
drops it and leaves 0009's tables as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from connectors.sne.gateway.owed_store import OwedStore, Record
from hub.core.db import alembic_config, migrate, write_transaction
from hub.stores.gp.store import GPStore
from tests.integration.test_gp_unpublished_migration import _record
from tests.support.postgres import unmigrated_engine

NUM = "076112500000710691"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_0010_over_a_0009_database(kind: str, tmp_path: Path) -> None:
    with unmigrated_engine(kind, tmp_path, "gwowed") as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), "0009_gp_unpublished")
        at = datetime(2026, 12, 9, tzinfo=UTC)
        with engine.begin() as conn:  # an event 0009's code stored and still owed
            seq = conn.execute(text(
                "INSERT INTO gp_events (event_id, num_unique, code, catalogue_version,"
                " date_survenance, auteur, recorded_at, record, a_publier) VALUES"
                " ('owed-9', :num, 'VISPROP', '2025.1', '2025-06-01', 'bailleur-x', :at,"
                " :record, true) RETURNING seq"),
                {"num": NUM, "at": at, "record": json.dumps(_record("owed-9", NUM))},
            ).scalar_one()  # fmt: skip
            conn.execute(text("INSERT INTO gp_unpublished (event_id, seq, num_unique, stored_at)"
                              " VALUES ('owed-9', :seq, :num, :at)"),
                         {"seq": seq, "num": NUM, "at": at})  # fmt: skip
        migrate(engine)
        store = OwedStore(engine)
        assert store.summary() == (0, None, 0) and store.owed() == []
        assert [r["eventId"] for r in GPStore(engine).unpublished()] == ["owed-9"]
        records = [Record("hub.demandes", NUM.encode(), bytes(range(256)), "e-1", "getNumUnique"),
                   Record("hub.evenements", NUM.encode(), b"\x00gp", "e-2",
                          "ajouterEvenementDemande")]  # fmt: skip
        seqs = store.add(records)
        assert seqs == sorted(seqs) and [o.record for o in store.owed([NUM])] == records
        store.failed(seqs[0], "MessageSizeTooLargeError", refused=True)
        count, oldest, refused = store.summary()
        assert (count, refused) == (1, 1) and oldest is not None and oldest.tzinfo is not None
        assert store.demands(10) == [NUM] and store.release_refused() == 1
        store.acknowledge(seqs)
        assert store.summary() == (0, None, 0)
        with write_transaction(engine) as conn:
            command.downgrade(alembic_config(conn), "0009_gp_unpublished")
        tables = set(inspect(engine).get_table_names())
        assert "sne_gateway_unpublished" not in tables and "gp_unpublished" in tables
        assert [r["eventId"] for r in GPStore(engine).unpublished()] == ["owed-9"]
