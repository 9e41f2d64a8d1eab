"""The DIS file outbox on a feed in the Confluent wire format whose schema id the registry
does not hold: the real broker, a real schema registry (Apicurio Registry, as ``hub stack
up --with-registry`` runs it, a private fresh instance: tests/support/registry.py), a real
``hub files outbox --once`` process, then the long-running outbox connector.

The actor's feed holds a record the outbox can read (single-object), then one framed with
id 1 while the registry answers 404 for it, then good ones. ``--once`` must write the
first in its DIS file, stop that feed at the second with one line naming it (never commit
past it), write another actor's feed meanwhile and exit 1; the long-running outbox must
hold the feed there, then resume by itself (the same process) once the registry holds the
id: every record in a DIS file once, in feed order. Before the fix the outbox raised
``DecodeError`` on the whole batch (nothing written, the actor's outbox restarted and
failed again at every registry refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from connectors.outbound.file import group_id
from connectors.outbound.file_service import FileOutbox
from hub.core import topics
from hub.core.db import make_engine, migrate
from hub.core.kafka.admin import ensure_topics, feed_spec
from hub.core.kafka.client import client_options, new_producer
from hub.core.schema_registry import install_resolver, register_feed_schema
from hub.core.settings import DatabaseSettings, FilesSettings, HubSettings
from hub.dev.stack.registry import RegistryStack
from hub.domain.actors import Actor, ActorFilters, Delivery
from hub.stores.registry.store import ActorStore
from monitoring import metrics
from schemas import get_codec
from schemas.confluent import IDS, frame
from tests.support.demandes import demande_event, new_num_unique
from tests.support.legacy_files import files_env, hub, read_dis
from tests.support.registry import confluent_settings, private_registry

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
HERE = "76204"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryStack]:
    with private_registry(tmp_path_factory) as fresh:
        yield fresh


@pytest.fixture()
def confluent(settings: HubSettings, registry: RegistryStack) -> Iterator[HubSettings]:
    conf = confluent_settings(settings, registry)
    IDS.forget()  # a fresh outbox process: no id learned
    install_resolver(conf)
    yield conf
    IDS.forget()


def _record(num: str) -> dict[str, Any]:
    return {"kind": "DEMANDE", "eventId": str(uuid.uuid4()), "numUnique": num,
            "operation": "CRE", "demandeVersion": 1, "occurredAt": 1,
            "dispatchedAt": 1_700_000_000_000, "profile": "consultant_simple",
            "reason": None, "changedFields": [],
            "demande": demande_event(num, [HERE])["demande"], "evenement": None}  # fmt: skip


async def _write(settings: HubSettings, topic: str, values: list[bytes]) -> None:
    producer = new_producer(settings)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _committed(settings: HubSettings, actor_id: str) -> int | None:
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group_id(actor_id),
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        got = await consumer.committed(TopicPartition(topics.feed_topic(actor_id), 0))
        return None if got is None else int(got)
    finally:
        await consumer.stop()


def _written(folder: Path) -> list[str]:
    """The event ids of every DIS file of ``folder``, in file then record order."""
    return [r["eventId"] for r in read_dis(folder)] if folder.exists() else []


def _held() -> float | None:
    return metrics.REGISTRY.get_sample_value("passerelle_outbox_feeds_stopped",
                                             {"channel": "file"})  # fmt: skip


def test_an_unknown_registry_id_holds_the_outbox_until_it_resolves(
        confluent: HubSettings, registry: RegistryStack, hub_env: dict[str, str],
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    codec = get_codec()
    suffix = uuid.uuid4().hex[:8]
    db_url = f"sqlite:///{tmp_path / 'files.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    # ids sort the held actor first: `--once` serves the actors in id order
    held, other = (Actor(id=f"fstop-{n}-{suffix}", name="Fichiers", kind="bailleur",
                         profile="consultant_simple", filters=ActorFilters(communes=[HERE]),
                         delivery=Delivery(channel="file",
                                           options={"dir": str(tmp_path / f"out-{n}")}))
                   for n in "ab")  # fmt: skip
    for actor in (held, other):
        ActorStore(engine).upsert(actor)
    held_topic = topics.feed_topic(held.id)
    held_dir, other_dir = tmp_path / "out-a", tmp_path / "out-b"
    # the registry is fresh: it does not hold id 1 (yet)
    assert httpx.get(f"{registry.api_url}/schemas/ids/1", timeout=10).status_code == 404
    records = [_record(new_num_unique()) for _ in range(4)]
    single = [codec.encode("FeedRecord", r) for r in records]
    # good (single-object), unknown id, good, and one more framed with the same id
    feed = [single[0], frame(1, single[1][10:]), single[2], frame(1, single[3][10:])]
    ids = [r["eventId"] for r in records]
    others = [_record(new_num_unique()) for _ in range(2)]

    async def setup() -> None:
        await ensure_topics(confluent, [feed_spec(held.id), feed_spec(other.id)])
        await _write(confluent, held_topic, feed)
        await _write(confluent, topics.feed_topic(other.id),
                     [codec.encode("FeedRecord", r) for r in others])  # fmt: skip

    asyncio.run(setup())

    # 1. a real `hub files outbox --once`: the first record written, one line, exit 1
    env = files_env(hub_env, tmp_path / "files", "unused", HUB_DATABASE__URL=db_url,
                    HUB_REGISTRY__URL=registry.api_url,
                    HUB_REGISTRY__WIRE_FORMAT="confluent")  # fmt: skip
    done = hub(env, "files", "outbox", "--once", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    line = f"DIS outbox of {held_topic} stopped at offset 1 (unknown schema id 1)"
    assert line in done.stderr, done.stderr
    assert f"the registry at {registry.api_url} (HUB_REGISTRY__URL) does not hold" in done.stderr
    assert _written(held_dir) == ids[:1]  # before the stop: written
    assert _written(other_dir) == [r["eventId"] for r in others]  # the other actor went on
    assert asyncio.run(_committed(confluent, held.id)) == 1  # never past the stop

    # 2. the long-running outbox (the real back-off): held, resumes once the id resolves
    local = confluent.model_copy(update={
        "files": FilesSettings(root=tmp_path / "files", sources=("unused",), settle_s=0,
                               poll_interval_s=0.2),
        "database": DatabaseSettings(url=SecretStr(db_url))})  # fmt: skip
    caplog.set_level(logging.INFO, logger="connectors.outbound.file")
    caplog.set_level(logging.INFO, logger="connectors.outbound.file_service")

    async def follow() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        stop = asyncio.Event()
        task = asyncio.create_task(FileOutbox(local, only=held.id).run(stop))
        try:
            deadline = time.monotonic() + 90
            while _held() != 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # its first try (after 2.5 to 5 s) answered 404
            seen["stopped"] = _written(held_dir)
            seen["gauge"] = _held()
            schema_id = await asyncio.to_thread(register_feed_schema, confluent)
            assert schema_id == 1, "a fresh registry gives its first schema id 1"
            IDS.forget()  # learn it from the registry, as a process that did not register
            install_resolver(confluent)
            while len(_written(held_dir)) < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            while (await _committed(confluent, held.id) != 4
                   and time.monotonic() < deadline):  # fmt: skip
                await asyncio.sleep(0.2)
            seen["after"] = _written(held_dir)
            seen["committed"] = await _committed(confluent, held.id)
            seen["alive"] = not task.done()
            seen["gauge_after"] = _held()
            return seen
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)

    seen = asyncio.run(follow())
    assert seen["stopped"] == ids[:1]  # tried again: still nothing past the stop
    assert seen["after"] == ids, seen["after"]  # resumed by itself: each once, in order
    assert seen["committed"] == 4 and seen["alive"]
    assert (seen["gauge"], seen["gauge_after"]) == (1, 0)
    said = [r.getMessage() for r in caplog.records if r.name.startswith("connectors.outbound")]
    assert sum(m.startswith(line) for m in said) == 1, said  # said once, not at every try
    assert any(m.startswith(f"DIS outbox of {held_topic} resumes at offset 1") for m in said)
    assert not any("outbox of actor" in m and "stopped" in m for m in said), said
