"""`hub.core.db.RELEASE_HEAD` is the release's latest migration: a database at it skips
alembic at every start (hub.core.db.migrate), so a migration added without moving it
would never run on a database at the previous head."""

from __future__ import annotations

from pathlib import Path

from hub.core import db


def test_release_head_is_the_latest_migration() -> None:
    assert db.release_head() == db.RELEASE_HEAD


def test_a_database_at_the_previous_head_is_migrated(tmp_path: Path) -> None:
    """The fast path answers only for the head itself: a database one revision behind
    goes through alembic and reaches the head; one at the head is left alone."""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    previous = db.release_revisions()[-2]
    db.upgrade(url, previous)
    assert db.current(url) == previous
    db.migrate(url)
    assert db.current(url) == db.RELEASE_HEAD
    db.migrate(url)  # at the head: one query
    assert db.current(url) == db.RELEASE_HEAD
