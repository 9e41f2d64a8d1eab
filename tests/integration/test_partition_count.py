"""hub.demandes with another partition count than the dispatch state expects (a producer
let a broker auto-create it with ``num.partitions=1``).

Issue 19: the worker stops with a clear one-line error instead of running on (it used to
warn and go on: seen twice on a wiped local broker). With the count set to the topic's, it
works, and an actor change still reaches every demand: the worker used to find a
partition's demands with ``murmur2(key) % settings.partitions``; with 1 real partition and
4 configured it scanned a quarter of them. Private broker: the shared one has hub.demandes
already."""

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
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.core import topics
from hub.core.settings import HubSettings
from hub.domain.actors import Actor, ActorFilters
from tests.support.demandes import demande_event, new_num_unique

pytestmark = pytest.mark.kafka
SOTTEVILLE = "76681"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def private_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from hub.dev.stack.kafka import KafkaStack

    home = tmp_path_factory.mktemp("one-partition")
    stack = KafkaStack(home / "stack", port=_free_port(), controller_port=_free_port())
    cached = Path(__file__).resolve().parents[2] / ".hub" / "kafka" / stack.libs_dir.name
    if cached.is_dir():  # the shared stack's jars: no Maven run (test_stack.py fetches them)
        stack.root.mkdir(parents=True, exist_ok=True)
        stack.libs_dir.symlink_to(cached)
    bootstrap = stack.up(timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_HOME=str(home),
        HUB_KAFKA__BOOTSTRAP_SERVERS=bootstrap,
        HUB_WORKER__WEB_PORT=str(_free_port()),
        HUB_WORKER__BATCH_WITHIN_S="0.02",
    )
    try:
        yield env
    finally:
        stack.down()
        stack.wipe()


def test_actor_change_reaches_every_demand_of_a_one_partition_topic(
    private_env: dict[str, str],
) -> None:
    old = dict(os.environ)
    os.environ.update(private_env)
    try:
        settings = HubSettings()
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert settings.kafka.partitions == 4

    async def one_partition_topic() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
        await admin.start()
        await admin.create_topics([NewTopic(topics.DEMANDES, 1, 1)])
        await admin.close()

    asyncio.run(one_partition_topic())

    # configured 4, the topic has 1: the worker refuses to start, in one line
    refused = subprocess.run(
        [sys.executable, "-c", "from hub.cli import main; main()", "worker"],
        env=private_env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert refused.returncode != 0
    assert "hub.demandes has 1 partitions, the dispatch state expects 4" in refused.stderr
    assert "Traceback" not in refused.stderr
    private_env = {**private_env, "HUB_KAFKA__PARTITIONS": "1"}
    old = dict(os.environ)
    os.environ.update(private_env)
    try:
        settings = HubSettings()
    finally:
        os.environ.clear()
        os.environ.update(old)

    from connectors.ingress.publishing import prepare_event, publish_events
    from hub.core.db import make_engine, migrate
    from hub.domain.geo import get_geography
    from hub.stores.registry.publisher import KafkaActorPublisher
    from hub.stores.registry.service import ActorService
    from hub.stores.registry.store import ActorStore
    from tests.integration.conftest import collect_feed

    engine = make_engine(settings.database_url)
    migrate(engine)
    service = ActorService(ActorStore(engine), get_geography(), KafkaActorPublisher(settings))
    service.add_or_update(
        Actor(
            id="early", name="early", kind="bailleur", filters=ActorFilters(communes=[SOTTEVILLE])
        )
    )
    log = Path(private_env["HUB_HOME"]) / "worker.log"
    with log.open("ab") as fh:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from hub.cli import main; main()",
                "worker",
                "--loglevel",
                "info",
            ],
            env=private_env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        nums = {new_num_unique() for _ in range(12)}
        asyncio.run(
            publish_events(settings, [prepare_event(demande_event(n, [SOTTEVILLE])) for n in nums])
        )

        def mine(rs: list[dict[str, Any]]) -> set[str]:
            return {r["numUnique"] for r in rs if r["numUnique"] in nums}

        got = collect_feed(settings, "early", timeout=90, until=lambda rs: mine(rs) >= nums)
        assert mine(got) == nums, f"worker log: {log}"
        service.add_or_update(
            Actor(
                id="late", name="late", kind="bailleur", filters=ActorFilters(communes=[SOTTEVILLE])
            )
        )
        deadline = time.monotonic() + 60
        copies: set[str] = set()
        while time.monotonic() < deadline and copies != nums:
            copies = mine(
                collect_feed(settings, "late", timeout=5, until=lambda rs: mine(rs) >= nums)
            )
        assert copies == nums  # every demand, not the quarter murmur2 % 4 pointed to
    finally:
        worker.terminate()
        worker.wait(timeout=30)
