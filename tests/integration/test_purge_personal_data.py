"""``hub purge``'s SQL step on a real database (SQLite and PostgreSQL; independent audit G,
G4): a purged demand's personal data leaves every table that held it — the SNE poller's
last snapshot (``sne_poll_seen``), the gestion partagée record (``gp_events``, append-only:
through the marked path of migration 0012) and what of it is owed to Kafka, the SOAP
gateway's owed records, the statistics' facts, the API holders — while another demand's
rows stay; and the append-only rule of ``gp_events`` still refuses every other DELETE,
every UPDATE (a demand marked or not) and, on PostgreSQL, TRUNCATE."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, inspect, select, text

from connectors.sne.gateway.owed_store import OwedStore, Record
from connectors.sne.poll_memory import PollMemory
from hub.domain.statistics_facts import Mark
from hub.services.purge import GP_PURGE_MARKS, SQL_TABLES, purge_sql
from hub.stores.gp.store import GPStore
from hub.stores.statistics.store import Change, StatisticsStore
from tests.integration.test_gp_unpublished_migration import _record
from tests.integration.test_statistics_store import _fait
from tests.support.demandes import demande_event, new_num_unique


def _seed(engine: Engine, num: str, name: str) -> None:
    """The rows the hub's own writers leave for ``num``, its applicant called ``name``."""
    event = demande_event(num, ["76540"], operation="RAD", radiation={"motif": "RADATT"})
    event["demande"]["demandeLogement"]["personnePhysique"]["demandeur"]["nom"] = name
    PollMemory(engine).record(num, "d" * 64, event)
    store = GPStore(engine)
    for i, owed in enumerate((False, True)):
        record = {**_record(f"gp-{num}-{i}", num),
                  "commentaire": f"Visite: M. {name} sans emploi, suivi social"}  # fmt: skip
        store.append(record)
        if not owed:
            store.mark_published([record["eventId"]])
    OwedStore(engine).add([Record("hub.evenements", num.encode(),
                                  json.dumps({"nom": name}).encode(), f"gw-{num}",
                                  "ajouterEvenementDemande")])  # fmt: skip
    fait = _fait(0, num_unique=num)
    StatisticsStore(engine).write([Change(num, fait, Mark(0, 1, (f"e-{num}",)))])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO api_holders (actor_id, num_unique, since) "
                          "VALUES ('bailleur-a', :n, CURRENT_TIMESTAMP)"), {"n": num})  # fmt: skip


def _rows_of(engine: Engine, num: str) -> dict[str, int]:
    """Rows naming ``num``, per table that has a ``num_unique`` column."""
    meta = MetaData()
    meta.reflect(engine)
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if "num_unique" in table.c:
                found = conn.execute(select(table).where(table.c.num_unique == num)).all()
                if found:
                    out[table.name] = len(found)
    return out


def _dump(engine: Engine) -> str:
    """Every value of every table, as text: where a name could hide."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        rows: list[Any] = []
        for table in meta.sorted_tables:
            rows += [[str(v) for v in r] for r in conn.execute(select(table))]
    return json.dumps(rows, ensure_ascii=False)


def test_purge_removes_every_row_of_the_demand_and_no_other(
    migrated_db: tuple[str, Engine],
) -> None:
    url, engine = migrated_db
    gone, kept = new_num_unique(), new_num_unique()
    _seed(engine, gone, "PURGEDNAME")
    _seed(engine, kept, "KEPTNAME")
    before = _rows_of(engine, gone)
    assert {"sne_poll_seen", "gp_events", "gp_unpublished", "sne_gateway_unpublished",
            "stat_demandes", "api_holders"} <= set(before)  # fmt: skip
    assert "PURGEDNAME" in _dump(engine)

    counts = purge_sql(url, [gone])
    assert counts["gp_events"] == 2 and counts["sne_poll_seen"] == 1
    assert counts["gp_unpublished"] == 1 and counts["sne_gateway_unpublished"] == 1
    assert _rows_of(engine, gone) == {}, "rows of the purged demand left"
    assert "PURGEDNAME" not in _dump(engine)
    assert _rows_of(engine, kept) == before, "another demand's rows touched"
    assert "KEPTNAME" in _dump(engine)
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {GP_PURGE_MARKS}")).scalar_one() == 0
    assert [e["eventId"] for e in GPStore(engine).unpublished()] == [f"gp-{kept}-1"]
    # idempotent: a second pass finds nothing more
    assert set(purge_sql(url, [gone]).values()) == {0}
    assert set(SQL_TABLES) <= set(inspect(engine).get_table_names())


def test_gp_events_still_refuse_every_other_delete_and_update(
    migrated_db: tuple[str, Engine],
) -> None:
    url, engine = migrated_db
    num = new_num_unique()
    _seed(engine, num, "KEPTNAME")
    purge_sql(url, [new_num_unique()])  # a purge of another demand opens nothing
    refused = [
        "DELETE FROM gp_events",
        "DELETE FROM gp_events WHERE num_unique = :n",
        "UPDATE gp_events SET code = 'X' WHERE num_unique = :n",
        "UPDATE gp_events SET record = '{}' WHERE num_unique = :n",
    ]
    for sql in refused:
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql), {"n": num})
    # even while marked (the purge's own path), an event is never updated
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {GP_PURGE_MARKS} (num_unique) VALUES (:n)"), {"n": num})
        conn.execute(text("UPDATE gp_events SET code = 'X' WHERE num_unique = :n"), {"n": num})
    if engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE gp_events CASCADE"))
    assert len(GPStore(engine).timeline(num)) == 2
