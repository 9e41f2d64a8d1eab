"""Review I, F5: rows a release before ``secure_delete`` deleted stayed readable in the
SQLite file's free pages; the purge rewrites the file (``VACUUM``) once it deleted rows,
so what an older purge removed leaves the file too. The leftover is made as such a
release made it: a plain sqlite3 connection with ``secure_delete`` off."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from hub.core.db import make_engine, migrate
from hub.services.purge import purge_sql

NAME = b"MARTIN-LEFTOVER-" + b"Z" * 300


def _old_release_deleted(path: Path) -> None:
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA secure_delete=OFF")
    raw.execute("CREATE TABLE old_rows (k INTEGER PRIMARY KEY, v BLOB)")
    for i in range(100):
        raw.execute("INSERT INTO old_rows VALUES (?, ?)", (i, NAME if i == 50 else b"x" * 300))
    raw.commit()
    raw.execute("DELETE FROM old_rows WHERE k = 50")
    raw.commit()
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


def test_a_purge_on_sqlite_leaves_no_older_deleted_rows_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    _old_release_deleted(path)
    assert NAME in path.read_bytes()  # what an older release left
    num = "076112500000009999"
    engine = make_engine(url)
    with engine.begin() as conn:
        insert = "INSERT INTO api_holders (actor_id, num_unique, since) VALUES ('erp', :n, :t)"
        conn.execute(text(insert), {"n": num, "t": datetime.now(UTC)})
    engine.dispose()
    assert purge_sql(url, [num])["api_holders"] == 1
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    assert NAME not in data
