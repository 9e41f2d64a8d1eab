"""Shared fixtures. Integration tests run against the real broker and PostgreSQL that
`.ci/run` (or `hub stack up --with-postgres`) started; they never mock either."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def geography():  # type: ignore[no-untyped-def]
    from hub.domain.geo import get_geography

    return get_geography()


@pytest.fixture(scope="session")
def codec():  # type: ignore[no-untyped-def]
    from schemas import get_codec

    return get_codec()


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k in list(os.environ):
        if k.startswith("HUB_"):
            monkeypatch.delenv(k)
    from hub.core.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
