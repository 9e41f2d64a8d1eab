"""A migrated SQLite database for tests of the stores and the statistics fold."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from hub.core.db import make_engine, migrate


@contextmanager
def migrated_sqlite(path: Path) -> Iterator[Engine]:
    """An engine on a SQLite file at ``path``, migrated to the release's head; disposed
    on exit."""
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
