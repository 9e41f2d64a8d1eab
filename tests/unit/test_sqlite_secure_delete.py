"""A row deleted from the embedded SQLite database leaves no readable bytes in the file
(``hub purge`` removes a demand's personal data: left in a free page, the name stayed in
``hub.db``, readable with ``strings``). The file is read raw after a checkpoint."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from hub.core.db import make_engine

NAME = "DUPONT-MARKER-" + "Q" * 200  # a purged applicant's name, long enough to spot


def _write_delete_read(path: Path, secure: bool | None) -> bytes:
    """The file's bytes after a row holding NAME was written, then deleted; ``secure``
    None: the hub's engine as it is, else sqlite's own setting forced (the control)."""
    engine = make_engine(f"sqlite:///{path}")
    if secure is not None:
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def force(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.execute(f"PRAGMA secure_delete={'ON' if secure else 'OFF'}")

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
        for i in range(200):  # several pages, so the deleted one is not simply cut off
            conn.execute(text("INSERT INTO t (k, v) VALUES (:k, :v)"),
                         {"k": i, "v": (NAME if i == 100 else f"row {i} ") * 4})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM t WHERE k = 100"))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    data = path.read_bytes()
    assert b"row 150" in data  # the file is the one written
    for side in ("-wal", "-journal"):
        extra = path.with_name(path.name + side)
        if extra.exists():
            data += extra.read_bytes()
    return data


def test_a_deleted_row_leaves_nothing_in_the_file(tmp_path: Path) -> None:
    assert NAME.encode() not in _write_delete_read(tmp_path / "hub.db", None)


def test_the_check_sees_what_sqlite_leaves_without_secure_delete(tmp_path: Path) -> None:
    """The control: SQLite's default on builds without SQLITE_SECURE_DELETE leaves it."""
    assert NAME.encode() in _write_delete_read(tmp_path / "hub.db", False)


def test_the_hubs_connections_turn_it_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar_one() == 1
    engine.dispose()
