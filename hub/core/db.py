"""Database engine and schema migrations (SQLite embedded, PostgreSQL in production).

* :func:`make_engine` builds an :class:`~sqlalchemy.engine.Engine` for a SQLAlchemy URL.
  SQLite: the file (and its WAL/SHM files) is owner-only, 0600, missing parent folders are
  created 0700 (it holds personal data), foreign keys are enforced, WAL journaling is on,
  and SQLAlchemy (not the ``sqlite3`` module) emits ``BEGIN`` so that every transaction is a
  real one (reads included). PostgreSQL: ``postgresql://`` URLs use psycopg 3.
* :func:`write_transaction` opens a transaction meant to write: on SQLite it takes the write
  lock up front (``BEGIN IMMEDIATE``) so a read-then-write never fails half-way with
  "database is locked"; elsewhere it is a plain transaction.
* :func:`migrate` brings the schema to the latest alembic revision; it is idempotent and safe
  to call at every start (concurrent callers on PostgreSQL are serialised by an advisory lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from hub.core.private import private_dir, private_file

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
#: execution option read by the SQLite ``begin`` hook (see :func:`write_transaction`)
_IMMEDIATE = "hub_sqlite_begin_immediate"
#: arbitrary constant key of the PostgreSQL advisory lock taken while migrating
_MIGRATION_LOCK_KEY = 0x70617373  # "pass"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite and PostgreSQL are configured as described above."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_sqlite(Path(database).expanduser())
        engine = create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if parsed.get_backend_name() in ("postgresql", "postgres"):
        # bare postgresql:// would pick psycopg2, which is not a dependency
        parsed = parsed.set(drivername="postgresql+psycopg")
        # pre-ping: long-lived services survive a database restart without a failed call
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    return create_engine(parsed, echo=echo)


def _private_sqlite(path: Path) -> None:
    """The database file and its WAL/SHM files owner-only (0600), created before SQLite
    opens it (SQLite gives the WAL and SHM files the database file's mode); missing
    folders created 0700 (:mod:`hub.core.private`)."""
    private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            private_file(side)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Legacy sqlite3 transaction control skips BEGIN before SELECT and DDL; hand BEGIN over
    # to SQLAlchemy (see _sqlite_on_begin) so transactions are serialisable, DDL included.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer nor the other way round
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that will write, committed on success, rolled back on error."""
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: True})
        with conn.begin():
            yield conn


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic configuration built in code (no ``alembic.ini`` needed at runtime).

    With ``connection``, ``env.py`` migrates through it instead of opening its own.
    """
    cfg = Config()
    # configparser interpolation: a '%' in the install path must be doubled
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(target: Engine | str) -> None:
    """Upgrade the database at ``target`` (an engine or a URL) to the latest revision."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with write_transaction(engine) as conn:
            if conn.dialect.name == "postgresql":
                # two processes starting together would both try to CREATE TABLE
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            command.upgrade(alembic_config(conn), "head")
    finally:
        if isinstance(target, str):
            engine.dispose()
