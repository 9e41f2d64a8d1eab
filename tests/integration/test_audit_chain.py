"""The audit trail is append-only and tamper-evident (issue 7 point 6), on SQLite and on
PostgreSQL: ``hub audit verify`` (a real subprocess) passes on an honest chain and names
the broken link of a modified, deleted, reordered or re-hashed row; the triggers refuse
UPDATE and DELETE (and TRUNCATE on PostgreSQL); concurrent appenders keep the chain
whole; the migration chains the rows recorded before it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import DBAPIError

from hub.core.db import alembic_config, migrate, write_transaction
from hub.stores.audit.chain import GENESIS, row_hash, verify
from hub.stores.audit.recorder import insert_rows
from hub.stores.audit.store import AuditStore
from hub.stores.audit.tables import audit_deliveries
from tests.support.postgres import unmigrated_engine

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _rows(n: int, *, actor: str = "bailleur-a", start: int = 0) -> list[dict[str, Any]]:
    return [{"actor_id": actor, "num_unique": f"076{start + i:010d}", "demande_version": 1 + i % 3,
             "channel": "kafka", "profile": "consultant_simple", "kind": "DEMANDE",
             "at": T0 + timedelta(microseconds=start + i), "event_id": str(uuid.uuid4())}
            for i in range(n)]


def _feed_record(num: str) -> dict[str, Any]:
    return {"numUnique": num, "demandeVersion": 2, "profile": "consultant_sensible",
            "kind": "DEMANDE", "demande": {"numUnique": num}}


def _verify_cli(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_HOME=str(tmp_path / "home"), HUB_DATABASE__URL=url)
    return subprocess.run([sys.executable, "-c", "from hub.cli import main; main()", "audit",
                           "verify", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@contextmanager
def _tampering(engine: Engine) -> Iterator[Connection]:
    """A raw connection of someone with write access to the database files or the table's
    owner: the append-only triggers are off for the time of the transaction."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_deliveries DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_deliveries ENABLE TRIGGER USER"))
        else:
            for verb in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS audit_deliveries_no_{verb}"))
            yield conn


