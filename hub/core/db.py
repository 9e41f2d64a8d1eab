"""Database engine and schema migrations (SQLite embedded, PostgreSQL in production).

* :func:`make_engine` builds an :class:`~sqlalchemy.engine.Engine` for a SQLAlchemy URL.
  SQLite: the file (and its WAL/SHM files) is owner-only, 0600, missing parent folders are
  created 0700 (it holds personal data), foreign keys are enforced, WAL journaling is on,
  and SQLAlchemy (not the ``sqlite3`` module) emits ``BEGIN`` so that every transaction is a
  real one (reads included). PostgreSQL: ``postgresql://`` URLs use psycopg 3.
* :func:`write_transaction` opens a transaction meant to write: on SQLite it takes the write
  lock up front (``BEGIN IMMEDIATE``) so a read-then-write never fails half-way with
  "database is locked"; elsewhere it is a plain transaction.
* :func:`transient_db_errors` turns a database that cannot be reached (refused, lost,
  locked past the busy timeout) into :class:`~hub.core.errors.TransientError` chained
  ``from`` the driver's error, so the API answers its fixed 503 detail; any other database
  error (a constraint, a bug) passes through. :func:`dialect_insert` is the ``INSERT``
  with ``ON CONFLICT`` of the connection's dialect (SQLite or PostgreSQL).
* :func:`migrate` brings the schema to the latest alembic revision; it is idempotent and safe
  to call at every start (concurrent callers on PostgreSQL are serialised by an advisory lock).
  On a database a newer release migrated (its revision is not one of this release's) it
  raises :class:`SchemaTooNewError`, one line naming the database's revision, the last one
  this release knows and the command that steps the database down (``hub db``), instead
  of alembic's "Can't locate revision".
* :func:`upgrade`, :func:`downgrade` and :func:`current` are ``hub db``'s (the rollback of
  docs/operations.md): each migration step of one call runs in one transaction, so a
  downgrade a revision refuses leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from hub.core.errors import ConfigError, TransientError
from hub.core.private import private_dir, private_file

if TYPE_CHECKING:  # alembic is imported where it runs: every `hub` command pays its import
    from alembic.config import Config
    from alembic.script import ScriptDirectory

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
        # a deleted row's bytes are overwritten, not left readable in a free page: a purged
        # demand's personal data must leave the file too (docs/reliability.md)
        cursor.execute("PRAGMA secure_delete=ON")
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


@contextmanager
def transient_db_errors() -> Iterator[None]:
    """Re-raise a database that cannot be reached as :class:`TransientError` (module doc).
    The message names the driver's error class only; the chained cause keeps the rest for
    the log (:mod:`hub.api.problems` answers a fixed detail when it finds it)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise TransientError(f"database unavailable: {type(exc.orig).__name__}") from exc


