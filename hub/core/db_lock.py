"""One process of a kind per database: ``hub deliver`` (independent audit H, F-1: two
deliverers on one database sent and audited almost every record twice).

:class:`ProcessLock` is held for the process's life:

* **PostgreSQL**: a session advisory lock (``pg_try_advisory_lock``) on a connection of its
  own, keyed by the lock's name and the connection's schema (two deployments, or two test
  schemas, in one database do not exclude each other). The server drops it when the
  connection ends, the process killed by ``kill -9`` included, so a crashed holder never
  blocks its successor. A database restart drops it too: :meth:`ProcessLock.check`, run
  periodically, takes it again, or says that another process took it meanwhile.
* **SQLite** (one host by nature): an exclusive ``flock`` on a file beside the database
  (``<database>.<name>.lock``), dropped by the kernel when the process dies.

A second process finds it held and stops at once with one line naming what holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from hub.core.errors import ConfigError
from hub.core.flock import try_lock

log = logging.getLogger(__name__)


class ProcessLock:
    """The lock named ``name`` on ``engine``'s database (module doc)."""

    def __init__(self, engine: Engine, name: str, what: str) -> None:
        self.engine, self.name, self.what = engine, name, what
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._key: int | None = None

    def _held_elsewhere(self) -> ConfigError:
        return ConfigError(
            f"another {self.what} already runs on this database: stop it first (two would "
            "send every record twice)"
        )

    def acquire(self) -> None:
        """Take the lock, or raise :class:`ConfigError` if another process holds it."""
        if self.engine.dialect.name == "postgresql":
            if not self._take_advisory():
                raise self._held_elsewhere()
            return
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return  # a private database: nothing to share
        fd = try_lock(Path(f"{database}.{self.name}.lock"))
        if fd is None:
            raise self._held_elsewhere()
        self._fd = fd

    def _take_advisory(self) -> bool:
        conn = self.engine.connect()
        # out of the pool: closing it must end the session (and its lock), not keep it
        # pooled, still holding the lock, for the next borrower
        conn.detach()
        try:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            digest = hashlib.sha256(f"passerelle:{self.name}:{schema}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            taken = bool(got.scalar_one())
            conn.commit()  # a session lock: it outlives the transaction
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return False
        self._conn = conn
        return True

    def check(self) -> None:
        """Still held? On PostgreSQL a connection lost with the database is replaced and the
        lock taken again; :class:`ConfigError` if another process holds it now. A database
        that does not answer raises the driver's error (the caller retries later)."""
        if self._conn is None:
            if self._key is not None and not self._take_advisory():
                raise self._held_elsewhere()
            return
        try:
            self._conn.execute(text("SELECT 1")).scalar_one()
            self._conn.commit()
        except DBAPIError:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
            if not self._take_advisory():
                raise self._held_elsewhere() from None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # the server drops the session's locks
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


async def keep(lock: ProcessLock, stop: asyncio.Event, every_s: float = 5.0) -> ConfigError | None:
    """Check ``lock`` every ``every_s`` until ``stop``; when another process holds it now,
    log it, set ``stop`` and return the error (a database that does not answer is checked
    again at the next turn: no one else can take the lock meanwhile)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        if stop.is_set():
            return None
        try:
            await asyncio.to_thread(lock.check)
        except ConfigError as exc:
            log.error("%s: stopping", exc.message)
            stop.set()
            return exc
        except DBAPIError as exc:
            log.warning("lock of %s not checked (%s): checked again in %g s",
                        lock.what, type(exc.orig).__name__, every_s)  # fmt: skip
