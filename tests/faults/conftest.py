"""One private broker for the fault and purge tests of a session (never the shared one)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.cluster import PrivateHub


@pytest.fixture(scope="session")
def private_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateHub]:
    if shutil.which("java") is None:
        pytest.skip("no JDK for the private broker")
    home: Path = tmp_path_factory.mktemp("private-hub")
    hub = PrivateHub(home)
    hub.up()
    try:
        yield hub
    finally:
        hub.down()
