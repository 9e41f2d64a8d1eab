"""The actor store contract (``tests/unit/test_registry.py::TestActorStore``) on PostgreSQL.

The server is the one of ``hub stack up --with-postgres`` unless ``HUB_TEST_POSTGRES_URL``
names another (see ``tests/support/postgres.py``). Each test gets a fresh schema.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.support.postgres import schema_engine
from tests.unit.test_registry import TestActorStore  # the shared bodies, collected here too

__all__ = ["TestActorStore"]

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """A migrated engine whose tables live in a schema of their own."""
    with schema_engine(postgres_url, "test_registry") as eng:
        yield eng
