"""PostgreSQL for tests: the server of ``hub stack up --with-postgres`` (or the one named by
``HUB_TEST_POSTGRES_URL``), and a migrated engine living in a schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from hub.core.db import make_engine, migrate

DEFAULT_URL = "postgresql+psycopg://hub:hub@127.0.0.1:25432/hub"


def _unreachable(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or None if it answers."""
    probe_url = make_url(url).update_query_dict({"connect_timeout": "5"})
    probe = make_engine(probe_url.render_as_string(hide_password=False))
    try:
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except OperationalError as exc:
        return (str(exc.orig).strip().splitlines() or ["unreachable"])[0]
    finally:
        probe.dispose()


def postgres_url() -> str:
    """The server URL, checked reachable. Without ``HUB_TEST_POSTGRES_URL`` an unreachable
    server skips; with it, it fails (CI sets it and must not go green by skipping)."""
    configured = os.environ.get("HUB_TEST_POSTGRES_URL")
    url = configured or DEFAULT_URL
    reason = _unreachable(url)
    if reason is not None:
        shown = make_url(url).render_as_string(hide_password=True)
        if configured is None:
            pytest.skip(
                f"PostgreSQL not reachable at {shown} ({reason}) and HUB_TEST_POSTGRES_URL "
                "is unset; start it with `hub stack up --with-postgres`"
            )
        pytest.fail(f"HUB_TEST_POSTGRES_URL={shown} is unreachable: {reason}", pytrace=False)
    return url


@contextmanager
def schema_engine(url: str, prefix: str, *, migrated: bool = True) -> Iterator[Engine]:
    """An engine whose tables live in a fresh schema, dropped afterwards; migrated to the
    latest revision unless ``migrated`` is false (the caller migrates it itself)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # libpq "options": every connection of the pool resolves unqualified names in `schema`
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    eng = make_engine(scoped.render_as_string(hide_password=False))
    try:
        if migrated:
            migrate(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def unmigrated_engine(kind: str, tmp_path: Path, prefix: str) -> Iterator[Engine]:
    """An empty database that no migration touched yet, for the upgrade tests: a SQLite
    file under ``tmp_path`` (``kind`` "sqlite") or a fresh PostgreSQL schema named after
    ``prefix`` (``kind`` "postgresql"), disposed of afterwards."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with schema_engine(postgres_url(), prefix, migrated=False) as engine:
        yield engine
