"""Integration fixtures: the real broker (started by `.ci/run` / `hub stack up`), a real
`hub worker` subprocess, and the real actor service publishing to Kafka."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.core.settings import HubSettings

BOOTSTRAP = os.environ.get("HUB_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:29092")


def _answers(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL server (skips or fails as ``tests/support/postgres.py`` says)."""
    from tests.support.postgres import postgres_url as url

    return url()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(URL, engine) of a freshly migrated database, once on SQLite and once on PostgreSQL
    (a schema of its own, dropped afterwards)."""
    from hub.core.db import make_engine, migrate
    from tests.support.postgres import schema_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
        engine = make_engine(url)
        migrate(engine)
        yield url, engine
        engine.dispose()
        return
    with schema_engine(request.getfixturevalue("postgres_url"), "test") as engine:
        yield engine.url.render_as_string(hide_password=False), engine


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    if not _answers(BOOTSTRAP):
        pytest.fail(f"no Kafka broker at {BOOTSTRAP}: run `hub stack up` (or .ci/run) first")
    return BOOTSTRAP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def hub_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-home")


@pytest.fixture(scope="session")
def hub_env(kafka_bootstrap: str, hub_home: Path) -> dict[str, str]:
    """Environment of the hub processes under test (worker, CLI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_HOME=str(hub_home),
        HUB_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
        HUB_WORKER__APP_ID=os.environ.get("HUB_TEST_APP_ID", "passerelle-test"),
        HUB_WORKER__BATCH_WITHIN_S="0.02",
    )
    return env


@pytest.fixture(scope="session")
def settings(hub_env: dict[str, str]) -> HubSettings:
    old = dict(os.environ)
    os.environ.update(hub_env)
    try:
        return HubSettings()
    finally:
        os.environ.clear()
        os.environ.update(old)


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**env, "HUB_WORKER__WEB_PORT": str(_free_port())}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from hub.cli import main; main()",
                    "worker",
                    "--loglevel",
                    "info",
                ],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def worker(
    hub_env: dict[str, str], hub_home: Path, settings: HubSettings
) -> Iterator[WorkerProcess]:
    from hub.core.kafka.admin import core_topics, ensure_topics

    asyncio.run(ensure_topics(settings, core_topics(settings)))
    w = WorkerProcess(hub_env, hub_home / "worker.log")
    w.start()
    yield w
    w.stop()


@pytest.fixture(scope="session")
def actor_service(settings: HubSettings):  # type: ignore[no-untyped-def]
    from hub.core.db import make_engine, migrate
    from hub.domain.geo import get_geography
    from hub.stores.registry.publisher import KafkaActorPublisher
    from hub.stores.registry.service import ActorService
    from hub.stores.registry.store import ActorStore

    engine = make_engine(settings.database_url)
    migrate(engine)
    return ActorService(
        ActorStore(engine), get_geography(), publisher=KafkaActorPublisher(settings)
    )


def collect_feed(
    settings: HubSettings,
    actor_id: str,
    *,
    until: Any,
    timeout: float = 60.0,
    worker: WorkerProcess | None = None,
) -> list[dict[str, Any]]:
    """Read ``actor_id``'s whole feed until ``until(records)`` is true or ``timeout``."""
    from hub.services.feeds import read_feed

    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while True:

        async def once() -> list[dict[str, Any]]:
            try:
                return [
                    r
                    async for r in read_feed(
                        settings, actor_id, from_beginning=True, idle_timeout_s=0.5
                    )
                ]
            except Exception:  # the feed topic may not exist yet
                return []

        records = asyncio.run(once())
        if until(records) or time.monotonic() > deadline:
            return records
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker died; see {worker.log}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api(worker: WorkerProcess, settings: HubSettings) -> Iterator[Any]:
    """The partner API (a TestClient) on the session's database, the session worker
    running. A module defining its own ``api`` fixture uses that one instead."""
    from fastapi.testclient import TestClient

    from hub.api.app import create_app
    from hub.core.db import make_engine, migrate

    engine = make_engine(settings.database_url)
    migrate(engine)
    with TestClient(create_app(settings, engine)) as client:
        yield client
    engine.dispose()