def _seqs(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        q = text("SELECT seq FROM audit_deliveries ORDER BY seq")
        return [int(s) for s in conn.execute(q).scalars()]


@pytest.fixture
def chained(migrated_db: tuple[str, Engine]) -> tuple[str, Engine, list[int]]:
    """A database holding 6 chained rows (feed deliveries and API reads)."""
    url, engine = migrated_db
    assert insert_rows(engine, _rows(4)) == 4
    AuditStore(engine).record("bailleur-b", "api", [_feed_record("0760000000101"),
                                                    _feed_record("0760000000102")])
    return url, engine, _seqs(engine)


def test_verify_passes_on_an_honest_chain(chained: tuple[str, Engine, list[int]],
                                          tmp_path: Path) -> None:
    url, engine, _ = chained
    run = _verify_cli(url, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    report = verify(engine)
    assert run.stdout.strip() == f"audit chain intact: 6 rows (head {report.head})"
    assert report.rows == 6 and report.head != GENESIS
    # the head printed earlier is an anchor that still holds
    assert verify(engine, anchors=[report.head]).intact


def test_a_modified_row_is_named(chained: tuple[str, Engine, list[int]], tmp_path: Path) -> None:
    url, engine, seqs = chained
    with _tampering(engine) as conn:
        conn.execute(text("UPDATE audit_deliveries SET profile = 'consultant_sensible' "
                          "WHERE seq = :s"), {"s": seqs[2]})
    run = _verify_cli(url, tmp_path)
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"seq {seqs[2]}: row_hash does not match the row's content (row modified)"]


def test_a_modified_row_with_its_hash_recomputed_breaks_the_next_link(
        chained: tuple[str, Engine, list[int]]) -> None:
    _, engine, seqs = chained
    t = audit_deliveries
    with engine.connect() as conn:
        row = dict(conn.execute(select(t).where(t.c.seq == seqs[1])).mappings().one())
    row["actor_id"] = "someone-else"
    with _tampering(engine) as conn:
        conn.execute(text("UPDATE audit_deliveries SET actor_id = :a, row_hash = :h "
                          "WHERE seq = :s"),
                     {"a": row["actor_id"], "h": row_hash(row, row["prev_hash"]), "s": seqs[1]})
    assert verify(engine).problems == [
        f"seq {seqs[2]}: prev_hash does not match the row_hash of seq {seqs[1]} "
        "(a row deleted, inserted or moved between them)"]


def test_a_deleted_row_is_named(chained: tuple[str, Engine, list[int]]) -> None:
    _, engine, seqs = chained
    with _tampering(engine) as conn:
        conn.execute(text("DELETE FROM audit_deliveries WHERE seq = :s"), {"s": seqs[3]})
    assert verify(engine).problems == [
        f"seq {seqs[4]}: prev_hash does not match the row_hash of seq {seqs[2]} "
        "(a row deleted, inserted or moved between them)"]
    # the first row too: its successor no longer starts the chain
    with _tampering(engine) as conn:
        conn.execute(text("DELETE FROM audit_deliveries WHERE seq = :s"), {"s": seqs[0]})
    assert f"seq {seqs[1]}: prev_hash does not match the row_hash of the chain start" in (
        verify(engine).problems[0])


def test_a_reordered_row_is_named(chained: tuple[str, Engine, list[int]]) -> None:
    _, engine, seqs = chained
    a, b = seqs[1], seqs[2]
    with _tampering(engine) as conn:  # swap the places of two rows
        for old, new in ((a, -1), (b, a), (-1, b)):
            conn.execute(text("UPDATE audit_deliveries SET seq = :n WHERE seq = :o"),
                         {"n": new, "o": old})
    problems = verify(engine).problems
    assert [line.split(":")[0] for line in problems] == [f"seq {a}", f"seq {b}",
                                                         f"seq {seqs[3]}"], problems


def test_rows_cut_from_the_end_are_caught_by_the_anchor(
        chained: tuple[str, Engine, list[int]], tmp_path: Path) -> None:
    url, engine, seqs = chained
    head = verify(engine).head
    with _tampering(engine) as conn:
        conn.execute(text("DELETE FROM audit_deliveries WHERE seq = :s"), {"s": seqs[-1]})
    assert verify(engine).intact  # a chain alone cannot see it ...
    run = _verify_cli(url, tmp_path, "--anchor", head)
    assert run.returncode == 1  # ... the head kept elsewhere does
    assert run.stdout.splitlines() == [
        f"anchor {head} is not in the chain (rows cut from its end, or the chain rebuilt)"]


def test_update_delete_are_refused(chained: tuple[str, Engine, list[int]]) -> None:
    _, engine, seqs = chained
    statements = ["UPDATE audit_deliveries SET profile = 'x'",
                  "DELETE FROM audit_deliveries"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_deliveries")
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    assert _seqs(engine) == seqs and verify(engine).intact


def test_concurrent_appenders_keep_the_chain(migrated_db: tuple[str, Engine]) -> None:
    _, engine = migrated_db
    rounds, per = 25, 4
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def feed(actor: str) -> None:  # the Kafka recorder and the file outbox
        try:
            barrier.wait()
            for i in range(rounds):
                batch = _rows(per, actor=actor, start=i * per)
                assert insert_rows(engine, batch + batch[:1]) == per  # repeat: skipped
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def api_reads() -> None:  # the API feed reads and the pushes
        try:
            barrier.wait()
            store = AuditStore(engine)
            for i in range(rounds):
                store.record("bailleur-api", "api",
                             [_feed_record(f"07699{i:08d}") for _ in range(per)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=feed, args=("bailleur-k",)),
               threading.Thread(target=feed, args=("bailleur-f",)),
               threading.Thread(target=api_reads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    report = verify(engine)
    assert report.problems == [] and report.rows == 3 * rounds * per
    store = AuditStore(engine)
    for actor in ("bailleur-k", "bailleur-f", "bailleur-api"):
        assert len(store.query(actor_id=actor)) == rounds * per


@contextmanager
def _database_at_0004(kind: str, tmp_path: Path) -> Iterator[Engine]:
    with unmigrated_engine(kind, tmp_path, "chain") as engine:
        yield engine


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql",
                                                         marks=pytest.mark.postgres)])
def test_the_migration_chains_the_rows_already_recorded(kind: str, tmp_path: Path) -> None:
    with _database_at_0004(kind, tmp_path) as engine:
        with write_transaction(engine) as conn:
            command.upgrade(alembic_config(conn), "0004_audit_kafka")
        old = _rows(5)
        with engine.begin() as conn:  # the columns of 0004 only: no hashes yet
            conn.execute(insert(audit_deliveries), old)
        migrate(engine)
        report = verify(engine)
        assert report.problems == [] and report.rows == 5
        assert insert_rows(engine, _rows(2, start=10) + old[:1]) == 2  # old row: a duplicate
        assert verify(engine).rows == 7 and verify(engine).intact
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_deliveries"))