def dialect_insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` into ``table`` with ``on_conflict_do_nothing``/``_do_update`` (SQLite or
    PostgreSQL, the only databases the hub runs on)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic configuration built in code (no ``alembic.ini`` needed at runtime).

    With ``connection``, ``env.py`` migrates through it instead of opening its own.
    """
    from alembic.config import Config

    cfg = Config()
    # configparser interpolation: a '%' in the install path must be doubled
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class SchemaTooNewError(ConfigError):
    """The database is at a schema revision this release does not know: a newer release
    migrated it (module doc)."""

    code = "schema_too_new"


class MigrationRefusedError(ConfigError):
    """A migration step refused to run (a downgrade that would lose what the database
    holds); nothing was changed."""

    code = "migration_refused"


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def release_revisions() -> list[str]:
    """This release's schema revisions, oldest first (the history is linear)."""
    return list(_release_revisions())


@cache
def _release_revisions() -> tuple[str, ...]:
    return tuple(r.revision for r in reversed(list(_script().walk_revisions())))


def release_head() -> str:
    """The latest schema revision this release knows."""
    return release_revisions()[-1]


def _current(conn: Connection, known: list[str]) -> str | None:
    """The database's revision (None: never migrated); :class:`SchemaTooNewError` when
    this release does not know it."""
    from alembic.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    for rev in heads:
        if rev not in known:
            raise SchemaTooNewError(
                f"the database schema is at revision {rev}, which this release does not "
                f"know (it knows up to {known[-1]}): a newer release migrated it; to run "
                f"this release, first step the database down with that newer release: "
                f"hub db downgrade {known[-1]}"
            )
    return heads[0] if heads else None


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A write transaction holding, on PostgreSQL, the migration lock: two processes
    starting together would both try to CREATE TABLE."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        yield conn


@contextmanager
def _engine_of(target: Engine | str) -> Iterator[Engine]:
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        yield engine
    finally:
        if isinstance(target, str):
            engine.dispose()


def current(target: Engine | str) -> str | None:
    """The database's schema revision, None if never migrated (:class:`SchemaTooNewError`
    if this release does not know it)."""
    with _engine_of(target) as engine, engine.connect() as conn:
        return _current(conn, release_revisions())


def upgrade(target: Engine | str, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the database at ``target`` to ``revision`` (default: the latest); (revision
    before, revision after). Idempotent."""
    known = release_revisions()
    wanted = known[-1] if revision == "head" else revision
    if wanted not in known:
        raise ConfigError(f"unknown schema revision {wanted}: this release knows "
                          f"{known[0]} to {known[-1]} (hub db history)")  # fmt: skip
    with _engine_of(target) as engine, _migrating(engine) as conn:
        before = _current(conn, known)
        if before is not None and known.index(before) > known.index(wanted):
            raise ConfigError(f"the database is at {before}, after {wanted}: "
                              f"hub db downgrade {wanted} steps it down")  # fmt: skip
        if before != wanted:
            from alembic import command

            command.upgrade(alembic_config(conn), wanted)
    return before, wanted


def downgrade(target: Engine | str, revision: str) -> tuple[str, str]:
    """Step the database at ``target`` down to ``revision``, a revision of this release
    older than the database's; (revision before, revision after). One transaction: when
    a step refuses (:class:`MigrationRefusedError`) the database is left as it was."""
    known = release_revisions()
    if revision not in known:
        raise ConfigError(f"unknown schema revision {revision}: this release knows "
                          f"{known[0]} to {known[-1]} (hub db history)")  # fmt: skip
    with _engine_of(target) as engine, _migrating(engine) as conn:
        before = _current(conn, known)
        if before is None:
            raise ConfigError("the database has no schema yet: nothing to step down")
        if known.index(before) < known.index(revision):
            raise ConfigError(f"the database is at {before}, before {revision}: "
                              f"hub db upgrade {revision} moves it forward")  # fmt: skip
        from alembic import command
        from alembic.util import CommandError

        try:
            command.downgrade(alembic_config(conn), revision)
        except (RuntimeError, CommandError) as exc:  # a step refusing: rolled back whole
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MigrationRefusedError(
                f"downgrade to {revision} refused, the database is still at {before}: {first}"
            ) from exc
    return before, revision


#: this release's latest schema revision, written down so that a database already at it
#: is recognised by one query, without loading alembic and reading every migration script
#: (what every `hub` command did at start: tests/unit/test_db_head.py keeps it equal to
#: :func:`release_head`)
RELEASE_HEAD = "0016_stat_cycle"


def _at_head(engine: Engine) -> bool:
    """Whether the database's one schema revision is :data:`RELEASE_HEAD` (False when it
    is anything else or has no revision table: the full path decides)."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:
        return False
    return [r[0] for r in rows] == [RELEASE_HEAD]


def migrate(target: Engine | str) -> None:
    """Upgrade the database at ``target`` (an engine or a URL) to the latest revision
    (:class:`SchemaTooNewError` on a database a newer release migrated). A database
    already there costs one query."""
    with _engine_of(target) as engine:
        if _at_head(engine):
            return
        upgrade(engine, "head")
