"""Migration 0016 over a database written at 0015 (SQLite and the real PostgreSQL): the
statistics' facts gain the renewal cycle (independent review O, O1). A row already there
reads it NULL — unknown: the fold decides a change of that radiated demand as before,
from the incoming snapshot — and is written with its cycle at its next folded event; the
downgrade drops the columns and the facts fold as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from hub.core.db import alembic_config, migrate, write_transaction
from hub.domain.decisions import LATE_REACTIVATION
from hub.services.statistics_folder import Folder, Record
from hub.stores.cotation.store import DeclarationStore
from hub.stores.statistics.store import StatisticsStore
from hub.stores.statistics.tables import stat_demandes
from schemas import get_codec
from tests.support.demandes import new_num_unique
from tests.support.postgres import unmigrated_engine
from tests.unit.test_reactivation_limit import _ev, _ms

BEFORE = "0015_declaration_life"
CREATED, RADIATED, LATE = dt.date(2023, 1, 10), dt.date(2024, 2, 10), dt.date(2025, 3, 1)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_0016_keeps_the_cycle_of_the_facts(kind: str, tmp_path: Path) -> None:
    codec = get_codec()
    with unmigrated_engine(kind, tmp_path, "statcycle") as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), BEFORE)
        old, new = new_num_unique(), new_num_unique()
        now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        with engine.begin() as conn:  # as 0015's fold left it: radiated RADREN
            conn.execute(text(
                "INSERT INTO stat_demandes (num_unique, commune, epci, departement, typologies,"
                " date_creation, active, date_radiation, motif_radiation, ressources_uc,"
                " last_partition, last_offset, recent_event_ids, updated_at) VALUES (:n,"
                " '76540', '200023414', '76', 'T2', :c, :f, :r, 'RADREN', NULL, 0, 1, '[]',"
                " :now)"), {"n": old, "c": CREATED, "r": RADIATED, "f": False, "now": now})
        migrate(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("stat_demandes")}
        assert {"renouvellement", "debut_cycle"} <= columns
        folder = Folder(StatisticsStore(engine), DeclarationStore(engine), codec=codec)
        offsets = iter(range(10, 1000))

        def fold(*events: dict) -> dict[str, int]:  # type: ignore[type-arg]
            return dict(folder.fold([Record(0, next(offsets), e["numUnique"].encode(),
                                            codec.encode("DemandeEvent", e))
                                     for e in events]))  # fmt: skip

        # a late REN carrying its own date: the new row is refused as by the worker, the
        # row written before the migration (cycle unknown) is decided as before
        assert fold(_ev(new, "CRE", _ms(CREATED), CREATED),
                    _ev(new, "RAD", _ms(RADIATED), CREATED, motive="RADREN")) == {"folded": 2}
        assert fold(_ev(new, "REN", _ms(LATE), CREATED, renewed=LATE)) == {LATE_REACTIVATION: 1}
        assert fold(_ev(old, "REN", _ms(LATE), CREATED, renewed=LATE)) == {"folded": 1}
        with engine.connect() as conn:
            rows = {r.num_unique: r for r in conn.execute(select(
                stat_demandes.c.num_unique, stat_demandes.c.active,
                stat_demandes.c.debut_cycle))}  # fmt: skip
        assert not rows[new].active and rows[new].debut_cycle == CREATED
        assert rows[old].active and rows[old].debut_cycle == LATE
        with write_transaction(engine) as conn:
            command.downgrade(alembic_config(conn), BEFORE)
        columns = {c["name"] for c in inspect(engine).get_columns("stat_demandes")}
        assert not {"renouvellement", "debut_cycle"} & columns
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM stat_demandes")).scalar_one() == 2
