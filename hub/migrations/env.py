"""Alembic environment: called by :func:`hub.core.db.migrate` (and the ``alembic`` CLI if wanted).

The connection comes from ``config.attributes["connection"]`` when the caller provides one
(``hub.core.db.migrate`` does, inside its own transaction); otherwise from the ``sqlalchemy.url``
option, falling back to the hub settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from hub.migrations.tables import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from hub.core.settings import get_settings

    return get_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # batch mode lets future ALTERs work on SQLite (it rebuilds the table)
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from hub.core.db import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
